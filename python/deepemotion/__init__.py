"""deepemotion: facial-expression recognition for the edge.

The runtime (``Recognizer``, the ONNX Runtime backend, the C++ ops) needs only numpy, onnxruntime and
OpenCV. Training and export need PyTorch (``pip install ".[train]"`` / ``".[export]"`` in the clone); they
live in ``deepemotion.training`` and ``deepemotion.export`` and are never imported by the runtime.

    deepemotion/labels.py      classes, input size, normalisation, tensor names (defined once)
    deepemotion/runtime/       Recognizer, detect/, align, tracking, draw, assets, backends/
    deepemotion/ops/           the C++ ops from Python (numpy / torch / CUDA arrays)
    deepemotion/training/      model, data, training loop, checkpoints, metrics, plots, saliency
    deepemotion/export/        ONNX (portable, plugin, INT8) and TensorRT
    deepemotion/cli/           the fer-* tools
"""
from __future__ import annotations

from ._ext import __version__, build_info, cuda_available
from .labels import CLASSES, NUM_CLASSES
from .ops import affine_grid_sample
from .runtime.backends import BACKENDS, Backend, BackendUnavailable
from .runtime.detect import DETECTORS, HaarDetector, YuNetDetector
from .runtime.recognizer import Face, Recognizer

__all__ = [
    "BACKENDS",
    "CLASSES",
    "DETECTORS",
    "Backend",
    "BackendUnavailable",
    "Face",
    "HaarDetector",
    "NUM_CLASSES",
    "Recognizer",
    "YuNetDetector",
    "__version__",
    "affine_grid_sample",
    "build_info",
    "cuda_available",
]
