"""deepemotion: facial-expression recognition for the edge.

The runtime (`Recognizer`, the ONNX Runtime backend, the C++ ops) needs only numpy, onnxruntime and OpenCV. The
offline packages need PyTorch (`pip install ".[train]"` / `".[export]"` in the clone) and are never imported by
the runtime.

    deepemotion/labels.py      classes, input size, normalisation, tensor names (defined once)
    deepemotion/files.py       the output policy and atomic writes of every tool; image files
    deepemotion/runtime/       Recognizer, detect/, align, tracking, stream, draw, assets, backends/, onnx_graph/
    deepemotion/ops/           the C++ ops from Python (numpy / torch / CUDA arrays)
    deepemotion/serving/       Triton model repositories and fer-serve's server
    deepemotion/data/          data sets, their archives and preparation, synthetic scenes
    deepemotion/model/         the network and its score calibration
    deepemotion/training/      the recipe, the loop, augmentation, weight average, distillation, checkpoints
    deepemotion/evaluation/    metrics, validation, accuracy through Recognizer, robustness, saliency
    deepemotion/export/        ONNX (portable, plugin, INT8), TensorRT, Triton's graphs
    deepemotion/benchmarks/    timing (fer-bench suites)
    deepemotion/cli/           the fer-* tools
    deepemotion/plots.py       figures of the tools
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
