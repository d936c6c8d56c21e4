"""Checking what callers hand to the Recognizer: frames, crops and boxes. Bad input raises TypeError or
ValueError naming the problem; nothing reaches the C++ core unchecked."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import MEAN, STD
from ..ops.crop import boxes_outside

MAX_SIDE = 1 << 15  # frames and crops larger than 32768 pixels on a side are refused


def check_image(img: Any, what: str = "frame") -> np.ndarray:
    """A C-contiguous uint8 HxW or HxWx3 array from a frame or crop.

    uint8 is taken as is. Float arrays must hold finite values in [0, 255] and are rounded; a float
    array whose values all lie in [0, 1] is refused (it is almost certainly a [0, 1]-scaled image,
    which read as 0..255 would be black: a silently wrong answer). HxWx1 is squeezed; HxWx4 (BGRA)
    is refused with a hint."""
    if not isinstance(img, np.ndarray):
        kind = type(img).__module__.split(".")[0]
        hint = (
            " (move it to the host with .cpu().numpy() / cupy.asnumpy, or use a GPU backend)"
            if kind in ("torch", "cupy")
            else ""
        )
        raise TypeError(f"{what} must be a numpy.ndarray, got {type(img).__name__}{hint}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        raise ValueError(f"{what} has 4 channels (BGRA?); convert with cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"{what} must be HxW (gray) or HxWx3 (BGR), got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {img.shape})")
    if max(img.shape[:2]) > MAX_SIDE:
        raise ValueError(f"{what} is {img.shape[1]}x{img.shape[0]}; sides above {MAX_SIDE} pixels are not supported")
    if img.dtype != np.uint8:
        if img.dtype.kind != "f":
            raise TypeError(f"{what} must be uint8 (or float in [0, 255]), got dtype {img.dtype}")
        if not np.isfinite(img).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        lo, hi = float(img.min()), float(img.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"{what} float values must lie in [0, 255], got [{lo:g}, {hi:g}]")
        if hi <= 1.0 and hi > lo:
            raise ValueError(
                f"{what} is a float image with values in [0, 1]; deepemotion reads pixels as 0..255: "
                "pass (img * 255).round().astype(np.uint8)"
            )
        img = np.rint(img).astype(np.uint8)
    return np.ascontiguousarray(img)


def check_boxes(boxes: Any, shape: tuple[int, ...]) -> np.ndarray:
    """(N, 4) int32 boxes x, y, w, h, each inside a frame of `shape` with w, h >= 1."""
    if isinstance(boxes, (str, bytes, dict, set)) or boxes is None:
        raise TypeError(f"boxes must be an (N, 4) array of numbers (x, y, w, h), got {type(boxes).__name__}")
    try:
        b = np.asarray(boxes)
    except ValueError:
        raise ValueError("boxes must be an (N, 4) array of numbers (x, y, w, h); got a ragged sequence") from None
    if b.size == 0:
        return np.zeros((0, 4), np.int32)
    if b.dtype.kind not in "iuf":
        raise TypeError(f"boxes must hold real numbers (int or float), got dtype {b.dtype}")
    b = b.astype(np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (x, y, w, h), got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("boxes contain NaN or infinite values")
    b = np.rint(b)
    h, w = shape[:2]
    bad = boxes_outside(b, h, w)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"box {i} {tuple(int(v) for v in b[i])} must have w, h >= 1 and lie inside the {w}x{h} frame")
    return b.astype(np.int32)


def split_crops(crops: Any) -> list[np.ndarray] | np.ndarray:
    """What `predict_faces` was given, as a uniform batch (N, H, W[, 3]) array or a list of images.

    A 2-D array, or a 3-D array whose last axis has at most 4 entries, is one image (HxW, or HxWxC: C = 1
    and 3 are taken, 2 and 4 refused by check_image; no face is 4 pixels wide); another 3-D array is N gray
    faces N x H x W; N x H x W x C is N faces with C channels."""
    if isinstance(crops, np.ndarray):
        if crops.ndim == 2 or (crops.ndim == 3 and crops.shape[2] <= 4):
            return [crops]
        if crops.ndim in (3, 4):
            return crops
        raise ValueError(
            f"crops must be one image (HxW or HxWxC) or a batch (NxHxW or NxHxWxC), got shape {crops.shape}"
        )
    if isinstance(crops, (list, tuple)):
        return list(crops)
    raise TypeError(f"crops must be a numpy array or a list of them, got {type(crops).__name__}")


def normalise_faces(faces: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) float32 network input of uint8 gray faces (N, H, W) taken as they are: (v / 255 - MEAN) / STD,
    the same float32 operations as training's `to_input`, so a 48x48 crop reaches the network exactly as the
    training faces did (`predict_faces`' path for 48x48 gray crops: there is nothing to resample)."""
    x = faces.astype(np.float32)
    x /= np.float32(255.0)
    x -= np.float32(MEAN)
    x /= np.float32(STD)
    return x[:, None]


def to_uint8(batch: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) normalised network input -> (N, H, W) uint8 faces: the inverse of `normalise_faces`
    (rounded), for crops to save or to send over the wire."""
    return np.clip(np.rint((batch[:, 0] * STD + MEAN) * 255.0), 0, 255).astype(np.uint8)


def check_options(*, supersample: Any, max_batch: Any, device: Any, min_face: Any) -> None:
    """The Recognizer's numeric and choice options, or ValueError naming the one that is wrong."""
    if supersample != "auto" and not (
        isinstance(supersample, int) and not isinstance(supersample, bool) and 1 <= supersample <= 16
    ):
        raise ValueError(f"supersample must be 'auto' or an int in 1..16, got {supersample!r}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or not 1 <= max_batch <= 65536:
        raise ValueError(f"max_batch must be an int in 1..65536, got {max_batch!r}")
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"device must be None, 'cpu' or 'cuda', got {device!r}")
    if isinstance(min_face, bool) or not isinstance(min_face, (int, np.integer)) or min_face < 1:
        raise ValueError(f"min_face must be a positive int, got {min_face!r}")
