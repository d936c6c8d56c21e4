"""Face crops: all faces of a frame to one normalised (N, 1, 48, 48) float32 batch in one C++ call (crop,
gray conversion, resampling and normalisation fused). A frame on the GPU (a PyTorch CUDA tensor or a CuPy
array) is cropped there by the CUDA kernel and the batch stays on the GPU."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ext import assert_has_ext
from ..labels import INPUT_SIZE, MEAN, STD
from .affine_grid_sample import _require_cuda, array_kind


def _crop_cuda(ext: Any, frame: Any, theta: np.ndarray, clip: np.ndarray, supersample: int, out_size: int) -> Any:
    _require_cuda(ext)
    n = len(theta)
    if array_kind(frame) == "cupy":
        import cupy

        out = cupy.empty((n, 1, out_size, out_size), cupy.float32)
        ext.crop_faces_cuda(
            frame,
            cupy.asarray(theta),
            cupy.asarray(clip),
            out,
            MEAN,
            STD,
            supersample,
            cupy.cuda.get_current_stream().ptr,
        )
        return out
    import torch

    dev = frame.device
    out = torch.empty((n, 1, out_size, out_size), dtype=torch.float32, device=dev)
    ext.crop_faces_cuda(
        frame.contiguous(),
        torch.from_numpy(theta).to(dev),
        torch.from_numpy(clip).to(dev),
        out,
        MEAN,
        STD,
        supersample,
        int(torch.cuda.current_stream(dev).cuda_stream),
    )
    return out


def boxes_outside(b: np.ndarray, h: int, w: int) -> np.ndarray:
    """Which (N, 4) boxes x, y, w, h are not crops of an h x w frame: a side below 1 or a part outside it."""
    return (
        (b[:, 2] < 1)
        | (b[:, 3] < 1)
        | (b[:, 0] < 0)
        | (b[:, 1] < 0)
        | (b[:, 0] + b[:, 2] > w)
        | (b[:, 1] + b[:, 3] > h)
    )


def crop_faces(frame: Any, boxes: np.ndarray, supersample: int = 0, out_size: int = INPUT_SIZE) -> Any:
    """Boxes (N, 4) int32 x, y, w, h inside a uint8 HxW or HxWx3 frame -> (N, 1, out, out) float32.
    `supersample`: sub-samples per axis when shrinking (0: per box, about side / out, at most 4)."""
    ext: Any = assert_has_ext()
    b = np.ascontiguousarray(boxes, np.int32)
    if isinstance(frame, np.ndarray):
        return ext.crop_faces(frame, b, int(out_size), MEAN, STD, int(supersample))
    h, w = frame.shape[:2]
    b = b.reshape(-1, 4)
    if boxes_outside(b, h, w).any():
        raise ValueError(f"crop_faces: every box must have w, h >= 1 and lie inside the {w}x{h} frame")
    theta, clip = ext.crop_box_geometry(b)  # the one definition of a box's geometry (crop_faces.h)
    return _crop_cuda(ext, frame, theta, clip, int(supersample), int(out_size))


def crop_faces_affine(frame: Any, theta: np.ndarray, supersample: int = 0, out_size: int = INPUT_SIZE) -> Any:
    """Crops given as affine maps: `theta` (N, 2, 3) maps unit output coordinates (u, v, 1) to frame pixel
    coordinates (sample points clamped into the frame). Same sampling, gray conversion and normalisation as
    `crop_faces`."""
    ext: Any = assert_has_ext()
    th = np.ascontiguousarray(theta, np.float32)
    if isinstance(frame, np.ndarray):
        return ext.crop_faces_affine(frame, th, int(out_size), MEAN, STD, int(supersample))
    h, w = frame.shape[:2]
    clip = np.tile(np.array([[0, 0, w, h]], np.int32), (len(th), 1))
    return _crop_cuda(ext, frame, th, clip, int(supersample), int(out_size))
