"""Face crops: all faces of a frame to one normalised (N, 1, 48, 48) float32 batch in one C++ call
(crop, gray conversion, resampling and normalisation fused)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._ext import assert_has_ext
from ..labels import INPUT_SIZE, MEAN, STD


def crop_faces(frame: np.ndarray, boxes: np.ndarray, supersample: int = 0, out_size: int = INPUT_SIZE) -> np.ndarray:
    """Boxes (N, 4) int32 x, y, w, h inside a uint8 HxW or HxWx3 frame -> (N, 1, out, out) float32.
    ``supersample``: sub-samples per axis when shrinking (0: per box, about side / out, at most 4)."""
    ext: Any = assert_has_ext()
    return ext.crop_faces(frame, np.ascontiguousarray(boxes, np.int32), int(out_size), MEAN, STD, int(supersample))


def crop_faces_affine(frame: np.ndarray, theta: np.ndarray, supersample: int = 0,
                      out_size: int = INPUT_SIZE) -> np.ndarray:
    """Crops given as affine maps: ``theta`` (N, 2, 3) maps output pixel centres (x, y, 1) to frame pixel
    coordinates. Same sampling, gray conversion and normalisation as :func:`crop_faces`."""
    ext: Any = assert_has_ext()
    return ext.crop_faces_affine(frame, np.ascontiguousarray(theta, np.float32), int(out_size), MEAN, STD,
                                 int(supersample))
