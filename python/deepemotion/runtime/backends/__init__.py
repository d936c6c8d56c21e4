"""Inference backends, one registry: ``create_backend(name)`` and the ``BACKENDS`` tuple come from the
``register`` calls in each backend module, each entry declaring what its backend can do (device, precision,
spinning threads, what it needs). Importing this package imports no inference library; each backend imports its
own (onnxruntime, openvino, torch, tensorrt, tritonclient) when created.

Policy: naming a backend that cannot run raises `BackendUnavailable` saying what to install.
``"auto"`` tries the entries marked ``auto`` in the order `auto_order` gives (GPU first, then the CPU graph
the bundle recommends) and raises `BackendUnavailable` only when none of them can run here -- with the
CPU's ONNX Runtime, a runtime dependency, that does not happen on a working install.
"""

from __future__ import annotations

from typing import Any

from . import onnxruntime as _ort_backends  # noqa: F401  (registers onnxruntime, -int8, -cuda, -tuned)
from . import openvino as _openvino  # noqa: F401
from . import tensorrt as _tensorrt  # noqa: F401
from . import torch as _torch  # noqa: F401
from . import triton as _triton  # noqa: F401
from .base import Backend, BackendEntry, BackendUnavailable, check_logits, chunks, registry

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


def auto_order(model: Any = None, device: str | None = None) -> list[BackendEntry]:
    """The entries ``"auto"`` tries, in order: GPU entries first (where the GPU is present they run, elsewhere
    they raise BackendUnavailable at once), then the CPU; among CPU entries, the INT8 graph only when the bundle
    recommends it for this model (`int8_preferred`), before FP32. ``device="cpu"`` keeps CPU entries only."""
    int8 = int8_preferred(model)
    entries = [e for e in registry().values() if e.auto and (device != "cpu" or e.device == "cpu")]
    entries = [e for e in entries if e.precision != "int8" or int8]
    device_rank = {"cuda": 0, "cpu": 1}
    return sorted(entries, key=lambda e: (device_rank.get(e.device, 2), 0 if (e.precision == "int8") == int8 else 1))


def backend_help() -> str:
    return "auto | " + " | ".join(BACKENDS)


def create_backend(
    name: Any = "auto", model: Any = None, device: str | None = None, *, idle_threads: bool = False, **kw: Any
) -> Backend:
    """Make the backend ``name`` (or take a Backend object as it is) for ``model`` (None or a bundled model name, a
    path, ONNX bytes). ``idle_threads``: a backend whose threads spin is told not to (``spinning=False``), for
    when something else needs the cores between runs (the Haar detector)."""
    if isinstance(name, Backend):
        return name
    entries = registry()
    if name == "auto":
        last: Exception | None = None
        for e in auto_order(model, device):
            try:
                return _make(e, model, device, idle_threads, kw)
            except BackendUnavailable as exc:
                last = exc
        raise BackendUnavailable(f"no backend could run here ({last})")
    if not isinstance(name, str) or name not in entries:
        raise ValueError(f"unknown backend {name!r}; choose one of: {backend_help()}")
    return _make(entries[name], model, device, idle_threads, kw)


def _make(entry: BackendEntry, model: Any, device: str | None, idle_threads: bool, kw: dict[str, Any]) -> Backend:
    if idle_threads and entry.spins:
        kw = {**kw, "spinning": kw.get("spinning", False)}
    return entry.factory(model, device=device, **kw)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendEntry",
    "BackendUnavailable",
    "auto_order",
    "backend_help",
    "check_logits",
    "chunks",
    "create_backend",
    "registry",
]
