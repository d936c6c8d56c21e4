"""Face detectors, one registry: YuNet (the default when its model file is available) and OpenCV's Haar cascade,
each registered with what it can do (`DETECTORS`, `create_detector`); or any object with `detect(frame)`
that declares its framing (`box_in_crop`)."""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

from .base import (
    GIVEN_BOXES_FRAMING,
    Detections,
    Detector,
    DetectorEntry,
    box_in_crop,
    calibration,
    checked_detections,
    clip_boxes,
    detector_framing,
    detector_registry,
)
from .haar import HaarDetector, find_haar_cascade
from .yunet import YuNetDetector

#: every registered detector's name, the one "auto" tries first first (--help, docs and errors use it)
DETECTORS: tuple[str, ...] = tuple(sorted(detector_registry(), key=lambda n: detector_registry()[n].auto_rank or 99))


def detector_help() -> str:
    return "auto | " + " | ".join(DETECTORS)


def _failures() -> tuple[type[BaseException], ...]:
    from ..backends.base import BackendUnavailable
    from ..download import ModelUnavailable

    return ModelUnavailable, BackendUnavailable, ValueError, OSError


_SAID: set[str] = set()  # the fallback warnings this process has given (each is given once)
_SAID_LOCK = threading.Lock()


def _warn_once(message: str) -> None:
    """A RuntimeWarning, once per process for each message: every Recognizer() of an offline process falls back
    for the same reason, and the download is not retried meanwhile (runtime/download.py)."""
    with _SAID_LOCK:
        if message in _SAID:
            return
        _SAID.add(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def create_detector(spec: Any = "auto", min_face: int = 40, model_path: str | os.PathLike[str] | None = None) -> Any:
    """A detector from `spec`: "auto" (the registered detectors with an `auto_rank`, best first: the first that
    can run here, with a warning when it is not the first, once per process and reason), a registered name, None
    (no detector), or an object with `detect(frame)` and a declared `box_in_crop` (checked here)."""
    entries = detector_registry()
    if spec is None:
        return None
    if spec == "auto":
        ranked = [
            e
            for _, e in sorted(
                ((e.auto_rank, e) for e in entries.values() if e.auto_rank is not None), key=lambda pair: pair[0]
            )
        ]
        reasons = []
        for e in ranked:
            try:
                det = e.factory(model_path if e is ranked[0] else None, min_face=min_face)
            except _failures() as exc:  # any reason this detector cannot run here: the next one, and say why
                reasons.append(f"{e.name}: {exc}")
                continue
            if reasons:
                _warn_once(
                    f"deepemotion: using the {e.name} face detector, which finds fewer faces, because "
                    + "; ".join(reasons)
                )
            return det
        raise RuntimeError("no face detector can run here: " + "; ".join(reasons))
    if isinstance(spec, str):
        if spec not in entries:
            raise ValueError(f"unknown detector {spec!r}: use {detector_help()}, None, or a detector object")
        return entries[spec].factory(model_path, min_face=min_face)
    if not isinstance(spec, Detector):
        raise TypeError("detector must have a detect(frame) method returning (N, 4) boxes or Detections")
    detector_framing(spec)  # a custom detector must say how its boxes frame a face
    return spec


def entry_of(detector: Any) -> DetectorEntry | None:
    """The registry entry of a registered detector's object (None for a custom one)."""
    return next((e for e in detector_registry().values() if isinstance(detector, e.cls)), None)


__all__ = [
    "DETECTORS",
    "GIVEN_BOXES_FRAMING",
    "DetectorEntry",
    "Detections",
    "Detector",
    "HaarDetector",
    "YuNetDetector",
    "box_in_crop",
    "calibration",
    "checked_detections",
    "clip_boxes",
    "create_detector",
    "detector_framing",
    "detector_help",
    "detector_registry",
    "entry_of",
    "find_haar_cascade",
]
