"""The training recipe: `TrainConfig` (architecture, augmentation, optimiser, schedule, distillation, precision),
and what of it a resumed run must match (`comparable_recipe`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..model import DeepEmotionConfig
from .augment import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    """The recipe. The architecture is `model`; augmentation is `augment`."""

    model: DeepEmotionConfig = field(default_factory=DeepEmotionConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 100
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw | sgd (Nesterov momentum) | adam (paper)
    lr: float = 0.002
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.05  # on conv/linear weights except the FC weights of eq. (1); never on BN/biases
    l2_fc: float = 1e-4  # lambda of eq. (1): l2 * ||w_fc||^2
    schedule: str = "cosine"  # cosine (to 1% of lr) | constant (paper)
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    oversample: float = 0.0  # class sampling weight = count^-oversample (0: natural, 1: balanced)
    ema: float = 0.999  # decay of an exponential moving average of the weights (0: off)
    teachers: tuple[str, ...] = ()  # checkpoints whose averaged logits the student learns from
    kd_alpha: float = 0.7  # weight of the distillation term (the rest: cross-entropy)
    kd_temperature: float = 4.0
    teacher_tta: bool = False  # the teacher also averages over the mirror image (a teacher has no FLOP budget)
    precision: str = "auto"  # auto | bf16 | fp32
    keep: str = "best"  # best: the epoch best on validation (best.pt); last: the last epoch (validation
    # is then only reported, not used to select)
    seed: int = 0
    threads: int = 0  # torch threads (0: PyTorch's default)

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 2, f"batch size must be >= 2, got {self.batch_size}"),
            (
                self.optimizer in ("sgd", "adamw", "adam"),
                f"optimizer must be sgd, adamw or adam, got {self.optimizer!r}",
            ),
            (math.isfinite(self.lr) and self.lr > 0, f"learning rate must be a positive number, got {self.lr}"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0, "weight decay must be >= 0"),
            (math.isfinite(self.l2_fc) and self.l2_fc >= 0, "l2-fc must be >= 0"),
            (self.schedule in ("cosine", "constant"), f"schedule must be cosine or constant, got {self.schedule!r}"),
            (self.warmup_epochs >= 0, f"warmup epochs must be >= 0, got {self.warmup_epochs}"),
            (0 <= self.label_smoothing < 1, f"label smoothing must be in [0, 1), got {self.label_smoothing}"),
            (0 <= self.oversample <= 1, f"oversample must be in [0, 1], got {self.oversample}"),
            (0 <= self.ema < 1, f"ema decay must be in [0, 1), got {self.ema}"),
            (0 <= self.kd_alpha <= 1, f"kd alpha must be in [0, 1], got {self.kd_alpha}"),
            (self.kd_temperature > 0, f"kd temperature must be > 0, got {self.kd_temperature}"),
            (
                self.precision in ("auto", "bf16", "fp32"),
                f"precision must be auto, bf16 or fp32, got {self.precision!r}",
            ),
            (self.threads >= 0, f"threads must be >= 0, got {self.threads}"),
            (self.keep in ("best", "last"), f"keep must be best or last, got {self.keep!r}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["augment"]["erase_area"] = list(self.augment.erase_area)
        d["teachers"] = list(self.teachers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "model" in d:
            d["model"] = DeepEmotionConfig.from_dict(d["model"])
        if "augment" in d:
            a = dict(d["augment"])
            if "erase_area" in a:
                a["erase_area"] = tuple(a["erase_area"])
            d["augment"] = AugmentConfig(**a)
        if "teachers" in d:
            d["teachers"] = tuple(d["teachers"])
        return cls(**d)


def comparable_recipe(train_config: Any) -> Any:
    """A training configuration (a checkpoint's recorded dict, or one given now) as a resumed run must match it:
    read through `TrainConfig` (fields added since the run started take their defaults, which are the old
    behaviour) and without `threads` (the CPU threads are the machine's business)."""
    if not isinstance(train_config, dict):
        return train_config
    try:
        train_config = TrainConfig.from_dict(train_config).to_dict()
    except (TypeError, ValueError):
        pass  # not a configuration we can read: compared as it is, and so refused
    return {k: v for k, v in train_config.items() if k != "threads"}
