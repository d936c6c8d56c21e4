"""What a face detector is, and what it returns.

Any object with ``detect(frame)`` plugs in. It may return an (N, 4) array of boxes (x, y, w, h) in
frame pixels, or a :class:`Detections` with scores and, where the detector finds them, five
landmarks per face (right eye, left eye, nose tip, right and left mouth corner, as YuNet orders
them; "right" is the subject's right, which appears on the image's left).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Detector(Protocol):
    def detect(self, frame: np.ndarray) -> Any:
        """Boxes (N, 4) int32 (x, y, w, h), or a :class:`Detections`, for a uint8 BGR or gray frame."""
        ...


@dataclass
class Detections:
    boxes: np.ndarray                     # (N, 4) int32 x, y, w, h
    scores: np.ndarray | None = None      # (N,) float32
    landmarks: np.ndarray | None = None   # (N, 5, 2) float32, frame pixels

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, with_landmarks: bool = False) -> Detections:
        return cls(np.zeros((0, 4), np.int32), np.zeros(0, np.float32),
                   np.zeros((0, 5, 2), np.float32) if with_landmarks else None)

    def take(self, keep: np.ndarray) -> Detections:
        return Detections(self.boxes[keep], None if self.scores is None else self.scores[keep],
                          None if self.landmarks is None else self.landmarks[keep])


def gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def clip_boxes(boxes: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip (x, y, w, h) boxes to a w x h frame; returns (clipped boxes, mask of boxes with area left)."""
    if len(boxes) == 0:
        return np.zeros((0, 4), np.int32), np.zeros(0, bool)
    b = np.asarray(boxes, np.int64)
    x0 = np.clip(b[:, 0], 0, w)
    y0 = np.clip(b[:, 1], 0, h)
    x1 = np.clip(b[:, 0] + b[:, 2], 0, w)
    y1 = np.clip(b[:, 1] + b[:, 3], 0, h)
    out = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    keep = (out[:, 2] > 0) & (out[:, 3] > 0)
    return np.ascontiguousarray(out, np.int32), keep
