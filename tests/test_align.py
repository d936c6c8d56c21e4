"""The three framings of runtime.align: box mapping, box turned by the head's roll, landmark alignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepemotion.runtime.align import (
    MAX_ROLL_DEG,
    Aligner,
    box_theta,
    calibration,
    canonical_landmarks,
    check_framing,
    eye_roll,
    similarity_theta,
)
from deepemotion.runtime.detect import Detections


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), tx], [scale * math.sin(a), scale * math.cos(a), ty]])


def _apply(theta: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ theta[:, :2].T + theta[:, 2]


def _face(angle_deg: float, scale: float = 120.0, centre=(300.0, 200.0)) -> Detections:
    """A face whose landmarks are the canonical ones under a known similarity, with a box around them."""
    c = canonical_landmarks()
    t = _similarity(scale, angle_deg, 0, 0)
    t[:, 2] = np.asarray(centre) - _apply(t, c.mean(0, keepdims=True))[0]
    marks = _apply(t, c)
    box = np.array([[centre[0] - 0.4 * scale, centre[1] - 0.45 * scale, 0.8 * scale, 0.9 * scale]])
    return Detections(box.astype(np.int32), np.ones(1, np.float32), marks[None].astype(np.float32))


def test_similarity_recovers_a_known_transform():
    t = _similarity(97.0, 23.0, 310.0, 145.0)
    marks = _apply(t, canonical_landmarks())[None]
    np.testing.assert_allclose(similarity_theta(marks)[0], t, atol=1e-9)


def test_eye_roll_measures_the_head_roll():
    for angle in (-50.0, -12.0, 0.0, 7.5, 33.0):
        assert math.degrees(eye_roll(_face(angle).landmarks)[0]) == pytest.approx(angle, abs=0.05)


def test_box_framing_puts_the_box_where_the_calibration_says():
    u0, v0, bw, bh = calibration()["box_in_crop"]["yunet"]
    box = np.array([[100.0, 50.0, 80.0, 96.0]])
    t = box_theta(box, (u0, v0, bw, bh))[0]
    # the calibrated box corners in crop units land on the box's corners in the frame (pixel centres)
    corners = np.array([[u0, v0], [u0 + bw, v0 + bh]])
    np.testing.assert_allclose(_apply(t, corners), [[99.5, 49.5], [179.5, 145.5]], atol=1e-9)


@pytest.mark.parametrize("angle", [-40.0, -10.0, 0.0, 14.0, 40.0, 70.0])
def test_roll_framing_turns_only_the_roll_beyond_the_limit(angle):
    det = _face(angle)
    box_t = Aligner(framing="box").theta(det, "yunet")[0]
    roll_t = Aligner(framing="roll").theta(det, "yunet")[0]
    turned = math.degrees(math.atan2(roll_t[1, 0], roll_t[0, 0]))
    expected = math.copysign(max(abs(angle) - MAX_ROLL_DEG, 0.0), angle)
    assert turned == pytest.approx(expected, abs=1e-3)  # landmarks are float32
    # the turn is about the crop's centre, and keeps the box framing's scale
    centre = np.array([[0.5, 0.5]])
    np.testing.assert_allclose(_apply(roll_t, centre), _apply(box_t, centre), atol=1e-9)
    assert np.hypot(roll_t[0, 0], roll_t[1, 0]) == pytest.approx(box_t[0, 0], rel=1e-9)
    if abs(angle) <= MAX_ROLL_DEG:
        np.testing.assert_allclose(roll_t, box_t, atol=1e-12)


def test_landmark_framing_and_faces_without_landmarks():
    det = _face(25.0)
    np.testing.assert_allclose(Aligner(framing="landmarks").theta(det, "yunet"), similarity_theta(det.landmarks))
    no_marks = Detections(det.boxes, det.scores)
    for framing in ("roll", "landmarks", "box"):
        np.testing.assert_allclose(
            Aligner(framing=framing).theta(no_marks, "haar"), box_theta(det.boxes, calibration()["box_in_crop"]["haar"])
        )


def test_framing_names():
    assert check_framing(True) == "landmarks" and check_framing(False) == "box"
    assert [check_framing(f) for f in ("roll", "box", "landmarks")] == ["roll", "box", "landmarks"]
    for bad in ("aligned", None, 1, ""):
        with pytest.raises(ValueError, match="align must be one of"):
            check_framing(bad)


def test_recognizer_rejects_an_unknown_framing():
    from deepemotion import Recognizer

    with pytest.raises(ValueError, match="align must be one of"):
        Recognizer(detector=None, align="upright")


def test_roll_framing_turns_a_rolled_face_in_a_real_photo_back():
    """The example photo's face turned by 40 degrees: the "roll" crop of the face YuNet finds there is closer to the
    box crop of the upright face than the plain box crop is (YuNet's landmarks under-state a large roll, so only
    part of it is turned back), and landmark alignment closer still."""
    import cv2

    from _helpers import example_frame, require_yunet
    from deepemotion.runtime.detect import YuNetDetector

    detector = YuNetDetector(model_path=require_yunet())
    face = cv2.resize(example_frame()[40:220, 140:310], None, fx=2, fy=2)
    ref = Aligner(framing="box").crop(face, detector.detect(face), "yunet")[0, 0]
    h, w = face.shape[:2]
    turned = cv2.warpAffine(
        face, cv2.getRotationMatrix2D((w / 2, h / 2), 40, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE
    )
    det = detector.detect(turned)
    assert len(det) == 1
    assert math.degrees(eye_roll(det.landmarks)[0]) < -MAX_ROLL_DEG
    err = {
        f: float(np.abs(Aligner(framing=f).crop(turned, det, "yunet")[0, 0] - ref).mean())
        for f in ("box", "roll", "landmarks")
    }
    assert err["landmarks"] < err["roll"] < err["box"], err


def _numpy_reference_theta(det: Detections, framing: str, box_in_crop) -> np.ndarray:
    """The framing written out with numpy, independently of the C++ geometry the package calls."""
    u0, v0, bw, bh = box_in_crop
    b = det.boxes.astype(np.float64)
    cw, ch = b[:, 2] / bw, b[:, 3] / bh
    theta = np.zeros((len(b), 2, 3))
    theta[:, 0, 0], theta[:, 0, 2] = cw, b[:, 0] - u0 * cw - 0.5
    theta[:, 1, 1], theta[:, 1, 2] = ch, b[:, 1] - v0 * ch - 0.5
    p, c = det.landmarks.astype(np.float64), canonical_landmarks()
    if framing == "landmarks":
        mc, mp = c.mean(0), p.mean(1)
        cc, pc = c - mc, p - mp[:, None]
        ss = (cc**2).sum()
        a = (cc[None, :, 0] * pc[..., 0] + cc[None, :, 1] * pc[..., 1]).sum(1) / ss
        bb = (cc[None, :, 0] * pc[..., 1] - cc[None, :, 1] * pc[..., 0]).sum(1) / ss
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = a, -bb, bb, a
        theta[:, :, 2] = mp - np.einsum("nij,j->ni", theta[:, :, :2], mc)
        return theta
    if framing == "roll":
        roll = np.arctan2(p[:, 1, 1] - p[:, 0, 1], p[:, 1, 0] - p[:, 0, 0]) - np.arctan2(
            c[1, 1] - c[0, 1], c[1, 0] - c[0, 0]
        )
        ang = np.sign(roll) * np.maximum(np.abs(roll) - np.deg2rad(MAX_ROLL_DEG), 0.0)
        co, si = np.cos(ang), np.sin(ang)
        rot = np.stack([np.stack([co, -si], -1), np.stack([si, co], -1)], 1)
        out = np.empty_like(theta)
        out[:, :, :2] = np.einsum("nij,njk->nik", rot, theta[:, :, :2])
        centre = theta[:, :, :2].sum(2) * 0.5 + theta[:, :, 2]
        out[:, :, 2] = centre - out[:, :, :2].sum(2) * 0.5
        return out
    return theta


@pytest.mark.parametrize("framing", ["roll", "box", "landmarks"])
def test_the_cpp_geometry_matches_a_numpy_reference(framing):
    """Python's framing is the C++ geometry (csrc/sdk/frame.cpp, also the C++ Recognizer's): on 500 random faces
    it gives the float32 thetas of the formulas written out with numpy."""
    rng = np.random.default_rng(0)
    boxes = rng.integers(0, 600, (500, 4)).astype(np.int32)
    boxes[:, 2:] += 20
    marks = boxes[:, None, :2] + canonical_landmarks()[None] * boxes[:, None, 2:] + rng.normal(0, 8, (500, 5, 2))
    det = Detections(boxes, np.ones(500, np.float32), marks.astype(np.float32))
    got = Aligner(framing=framing).theta(det, "yunet")
    want = _numpy_reference_theta(det, framing, calibration()["box_in_crop"]["yunet"])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert (got.astype(np.float32) != want.astype(np.float32)).sum() <= 3  # the crop op takes float32


def test_the_geometry_bindings_refuse_bad_shapes():
    from deepemotion._ext import assert_has_ext

    ext = assert_has_ext()
    with pytest.raises(ValueError, match="landmarks must have shape"):
        ext.face_thetas(np.zeros((2, 4)), np.zeros((2, 4, 2)), "roll", np.ones(4), canonical_landmarks())
    with pytest.raises(ValueError, match="framing must be one of"):
        ext.face_thetas(np.zeros((2, 4)), None, "upright", np.ones(4), canonical_landmarks())
    with pytest.raises(TypeError, match="must be float64"):
        ext.box_thetas(np.zeros((2, 4), np.int32), np.ones(4))
