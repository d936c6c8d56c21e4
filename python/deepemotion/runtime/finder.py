"""Detection and framing: where the faces of a frame are, and how each is cropped for the network (the detector,
its declared crop calibration and the aligner together). `Recognizer` holds one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..labels import INPUT_SIZE
from .align import Aligner
from .backends.base import chunks
from .detect import GIVEN_BOXES_FRAMING, Detections, box_in_crop, checked_detections, detector_framing
from .inputs import check_boxes, check_image, normalise_faces

#: what `detect` (and `find` without boxes) says when the Recognizer was made with detector=None
NO_DETECTOR = "this Recognizer has no detector (detector=None): pass boxes="


class FaceFinder:
    """`detector` (or None: boxes must be given) and `aligner`. Each detector's boxes are framed with its own
    calibration (`box_in_crop`); boxes given by the caller with `GIVEN_BOXES_FRAMING`'s."""

    def __init__(self, detector: Any, aligner: Aligner) -> None:
        self.detector = detector
        self.aligner = aligner
        self.box_in_crop = detector_framing(detector) if detector is not None else None
        self.given_box_in_crop = box_in_crop(GIVEN_BOXES_FRAMING)

    @property
    def name(self) -> str:
        """Which detector runs: its registered name, "none", or the class name of a custom detector."""
        if self.detector is None:
            return "none"
        return str(getattr(self.detector, "name", type(self.detector).__name__))

    def detect(self, frame: np.ndarray) -> Detections:
        """The detector's faces in a checked frame, checked in turn (a custom detector's output is not trusted)."""
        if self.detector is None:
            raise ValueError(NO_DETECTOR)
        return checked_detections(self.detector.detect(frame), frame.shape, f"detector {self.name}")

    def find(self, frame: np.ndarray, boxes: Any = None) -> tuple[Detections, tuple[float, ...]]:
        """(the faces, how their boxes frame a face): detected, or the caller's `boxes` checked."""
        if boxes is not None:
            return Detections(check_boxes(boxes, frame.shape)), self.given_box_in_crop
        if self.box_in_crop is None:
            raise ValueError(NO_DETECTOR)
        return self.detect(frame), self.box_in_crop

    def crops(self, frame: np.ndarray, det: Detections, framing: Any = None) -> np.ndarray:
        """(N, 1, 48, 48) network input of `det`'s faces, framed like the training crops (`framing`: a box
        calibration, by default the detector's)."""
        return self.aligner.crop(frame, det, self.box_in_crop if framing is None else framing)

    def whole_crops(self, crops: Any, max_batch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(boxes, network input) per chunk of already-cropped faces (`predict_faces`), each crop taken whole."""
        from .inputs import split_crops

        if (
            isinstance(crops, np.ndarray)
            and crops.dtype == np.uint8
            and crops.ndim == 3
            and crops.shape[1:] == (INPUT_SIZE, INPUT_SIZE)
            and 0 < len(crops) <= max_batch
        ):
            # the usual batch: gray network-sized faces, one chunk -- what the loop below does for it, without the loop
            boxes = np.zeros((len(crops), 4), np.int32)
            boxes[:, 2:] = INPUT_SIZE
            yield boxes, normalise_faces(crops)
            return
        items = split_crops(crops)
        for part in chunks(len(items), max_batch):
            chunk, s = items[part], part.start
            if isinstance(chunk, np.ndarray):
                m, h, w = chunk.shape[:3]
                tall = check_image(chunk.reshape((m * h, w) + chunk.shape[3:]), "crops")
                boxes = np.zeros((m, 4), np.int32)
                boxes[:, 2], boxes[:, 3] = w, h
                if tall.ndim == 2 and (h, w) == (INPUT_SIZE, INPUT_SIZE):
                    yield boxes, normalise_faces(tall.reshape(m, h, w))  # gray, network-sized: nothing to resample
                    continue
                # a uniform batch is one tall frame with stacked boxes: one C++ call, no bleeding between crops
                # (sampling clamps to each box)
                stacked = boxes.copy()
                stacked[:, 1] = np.arange(m) * h
                yield boxes, self.aligner.crop_boxes(tall, stacked)
            else:
                imgs = [check_image(c, f"crop {s + i}") for i, c in enumerate(chunk)]
                full = [np.array([[0, 0, im.shape[1], im.shape[0]]], np.int32) for im in imgs]
                # a gray network-sized face in a list is taken as it is, as in an array (one face, one answer: the
                # sampler's float rounding moved the INT8 graph's input quantization on a few faces)
                yield (
                    np.concatenate(full),
                    np.concatenate(
                        [
                            normalise_faces(im[None])
                            if im.shape == (INPUT_SIZE, INPUT_SIZE)
                            else self.aligner.crop_boxes(im, b)
                            for im, b in zip(imgs, full)
                        ]
                    ),
                )
