"""The affine_grid_sample op: affine grid + bilinear sampling with zero padding, in one pass.

Equal to `torch.nn.functional.affine_grid(theta, (N, C, out_h, out_w), align_corners)` followed
by `grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=...)`, without
materialising the grid. One dispatch table maps the kind of array to its implementation:

=============  =================================================================
numpy          C++ CPU kernel, returns numpy
torch (CPU)    the same kernel on the tensors' memory, returns a tensor
torch (CUDA)   CUDA kernel (float32 / float16 storage, float32 theta), on the current stream
cupy           CUDA kernel, on CuPy's current stream
=============  =================================================================
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._ext import assert_has_ext


def _out_size(out_size: int | np.integer | tuple[int, int]) -> tuple[int, int]:
    wrong = f"out_size must be an int or a pair (out_h, out_w), got {out_size!r}"
    if isinstance(out_size, (int, np.integer)):
        if isinstance(out_size, bool):
            raise TypeError(wrong)
        return int(out_size), int(out_size)
    try:
        out_h, out_w = (int(v) for v in out_size)
    except (TypeError, ValueError):
        raise TypeError(wrong) from None
    return out_h, out_w


def array_kind(x: Any) -> str:
    """numpy | torch-cpu | torch-cuda | cupy (raises TypeError for anything else)."""
    mod = type(x).__module__.split(".")[0]
    if mod == "torch":
        return "torch-cuda" if x.is_cuda else "torch-cpu"
    if mod == "cupy":
        return "cupy"
    if isinstance(x, np.ndarray):
        return "numpy"
    raise TypeError(
        f"affine_grid_sample: input must be a numpy array, a torch tensor or a CuPy array, got {type(x).__name__}"
    )


def _require_cuda(ext: Any) -> None:
    if not ext.build_info()["cuda"]:
        raise RuntimeError(
            "affine_grid_sample: got a CUDA array, but this build of deepemotion has no CUDA kernels "
            "(build_info()['cuda'] is False). Reinstall from source on a machine with the CUDA toolkit "
            "(nvcc on PATH or CUDACXX set): in the clone of deepemotion, "
            "pip install --force-reinstall --no-cache-dir ."
        )


def _check_out_dims(input: Any, out_h: int, out_w: int) -> None:
    if len(input.shape) != 4:
        raise ValueError(
            f"affine_grid_sample: input must have 4 dimensions (N, C, H, W), got shape {tuple(input.shape)}"
        )
    if not (0 < out_h <= 1 << 16 and 0 < out_w <= 1 << 16):
        raise ValueError(f"affine_grid_sample: out_h and out_w must be in 1..65536, got out_h={out_h}, out_w={out_w}")


def _numpy(ext: Any, input: Any, theta: Any, out_h: int, out_w: int, align: bool, stream: int | None) -> Any:
    return ext.affine_grid_sample_cpu(input, theta, out_h, out_w, align)


def _torch_cpu(ext: Any, input: Any, theta: Any, out_h: int, out_w: int, align: bool, stream: int | None) -> Any:
    import torch

    if not isinstance(theta, torch.Tensor) or theta.is_cuda:
        raise TypeError("affine_grid_sample: input is a CPU tensor, so theta must be a CPU tensor too")
    return torch.from_numpy(
        ext.affine_grid_sample_cpu(input.detach().numpy(), theta.detach().numpy(), out_h, out_w, align)
    )


def _torch_cuda(ext: Any, input: Any, theta: Any, out_h: int, out_w: int, align: bool, stream: int | None) -> Any:
    import torch

    _require_cuda(ext)
    _check_out_dims(input, out_h, out_w)
    out = torch.empty((input.shape[0], input.shape[1], out_h, out_w), dtype=input.dtype, device=input.device)
    s = int(torch.cuda.current_stream(input.device).cuda_stream) if stream is None else int(stream)
    ext.affine_grid_sample_cuda(input, theta, out, align, s)
    return out


def _cupy(ext: Any, input: Any, theta: Any, out_h: int, out_w: int, align: bool, stream: int | None) -> Any:
    import cupy

    _require_cuda(ext)
    _check_out_dims(input, out_h, out_w)
    out = cupy.empty((input.shape[0], input.shape[1], out_h, out_w), dtype=input.dtype)
    ext.affine_grid_sample_cuda(
        input, theta, out, align, cupy.cuda.get_current_stream().ptr if stream is None else int(stream)
    )
    return out


_DISPATCH: dict[str, Callable[..., Any]] = {
    "numpy": _numpy,
    "torch-cpu": _torch_cpu,
    "torch-cuda": _torch_cuda,
    "cupy": _cupy,
}


def affine_grid_sample(
    input: Any, theta: Any, out_size: int | tuple[int, int], align_corners: bool = False, stream: int | None = None
) -> Any:
    """Warp `input` (N, C, H, W) by `theta` (N, 2, 3) into an (N, C, out_h, out_w) output, with the
    implementation the module docstring's table picks for the kind of `input`."""
    ext = assert_has_ext()
    out_h, out_w = _out_size(out_size)
    return _DISPATCH[array_kind(input)](ext, input, theta, out_h, out_w, bool(align_corners), stream)


def constant_warp(
    theta: Any, in_size: tuple[int, int], out_size: int | tuple[int, int], align_corners: bool = False
) -> Any:
    """One warp for every image: `theta` (2, 3) float32, input planes `in_size` (h, w). The returned C++ object's
    `sample(x)` gives `affine_grid_sample` of a float32 (N, C, h, w) numpy array with `theta` for each
    image (the same values), and `sample_quantized(x, scale, zero_point)` those values quantized to uint8 as ONNX
    QuantizeLinear does. The bilinear taps are computed once, here: for a graph whose STN is constant, this runs
    its warp (`deepemotion.runtime.onnx_graph.warp_head.constant_warp_head`)."""
    ext = assert_has_ext()
    out_h, out_w = _out_size(out_size)
    in_h, in_w = (int(v) for v in in_size)
    return ext.ConstantWarp(
        np.ascontiguousarray(theta, np.float32).reshape(2, 3), in_h, in_w, out_h, out_w, bool(align_corners)
    )


def base_grid(h: int, w: int, align_corners: bool = False) -> np.ndarray:
    """(h*w, 3) float32 rows [x, y, 1] of PyTorch's `affine_grid` base grid, row-major: `base_grid @ theta.T`
    is the (h, w, 2) grid of `theta`. The one definition of the base grid: the exported graphs' STN
    (`deepemotion.export.onnx`), the kernel benchmark and `fit_affine_grid` use it."""

    def axis(n: int) -> np.ndarray:
        i = np.arange(n, dtype=np.float64)
        if align_corners:
            return -1 + 2 * i / (n - 1) if n > 1 else np.zeros(1)
        return (2 * i + 1) / n - 1

    xs, ys = axis(w), axis(h)
    return np.stack([np.tile(xs, h), np.repeat(ys, w), np.ones(h * w)], 1).astype(np.float32)


def fit_affine_grid(grid: np.ndarray, align_corners: bool = False) -> tuple[np.ndarray, float]:
    """(θ (2, 3) float64, the largest residual) of the affine map whose `affine_grid` is `grid` (1, H, W, 2):
    least squares over `base_grid` (its float32 coordinates). The one recovery of a constant STN's θ from its grid:
    the runtime's warp-head pass (`deepemotion.runtime.onnx_graph.warp_head`) and the TensorRT plugin graph
    (`deepemotion.export.onnx`) both use it."""
    _, h, w, _ = grid.shape
    base = base_grid(h, w, align_corners).astype(np.float64)
    target = grid.reshape(h * w, 2).astype(np.float64)
    theta_t = np.linalg.lstsq(base, target, rcond=None)[0]  # (3, 2) = θ^T
    return theta_t.T, float(np.abs(base @ theta_t - target).max())
