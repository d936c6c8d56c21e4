"""Face detectors: YuNet (default, when its model file is available) and OpenCV's Haar cascade."""
from __future__ import annotations

from .base import Detections, Detector, clip_boxes
from .haar import HaarDetector, find_haar_cascade
from .yunet import YuNetDetector

__all__ = ["Detections", "Detector", "HaarDetector", "YuNetDetector", "clip_boxes", "find_haar_cascade"]
