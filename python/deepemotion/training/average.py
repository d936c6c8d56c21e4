"""The weight average the trainer keeps beside the model (an exponential moving average of its weights)."""

from __future__ import annotations

import torch

from ..model import DeepEmotion


class WeightAverage:
    """Exponential moving average of a model's parameters and buffers (BN statistics included)."""

    def __init__(self, model: DeepEmotion, decay: float) -> None:
        self.decay = decay
        self.model = DeepEmotion(model.config).to(next(model.parameters()).device)
        self.model.load_state_dict(model.state_dict())
        self.model.eval().requires_grad_(False)
        self.updates = 0
        self._pairs: (
            tuple[DeepEmotion, list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None
        ) = None

    def _tensors(self, model: DeepEmotion) -> tuple[list[torch.Tensor], ...]:
        """The average's tensors and the model's, floating-point and the rest (BN's batch counts), paired by name.
        Built once per model: state_dict() is rebuilt by Python on every call, and its tensors are the parameters
        and buffers themselves, updated in place by the optimiser and by load_state_dict."""
        if self._pairs is None or self._pairs[0] is not model:
            mine, theirs = self.model.state_dict(), model.state_dict()
            fl = [k for k, t in theirs.items() if t.is_floating_point()]
            other = [k for k, t in theirs.items() if not t.is_floating_point()]
            self._pairs = (
                model,
                [mine[k] for k in fl],
                [theirs[k] for k in fl],
                [mine[k] for k in other],
                [theirs[k] for k in other],
            )
        return self._pairs[1:]

    @torch.no_grad()
    def update(self, model: DeepEmotion) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))  # short memory at the start
        ema, cur, ema_other, cur_other = self._tensors(model)
        torch._foreach_lerp_(ema, cur, 1.0 - d)
        if ema_other:
            torch._foreach_copy_(ema_other, cur_other)
