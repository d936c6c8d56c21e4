"""Inference backends, one registry: ``create_backend(name)`` and the ``BACKENDS`` tuple come from the
``register`` calls in each backend module. Importing this package imports no inference library;
each backend imports its own (onnxruntime, openvino, torch, tensorrt) when created.

Policy: ``"auto"`` never raises (it tries the backends that have an ``auto_rank`` in order and falls
back to ONNX Runtime on the CPU); naming a backend that cannot run raises :class:`BackendUnavailable`
saying what to install.
"""
from __future__ import annotations

from typing import Any

from . import onnxruntime as _ort_backends  # noqa: F401  (registers onnxruntime, -int8, -cuda, -tuned)
from . import openvino as _openvino  # noqa: F401
from . import tensorrt as _tensorrt  # noqa: F401
from . import torch as _torch  # noqa: F401
from .base import Backend, BackendUnavailable, check_logits, registry

#: every backend name, in registration order (the one list that --help, docs and errors use)
BACKENDS: tuple[str, ...] = tuple(registry())


def int8_preferred(model: Any) -> bool:
    """True when ``model`` is a bundled model whose calibrated INT8 graph met the accuracy bar (within 0.5 point
    of FP32 on PublicTest, through Recognizer) and was faster on the CPU when it was bundled."""
    from ..assets import bundled_model, is_bundled_name

    if not is_bundled_name(model):
        return False
    b = bundled_model(model)
    if not (b.has("int8.onnx") and b.has("json")):
        return False
    return bool(b.metadata().get("evaluation", {}).get("int8", {}).get("default_on_cpu", False))


def backend_help() -> str:
    return "auto | " + " | ".join(BACKENDS)


def create_backend(name: str = "auto", model: Any = None, device: str | None = None, **kw: Any) -> Backend:
    """Make the backend ``name`` for ``model`` (None or a bundled model name, a path, ONNX bytes)."""
    entries = registry()
    if isinstance(name, Backend):
        return name
    if name == "auto":
        ranks = {e.name: e.auto_rank for e in entries.values() if e.auto_rank is not None}
        if int8_preferred(model):
            ranks["onnxruntime-int8"] = 15  # after the GPU, before the FP32 CPU graph
        candidates = sorted((entries[n] for n in ranks), key=lambda e: ranks[e.name])
        if device == "cpu":
            candidates = [e for e in candidates if "cuda" not in e.name]
        last: Exception | None = None
        for e in candidates:
            try:
                return e.factory(model, device=device, **kw)
            except BackendUnavailable as exc:
                last = exc
        raise BackendUnavailable(f"no backend could run here ({last})")
    if not isinstance(name, str) or name not in entries:
        raise ValueError(f"unknown backend {name!r}; choose one of: {backend_help()}")
    return entries[name].factory(model, device=device, **kw)


__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "backend_help", "check_logits", "create_backend"]
