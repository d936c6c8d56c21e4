"""Deep-Emotion (Minaee et al., Sensors 2021, section 3) and its scaled family, in PyTorch.

Spatial transformer (kept as in the paper for every member of the family): a localization net
(two conv layers, each followed by max-pool and ReLU, then two fully connected layers) regresses an
affine theta (2x3), initialised to the identity; the input is warped by affine grid + bilinear
sampling. Every exported graph therefore has exactly one affine-grid-sample. A member may sample the warped
face smaller than its input (`sample_size`, e.g. 24: the feature stages then see a 24x24 face, a quarter of
the work) and let its localization net look at a pooled face (`loc_pool`): the fast small model.

Feature extractor: stages of 3x3 convolutions, each stage ending in a 2x2 max-pool; then dropout
and two fully connected layers giving 7 logits. The paper's network is two stages of two valid
(unpadded) convolutions with a ReLU after each pool (`PAPER`); the scaled members use padded
convolutions with batch norm and a ReLU after every convolution (VGG-style), wider and deeper.
Loss: cross-entropy + lambda * ||w_fc||^2 over the weights of the two fully connected layers.

Every hyper-parameter of the architecture lives in `DeepEmotionConfig`; build a model with
`DeepEmotion(config)`. Input: N x 1 x 48 x 48 grayscale, normalised as `deepemotion.labels` says.

Score calibration (`score_knots`/`score_scales`; empty: none): in eval mode the logits end in a
`ScoreCalibration` (`calibration.py`), so every exported graph gives calibrated probabilities.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import INPUT_SIZE, MEAN, NUM_CLASSES, STD
from .calibration import ScoreCalibration


@dataclass(frozen=True)
class DeepEmotionConfig:
    """Architecture of one DeepEmotion network (the only place its hyper-parameters are defined)."""

    widths: tuple[int, ...] = (10, 10)  # output channels of each stage's convolutions
    depths: tuple[int, ...] = (2, 2)  # convolutions per stage
    padding: int = 0  # 0: valid 3x3 convs (paper), 1: same-size convs
    relu_each_conv: bool = False  # paper: ReLU only after each stage's pool
    batch_norm: bool = False  # ours: BN after each conv
    hidden: int = 50  # units of the first fully connected layer
    dropout: float = 0.5
    loc_channels: tuple[int, int] = (8, 10)  # localization net conv channels
    loc_hidden: int = 32  # localization net hidden units
    align_corners: bool = False
    tta_flip: bool = False  # average the logits of the face and its mirror image, inside the graph
    num_classes: int = NUM_CLASSES
    sample_size: int = INPUT_SIZE  # side of the warped face the STN samples for the feature stages
    loc_pool: int = 1  # the localization net sees the face average-pooled by this factor
    score_knots: tuple[float, ...] = ()  # score calibration: top softmax scores p (increasing, in [0, 1]) ...
    score_scales: tuple[float, ...] = ()  # ... and the inverse temperatures (> 0) at them; () = uncalibrated

    def __post_init__(self) -> None:
        if not self.widths or len(self.widths) != len(self.depths):
            raise ValueError(
                f"DeepEmotionConfig: widths {self.widths} and depths {self.depths} must be "
                "non-empty and of equal length"
            )
        if (
            min(self.widths) < 1
            or min(self.depths) < 1
            or self.hidden < 1
            or self.loc_hidden < 1
            or min(self.loc_channels) < 1
            or self.num_classes < 2
        ):
            raise ValueError(
                "DeepEmotionConfig: widths, depths, hidden, loc_channels, loc_hidden must be positive "
                "and num_classes >= 2"
            )
        if self.padding not in (0, 1):
            raise ValueError(f"DeepEmotionConfig: padding must be 0 or 1, got {self.padding}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"DeepEmotionConfig: dropout must be in [0, 1), got {self.dropout}")
        if not 8 <= self.sample_size <= INPUT_SIZE or self.loc_pool not in (1, 2):
            raise ValueError(
                f"DeepEmotionConfig: sample_size must be in 8..{INPUT_SIZE} and loc_pool 1 or 2, got "
                f"{self.sample_size} and {self.loc_pool}"
            )
        k, s = self.score_knots, self.score_scales
        if (
            len(k) != len(s)
            or len(k) == 1
            or any(b <= a for a, b in zip(k, k[1:]))
            or any(not 0.0 <= v <= 1.0 for v in k)
            or any(not v > 0 for v in s)
        ):
            raise ValueError(
                f"DeepEmotionConfig: score_knots {k} must increase within [0, 1] and score_scales {s} "
                "be positive, two or more of each (or both empty)"
            )
        if self.feature_size() < 1:
            raise ValueError(
                f"DeepEmotionConfig: {len(self.widths)} stages shrink a {self.sample_size}-pixel face "
                "to nothing; use fewer stages or padding=1"
            )

    def feature_size(self) -> int:
        """Side of the last stage's output map."""
        s = self.sample_size
        for d in self.depths:
            s = (s - 2 * d * (1 - self.padding)) // 2
        return s

    def loc_size(self) -> int:
        """Side of the localization net's last map (conv7, pool, conv5, pool on the face pooled by loc_pool)."""
        return ((INPUT_SIZE // self.loc_pool - 6) // 2 - 4) // 2

    def uncalibrated(self) -> DeepEmotionConfig:
        """This network without its score calibration (a fine-tune or a new fit starts from the raw logits)."""
        return replace(self, score_knots=(), score_scales=())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("widths", "depths", "loc_channels", "score_knots", "score_scales"):
            d[k] = list(d[k])
        if not self.score_knots:  # uncalibrated configs keep the keys they always had
            del d["score_knots"], d["score_scales"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeepEmotionConfig:
        d = dict(d)
        if "width" in d:  # 0.1 checkpoints: one width for the paper's four convs
            w = d.pop("width")
            d.setdefault("widths", (w, w))
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"DeepEmotionConfig: unknown keys {unknown}")
        for k in ("widths", "depths", "loc_channels"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        for k in ("score_knots", "score_scales"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        return cls(**d)


#: The paper's network (66,857 parameters; the `tiny` bundled model's family).
PAPER = DeepEmotionConfig()
#: VGG-style members of the family, named for `fer-train --arch`.
ARCHS: dict[str, DeepEmotionConfig] = {
    "paper": PAPER,
    "tiny": DeepEmotionConfig(
        widths=(16, 32, 48, 48),
        depths=(1, 2, 1, 1),
        padding=1,
        relu_each_conv=True,
        batch_norm=True,
        hidden=48,
        dropout=0.3,
    ),
    "small": DeepEmotionConfig(
        widths=(32, 64, 128), depths=(1, 2, 2), padding=1, relu_each_conv=True, batch_norm=True, hidden=128, dropout=0.4
    ),
    "base": DeepEmotionConfig(
        widths=(32, 64, 128, 256),
        depths=(1, 2, 2, 2),
        padding=1,
        relu_each_conv=True,
        batch_norm=True,
        hidden=256,
        dropout=0.4,
    ),
    # the fast small model: the warped face sampled at 24x24, the localization net on the face pooled 2x
    "tiny-fast": DeepEmotionConfig(
        widths=(16, 32, 64),
        depths=(2, 1, 1),
        padding=1,
        relu_each_conv=True,
        batch_norm=True,
        hidden=128,
        dropout=0.3,
        sample_size=24,
        loc_pool=2,
    ),
}


def arch_config(name: str, **overrides: Any) -> DeepEmotionConfig:
    """A named member of the family, with some fields replaced."""
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHS)}")
    return replace(ARCHS[name], **overrides) if overrides else ARCHS[name]


class Dropout(nn.Module):
    """Inverted dropout with a uniform-threshold mask: the same regulariser as nn.Dropout, about 4x cheaper on a
    CPU (torch.rand_like instead of bernoulli_, which dominated the step's non-conv time). Identity in eval."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _stage(cin: int, cout: int, depth: int, cfg: DeepEmotionConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=cfg.padding, bias=not cfg.batch_norm))
        if cfg.batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        if cfg.relu_each_conv:
            layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2))
    if not cfg.relu_each_conv:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DeepEmotion(nn.Module):
    """One member of the Deep-Emotion family. `forward` returns logits (N x num_classes)."""

    def __init__(self, config: DeepEmotionConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config if config is not None else PAPER
        c1, c2 = cfg.loc_channels
        # Localization net: 48 -conv7-> 42 -pool-> 21 -conv5-> 17 -pool-> 8 (loc_pool 2: 24 -> 18 -> 9 -> 5 -> 2)
        # (ReLU before max-pool: the same numbers as the paper's pool-then-ReLU, since max and ReLU commute, and the
        # order ONNX Runtime fuses into the convolution; the state-dict keys are unchanged.)
        self.localization = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=7),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.fc_loc = nn.Sequential(
            nn.Linear(c2 * cfg.loc_size() ** 2, cfg.loc_hidden), nn.ReLU(inplace=True), nn.Linear(cfg.loc_hidden, 6)
        )
        chans = (1, *cfg.widths)
        self.features = nn.Sequential(*(_stage(chans[i], chans[i + 1], d, cfg) for i, d in enumerate(cfg.depths)))
        self.dropout = Dropout(cfg.dropout)
        self.fc1 = nn.Linear(cfg.widths[-1] * cfg.feature_size() ** 2, cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, cfg.num_classes)
        self.calibration = ScoreCalibration(cfg.score_knots, cfg.score_scales) if cfg.score_knots else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Paper init for conv/FC weights is N(0, 0.05); we use PyTorch's default (Kaiming-uniform),
        which trains more reliably, and start the STN at the identity transform."""
        nn.init.zeros_(self.fc_loc[2].weight)
        with torch.no_grad():
            self.fc_loc[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """The affine transform (N x 2 x 3) the localization net regresses for `x`."""
        if self.config.loc_pool > 1:
            x = F.avg_pool2d(x, self.config.loc_pool)
        xs = self.localization(x).flatten(1)
        return self.fc_loc(xs).view(-1, 2, 3)

    def stn(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x).to(x.dtype)
        size = self.config.sample_size
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], size, size], align_corners=self.config.align_corners)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=self.config.align_corners)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the features of STN-warped faces `x`."""
        x = self.features(x).flatten(1)
        x = F.relu(self.fc1(self.dropout(x)))
        return self.fc2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != INPUT_SIZE or x.shape[3] != INPUT_SIZE:
            raise ValueError(
                f"DeepEmotion expects input of shape (N, 1, {INPUT_SIZE}, {INPUT_SIZE}), got {tuple(x.shape)}"
            )
        if self.config.tta_flip and not self.training:
            # one batch of 2N faces: the mirror images follow the originals; one affine-grid-sample op
            n = x.shape[0]
            logits = self.classify(self.stn(torch.cat([x, torch.flip(x, dims=[3])], 0)))
            return self.calibrated(0.5 * (logits[:n] + logits[n:]))
        logits = self.classify(self.stn(x))
        return logits if self.training else self.calibrated(logits)

    def calibrated(self, logits: torch.Tensor) -> torch.Tensor:
        """`logits` with the config's score calibration applied (unchanged without one)."""
        return logits if self.calibration is None else self.calibration(logits)

    def fc_l2(self) -> torch.Tensor:
        """||w_fc||^2: squared L2 norm of the weights of the two fully connected layers."""
        return self.fc1.weight.pow(2).sum() + self.fc2.weight.pow(2).sum()

    def fc_weights(self) -> list[nn.Parameter]:
        return [self.fc1.weight, self.fc2.weight]

    def loss(
        self, logits: torch.Tensor, target: torch.Tensor, l2: float = 1e-3, label_smoothing: float = 0.0
    ) -> torch.Tensor:
        """Paper eq. (1): cross-entropy + l2 * ||w_fc||^2 (`target`: class indices, or (N, C) soft targets)."""
        ce = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
        return ce + l2 * self.fc_l2()


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 faces (N, 48, 48) -> the network's input: normalised float (N, 1, 48, 48), as `deepemotion.labels`
    says (the runtime's `normalise_faces` makes the same numbers in numpy)."""
    return ((images.float() / 255.0) - MEAN).div_(STD).unsqueeze(1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: DeepEmotion, constant_stn: bool = False) -> dict[str, int]:
    """Multiply-accumulates of one forward pass (eval mode, as shipped) on one 48x48 face, by layer kind.

    Convolutions and linear layers are counted exactly from a traced forward pass; the STN's
    bilinear sampling is counted as 4 MACs per output pixel. FLOPs = 2 x MACs. With `tta_flip`
    the network runs twice per face and both passes are counted. `constant_stn`: the localization net is not
    counted (a graph that holds its constant θ instead, see deepemotion.export.stn).
    """
    macs = {"conv": 0, "linear": 0, "sampling": 0}

    def conv_hook(mod: nn.Conv2d, _inp: Any, out: torch.Tensor) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        macs["conv"] += out.numel() * k

    def linear_hook(mod: nn.Linear, _inp: Any, out: torch.Tensor) -> None:
        macs["linear"] += out.numel() * mod.in_features

    handles = []
    skip = {id(m) for m in (*model.localization.modules(), *model.fc_loc.modules())} if constant_stn else set()
    for m in model.modules():
        if id(m) in skip:
            continue
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE, device=next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    macs["sampling"] = 4 * model.config.sample_size**2 * (2 if model.config.tta_flip else 1)
    total = sum(macs.values())
    return {"macs": total, "flops": 2 * total, **{f"{k}_macs": v for k, v in macs.items()}}


def describe(model: DeepEmotion, constant_stn: bool = False) -> dict[str, Any]:
    """Parameters and FLOPs of `model` (for metadata and the accuracy-vs-MFLOP plot); `constant_stn`: of the
    network without its localization net (a graph that holds its constant θ)."""
    f = count_flops(model, constant_stn)
    n = count_parameters(model)
    if constant_stn:
        n -= count_parameters(model.localization) + count_parameters(model.fc_loc) - 6  # θ stays: 6 numbers
    return {"parameters": n, "flops_per_face": f["flops"], "mflops_per_face": f["flops"] / 1e6}


__all__ = [
    "ARCHS",
    "PAPER",
    "DeepEmotion",
    "DeepEmotionConfig",
    "arch_config",
    "count_flops",
    "count_parameters",
    "describe",
    "to_input",
]
