"""Knowledge distillation: the `Teacher` (trained checkpoints whose averaged logits a student learns from) and
Hinton et al.'s distillation term (`kd_loss`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint


class Teacher:
    """The averaged logits of one or more trained checkpoints (and, with `tta`, of each one's view of the
    mirror image), for knowledge distillation."""

    def __init__(self, paths: Sequence[str], device: torch.device, tta: bool = False) -> None:
        self.tta = tta
        self.models = []
        for p in paths:
            model, _ = load_checkpoint(p)
            model.calibration = None  # a bundle's score calibration is for its users; a student learns the logits
            self.models.append(model.to(device).to(memory_format=torch.channels_last).requires_grad_(False))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        views = [x, torch.flip(x, dims=[3])] if self.tta else [x]
        return torch.stack([m(v).float() for m in self.models for v in views]).mean(0)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.'s distillation term: T^2 * KL(softmax(teacher/T) || softmax(student/T))."""
    t = temperature
    return F.kl_div(
        F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), reduction="batchmean", log_target=True
    ) * (t * t)
