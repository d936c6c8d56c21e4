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
    ExportFormat("onnx-int8", ".int8.onnx", False, ("torch", "onnx", "FER2013 Training faces for calibration"),
                 "static INT8 QDQ graph (per-channel weights, STN sampling in float); ONNX Runtime u8/s8 kernels, "
                 "TensorRT explicit quantization"),
    ExportFormat("engine", ".engine", True, ("tensorrt", "deepemotion built with TensorRT"),
                 "TensorRT engine (FP32/FP16/INT8, dynamic batch profile) + JSON sidecar; runs only where it was "
                 "built"),
)

