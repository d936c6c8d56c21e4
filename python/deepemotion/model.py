"""Deep-Emotion (Minaee et al., Sensors 2021, section 3) in PyTorch.

Spatial transformer: a localization net (two conv layers, each followed by max-pool and ReLU,
then two fully connected layers) regresses an affine theta (2x3), initialised to the identity;
the input is warped by affine grid + bilinear sampling. Feature extractor: four conv layers with a
max-pool + ReLU after every two, then dropout and two fully connected layers giving 7 logits.
Loss: cross-entropy + lambda * ||w_fc||^2 over the weights of the two fully connected layers.

The paper gives no channel widths; ``width`` sets the feature channels (10 reproduces the
widely used reading of the paper's figure). Input: N x 1 x 48 x 48 grayscale, normalised with
:data:`deepemotion.preprocess.MEAN` / ``STD``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .labels import NUM_CLASSES

INPUT_SIZE = 48


@dataclass(frozen=True)
class DeepEmotionConfig:
    width: int = 10            # channels of the four feature conv layers
    hidden: int = 50           # units of the first fully connected layer
    dropout: float = 0.5
    loc_channels: tuple[int, int] = (8, 10)  # localization net conv channels
    loc_hidden: int = 32       # localization net hidden units
    batch_norm: bool = False   # our addition (not in the paper): BN after each feature conv
    align_corners: bool = False
    num_classes: int = NUM_CLASSES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["loc_channels"] = list(self.loc_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DeepEmotionConfig":
        d = dict(d)
        if "loc_channels" in d:
            d["loc_channels"] = tuple(d["loc_channels"])
        return cls(**d)


def _conv(cin: int, cout: int, k: int, bn: bool) -> nn.Module:
    if not bn:
        return nn.Conv2d(cin, cout, k)
    return nn.Sequential(nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout))


class DeepEmotion(nn.Module):
    """The Deep-Emotion attentional CNN. ``forward`` returns logits (N x 7)."""

    def __init__(self, width: int = 10, hidden: int = 50, dropout: float = 0.5, *,
                 loc_channels: tuple[int, int] = (8, 10), loc_hidden: int = 32, batch_norm: bool = False,
                 align_corners: bool = False, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if width < 1 or hidden < 1 or loc_hidden < 1 or min(loc_channels) < 1:
            raise ValueError("DeepEmotion: width, hidden, loc_channels and loc_hidden must be positive")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"DeepEmotion: dropout must be in [0, 1), got {dropout}")
        self.config = DeepEmotionConfig(width, hidden, dropout, tuple(loc_channels), loc_hidden, batch_norm,
                                        align_corners, num_classes)
        c1, c2 = loc_channels
        # Localization net: 48 -conv7-> 42 -pool-> 21 -conv5-> 17 -pool-> 8
        self.localization = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=7), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        )
        self.fc_loc = nn.Sequential(nn.Linear(c2 * 8 * 8, loc_hidden), nn.ReLU(inplace=True),
                                    nn.Linear(loc_hidden, 6))
        # Features: 48 -> 46 -> 44 -pool-> 22 -> 20 -> 18 -pool-> 9
        self.conv1 = _conv(1, width, 3, batch_norm)
        self.conv2 = _conv(width, width, 3, batch_norm)
        self.conv3 = _conv(width, width, 3, batch_norm)
        self.conv4 = _conv(width, width, 3, batch_norm)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(width * 9 * 9, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Paper init for conv/FC weights is N(0, 0.05); we use PyTorch's default (Kaiming-uniform),
        which trains more reliably at lr 0.005, and start the STN at the identity transform."""
        nn.init.zeros_(self.fc_loc[2].weight)
        with torch.no_grad():
            self.fc_loc[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        """The affine transform (N x 2 x 3) the localization net regresses for ``x``."""
        xs = self.localization(x).flatten(1)
        return self.fc_loc(xs).view(-1, 2, 3)

    def stn(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x)
        grid = F.affine_grid(theta, list(x.shape), align_corners=self.config.align_corners)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=self.config.align_corners)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv2(self.conv1(x)), 2))
        x = F.relu(F.max_pool2d(self.conv4(self.conv3(x)), 2))
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != INPUT_SIZE or x.shape[3] != INPUT_SIZE:
            raise ValueError(f"DeepEmotion expects input of shape (N, 1, {INPUT_SIZE}, {INPUT_SIZE}), "
                             f"got {tuple(x.shape)}")
        x = self.features(self.stn(x))
        x = self.dropout(x)
        x = F.relu(self.fc1(x))
        return self.fc2(x)

    def fc_l2(self) -> torch.Tensor:
        """||w_fc||^2: squared L2 norm of the weights of the two fully connected layers."""
        return self.fc1.weight.pow(2).sum() + self.fc2.weight.pow(2).sum()

    def loss(self, logits: torch.Tensor, target: torch.Tensor, l2: float = 1e-3,
             label_smoothing: float = 0.0, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Paper eq. (1): cross-entropy + l2 * ||w_fc||^2."""
        ce = F.cross_entropy(logits, target, weight=weight, label_smoothing=label_smoothing)
        return ce + l2 * self.fc_l2()

    @classmethod
    def from_config(cls, config: DeepEmotionConfig | dict[str, Any]) -> "DeepEmotion":
        if isinstance(config, dict):
            config = DeepEmotionConfig.from_dict(config)
        return cls(config.width, config.hidden, config.dropout, loc_channels=config.loc_channels,
                   loc_hidden=config.loc_hidden, batch_norm=config.batch_norm,
                   align_corners=config.align_corners, num_classes=config.num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: DeepEmotion) -> dict[str, int]:
    """Multiply-accumulates of one forward pass on one 48x48 face, by layer kind.

    Convolutions and linear layers are counted exactly from a traced forward pass; the STN's
    bilinear sampling is counted as 4 MACs per output pixel. FLOPs = 2 x MACs.
    """
    macs = {"conv": 0, "linear": 0, "sampling": 0}

    def conv_hook(mod: nn.Conv2d, _inp: Any, out: torch.Tensor) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        macs["conv"] += out.numel() * k

    def linear_hook(mod: nn.Linear, _inp: Any, out: torch.Tensor) -> None:
        macs["linear"] += out.numel() * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    macs["sampling"] = 4 * INPUT_SIZE * INPUT_SIZE
    total = sum(macs.values())
    return {"macs": total, "flops": 2 * total, **{f"{k}_macs": v for k, v in macs.items()}}
