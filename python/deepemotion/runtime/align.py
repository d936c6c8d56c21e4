"""From detections to the network's input: every face is mapped onto the framing of the FER2013 training
crops, then all faces of a frame are resampled by one C++ call (`ops.crop_faces_affine`: the same bilinear
math as the STN sampler). Three framings (`Recognizer(align=...)`):

- `"box"`: the detector's calibrated box-to-crop mapping (where its boxes sit inside a training crop). Detectors
  without landmarks and boxes given by the caller always use it (caller boxes are framed as Haar's, tight square
  face boxes: `detect.GIVEN_BOXES_FRAMING`).
- `"roll"` (the default; needs landmarks, else as "box"): the box framing, turned about its centre by the head's
  roll as the eye line shows it, beyond `MAX_ROLL_DEG`: a face rolled by 40 degrees is cropped as if rolled by 15,
  one rolled by 10 is left as it is (FER2013's own crops keep their roll, and the network learnt from them).
- `"landmarks"`: the similarity transform (scale, rotation, translation; least squares) that maps the canonical
  positions of YuNet's five landmarks in the training crops onto the face's landmarks. It also rescales by the
  mouth's position, which an open mouth (surprise, fear) moves: on the detector benchmark it frames faces less like
  FER2013 than the box does (docs/detectors.md).

The canonical positions and each registered detector's box mapping come from `assets/alignment.json` (read by
`detect.calibration`), measured by `scripts/calibrate_alignment.py` on FER2013 Training faces; a custom detector
declares its own (`box_in_crop`). `theta` maps unit crop coordinates (u, v) --
pixel centres at (i + 0.5) / 48 -- to frame pixel coordinates (0 = centre of the first pixel).

The geometry itself exists once, in C++ (`csrc/sdk/frame.{h,cpp}`, bound as `deepemotion._C.face_thetas` and
friends): the C++ `deepemotion::Recognizer` and this module frame faces with the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._ext import _C, assert_has_ext
from ..labels import FRAMINGS, INPUT_SIZE
from ..ops import crop_faces, crop_faces_affine
from .detect import Detections, box_in_crop, calibration
from .inputs import to_uint8


def canonical_landmarks() -> np.ndarray:
    """(5, 2) landmark positions of an average training crop, in unit coordinates."""
    return np.asarray(calibration()["canonical_landmarks"], np.float64)


def _rows(values: Any, tail: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, np.float64).reshape((-1,) + tail))


def similarity_theta(landmarks: np.ndarray, canonical: np.ndarray | None = None) -> np.ndarray:
    """(N, 2, 3) least-squares similarity transforms taking `canonical` (5, 2) onto each face's landmarks
    (N, 5, 2): theta = [[a, -b, tx], [b, a, ty]]."""
    c = canonical_landmarks() if canonical is None else canonical
    return assert_has_ext().similarity_thetas(_rows(landmarks, (5, 2)), _rows(c, (2,)))


def box_theta(boxes: np.ndarray, box_in_crop: Any) -> np.ndarray:
    """(N, 2, 3) theta of the training-like crop around each (x, y, w, h) box, given where such a box sits in a
    crop: `box_in_crop` = (u0, v0, width, height) in unit coordinates."""
    return assert_has_ext().box_thetas(_rows(boxes, (4,)), _rows(box_in_crop, ()))


def eye_roll(landmarks: np.ndarray) -> np.ndarray:
    """(N,) head roll in radians from the eye line of (N, 5, 2) landmarks, relative to the canonical eye line."""
    return assert_has_ext().eye_rolls(_rows(landmarks, (5, 2)), canonical_landmarks())


def rotate_theta(theta: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """`theta` (N, 2, 3) turned by `angle` (N,) radians about the centre of each crop."""
    return assert_has_ext().rotate_thetas(_rows(theta, (2, 3)), _rows(angle, ()))


def check_framing(align: Any) -> str:
    """The framing named by `align`: one of FRAMINGS (True is "landmarks" and False "box", as in 0.2.0)."""
    if isinstance(align, (bool, np.bool_)):
        return "landmarks" if align else "box"
    if align not in FRAMINGS:
        raise ValueError(f"align must be one of {', '.join(map(repr, FRAMINGS))} (or True/False), got {align!r}")
    return str(align)


#: head roll (degrees) that the "roll" framing leaves as it is; beyond it a face is turned back to this roll (defined
#: with the geometry, in C++: csrc/sdk/frame.h; None only where the compiled core is missing)
MAX_ROLL_DEG: float | None = None if _C is None else float(_C.MAX_ROLL_DEG)


class Aligner:
    """Crops for the network. `framing`: "roll", "box" or "landmarks" (see the module docstring); faces without
    landmarks are always framed by their box. `supersample`: sub-samples per axis when shrinking (0: per face)."""

    def __init__(self, supersample: int = 0, framing: Any = "roll") -> None:
        self.supersample = int(supersample)
        self.framing = check_framing(framing)

    def theta(self, det: Detections, framing: Any) -> np.ndarray:
        """The crop maps for `det`, whose boxes sit in a training-like crop as `framing` says: (u0, v0, width,
        height), or a registered detector's name for its calibration (`detect.box_in_crop`)."""
        has_marks = (
            det.landmarks is not None and len(det.landmarks) == len(det.boxes) and det.landmarks.shape[1:] == (5, 2)
        )
        return assert_has_ext().face_thetas(
            _rows(det.boxes, (4,)),
            _rows(det.landmarks, (5, 2)) if has_marks else None,
            self.framing,
            _rows(box_in_crop(framing), ()),
            canonical_landmarks(),
        )

    def crop(self, frame: np.ndarray, det: Detections, framing: Any) -> np.ndarray:
        """(N, 1, INPUT_SIZE, INPUT_SIZE) normalised crops of detected faces, framed like the training crops."""
        if len(det) == 0:
            return np.zeros((0, 1, INPUT_SIZE, INPUT_SIZE), np.float32)
        return crop_faces_affine(frame, self.theta(det, framing).astype(np.float32), self.supersample)

    def crop_uint8(self, frame: np.ndarray, det: Detections, framing: Any) -> np.ndarray:
        """(N, INPUT_SIZE, INPUT_SIZE) uint8: the crops of `crop` back in 0..255, as the network sees them."""
        return to_uint8(self.crop(frame, det, framing))

    def crop_boxes(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 1, INPUT_SIZE, INPUT_SIZE) normalised crops of the given boxes exactly as they are (predict_faces)."""
        return crop_faces(frame, boxes, self.supersample)
