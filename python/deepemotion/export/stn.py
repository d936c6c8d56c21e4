"""The STN's transform when it does not depend on the face.

The localization net ends in `Linear -> ReLU -> Linear(6)`. When none of that ReLU's units can ever be active, θ is
the last layer's bias for every face: the whole localization net (two convolutions, two max-pools, two GEMMs; in the
bundled INT8 graph about a tenth of the time per face, float nodes ONNX Runtime runs in its blocked layout) computes
a constant, and the exported graphs can use that constant instead (`constant_theta`). The sampling itself stays:
a constant near-identity warp still resamples the face, which the feature stages were trained on.

Whether a unit *can* be active is decided by interval arithmetic, not by data: inputs are normalised faces, so every
value lies in [-1, 1]; bounds are carried through the convolutions (positive and negative weights separately), the
ReLUs and the max-pools to each unit's pre-activation. A unit whose upper bound is <= 0 is inactive for every input
the runtime can give, so replacing the net by θ is exact, not an approximation.

Training can leave units inactive on all data without the bound proving it (the bundled models: all 32 units never
fire on any FER2013 face, perturbed or not, yet their bounds are positive). `freeze_localization` checks a set
of faces and, when no unit fires on any of them with a margin, zeroes those units' incoming weights: the model then
provably computes what it computed on every checked face (each unit's pre-activation becomes its bias, < 0), and the
export uses the constant. `references/fer2013/bundle.py` does this with FER2013 train and PublicTest under every
robustness condition, and records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..model import DeepEmotion

#: normalised inputs lie in [-1, 1] (uint8 0..255 -> (v/255 - 0.5) / 0.5)
INPUT_RANGE = (-1.0, 1.0)


def _conv_bounds(conv: nn.Conv2d, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel bounds of a convolution whose input channel c lies in [lo[c], hi[c]] everywhere (the
    localization convolutions have no padding, so every output pixel sees only input pixels)."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    wp, wn = w.clamp(min=0), w.clamp(max=0)
    lo_, hi_ = lo[None, :, None, None], hi[None, :, None, None]
    return b + (wp * lo_ + wn * hi_).sum((1, 2, 3)), b + (wp * hi_ + wn * lo_).sum((1, 2, 3))


def localization_bounds(model: DeepEmotion) -> torch.Tensor:
    """Upper bound of each `fc_loc[0]` unit's pre-activation over every input in `INPUT_RANGE` (float64)."""
    lo = torch.full((1,), INPUT_RANGE[0], dtype=torch.float64)
    hi = torch.full((1,), INPUT_RANGE[1], dtype=torch.float64)  # avg-pooling (loc_pool) keeps the range
    for layer in model.localization:
        if isinstance(layer, nn.Conv2d):
            if layer.padding not in (0, (0, 0)) or layer.groups != 1:
                raise ValueError("localization_bounds: expects unpadded, ungrouped convolutions")
            lo, hi = _conv_bounds(layer, lo, hi)
        elif isinstance(layer, nn.ReLU):
            lo, hi = lo.clamp(min=0), hi.clamp(min=0)
        elif not isinstance(layer, nn.MaxPool2d):  # max-pool keeps per-channel bounds
            raise ValueError(f"localization_bounds: unexpected layer {type(layer).__name__}")
    per = model.config.loc_size() ** 2  # flatten order: channel-major
    lo_f, hi_f = lo.repeat_interleave(per), hi.repeat_interleave(per)
    fc = model.fc_loc[0]
    w, b = fc.weight.detach().double(), fc.bias.detach().double()
    return b + w.clamp(min=0) @ hi_f + w.clamp(max=0) @ lo_f


def constant_theta(model: DeepEmotion) -> torch.Tensor | None:
    """θ (2 x 3, float32) when the localization net provably gives it for every input (every hidden unit's upper
    bound <= 0), else None."""
    if not isinstance(model.fc_loc[1], nn.ReLU) or (localization_bounds(model) > 0).any():
        return None
    return model.fc_loc[2].bias.detach().float().view(2, 3).clone()


@torch.inference_mode()
def localization_peaks(model: DeepEmotion, inputs: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
    """(the largest pre-activation of each `fc_loc[0]` unit, the number of faces) over `inputs`: batches of
    normalised network input (N, 1, 48, 48) float32, as the runtime makes them; with the model's in-graph flip if it
    has one."""
    was = model.training
    model.eval()
    peak = torch.full((model.fc_loc[0].out_features,), -torch.inf, dtype=torch.float64)
    seen: list[torch.Tensor] = []
    # a copy: the ReLU after fc_loc[0] works in place and would clip the kept pre-activations to >= 0
    hook = model.fc_loc[0].register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    n = 0
    try:
        for batch in inputs:
            x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
            n += len(x)
            if model.config.tta_flip:  # the mirror images go through the transformer too (DeepEmotion.forward)
                x = torch.cat([x, torch.flip(x, dims=[3])], 0)
            if len(x):
                model.theta(x)  # the model's own path to fc_loc[0] (pooling included); the hook keeps its output
                peak = torch.maximum(peak, seen.pop().max(0).values.double())
    finally:
        hook.remove()
        model.train(was)
    return peak.numpy(), n


def freeze_localization(model: DeepEmotion, inputs: Iterable[np.ndarray], margin: float = 0.0) -> dict[str, Any]:
    """Zero the incoming weights of `fc_loc[0]` (in place) when none of its units fires on any face of `inputs`
    (batches as `localization_peaks` takes them; every peak pre-activation <= -margin) and every bias is
    negative, so that the model provably computes, for every input, the θ it computed on each checked face. Returns a
    report; the model is left unchanged when a unit fires."""
    peaks, n = localization_peaks(model, inputs)
    if n == 0:
        raise ValueError("freeze_localization: no faces to check")
    fc = model.fc_loc[0]
    bias = fc.bias.detach().double().numpy()
    report: dict[str, Any] = {
        "faces_checked": n,
        "units": int(len(peaks)),
        "units_firing": int((peaks > -margin).sum()),
        "largest_pre_activation": float(peaks.max()),
        "largest_bias": float(bias.max()),
    }
    if (peaks > -margin).any() or (bias >= 0).any():
        report["frozen"] = False
        return report
    with torch.no_grad():
        fc.weight.zero_()
    theta = constant_theta(model)
    if theta is None:  # cannot happen: every bound is now its (negative) bias
        raise AssertionError("freeze_localization: θ is not provably constant after zeroing")
    report["frozen"] = True
    report["theta"] = [round(float(v), 6) for v in theta.flatten()]
    return report


__all__ = ["INPUT_RANGE", "constant_theta", "freeze_localization", "localization_bounds", "localization_peaks"]
