"""PyTorch eager, the reference backend (``pip install ".[train]"`` in a checkout). Runs the bundled
weights or a training checkpoint; the only backend that imports torch and the training code."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from .base import Backend, BackendUnavailable, register


def load_torch_model(spec: Any = None) -> tuple[Any, dict[str, Any]]:
    """(DeepEmotion in eval mode, metadata) from a bundled model name or a checkpoint path (training's loader)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BackendUnavailable(
            "backend 'torch' needs PyTorch: pip install \".[train]\" in a deepemotion checkout "
            "(or its wheel with [train])"
        ) from None
    from ...training.checkpoint import load_model

    return load_model(spec)


@register(
    "torch",
    "PyTorch eager, the reference",
    device="cpu",
    precision="fp32",
    needs='the train extra: pip install ".[train]"',
    also_on=("cuda",),
)
class TorchBackend(Backend):
    def __init__(self, model: Any = None, device: str | None = None) -> None:
        if model is None or isinstance(model, (str, os.PathLike)):
            model, self.meta = load_torch_model(model)
        import torch

        device = device or "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("backend 'torch' on cuda: this PyTorch has no CUDA device")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        self.torch = torch
        self.model = model.eval().to(device)
        self._lock = threading.Lock()  # a module's forward is not documented as thread-safe
        self.name, self.device = "torch", device

    def run(self, x: np.ndarray) -> np.ndarray:
        t = self.torch.from_numpy(x).to(self.device)
        with self._lock, self.torch.inference_mode():
            return self.model(t).float().cpu().numpy()
