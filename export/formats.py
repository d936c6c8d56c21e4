"""The export formats, one table: what `fer-export` can produce and what each needs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    needs_gpu: bool
    needs: tuple[str, ...]
    description: str


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("onnx-portable", ".onnx", False, ("torch", "onnx"),
                 "standard ops, opset 17 (MatMul base grid + GridSample bilinear); ONNX Runtime, TensorRT, others"),
    ExportFormat("onnx-plugin", ".plugin.onnx", False, ("torch", "onnx"),
                 "STN sampling as one deepemotion::AffineGridSample node, for TensorRT with our plugin"),
    ExportFormat("engine", ".engine", True, ("tensorrt", "deepemotion built with TensorRT"),
                 "TensorRT engine (FP32/FP16, dynamic batch profile) + JSON sidecar; runs only where it was built"),
)


def get(name: str) -> ExportFormat:
    for f in FORMATS:
        if f.name == name:
            return f
    raise KeyError(f"unknown export format {name!r}; known: {[f.name for f in FORMATS]}")
