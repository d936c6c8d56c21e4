"""YuNet (Shiqi Yu et al. 2023), the default face detector, through OpenCV's ``cv2.FaceDetectorYN``.

The model file is never bundled: :func:`deepemotion.runtime.download.yunet_model_path` finds it
(argument, ``$DEEPEMOTION_YUNET``, the user cache) or downloads it once, checksum-verified.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .base import Detections, clip_boxes


class YuNetDetector:
    """YuNet via OpenCV. ``max_side``: frames are downscaled so the longer side is at most this many pixels
    (boxes and landmarks mapped back); ``min_face``: smallest face side kept, in frame pixels.
    Safe to share between threads (the OpenCV detector is used under a lock)."""

    name = "yunet"

    def __init__(self, model_path: str | os.PathLike[str] | None = None, score_threshold: float = 0.7,
                 nms_threshold: float = 0.3, min_face: int = 20, max_side: int = 640) -> None:
        import cv2

        from ..download import yunet_model_path

        path = Path(model_path) if model_path is not None else yunet_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: YuNet ONNX file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise RuntimeError("this OpenCV build has no cv2.FaceDetectorYN (needs OpenCV >= 4.5.4)")
        if not 0 < score_threshold < 1 or not 0 < nms_threshold < 1:
            raise ValueError("score_threshold and nms_threshold must be in (0, 1)")
        if min_face < 1 or max_side < 32:
            raise ValueError("min_face must be >= 1 and max_side >= 32")
        self._det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), float(score_threshold), float(nms_threshold))
        self.model_path = path
        self.min_face, self.max_side = int(min_face), int(max_side)
        self._lock = threading.Lock()

    def detect(self, frame: np.ndarray) -> Detections:
        import cv2

        bgr = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = bgr.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
            if s < 1.0 else bgr
        with self._lock:
            self._det.setInputSize((small.shape[1], small.shape[0]))
            _, faces = self._det.detect(small)
        if faces is None or len(faces) == 0:
            return Detections.empty(with_landmarks=True)
        faces = np.asarray(faces, np.float32)
        boxes, keep = clip_boxes(np.rint(faces[:, :4] / s).astype(np.int32), w, h)
        keep &= (boxes[:, 2] >= self.min_face) & (boxes[:, 3] >= self.min_face)
        det = Detections(boxes, faces[:, 14], (faces[:, 4:14] / s).reshape(-1, 5, 2))
        return det.take(keep)
