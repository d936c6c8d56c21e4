"""The Python face of the C++ ops (numpy / torch / CUDA-array dispatch)."""

from __future__ import annotations

from .affine_grid_sample import affine_grid_sample, constant_warp
from .crop import crop_faces, crop_faces_affine

__all__ = ["affine_grid_sample", "constant_warp", "crop_faces", "crop_faces_affine"]
