"""Classification: normalised face crops in, probabilities out, through a backend, ``max_batch`` faces per
backend call (so memory per call is bounded by that, not by how many faces a frame holds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import INPUT_SIZE, NUM_CLASSES
from .backends import Backend, check_logits, chunks

#: faces cropped and classified per backend call by default
DEFAULT_MAX_BATCH = 256


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, computed in float64 (the one softmax of the package)."""
    z = np.array(logits, np.float64)  # a copy: the steps below work in place
    if temperature != 1.0:
        z /= temperature
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def check_batch(batch: Any) -> np.ndarray:
    """A network input batch: float32 (N, 1, INPUT_SIZE, INPUT_SIZE) with finite values, or TypeError/ValueError."""
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"batch must be a numpy.ndarray, got {type(batch).__name__}")
    if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:] != (1, INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"batch must be float32 (N, 1, {INPUT_SIZE}, {INPUT_SIZE}), got {batch.dtype} {batch.shape}")
    if len(batch) and not np.isfinite(batch).all():
        raise ValueError("batch contains NaN or infinite values")
    return batch


class Classifier:
    """A backend and the batch size it is given at most: ``classifier(batch)`` -> (N, NUM_CLASSES) float32
    probabilities. The backend's own ``max_batch`` (an engine's profile) caps ``max_batch``."""

    def __init__(self, backend: Backend, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.backend = backend
        self.max_batch = min(max_batch, getattr(backend, "max_batch", max_batch) or max_batch)

    def __call__(self, batch: np.ndarray, backend: Backend | None = None) -> np.ndarray:
        """Probabilities of a checked batch; ``backend``: another backend of the same model (a stream's twin)."""
        backend = self.backend if backend is None else backend
        if len(batch) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        if len(batch) <= self.max_batch:  # one backend call (the usual case): no chunk list to build and join
            return self._probs(batch, backend)
        return np.concatenate([self._probs(batch[part], backend) for part in chunks(len(batch), self.max_batch)])

    @staticmethod
    def _probs(batch: np.ndarray, backend: Backend) -> np.ndarray:
        """Probabilities of one backend call's faces."""
        x = np.ascontiguousarray(batch)
        return softmax(check_logits(backend.run(x), len(x), f"backend {backend.name}")).astype(np.float32)
