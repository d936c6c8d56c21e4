"""Batched data augmentation on uint8 face tensors (no per-image Python work).

One batch of faces is turned into network input by: a random affine transform per face (flip,
rotation, scale, shear, translation folded into one theta, applied by a single affine_grid +
grid_sample call), random erasing of a rectangle per face, and optionally mixup or cutmix, which
mix pairs of faces and return soft targets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..labels import MEAN, STD


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    rotate_deg: float = 10.0
    scale: float = 0.15        # +- relative zoom
    shear: float = 0.1         # +- (the paper's "small distortion")
    translate: float = 0.15    # +- fraction of the half-size
    brightness: float = 0.0    # +- relative gain on the intensities (0.4: x0.6..x1.4, as camera exposure varies)
    contrast: float = 0.0      # +- relative contrast around each face's mean
    erase_p: float = 0.5       # probability of erasing one random rectangle per face
    erase_area: tuple[float, float] = (0.02, 0.25)  # its area, as a fraction of the face
    mixup: float = 0.0         # Beta(a, a) mixing of face pairs (0: off)
    cutmix: float = 0.0        # Beta(a, a) area of a pasted rectangle (0: off)
    mix_p: float = 0.5         # probability that a batch is mixed at all (when mixup or cutmix is on)


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 48, 48) -> normalised float (N, 1, 48, 48)."""
    return ((images.float() / 255.0) - MEAN).div_(STD).unsqueeze(1)


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (hi - lo) + lo


def affine_theta(n: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random affine transforms (N, 2, 3): flip, rotation, scale, shear, translation."""
    ang = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, gen) * (math.pi / 180.0)
    s = 1.0 + _uniform(n, -cfg.scale, cfg.scale, gen)
    sh = _uniform(n, -cfg.shear, cfg.shear, gen)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    c, si = torch.cos(ang), torch.sin(ang)
    theta = torch.empty(n, 2, 3)
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
    y0 = (torch.rand(n, generator=gen) * (h - bh + 1)).floor()
    x0 = (torch.rand(n, generator=gen) * (w - bw + 1)).floor()
    return y0, y0 + bh, x0, x0 + bw


def _box_mask(y0: torch.Tensor, y1: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, h: int, w: int) -> torch.Tensor:
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    return ((ys >= y0.view(-1, 1, 1)) & (ys < y1.view(-1, 1, 1)) &
            (xs >= x0.view(-1, 1, 1)) & (xs < x1.view(-1, 1, 1))).unsqueeze(1)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Replace one random rectangle of each face (with probability ``erase_p``) by noise."""
    n, _, h, w = x.shape
    if cfg.erase_p <= 0 or n == 0:
        return x
    area = _uniform(n, *cfg.erase_area, gen)
    mask = _box_mask(*_boxes(n, h, w, area, gen), h, w)
    mask &= (torch.rand(n, generator=gen) < cfg.erase_p).view(-1, 1, 1, 1)
    noise = torch.randn(x.shape, generator=gen)
    return torch.where(mask, noise, x)


def mix(x: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: AugmentConfig, gen: torch.Generator,
        label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or cutmix (one of them, chosen per batch) with soft targets (N, C)."""
    n = x.shape[0]
    target = F.one_hot(y, num_classes).float()
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    modes = [m for m, a in (("mixup", cfg.mixup), ("cutmix", cfg.cutmix)) if a > 0]
    if not modes or n < 2 or float(torch.rand(1, generator=gen)) >= cfg.mix_p:
        return x, target
    mode = modes[int(torch.randint(len(modes), (1,), generator=gen))]
    perm = torch.randperm(n, generator=gen)
    a = cfg.mixup if mode == "mixup" else cfg.cutmix
    lam = float(torch.distributions.Beta(a, a).sample())  # uses the global generator; seeded by the trainer
    if mode == "mixup":
        return lam * x + (1 - lam) * x[perm], lam * target + (1 - lam) * target[perm]
    h, w = x.shape[2:]
    y0, y1, x0, x1 = _boxes(1, h, w, torch.tensor([1.0 - lam]), gen)
    mask = _box_mask(y0, y1, x0, x1, h, w)
    lam_true = 1.0 - float(mask.float().mean())
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
    """uint8 faces (N, 48, 48) -> augmented normalised input (N, 1, 48, 48)."""
    x = to_input(images)
    theta = affine_theta(x.shape[0], cfg, gen)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # border padding: a rotated face keeps plausible edges instead of black corners
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return random_erase(photometric(x, cfg, gen), cfg, gen)
