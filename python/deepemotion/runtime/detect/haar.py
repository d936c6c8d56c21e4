"""OpenCV's frontal-face Haar cascade (it ships inside the opencv-python(-headless) 4.x wheels): the
fallback detector when YuNet's model file is not available."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .base import Detections, clip_boxes, gray, register_detector


def find_haar_cascade(name: str = "haarcascade_frontalface_default.xml") -> Path:
    """Locate an OpenCV Haar cascade file: $DEEPEMOTION_HAAR_CASCADE, cv2.data, or the usual
    system folders. OpenCV 5 wheels dropped the files, hence the search."""
    import cv2

    env = os.environ.get("DEEPEMOTION_HAAR_CASCADE")
    if env:  # an explicit choice: a missing file is an error, not a reason to look elsewhere
        if not Path(env).is_file():
            raise FileNotFoundError(f"{env} (from $DEEPEMOTION_HAAR_CASCADE): no such Haar cascade file")
        return Path(env)
    candidates = []
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        candidates.append(Path(data.haarcascades) / name)
    candidates += [
        Path(p) / name
        for p in (
            "/usr/share/opencv4/haarcascades",
            "/usr/share/opencv/haarcascades",
            "/usr/local/share/opencv4/haarcascades",
        )
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"OpenCV's {name} was not found (looked in {[str(c) for c in candidates]}). Install "
        "'opencv-python-headless<5', or set DEEPEMOTION_HAAR_CASCADE to the file, or pass a detector "
        "(e.g. YuNetDetector) or boxes= to predict()."
    )


class HaarDetector:
    """OpenCV Haar cascade (registered as `"haar"`). `max_side`: the frame is downscaled so its longer side is
    at most this many pixels before detection (boxes are mapped back); `min_face`: smallest face side in frame
    pixels; `equalize`: equalise the histogram of the (downscaled) frame first (off by default: on
    frames with large flat areas it stretches the background's noise and loses faces; see
    docs/detectors.md). Safe to share between threads (the cascade is used under a lock)."""

    name = "haar"
    box_in_crop = "haar"  # its crop calibration (assets/alignment.json)

    def __init__(
        self,
        min_face: int = 40,
        max_side: int = 640,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        equalize: bool = False,
        cascade: str | os.PathLike[str] | None = None,
    ) -> None:
        import cv2

        if min_face < 1 or max_side < 32:
            raise ValueError("min_face must be >= 1 and max_side >= 32")
        if scale_factor <= 1.0 or min_neighbors < 0:
            raise ValueError("scale_factor must be > 1 and min_neighbors >= 0")
        path = Path(cascade) if cascade else find_haar_cascade()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such Haar cascade file")
        from ...files import opencv_safe_name, quiet_native

        classifier: cv2.CascadeClassifier | None = None
        try:
            with quiet_native():  # OpenCV prints its own parse errors on fd 2 before raising
                classifier = cv2.CascadeClassifier(opencv_safe_name(path))
        except (cv2.error, SystemError):  # OpenCV's parser fails in both ways on files that are not cascades
            classifier = None
        if classifier is None or classifier.empty():
            raise ValueError(f"{path}: not a valid Haar cascade file")
        self._cascade = classifier
        self.min_face, self.max_side = int(min_face), int(max_side)
        self.scale_factor, self.min_neighbors, self.equalize = float(scale_factor), int(min_neighbors), bool(equalize)
        self._lock = threading.Lock()  # cv2.CascadeClassifier is not re-entrant

    def detect(self, frame: np.ndarray) -> Detections:
        import cv2

        g = gray(frame)
        h, w = g.shape
        s = min(1.0, self.max_side / max(h, w))
        small = (
            cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1.0 else g
        )
        if self.equalize:
            small = cv2.equalizeHist(small)
        mn = max(8, int(round(self.min_face * s)))
        with self._lock:
            found = self._cascade.detectMultiScale(
                small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(mn, mn)
            )
        if len(found) == 0:
            return Detections.empty()
        boxes, keep = clip_boxes(np.rint(np.asarray(found, np.float64) / s).astype(np.int32), w, h)
        boxes = boxes[keep]
        boxes = boxes[np.lexsort(boxes.T[::-1])]  # OpenCV's order varies between calls: sort by x, y, w, h
        return Detections(boxes, np.ones(len(boxes), np.float32))


@register_detector(
    "haar",
    "OpenCV's frontal-face Haar cascade (in the opencv-python wheels); the fallback",
    cls=HaarDetector,
    needs="OpenCV's haarcascade_frontalface_default.xml",
    landmarks=False,
    slowed_by_spinning=True,
    auto_rank=20,
)
def _haar(model_path: str | os.PathLike[str] | None = None, min_face: int = 40) -> HaarDetector:
    return HaarDetector(min_face=min_face, cascade=model_path)
