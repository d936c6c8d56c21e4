"""What a face detector is, what it returns, and the registry of the built-in ones.

Any object with `detect(frame)` and a declared framing (`box_in_crop`, see `box_in_crop`) plugs in. It
may return an (N, 4) array of boxes (x, y, w, h) in frame pixels, or a `Detections` with scores and, where
the detector finds them, five landmarks per face (right eye, left eye, nose tip, right and left mouth corner, as
YuNet orders them; "right" is the subject's right, which appears on the image's left). What it returns is checked
(`checked_detections`), never trusted.

Built-in detectors register with `register_detector`, declaring what they can do; `Recognizer`, the
aligner and every tool read that one table (`DETECTORS`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Detector(Protocol):
    def detect(self, frame: np.ndarray) -> Any:
        """Boxes (N, 4) int32 (x, y, w, h), or a `Detections`, for a uint8 BGR or gray frame."""
        ...


@dataclass
class Detections:
    boxes: np.ndarray  # (N, 4) int32 x, y, w, h
    scores: np.ndarray | None = None  # (N,) float32
    landmarks: np.ndarray | None = None  # (N, 5, 2) float32, frame pixels

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, with_landmarks: bool = False) -> Detections:
        return cls(
            np.zeros((0, 4), np.int32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32) if with_landmarks else None,
        )

    def take(self, keep: np.ndarray | slice) -> Detections:
        return Detections(
            self.boxes[keep],
            None if self.scores is None else self.scores[keep],
            None if self.landmarks is None else self.landmarks[keep],
        )


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


@dataclass(frozen=True)
class DetectorEntry:
    """One registered detector and what it can do. Code that chooses or frames reads these fields, never names."""

    name: str
    factory: Callable[..., Any]  # factory(model_path=None, min_face=...) -> a detector; raises when it cannot run
    cls: type  # the class of the detectors it makes
    description: str
    needs: str  # what it needs (a model file, OpenCV's data)
    landmarks: bool  # gives the five landmarks (the "roll" and "landmarks" framings use them)
    slowed_by_spinning: bool  # runs OpenCV's threads, which an ONNX Runtime pool that spins takes the cores from
    auto_rank: int | None = None  # detector="auto" tries the ranked entries in increasing order


_DETECTORS: dict[str, DetectorEntry] = {}


def register_detector(
    name: str,
    description: str,
    *,
    cls: type,
    needs: str,
    landmarks: bool,
    slowed_by_spinning: bool,
    auto_rank: int | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class/function decorator: make a detector creatable by `name`. Its crop calibration (where its boxes sit
    in a FER2013-like crop) must be in `assets/alignment.json` under `box_in_crop[name]` (measured by
    scripts/calibrate_alignment.py); registering without one is refused."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name not in calibration()["box_in_crop"]:
            raise ValueError(
                f"detector {name!r} has no crop calibration in assets/alignment.json: measure it with "
                "scripts/calibrate_alignment.py"
            )
        _DETECTORS[name] = DetectorEntry(
            name, factory, cls, description, needs, landmarks, slowed_by_spinning, auto_rank
        )
        return factory

    return deco


def detector_registry() -> dict[str, DetectorEntry]:
    return dict(_DETECTORS)


@functools.lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    """`assets/alignment.json`: the canonical landmarks and each detector's box-to-crop mapping."""
    path = Path(str(resources.files("deepemotion").joinpath("assets", "alignment.json")))
    return json.loads(path.read_text())


#: how boxes given by the caller (``predict(frame, boxes=...)``) are framed: as tight square face boxes, like Haar's
GIVEN_BOXES_FRAMING = "haar"


def box_in_crop(framing: Any) -> tuple[float, float, float, float]:
    """Where a detector's box sits inside a FER2013-like crop, (u0, v0, width, height) in unit crop coordinates,
    from a registered detector's name (its calibration) or a 4-tuple. ValueError otherwise."""
    table = calibration()["box_in_crop"]
    if isinstance(framing, str):
        if framing not in table:
            raise ValueError(f"no crop calibration named {framing!r}; calibrated: {', '.join(sorted(table))}")
        u0, v0, width, height = (float(v) for v in table[framing])
        return u0, v0, width, height
    try:
        vals = tuple(float(v) for v in framing)
    except TypeError:
        raise ValueError(
            f"box_in_crop must be a calibrated detector's name or (u0, v0, width, height), got {framing!r}"
        ) from None
    if len(vals) != 4 or not all(np.isfinite(vals)) or vals[2] <= 0 or vals[3] <= 0:
        raise ValueError(f"box_in_crop must be (u0, v0, width, height) with width, height > 0, got {framing!r}")
    return vals[0], vals[1], vals[2], vals[3]


def detector_framing(detector: Any) -> tuple[float, float, float, float]:
    """The crop calibration a detector object declares: its `box_in_crop` attribute (a registered detector's
    name whose boxes frame faces like its own, or (u0, v0, width, height)). A detector that declares none gets a
    clear error, never another detector's framing by accident."""
    framing = getattr(detector, "box_in_crop", None)
    if framing is None:
        raise TypeError(
            f"the detector {type(detector).__name__} does not declare how its boxes frame a face: set its "
            "box_in_crop attribute to 'haar' (tight square face boxes) or 'yunet' (YuNet-like boxes), "
            "or to (u0, v0, width, height) -- where its box sits in a 48x48 training crop, in unit "
            "coordinates (scripts/calibrate_alignment.py measures it)"
        )
    return box_in_crop(framing)


def _as_array(value: Any, what: str, who: str, dtype: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        a = np.asarray(value, dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{who} returned {what} that are not an array of numbers ({type(value).__name__})") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{who} returned {what} with NaN or infinite values")
    return a


def checked_detections(found: Any, shape: tuple[int, ...], who: str = "the detector") -> Detections:
    """What a detector returned -- a `Detections`, or (N, 4) boxes as any array-like -- checked against a
    frame of `shape`: boxes rounded to int32 and clipped to the frame; a box with no area inside it (negative or
    zero size, or entirely outside), scores or landmarks whose count or shape do not match the boxes, or values
    that are not finite numbers raise ValueError naming `who`."""
    det = found if isinstance(found, Detections) else Detections(found)
    boxes = _as_array(det.boxes, "boxes", who, np.float64)
    if boxes is None:
        raise ValueError(f"{who} returned no boxes (None); return (N, 4) boxes, an empty array when there is no face")
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{who} returned boxes of shape {boxes.shape}; expected (N, 4) as x, y, w, h")
    n = len(boxes)
    scores = _as_array(det.scores, "scores", who, np.float32)
    marks = _as_array(det.landmarks, "landmarks", who, np.float32)
    if scores is not None and scores.shape != (n,):
        raise ValueError(f"{who} returned {scores.shape} scores for {n} boxes")
    if marks is not None and (marks.ndim != 3 or marks.shape[0] != n or marks.shape[2] != 2):
        raise ValueError(f"{who} returned landmarks of shape {marks.shape} for {n} boxes; expected ({n}, K, 2)")
    h, w = shape[:2]
    clipped, keep = clip_boxes(np.rint(boxes).astype(np.int64), w, h)
    if not keep.all():
        i = int(np.flatnonzero(~keep)[0])
        raise ValueError(
            f"{who} returned box {i} {tuple(int(v) for v in np.rint(boxes[i]))}, which has no area "
            f"inside the {w}x{h} frame (negative or zero size, or outside it)"
        )
    return Detections(clipped, scores, marks)
