"""The export formats, one table: what `fer-export` can produce, what each needs, and (by name) the command that
makes it -- `fer-export <name>` runs `cli/export.py`'s `cmd_<name>` after `add_<name>_options` declared its
options; a test checks that every entry has both."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str  # the fer-export subcommand
    suffix: str  # what it writes
    needs_gpu: bool
    needs: tuple[tuple[str, str], ...]  # (module, extra that brings it), imported before the command runs
    description: str


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        "onnx",
        ".onnx + .plugin.onnx",
        False,
        (("torch", "export"), ("onnx", "export")),
        "portable graph (standard ops, opset 17: ONNX Runtime, TensorRT, others) and the plugin flavour "
        "(STN sampling as one deepemotion::AffineGridSample node, for TensorRT with our plugin), both "
        "verified against PyTorch",
    ),
    ExportFormat(
        "int8",
        ".int8.onnx",
        False,
        (("torch", "export"), ("onnx", "export")),
        "static INT8 QDQ graph (per-channel weights, STN sampling in float), calibrated on FER2013 Training "
        "faces and checked on PublicTest; ONNX Runtime u8/s8 kernels, TensorRT explicit quantization",
    ),
    ExportFormat(
        "engine",
        ".engine + .engine.json",
        True,
        (("torch", "export"), ("onnx", "export")),
        "TensorRT engine (FP32/FP16/INT8, dynamic batch profile) + JSON sidecar; runs only where it was "
        "built (needs TensorRT and deepemotion built with it)",
    ),
    ExportFormat(
        "triton",
        "model repository folder",
        False,
        (),
        "Triton Inference Server repository: deepemotion (uint8 faces -> probabilities) in python, onnx or "
        "tensorrt form, + deepemotion_frames (python form); onnx/tensorrt forms need the onnx package",
    ),
)


def format_table() -> str:
    return "\n".join(
        f"{f.name:8} {f.suffix:24} gpu={'yes' if f.needs_gpu else 'no ':3}  {f.description}" for f in FORMATS
    )
