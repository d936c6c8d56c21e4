"""ONNX files read and edited without the `onnx` package (not a runtime dependency): a minimal protobuf codec for a
model's interface and graph (`proto.py`: YuNet's symbolic input size, the backends' interface checks) and the
warp-head pass on it (`warp_head.py`: the ONNX Runtime CPU backend runs a constant STN's warp in C++)."""

from __future__ import annotations

from .proto import TensorInfo, interface, make_dims_symbolic
from .warp_head import WARP_FIT_TOLERANCE, WarpHead, constant_warp_head

__all__ = ["WARP_FIT_TOLERANCE", "TensorInfo", "WarpHead", "constant_warp_head", "interface", "make_dims_symbolic"]
