"""deepemotion: facial-expression recognition for the edge.

The runtime (`Recognizer`, ONNX Runtime backend, C++ kernels) needs only numpy, onnxruntime and
OpenCV. Training and export need PyTorch (`pip install deepemotion[train]` / `[export]`); the
modules that use it import it on first use.
"""
from __future__ import annotations

from ._ext import build_info, cuda_available
from .labels import CLASSES, NUM_CLASSES
from .ops import affine_grid_sample
from .recognizer import Face, Recognizer

__version__ = "0.1.0"

__all__ = [
    "CLASSES",
    "Face",
    "Recognizer",
    "NUM_CLASSES",
    "__version__",
    "affine_grid_sample",
    "build_info",
    "cuda_available",
]
