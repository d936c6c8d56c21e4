"""The affine_grid_sample op: affine grid + bilinear sampling with zero padding, in one pass.

Equal to ``torch.nn.functional.affine_grid(theta, (N, C, out_h, out_w), align_corners)`` followed
by ``grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=...)``, without
materialising the grid.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._ext import assert_has_ext


def _out_size(out_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(out_size, (int, np.integer)):
        return int(out_size), int(out_size)
    try:
        out_h, out_w = (int(v) for v in out_size)
    except (TypeError, ValueError):
        raise TypeError(f"out_size must be an int or a pair (out_h, out_w), got {out_size!r}") from None
    return out_h, out_w


def _torch_stream(tensor: Any) -> int:
    import torch

    return int(torch.cuda.current_stream(tensor.device).cuda_stream)


def affine_grid_sample(input: Any, theta: Any, out_size: int | tuple[int, int], align_corners: bool = False,
                       stream: int | None = None) -> Any:
    """Warp ``input`` (N, C, H, W) by ``theta`` (N, 2, 3) into an (N, C, out_h, out_w) output.

    - numpy float32 arrays run the C++ CPU kernel and return a numpy array;
    - PyTorch tensors on the CPU go through the same kernel and come back as tensors;
    - CUDA arrays (PyTorch CUDA tensors, CuPy arrays) run the CUDA kernel, float32 or float16
      storage (theta float32), on ``stream`` (default: the array library's current stream).
    """
    ext = assert_has_ext()
    out_h, out_w = _out_size(out_size)
    mod = type(input).__module__.split(".")[0]
    if mod == "torch":
        import torch

        if input.is_cuda:
            _require_cuda(ext)
            _check_out_dims(input, out_h, out_w)
            out = torch.empty((input.shape[0], input.shape[1], out_h, out_w), dtype=input.dtype,
                              device=input.device)
            ext.affine_grid_sample_cuda(input, theta, out, bool(align_corners),
                                        _torch_stream(input) if stream is None else int(stream))
            return out
        if not isinstance(theta, torch.Tensor) or theta.is_cuda:
            raise TypeError("affine_grid_sample: input is a CPU tensor, so theta must be a CPU tensor too")
        res = ext.affine_grid_sample_cpu(input.detach().numpy(), theta.detach().numpy(), out_h, out_w,
                                         bool(align_corners))
        return torch.from_numpy(res)
    if mod == "cupy":
        import cupy

        _require_cuda(ext)
        _check_out_dims(input, out_h, out_w)
        out = cupy.empty((input.shape[0], input.shape[1], out_h, out_w), dtype=input.dtype)
        ext.affine_grid_sample_cuda(input, theta, out, bool(align_corners),
                                    cupy.cuda.get_current_stream().ptr if stream is None else int(stream))
        return out
    return ext.affine_grid_sample_cpu(input, theta, out_h, out_w, bool(align_corners))


def _check_out_dims(input: Any, out_h: int, out_w: int) -> None:
    if len(input.shape) != 4:
        raise ValueError(f"affine_grid_sample: input must have 4 dimensions (N, C, H, W), got shape "
                         f"{tuple(input.shape)}")
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"affine_grid_sample: out_h and out_w must be positive, got out_h={out_h}, out_w={out_w}")


def _require_cuda(ext: Any) -> None:
    if not ext.build_info()["cuda"]:
        raise RuntimeError(
            "affine_grid_sample: got a CUDA array, but this build of deepemotion has no CUDA kernels "
            "(build_info()['cuda'] is False). Reinstall from source on a machine with the CUDA toolkit "
            "(nvcc on PATH or CUDACXX set): pip install --no-binary deepemotion deepemotion"
        )
