"""The golden reference of affine_grid_sample: PyTorch's affine_grid + grid_sample.

Every implementation (C++ CPU, CUDA, ONNX graphs, the TensorRT plugin) is tested against this.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F


def affine_grid_sample_reference(
    input: torch.Tensor, theta: torch.Tensor, out_h: int, out_w: int, align_corners: bool = False
) -> torch.Tensor:
    n, c = input.shape[:2]
    with warnings.catch_warnings():
        # PyTorch warns that unit-size grids with align_corners=True changed in 1.3; we follow today's.
        warnings.filterwarnings("ignore", message="Since version 1.3.0, affine_grid behavior")
        # The grid is computed in float32 (float64 for a float64 input), also for float16 input.
        coord_dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
        grid = F.affine_grid(theta.to(coord_dtype), [n, c, out_h, out_w], align_corners=align_corners)
    return F.grid_sample(
        input, grid.to(input.dtype), mode="bilinear", padding_mode="zeros", align_corners=align_corners
    )
