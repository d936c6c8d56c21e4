"""OpenCV's frontal-face Haar cascade (it ships inside the opencv-python(-headless) 4.x wheels): the
fallback detector when YuNet's model file is not available."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .base import Detections, clip_boxes, gray


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
    many pixels before detection (boxes are mapped back); ``min_face``: smallest face side in frame
    pixels; ``equalize``: equalise the histogram of the (downscaled) frame first (off by default: on
    frames with large flat areas it stretches the background's noise and loses faces; see
    docs/detectors.md). Safe to share between threads (the cascade is used under a lock)."""

    name = "haar"

    def __init__(self, min_face: int = 40, max_side: int = 640, scale_factor: float = 1.1, min_neighbors: int = 5,
                 equalize: bool = False, cascade: str | os.PathLike[str] | None = None) -> None:
        import cv2

        if min_face < 1 or max_side < 32:
            raise ValueError("min_face must be >= 1 and max_side >= 32")
        if scale_factor <= 1.0 or min_neighbors < 0:
            raise ValueError("scale_factor must be > 1 and min_neighbors >= 0")
        path = Path(cascade) if cascade else find_haar_cascade()
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ValueError(f"{path}: not a valid Haar cascade file")
        self.min_face, self.max_side = int(min_face), int(max_side)
        self.scale_factor, self.min_neighbors, self.equalize = float(scale_factor), int(min_neighbors), bool(equalize)
        self._lock = threading.Lock()  # cv2.CascadeClassifier is not re-entrant

    def detect(self, frame: np.ndarray) -> Detections:
        import cv2

        g = gray(frame)
        h, w = g.shape
        s = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) \
            if s < 1.0 else g
        if self.equalize:
            small = cv2.equalizeHist(small)
        mn = max(8, int(round(self.min_face * s)))
        with self._lock:
            found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor,
                                                   minNeighbors=self.min_neighbors, minSize=(mn, mn))
        if len(found) == 0:
            return Detections.empty()
        boxes, keep = clip_boxes(np.rint(np.asarray(found, np.float64) / s).astype(np.int32), w, h)
        return Detections(boxes[keep], np.ones(int(keep.sum()), np.float32))
