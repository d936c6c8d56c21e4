"""Batched data augmentation on uint8 face tensors (no per-image Python work).

One batch of faces is turned into network input by: a random affine transform per face (flip,
rotation, scale, shear, translation folded into one theta, applied by a single affine_grid +
grid_sample call), brightness and contrast, random erasing of a rectangle per face, and optionally mixup or
cutmix, which mix pairs of faces and return soft targets. Then, with `degrade` > 0, the camera a robot sees
faces through (`degrade`): optical or motion blur, a face seen at 12-40 pixels (down-sampled, then
up-sampled to 48 as the runtime's crop does), sensor noise and JPEG compression. The trainer's teacher sees the
face before the camera (the clean view), the student after it.

Every function works where its generator `gen` lives: with a CUDA generator the faces, every per-face draw and
the work stay on the GPU. Choices made once per batch (whether to mix, the low-res size, the resize modes) come
from `choice`, a CPU generator (`gen` itself when None): reading them needs no wait for the GPU. The camera
chain has two equal forms (`degrade`): `dense` runs each step on every face and keeps it where drawn (no
host sync, a few large kernels: the GPU's form), the other on the chosen faces only (less work: the CPU's form).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..labels import MEAN, STD
from ..model import to_input


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    rotate_deg: float = 10.0
    scale: float = 0.15  # +- relative zoom
    shear: float = 0.1  # +- (the paper's "small distortion")
    translate: float = 0.15  # +- fraction of the half-size
    brightness: float = 0.0  # +- relative gain on the intensities (0.4: x0.6..x1.4, as camera exposure varies)
    contrast: float = 0.0  # +- relative contrast around each face's mean
    erase_p: float = 0.5  # probability of erasing one random rectangle per face
    erase_area: tuple[float, float] = (0.02, 0.25)  # its area, as a fraction of the face
    mixup: float = 0.0  # Beta(a, a) mixing of face pairs (0: off)
    cutmix: float = 0.0  # Beta(a, a) area of a pasted rectangle (0: off)
    mix_p: float = 0.5  # probability that a batch is mixed at all (when mixup or cutmix is on)
    degrade: float = 0.0  # probability that a face goes through the camera chain of degrade() (0: off)


def _rand(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=gen.device)


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return _rand(n, gen) * (hi - lo) + lo


def _choose(choice: torch.Generator | None, gen: torch.Generator) -> float:
    """One uniform number of [0, 1), a per-batch choice: from `choice` (a CPU generator), else from `gen`."""
    g = choice if choice is not None else gen
    return float(torch.rand(1, generator=g, device=g.device))


def _choose_int(k: int, choice: torch.Generator | None, gen: torch.Generator) -> int:
    """One of 0..k-1, a per-batch choice (as `_choose`)."""
    g = choice if choice is not None else gen
    return int(torch.randint(k, (1,), generator=g, device=g.device))


def affine_theta(n: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random affine transforms (N, 2, 3): flip, rotation, scale, shear, translation."""
    ang = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, gen) * (math.pi / 180.0)
    s = 1.0 + _uniform(n, -cfg.scale, cfg.scale, gen)
    sh = _uniform(n, -cfg.shear, cfg.shear, gen)
    flip = torch.where(_rand(n, gen) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n, device=gen.device)
    c, si = torch.cos(ang), torch.sin(ang)
    theta = torch.empty(n, 2, 3, device=gen.device)
    theta[:, 0, 0] = s * c * flip
    theta[:, 0, 1] = -s * si + sh
    theta[:, 1, 0] = s * si * flip
    theta[:, 1, 1] = s * c
    theta[:, 0, 2] = _uniform(n, -cfg.translate, cfg.translate, gen)
    theta[:, 1, 2] = _uniform(n, -cfg.translate, cfg.translate, gen)
    return theta


def _boxes(n: int, h: int, w: int, area: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random rectangles of the given area fractions (aspect ratio 1/3..3): y0, y1, x0, x1 per face."""
    log_r = _uniform(n, math.log(1 / 3), math.log(3), gen)
    r = torch.exp(log_r)
    bh = torch.sqrt(area * h * w * r).clamp(1, h).floor()
    bw = torch.sqrt(area * h * w / r).clamp(1, w).floor()
    y0 = (_rand(n, gen) * (h - bh + 1)).floor()
    x0 = (_rand(n, gen) * (w - bw + 1)).floor()
    return y0, y0 + bh, x0, x0 + bw


def _box_mask(y0: torch.Tensor, y1: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, h: int, w: int) -> torch.Tensor:
    ys = torch.arange(h, dtype=torch.float32, device=y0.device).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float32, device=y0.device).view(1, 1, w)
    return (
        (ys >= y0.view(-1, 1, 1)) & (ys < y1.view(-1, 1, 1)) & (xs >= x0.view(-1, 1, 1)) & (xs < x1.view(-1, 1, 1))
    ).unsqueeze(1)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Replace one random rectangle of each face (with probability `erase_p`) by noise."""
    n, _, h, w = x.shape
    if cfg.erase_p <= 0 or n == 0:
        return x
    area = _uniform(n, *cfg.erase_area, gen)
    mask = _box_mask(*_boxes(n, h, w, area, gen), h, w)
    mask &= (_rand(n, gen) < cfg.erase_p).view(-1, 1, 1, 1)
    noise = torch.randn(x.shape, generator=gen, device=gen.device)
    return torch.where(mask, noise, x)


def mix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    cfg: AugmentConfig,
    gen: torch.Generator,
    label_smoothing: float = 0.0,
    choice: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or cutmix (one of them, chosen per batch with `choice`) with soft targets (N, C)."""
    n = x.shape[0]
    target = F.one_hot(y, num_classes).float()
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    modes = [m for m, a in (("mixup", cfg.mixup), ("cutmix", cfg.cutmix)) if a > 0]
    if not modes or n < 2 or _choose(choice, gen) >= cfg.mix_p:
        return x, target
    mode = modes[_choose_int(len(modes), choice, gen)]
    perm = torch.randperm(n, generator=gen, device=gen.device)
    a = cfg.mixup if mode == "mixup" else cfg.cutmix
    lam = float(torch.distributions.Beta(a, a).sample())  # uses the global generator; seeded by the trainer
    if mode == "mixup":
        return lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]
    h, w = x.shape[2:]
    y0, y1, x0, x1 = _boxes(1, h, w, torch.tensor([1.0 - lam], device=gen.device), gen)
    mask = _box_mask(y0, y1, x0, x1, h, w)
    lam_true = 1.0 - mask.float().mean()  # a tensor: no wait for the device
    return torch.where(mask, x[perm], x), lam_true * target + (1 - lam_true) * target[perm]


def photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random brightness gain and contrast per face, on intensities in [0, 1], clipped as a camera would."""
    if cfg.brightness <= 0 and cfg.contrast <= 0:
        return x
    n = x.shape[0]
    v = x * STD + MEAN
    if cfg.contrast > 0:
        c = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, gen).view(-1, 1, 1, 1)
        m = v.mean(dim=(1, 2, 3), keepdim=True)
        v = (v - m) * c + m
    if cfg.brightness > 0:
        v = v * _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, gen).view(-1, 1, 1, 1)
    return (v.clamp_(0.0, 1.0) - MEAN) / STD


def augment(images: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """uint8 faces (N, 48, 48) -> augmented normalised input (N, 1, 48, 48), on `gen`'s device."""
    x = to_input(images)
    theta = affine_theta(x.shape[0], cfg, gen)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # border padding: a rotated face keeps plausible edges instead of black corners
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return random_erase(photometric(x, cfg, gen), cfg, gen)


# --- the camera a robot sees faces through ------------------------------------------------------------------
#: face sizes (pixels) a degraded face is seen at before the runtime up-samples it to 48 (one drawn per batch)
LOW_RES_PX = (12, 14, 16, 18, 20, 24, 28, 32, 40)
#: probabilities of each step of the chain for a face that is degraded (drawn independently)
CHAIN_P = {"blur": 0.45, "motion": 0.2, "low_res": 0.6, "noise": 0.4, "jpeg": 0.5}

#: the JPEG standard's luminance quantisation table (ITU-T T.81, Annex K, table K.1), row-major
_JPEG_LUMA = (
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
)


@functools.lru_cache(maxsize=32)
def _block_dct(n: int, device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """(n, n) matrix of the 8x8 block DCT-II (orthonormal) along one axis of length `n` (a multiple of 8)."""
    k = torch.arange(8, dtype=torch.float64).view(-1, 1)
    i = torch.arange(8, dtype=torch.float64).view(1, -1)
    d = torch.cos(math.pi * (2 * i + 1) * k / 16) * math.sqrt(2.0 / 8)
    d[0] /= math.sqrt(2.0)
    return torch.block_diag(*([d] * (n // 8))).float().to(device)


def jpeg_quant_tables(quality: torch.Tensor) -> torch.Tensor:
    """(N, 8, 8) luminance quantisation tables for JPEG qualities 1..100 (the IJG scaling libjpeg uses)."""
    q = quality.float().clamp(1, 100)
    scale = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q).view(-1, 1, 1)
    base = torch.tensor(_JPEG_LUMA, dtype=torch.float32, device=q.device).view(1, 8, 8)
    return ((base * scale + 50.0) / 100.0).floor().clamp(1, 255)


def jpeg(v: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Gray JPEG round trip of intensities `v` (N, 1, H, W) in [0, 1] at per-face `quality`: 8x8 block DCT of
    the level-shifted 0..255 values, quantised with the standard table and rounded, then decoded (edges replicated
    to whole blocks, as encoders pad). The entropy coding JPEG adds is lossless, so this is the whole loss. The
    block DCT of a whole face is two matrix products with block-diagonal DCT matrices."""
    n, _, h, w = v.shape
    ph, pw = -h % 8, -w % 8
    x = v * 255.0 - 128.0
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    dh, dw = _block_dct(h + ph, v.device), _block_dct(w + pw, v.device)
    q = jpeg_quant_tables(quality).repeat(1, (h + ph) // 8, (w + pw) // 8).unsqueeze(1)
    coef = torch.round((dh @ x @ dw.T) / q) * q
    out = (dh.T @ coef @ dw)[:, :, :h, :w]
    return ((out + 128.0) / 255.0).clamp(0.0, 1.0)


@functools.lru_cache(maxsize=128)
def _resize_matrix(src: int, dst: int, mode: str, device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """(dst, src) matrix that resizes one axis: "area" (OpenCV's INTER_AREA), or as `F.interpolate` does with
    "bilinear-aa" (antialiased), "bilinear", "bicubic" (align_corners=False). These resizes are separable, so a
    face is resized by two matrix products, much faster than F.interpolate on a CPU for many small faces."""
    if mode == "area":  # exact fractional pixel coverage, as OpenCV's INTER_AREA (F.interpolate's rounds windows)
        edges = torch.arange(dst + 1, dtype=torch.float64) * (src / dst)
        lo, hi = edges[:-1].view(-1, 1), edges[1:].view(-1, 1)
        px = torch.arange(src, dtype=torch.float64).view(1, -1)
        cover = (torch.minimum(hi, px + 1) - torch.maximum(lo, px)).clamp_min(0)
        return (cover / cover.sum(1, keepdim=True)).float().to(device)
    eye = torch.eye(src, dtype=torch.float64).view(src, 1, 1, src)
    kw = {"align_corners": False}
    if mode == "bilinear-aa":
        mode, kw = "bilinear", {"align_corners": False, "antialias": True}
    rows = F.interpolate(eye, size=(1, dst), mode=mode, **kw)  # each source pixel's contribution to dst
    return rows.view(src, dst).T.contiguous().float().to(device)


def resize(v: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Faces (N, 1, H, W) resized to `size` x `size` by `mode` (see `_resize_matrix`)."""
    mh, mw = _resize_matrix(v.shape[-2], size, mode, v.device), _resize_matrix(v.shape[-1], size, mode, v.device)
    return mh @ v @ mw.T


def gaussian_kernels(sigma: torch.Tensor, size: int = 11) -> torch.Tensor:
    """(N, size) normalised 1-D Gaussian kernels of standard deviations `sigma` (pixels), centred."""
    r = torch.arange(size, dtype=torch.float32, device=sigma.device) - size // 2
    k = torch.exp(-(r.view(1, -1) ** 2) / (2 * sigma.view(-1, 1).clamp_min(1e-3) ** 2))
    return k / k.sum(1, keepdim=True)


def motion_kernels(length: torch.Tensor, angle: torch.Tensor, size: int = 11) -> torch.Tensor:
    """(N, size, size) normalised motion-blur kernels: a line of `length` pixels at `angle` radians through the
    centre, anti-aliased (a camera or head moving during the exposure)."""
    r = torch.arange(size, dtype=torch.float32, device=length.device) - size // 2
    yy, xx = r.view(1, -1, 1), r.view(1, 1, -1)
    c, s = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    along, across = xx * c + yy * s, -xx * s + yy * c
    half = (length.view(-1, 1, 1) - 1) / 2
    k = (1.0 - across.abs()).clamp_min(0) * (half + 0.5 - along.abs()).clamp(0, 1)
    return k / k.sum(dim=(1, 2), keepdim=True)


def filter2d(v: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Each face of `v` (N, 1, H, W) correlated with its own kernel (N, KH, KW), edges replicated. A sum of
    shifted copies (taps that are zero for every face are skipped): on a CPU several times faster than a grouped
    convolution with one group per face."""
    n, _, h, w = v.shape
    kh, kw = kernels.shape[-2:]
    x = F.pad(v, (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    out = torch.zeros_like(v)
    used = (kernels != 0).any(0).tolist()
    for dy in range(kh):
        for dx in range(kw):
            if used[dy][dx]:
                out.addcmul_(x[..., dy : dy + h, dx : dx + w], kernels[:, dy, dx].view(n, 1, 1, 1))
    return out


def filter2d_grouped(v: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """`filter2d` as one grouped convolution (one group per face): the GPU's form (one kernel launch, no
    host sync); equal up to the order of the sums."""
    n, _, h, w = v.shape
    kh, kw = kernels.shape[-2:]
    x = F.pad(v, (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    out = F.conv2d(x.view(1, n, h + kh - 1, w + kw - 1), kernels.unsqueeze(1).to(v.dtype), groups=n)
    return out.view(n, 1, h, w)


def gaussian_blur(v: torch.Tensor, sigma: torch.Tensor, dense: bool = False) -> torch.Tensor:
    """Each face of `v` (N, 1, H, W) blurred by a Gaussian of its own `sigma`, separably (rows, then columns)."""
    k = gaussian_kernels(sigma)
    f = filter2d_grouped if dense else filter2d
    return f(f(v, k.unsqueeze(1)), k.unsqueeze(2))


@dataclass(frozen=True)
class ChainDraw:
    """Every random choice of the camera chain for m faces but the noise itself (drawn as it is added)."""

    blur: torch.Tensor  # (m,) bool: Gaussian blur ...
    sigma: torch.Tensor  # ... of this sigma
    motion: torch.Tensor  # (m,) bool: motion blur (never both) ...
    length: torch.Tensor  # ... of this length
    angle: torch.Tensor  # ... in this direction (one per batch)
    small: torch.Tensor  # (m,) bool: seen at `size` pixels ...
    size: int
    down: str  # ... shrunk with this resize mode
    up: str  # ... and brought back to 48 with this one
    noise: torch.Tensor  # (m,) bool: sensor noise ...
    noise_sd: torch.Tensor  # ... of this standard deviation (intensities in [0, 1])
    jpeg: torch.Tensor  # (m,) bool: JPEG ...
    quality: torch.Tensor  # ... at this quality


def draw_chain(m: int, gen: torch.Generator, choice: torch.Generator | None = None) -> ChainDraw:
    """The camera chain's choices for `m` faces: per face from `gen`, per batch from `choice` (or `gen`)."""

    def chance(step: str) -> torch.Tensor:
        return _rand(m, gen) < CHAIN_P[step]

    blur, motion = chance("blur"), chance("motion")
    motion &= ~blur
    # one motion direction per batch (drawn anew every batch): the kernels then share their few non-zero taps
    sigma, angle = _uniform(m, 0.4, 2.0, gen), _uniform(1, 0.0, math.pi, gen).expand(m)
    length = torch.randint(3, 12, (m,), generator=gen, device=gen.device).float()
    small = chance("low_res")
    noise, noise_sd = chance("noise"), _uniform(m, 2.0, 12.0, gen) / 255.0
    use_jpeg = chance("jpeg")
    quality = torch.randint(15, 86, (m,), generator=gen, device=gen.device)
    size = LOW_RES_PX[_choose_int(len(LOW_RES_PX), choice, gen)]
    down = "area" if _choose(choice, gen) < 0.7 else "bilinear-aa"
    up = "bilinear" if _choose(choice, gen) < 0.8 else "bicubic"
    return ChainDraw(blur, sigma, motion, length, angle, small, size, down, up, noise, noise_sd, use_jpeg, quality)


def _chain_sparse(v: torch.Tensor, d: ChainDraw, gen: torch.Generator) -> torch.Tensor:
    """The chain on the faces that draw each step (the CPU's form: no work on faces a step skips)."""
    h = v.shape[-2]
    for group, apply in (
        (d.blur, lambda t, i: gaussian_blur(t, d.sigma[i])),
        (d.motion, lambda t, i: filter2d(t, motion_kernels(d.length[i], d.angle[i]))),
    ):
        sel = torch.nonzero(group).view(-1)
        if len(sel):
            v[sel] = apply(v[sel], sel)
    out = torch.empty_like(v)
    for group in (d.small, ~d.small):
        sel = torch.nonzero(group).view(-1)
        if len(sel) == 0:
            continue
        part = resize(v[sel], d.size, d.down) if group is d.small else v[sel]
        noisy = torch.nonzero(d.noise[sel]).view(-1)
        if len(noisy):
            grain = torch.randn((len(noisy),) + part.shape[1:], generator=gen, device=gen.device)
            part[noisy] = (part[noisy] + grain * d.noise_sd[sel][noisy].view(-1, 1, 1, 1)).clamp(0.0, 1.0)
        jp = torch.nonzero(d.jpeg[sel]).view(-1)
        if len(jp):
            part[jp] = jpeg(part[jp], d.quality[sel][jp])
        if group is d.small:
            part = resize(part, h, d.up).clamp(0.0, 1.0)
        out[sel] = part
    return out


def _chain_dense(v: torch.Tensor, d: ChainDraw, gen: torch.Generator) -> torch.Tensor:
    """The chain on every face, each step kept where it was drawn (the GPU's form: no host sync)."""
    h = v.shape[-2]

    def where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.where(mask.view(-1, 1, 1, 1), a, b)

    v = where(d.blur, gaussian_blur(v, d.sigma, dense=True), v)
    v = where(d.motion, filter2d_grouped(v, motion_kernels(d.length, d.angle)), v)
    parts = []
    for part in (resize(v, d.size, d.down), v):
        grain = torch.randn(part.shape, generator=gen, device=gen.device) * d.noise_sd.view(-1, 1, 1, 1)
        part = where(d.noise, (part + grain).clamp(0.0, 1.0), part)
        parts.append(where(d.jpeg, jpeg(part, d.quality), part))
    return where(d.small, resize(parts[0], h, d.up).clamp(0.0, 1.0), parts[1])


def degrade(
    x: torch.Tensor,
    cfg: AugmentConfig,
    gen: torch.Generator,
    choice: torch.Generator | None = None,
    dense: bool | None = None,
) -> torch.Tensor:
    """The camera chain on normalised faces (N, 1, H, W): each face with probability `cfg.degrade`, and within it
    each step with its probability in CHAIN_P: Gaussian (sigma 0.4-2.0) or motion blur (3-11 px), a face of 12-40
    pixels (LOW_RES_PX: area averaging as OpenCV's INTER_AREA, or antialiased bilinear), sensor noise (sigma 2-12
    of 255) and JPEG (quality 15-85) at that size, then up-sampling back to H (bilinear as the runtime's crop, or
    bicubic). Faces not chosen are returned unchanged. `dense` (default: on a GPU) runs each step on every face
    and keeps it where drawn (no host sync); otherwise only the chosen faces are worked on. Both give the same
    faces for the same draws (`draw_chain`); the noise fields are drawn in a different order."""
    n = x.shape[0]
    if cfg.degrade <= 0 or n == 0:
        return x
    dense = x.device.type != "cpu" if dense is None else dense
    pick = _rand(n, gen) < cfg.degrade
    if dense:
        v = (x.float() * STD + MEAN).clamp(0.0, 1.0)
        out = _chain_dense(v, draw_chain(n, gen, choice), gen)
        return torch.where(pick.view(-1, 1, 1, 1), ((out - MEAN) / STD).to(x.dtype), x)
    if not bool(pick.any()):
        return x
    idx = torch.nonzero(pick).view(-1)
    v = (x[idx].float() * STD + MEAN).clamp(0.0, 1.0)
    out = _chain_sparse(v, draw_chain(len(idx), gen, choice), gen)
    x = x.clone()
    x[idx] = ((out - MEAN) / STD).to(x.dtype)
    return x
