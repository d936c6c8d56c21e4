"""Score calibration: the inverse temperature a face's logits are multiplied by, a function of the face's own top
softmax score.

Fitted by `references/fer2013/bundle.py` and stored in the network's config (`score_knots`/`score_scales`): in
eval mode the logits of each face are multiplied by an inverse temperature that depends on the face's top softmax score
p, piecewise linear in p through (knot, scale) points. Per face this is a temperature, so the ranking of the classes
(and the answer) never changes; every graph exported from the model ends with it, so every backend's softmax gives the
calibrated probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class ScoreCalibration(nn.Module):
    """logits * s(p), p = the face's top softmax score, s piecewise linear through (knot, scale) points and constant
    beyond the ends. Written as s(p) = scales[0] + sum_i c_i * relu(p - knot_i), one hinge per knot (c: the change of
    slope there; the last one flattens s beyond the last knot): in ONNX `Sub`, `Relu`, `MatMul`, `Add` after
    the `Softmax` and `ReduceMax`, whatever the number of knots. No parameters or buffers: the numbers live in the
    config."""

    def __init__(self, knots: tuple[float, ...], scales: tuple[Any, ...]) -> None:
        super().__init__()
        self.knots, self.scales = tuple(knots), tuple(scales)
        slopes = [(s1 - s0) / (k1 - k0) for k0, k1, s0, s1 in zip(knots, knots[1:], scales, scales[1:])]
        self.hinges = [slopes[0], *(b - a for a, b in zip(slopes, slopes[1:])), -slopes[-1]]

    def scale(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, 1) inverse temperatures of `logits`' faces."""
        z = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits  # FP16: scores in FP32
        p = torch.softmax(z, 1).amax(1, keepdim=True)
        knots = torch.tensor(self.knots, dtype=p.dtype, device=p.device)
        hinges = torch.stack([torch.as_tensor(c, dtype=torch.float64) for c in self.hinges]).to(p.device, p.dtype)
        return torch.relu(p - knots) @ hinges[:, None] + self.scales[0]

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        s = self.scale(logits)
        return logits * (s if s.dtype == logits.dtype else s.to(logits.dtype))

    def extra_repr(self) -> str:
        return f"knots={self.knots}, scales={self.scales}"

    #: where the scale may bend (from the lowest possible top score of 7 classes to certainty) and how smoothly: the
    #: choice with the lowest held-out ECE, cross-fitted over PublicTest's halves
    #: (references/fer2013/experiments/calibration_choice.py)
    KNOTS = (1 / 7, 0.45, 0.7, 0.88, 1.0)
    SMOOTHNESS = 0.001

    @classmethod
    def fit(
        cls, logits: Any, labels: Any, knots: tuple[float, ...] = KNOTS, smoothness: float = SMOOTHNESS
    ) -> ScoreCalibration:
        """The calibration whose top scores best predict whether the top class is right on these faces: scales at
        `knots` minimising the binary cross-entropy of the calibrated top score against "the answer is right"
        (the quantity the ECE bins), plus `smoothness` x the squared differences of neighbouring log scales
        (L-BFGS, float64). The top class itself never changes."""
        z = torch.as_tensor(np.asarray(logits, np.float64))
        y = torch.as_tensor(np.asarray(labels, np.int64))
        if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
            raise ValueError(f"logits must be (N, C) and labels (N,), N > 0; got {tuple(z.shape)} and {tuple(y.shape)}")
        top = z.argmax(1)
        right = (top == y).double()
        log_s = torch.zeros(len(knots), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([log_s], max_iter=500, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            cal = cls(knots, tuple(log_s.exp()))  # differentiable: the scales (so the hinges) are tensors here
            score = torch.softmax(cal(z), 1).gather(1, top[:, None])[:, 0].clamp(1e-9, 1 - 1e-9)
            loss = (
                -(right * score.log() + (1 - right) * (1 - score).log()).mean()
                + smoothness * (log_s[1:] - log_s[:-1]).pow(2).sum()
            )
            loss.backward()
            return loss

        opt.step(closure)
        return cls(knots, tuple(float(v) for v in log_s.detach().exp()))
