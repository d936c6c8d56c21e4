"""Face detectors. Any object with ``detect(frame) -> (N, 4) int32 boxes (x, y, w, h)`` plugs in.

- :class:`HaarDetector` (default): OpenCV's frontal-face Haar cascade, which ships inside the
  opencv-python(-headless) 4.x wheels; runs on a downscaled copy for speed, boxes mapped back.
- :class:`YuNetDetector`: OpenCV's ``cv2.FaceDetectorYN`` with a YuNet ONNX file you provide
  (e.g. ``face_detection_yunet_2023mar.onnx`` from the OpenCV model zoo).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Detector(Protocol):
    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) int32 as (x, y, w, h) in frame pixels for a uint8 BGR or gray frame."""
        ...


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def find_haar_cascade(name: str = "haarcascade_frontalface_default.xml") -> Path:
    """Locate an OpenCV Haar cascade file: $DEEPEMOTION_HAAR_CASCADE, cv2.data, or the usual
    system folders. OpenCV 5 wheels dropped the files, hence the search."""
    import cv2

    candidates = []
    if os.environ.get("DEEPEMOTION_HAAR_CASCADE"):
        candidates.append(Path(os.environ["DEEPEMOTION_HAAR_CASCADE"]))
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        candidates.append(Path(data.haarcascades) / name)
    candidates += [Path(p) / name for p in ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades",
                                            "/usr/local/share/opencv4/haarcascades")]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"OpenCV's {name} was not found (looked in {[str(c) for c in candidates]}). Install "
        "'opencv-python-headless<5', or set DEEPEMOTION_HAAR_CASCADE to the file, or pass a detector "
        "(e.g. YuNetDetector) or boxes= to predict()."
    )


class HaarDetector:
    """OpenCV Haar cascade. ``max_side``: the frame is downscaled so its longer side is at most this
    many pixels before detection (boxes are mapped back); ``min_face``: smallest face side in
    frame pixels."""

    def __init__(self, min_face: int = 40, max_side: int = 480, scale_factor: float = 1.1, min_neighbors: int = 5,
                 cascade: str | os.PathLike[str] | None = None) -> None:
        import cv2

        path = Path(cascade) if cascade else find_haar_cascade()
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ValueError(f"{path}: not a valid Haar cascade file")
        if min_face < 1 or max_side < 32:
            raise ValueError("min_face must be >= 1 and max_side >= 32")
        self.min_face, self.max_side = int(min_face), int(max_side)
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)

    def detect(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        gray = _gray(frame)
        h, w = gray.shape
        s = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
            if s < 1.0 else gray
        small = cv2.equalizeHist(small)
        mn = max(8, int(round(self.min_face * s)))
        # cv2.CascadeClassifier is not safe to share between threads; callers hold one per thread
        found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                               minSize=(mn, mn))
        if len(found) == 0:
            return np.zeros((0, 4), np.int32)
        boxes = np.asarray(found, np.float64) / s
        return _clip_boxes(np.rint(boxes).astype(np.int32), w, h)


class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``) from a model file you provide."""

    def __init__(self, model_path: str | os.PathLike[str], score_threshold: float = 0.8, min_face: int = 20,
                 max_side: int = 640) -> None:
        import cv2

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: YuNet ONNX file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise RuntimeError("this OpenCV build has no cv2.FaceDetectorYN (needs OpenCV >= 4.5.4)")
        self._det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold)
        self.min_face, self.max_side = int(min_face), int(max_side)

    def detect(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        bgr = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = bgr.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1.0 else bgr
        self._det.setInputSize((small.shape[1], small.shape[0]))
        _, faces = self._det.detect(small)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 4), np.int32)
        boxes = np.rint(faces[:, :4] / s).astype(np.int32)
        boxes = boxes[(boxes[:, 2] >= self.min_face) & (boxes[:, 3] >= self.min_face)]
        return _clip_boxes(boxes, w, h)


def _clip_boxes(boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """Clip (x, y, w, h) boxes to the frame; drop boxes with nothing left."""
    if len(boxes) == 0:
        return np.zeros((0, 4), np.int32)
    b = boxes.astype(np.int64)
    x0 = np.clip(b[:, 0], 0, w)
    y0 = np.clip(b[:, 1], 0, h)
    x1 = np.clip(b[:, 0] + b[:, 2], 0, w)
    y1 = np.clip(b[:, 1] + b[:, 3], 0, h)
    out = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    return np.ascontiguousarray(out[(out[:, 2] > 0) & (out[:, 3] > 0)], np.int32)
