"""One contract for every registered detector: registering a detector is how it gets tested (skipping with its own
reason where it cannot run here). It finds the example face, its boxes are int32 and inside the frame, it gives the
same answer twice and to 8 threads at once, a frame without faces is no error, bad input is a typed error, and it
has a crop calibration."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import example_frame, same_in_threads
from deepemotion import Recognizer
from deepemotion.runtime.detect import DETECTORS, Detections, box_in_crop, create_detector, detector_registry, entry_of
from deepemotion.runtime.download import ModelUnavailable

FACE = (178, 63, 90, 114)  # the example photo's face as YuNet frames it


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = max(0, min(ax1, bx1) - max(a[0], b[0])), max(0, min(ay1, by1) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


@pytest.fixture(params=DETECTORS)
def detector(request: pytest.FixtureRequest):
    try:
        return create_detector(request.param)
    except (ModelUnavailable, OSError, ValueError) as exc:
        pytest.skip(f"{request.param}: {exc}")


def test_finds_the_example_face_with_valid_detections(detector):
    frame = example_frame()
    det = detector.detect(frame)
    entry = entry_of(detector)
    assert isinstance(det, Detections) and det.boxes.dtype == np.int32 and det.boxes.shape == (len(det), 4)
    h, w = frame.shape[:2]
    b = det.boxes
    assert (
        (b[:, 0] >= 0)
        & (b[:, 1] >= 0)
        & (b[:, 2] > 0)
        & (b[:, 3] > 0)
        & (b[:, 0] + b[:, 2] <= w)
        & (b[:, 1] + b[:, 3] <= h)
    ).all()
    assert len(det) == 1 and iou(b[0], FACE) > 0.5
    assert (det.landmarks is not None) == entry.landmarks
    if det.landmarks is not None:
        assert det.landmarks.shape == (1, 5, 2)


def test_same_answer_twice_and_none_in_a_blank_frame(detector):
    frame = example_frame()
    a, b = detector.detect(frame), detector.detect(frame)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert len(detector.detect(np.full((240, 320, 3), 127, np.uint8))) == 0


def test_eight_threads_get_the_sequential_answers(detector):
    frames = [np.ascontiguousarray(np.roll(example_frame(), 16 * k, axis=1)) for k in range(8)]
    expected = [detector.detect(f).boxes for f in frames]
    same_in_threads(lambda k: detector.detect(frames[k]).boxes, expected, repeats=3, atol=0)


def test_bad_input_is_a_typed_error(detector):
    rec = Recognizer(detector=detector)
    with pytest.raises(TypeError):
        rec.detect("frame")
    with pytest.raises(ValueError):
        rec.detect(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError):
        rec.detect(np.zeros((0, 10, 3), np.uint8))


def test_has_a_crop_calibration(detector):
    entry = entry_of(detector)
    assert entry is not None and entry.name in detector_registry()
    assert box_in_crop(detector.box_in_crop) == box_in_crop(entry.name)
    assert entry.needs and entry.description
