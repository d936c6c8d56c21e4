"""From detections to the network's input: every face is mapped onto the framing of the FER2013 training
crops, then all faces of a frame are resampled by one C++ call (``ops.crop_faces_affine``: the same bilinear
math as the STN sampler). Three framings (``Recognizer(align=...)``):

- ``"box"``: the detector's calibrated box-to-crop mapping (where its boxes sit inside a training crop). Detectors
  without landmarks and boxes given by the caller always use it (caller boxes are framed as Haar's, tight square
  face boxes: ``detect.GIVEN_BOXES_FRAMING``).
- ``"roll"`` (the default; needs landmarks, else as "box"): the box framing, turned about its centre by the head's
  roll as the eye line shows it, beyond ``MAX_ROLL_DEG``: a face rolled by 40 degrees is cropped as if rolled by 15,
  one rolled by 10 is left as it is (FER2013's own crops keep their roll, and the network learnt from them).
- ``"landmarks"``: the similarity transform (scale, rotation, translation; least squares) that maps the canonical
  positions of YuNet's five landmarks in the training crops onto the face's landmarks. It also rescales by the
  mouth's position, which an open mouth (surprise, fear) moves: on the detector benchmark it frames faces less like
  FER2013 than the box does (docs/detectors.md).

The canonical positions and each registered detector's box mapping come from ``assets/alignment.json`` (read by
``detect.calibration``), measured by ``tools/calibrate_alignment.py`` on FER2013 Training faces; a custom detector
declares its own (``box_in_crop``). ``theta`` maps unit crop coordinates (u, v) --
pixel centres at (i + 0.5) / 48 -- to frame pixel coordinates (0 = centre of the first pixel).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import FRAMINGS, INPUT_SIZE
from ..ops import crop_faces, crop_faces_affine
from .detect import Detections, box_in_crop, calibration
from .inputs import to_uint8


def canonical_landmarks() -> np.ndarray:
    """(5, 2) landmark positions of an average training crop, in unit coordinates."""
    return np.asarray(calibration()["canonical_landmarks"], np.float64)


def similarity_theta(landmarks: np.ndarray, canonical: np.ndarray | None = None) -> np.ndarray:
    """(N, 2, 3) least-squares similarity transforms taking ``canonical`` (5, 2) onto each face's landmarks
    (N, 5, 2): theta = [[a, -b, tx], [b, a, ty]]."""
    c = canonical_landmarks() if canonical is None else np.asarray(canonical, np.float64)
    p = np.asarray(landmarks, np.float64)
    mc, mp = c.mean(0), p.mean(1)
    cc, pc = c - mc, p - mp[:, None]
    ss = float((cc ** 2).sum())
    a = (cc[None, :, 0] * pc[..., 0] + cc[None, :, 1] * pc[..., 1]).sum(1) / ss
    b = (cc[None, :, 0] * pc[..., 1] - cc[None, :, 1] * pc[..., 0]).sum(1) / ss
    theta = np.empty((len(p), 2, 3), np.float64)
    theta[:, 0, 0], theta[:, 0, 1] = a, -b
    theta[:, 1, 0], theta[:, 1, 1] = b, a
    theta[:, :, 2] = mp - np.einsum("nij,j->ni", theta[:, :, :2], mc)
    return theta


def box_theta(boxes: np.ndarray, box_in_crop: Any) -> np.ndarray:
    """(N, 2, 3) theta of the training-like crop around each (x, y, w, h) box, given where such a box sits in a
    crop: ``box_in_crop`` = (u0, v0, width, height) in unit coordinates."""
    u0, v0, bw, bh = (float(v) for v in box_in_crop)
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    cw, ch = b[:, 2] / bw, b[:, 3] / bh
    theta = np.zeros((len(b), 2, 3), np.float64)
    theta[:, 0, 0], theta[:, 0, 2] = cw, b[:, 0] - u0 * cw - 0.5
    theta[:, 1, 1], theta[:, 1, 2] = ch, b[:, 1] - v0 * ch - 0.5
    return theta


#: head roll (degrees) that the "roll" framing leaves as it is; beyond it a face is turned back to this roll
MAX_ROLL_DEG = 15.0


def eye_roll(landmarks: np.ndarray) -> np.ndarray:
    """(N,) head roll in radians from the eye line of (N, 5, 2) landmarks, relative to the canonical eye line."""
    p = np.asarray(landmarks, np.float64)
    c = canonical_landmarks()
    roll = np.arctan2(p[:, 1, 1] - p[:, 0, 1], p[:, 1, 0] - p[:, 0, 0])
    return roll - np.arctan2(c[1, 1] - c[0, 1], c[1, 0] - c[0, 0])


def rotate_theta(theta: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """``theta`` (N, 2, 3) turned by ``angle`` (N,) radians about the centre of each crop."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1)
    out = np.empty_like(theta)
    out[:, :, :2] = np.einsum("nij,njk->nik", rot, theta[:, :, :2])
    centre = np.einsum("nij,j->ni", theta[:, :, :2], [0.5, 0.5]) + theta[:, :, 2]
    out[:, :, 2] = centre - np.einsum("nij,j->ni", out[:, :, :2], [0.5, 0.5])
    return out


def check_framing(align: Any) -> str:
    """The framing named by ``align``: one of FRAMINGS (True is "landmarks" and False "box", as in 0.2.0)."""
    if isinstance(align, (bool, np.bool_)):
        return "landmarks" if align else "box"
    if align not in FRAMINGS:
        raise ValueError(f"align must be one of {', '.join(map(repr, FRAMINGS))} (or True/False), got {align!r}")
    return str(align)


class Aligner:
    """Crops for the network. ``framing``: "roll", "box" or "landmarks" (see the module docstring); faces without
    landmarks are always framed by their box. ``supersample``: sub-samples per axis when shrinking (0: per face)."""

    def __init__(self, supersample: int = 0, framing: Any = "roll") -> None:
        self.supersample = int(supersample)
        self.framing = check_framing(framing)

    def theta(self, det: Detections, framing: Any) -> np.ndarray:
        """The crop maps for ``det``, whose boxes sit in a training-like crop as ``framing`` says: (u0, v0, width,
        height), or a registered detector's name for its calibration (``detect.box_in_crop``)."""
        has_marks = det.landmarks is not None and len(det.landmarks) == len(det.boxes) and \
            det.landmarks.shape[1:] == (5, 2)
        if self.framing == "landmarks" and has_marks:
            return similarity_theta(det.landmarks)
        theta = box_theta(det.boxes, box_in_crop(framing))
        if self.framing == "roll" and has_marks:
            roll = eye_roll(det.landmarks)
            excess = np.sign(roll) * np.maximum(np.abs(roll) - np.deg2rad(MAX_ROLL_DEG), 0.0)
            theta = rotate_theta(theta, excess)
        return theta

    def crop(self, frame: np.ndarray, det: Detections, framing: Any) -> np.ndarray:
        """(N, 1, INPUT_SIZE, INPUT_SIZE) normalised crops of detected faces, framed like the training crops."""
        if len(det) == 0:
            return np.zeros((0, 1, INPUT_SIZE, INPUT_SIZE), np.float32)
        return crop_faces_affine(frame, self.theta(det, framing).astype(np.float32), self.supersample)

    def crop_uint8(self, frame: np.ndarray, det: Detections, framing: Any) -> np.ndarray:
        """(N, INPUT_SIZE, INPUT_SIZE) uint8: the crops of :meth:`crop` back in 0..255, as the network sees them."""
        return to_uint8(self.crop(frame, det, framing))

    def crop_boxes(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 1, INPUT_SIZE, INPUT_SIZE) normalised crops of the given boxes exactly as they are (predict_faces)."""
        return crop_faces(frame, boxes, self.supersample)
