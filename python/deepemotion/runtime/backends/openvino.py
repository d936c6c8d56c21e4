"""OpenVINO on the CPU (``pip install openvino``)."""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from .base import Backend, BackendUnavailable, register
from .onnxruntime import onnx_bytes


@register("openvino", "OpenVINO on the CPU, FP32 inference precision", device="cpu", precision="fp32", needs="openvino")
class OpenVINOBackend(Backend):
    """FP32 inference precision so that outputs match the other backends (OpenVINO's BF16 default on
    recent CPUs changes logits by ~0.1). One infer request per thread: safe to share."""

    def __init__(
        self, model: str | os.PathLike[str] | bytes | None = None, device: str | None = None, threads: int | None = None
    ) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise BackendUnavailable("backend 'openvino' needs OpenVINO: pip install openvino") from None
        if device not in (None, "cpu"):
            raise ValueError("backend 'openvino' runs on the CPU only here")
        core = ov.Core()
        cfg: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            cfg["INFERENCE_NUM_THREADS"] = int(threads)
        data, self.source = onnx_bytes(model)
        net = core.read_model(data, b"")
        self.compiled = core.compile_model(net, "CPU", cfg)
        self._local = threading.local()
        self.name, self.device = "openvino", "cpu"

    def run(self, x: np.ndarray) -> np.ndarray:
        req = getattr(self._local, "req", None)
        if req is None:
            req = self._local.req = self.compiled.create_infer_request()
        return np.array(req.infer({0: x})[0], copy=True)
