"""The Recognizer: frames in, per-face emotions out.

    from deepemotion import Recognizer
    rec = Recognizer()                  # bundled model, backend="auto", detector="auto" (YuNet, else Haar)
    for face in rec.predict(frame):     # frame: HxWx3 uint8 BGR (OpenCV order) or HxW gray
        print(face.box, face.label, face.score)

A thin composition of the stages, each in its own module: input checks (`inputs.py`), detection + framing
(`finder.py`: a detector from `detect/`, its crop calibration and the aligner, one C++ crop call for all faces of
a frame), classification (`classify.py`: a backend from `backends/`, `max_batch` faces per call), tracking +
smoothing (`tracking.py`), the threaded video loop (`stream.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._ext import assert_has_ext
from ..labels import CLASSES, NUM_CLASSES
from .align import Aligner
from .assets import bundled_model, is_bundled_name
from .backends import Backend, chunks, create_backend
from .classify import DEFAULT_MAX_BATCH, Classifier, check_batch
from .detect import Detections, create_detector, entry_of
from .finder import FaceFinder
from .inputs import check_image, check_options
from .tracking import Tracker


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    label: str  # most likely class
    score: float  # its probability (calibrated: of faces scored p, about p are right)
    probs: np.ndarray = field(repr=False)  # (7,) probabilities in CLASSES order, sum 1
    track_id: int | None = None  # stable across frames of one video (None for single images)
    landmarks: np.ndarray | None = field(default=None, repr=False)  # (5, 2) frame pixels, when the detector gives them

    @property
    def class_id(self) -> int:
        return CLASSES.index(self.label)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "box": list(self.box),
            "label": self.label,
            "score": round(float(self.score), 6),
            "probs": {c: round(float(p), 6) for c, p in zip(CLASSES, self.probs)},
        }
        if self.track_id is not None:
            d["track_id"] = int(self.track_id)
        return d


def make_faces(
    boxes: np.ndarray, probs: np.ndarray, track_ids: np.ndarray | None = None, landmarks: np.ndarray | None = None
) -> list[Face]:
    idx = probs.argmax(1)
    scores = probs[np.arange(len(idx)), idx]
    box_list = np.asarray(boxes, np.int64).tolist()
    return [
        Face(
            tuple(box_list[i]),
            CLASSES[idx[i]],
            float(scores[i]),
            probs[i],
            None if track_ids is None else int(track_ids[i]),
            None if landmarks is None else landmarks[i],
        )
        for i in range(len(box_list))
    ]


class Recognizer:
    """Facial-expression recognizer.

    Args:
        model: None or "default" for the bundled default model, "tiny" for the bundled tiny model, or a
            path (.onnx; a .pt checkpoint with backend="torch"; a TensorRT .engine with backend="tensorrt").
        backend: "auto" or a name from `deepemotion.BACKENDS`, or a Backend object. "auto" picks by what each
            backend declares: ONNX Runtime's CUDA provider where onnxruntime-gpu and a GPU are present, else the
            CPU graph the bundled model recommends (its calibrated INT8 graph when it met the accuracy bar and was
            faster, else FP32).
        detector: "auto" (YuNet if its model file is available, else Haar with one warning), a name from
            `deepemotion.DETECTORS`, None (then pass boxes= to predict), or an object with `detect(frame)` that
            declares `box_in_crop` (how its boxes frame a face: see `deepemotion.runtime.detect`).
        detector_model: path of the YuNet ONNX file (default: $DEEPEMOTION_YUNET, the cache, or a download).
        min_face: smallest face side in pixels for the built-in detectors.
        smoothing: 0..1, exponential moving average of each tracked face's probabilities across calls. For video.
        align: how a detected face is framed for the network: "roll" (the box, turned upright when the landmarks
            show a head roll beyond 15 degrees), "box", or "landmarks" (a similarity transform from YuNet's five
            points); see `deepemotion.runtime.align`. True/False mean "landmarks"/"box".
        supersample: sub-samples per axis when a crop shrinks a large face ("auto": per face, about its size / 48).
        device: None, "cpu" or "cuda" for backends that have both ("cpu" also keeps "auto" on the CPU).
        max_batch: faces per backend call (larger batches are cut into chunks; an engine's profile may lower it).
        **backend_options: passed to the backend (e.g. `threads=`, `spinning=` for ONNX Runtime; `url=`,
            `timeout=` for Triton).

    Thread safety: one Recognizer may be shared by threads; every stage is thread-safe (detectors and the tracker
    hold locks, backends are re-entrant or lock; the contract tests check 8 threads). With smoothing on, calls
    from several threads interleave into one track history, so use one instance per video stream.
    """

    def __init__(
        self,
        model: Any = None,
        backend: Any = "auto",
        detector: Any = "auto",
        min_face: int = 40,
        smoothing: float = 0.0,
        supersample: int | str = "auto",
        device: str | None = None,
        detector_model: str | os.PathLike[str] | None = None,
        align: str | bool = "roll",
        max_batch: int = DEFAULT_MAX_BATCH,
        **backend_options: Any,
    ) -> None:
        assert_has_ext()
        check_options(supersample=supersample, max_batch=max_batch, device=device, min_face=min_face)
        self.detector = create_detector(detector, int(min_face), detector_model)
        entry = entry_of(self.detector)
        # ONNX Runtime's idle threads spin after a run (its default): back-to-back calls get faster, but a detector
        # that runs OpenCV's own threads next (Haar: 38 -> 51 ms per frame on the 2-core CPU) loses the cores.
        idle = entry is not None and entry.slowed_by_spinning
        self.backend: Backend = create_backend(backend, model, device, idle_threads=idle, **backend_options)
        self.model_name = bundled_model(model).name if is_bundled_name(model) else str(model)
        self.aligner = Aligner(supersample=0 if supersample == "auto" else int(supersample), framing=align)
        self.finder = FaceFinder(self.detector, self.aligner)
        self.classifier = Classifier(self.backend, max_batch)
        self.tracker = Tracker(smoothing)

    # -- knobs ----------------------------------------------------------------------------------
    @property
    def smoothing(self) -> float:
        return self.tracker.smoothing

    @smoothing.setter
    def smoothing(self, value: float) -> None:
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {value}")
        self.tracker.smoothing = float(value)

    @property
    def max_batch(self) -> int:
        return self.classifier.max_batch

    @property
    def detector_name(self) -> str:
        """Which detector runs: "yunet", "haar", "none" or the class name of a custom detector."""
        return self.finder.name

    @property
    def framing(self) -> str:
        """How detected faces are framed: "roll", "box" or "landmarks" (`align=`)."""
        return self.aligner.framing

    def model_info(self) -> dict[str, Any] | None:
        """The bundled model's metadata (None for a model file)."""
        if is_bundled_name(self.model_name):
            return bundled_model(self.model_name).metadata()
        return None

    # -- frames ---------------------------------------------------------------------------------
    def predict(self, frame: np.ndarray, boxes: Any = None) -> list[Face]:
        """Faces in a frame with their emotions. `boxes`: (N, 4) x, y, w, h to skip detection."""
        frame = check_image(frame)
        det, framing = self.finder.find(frame, boxes)
        probs = self.probs(frame, det, framing)
        track_ids = None
        if self.tracker.smoothing:
            track_ids, probs = self.tracker.update(det.boxes, probs)
        return make_faces(det.boxes, probs, track_ids, det.landmarks)

    def track(self, frame: np.ndarray, boxes: Any = None) -> list[Face]:
        """Like `predict`, for consecutive video frames: every face gets a track id that stays the
        same across frames, and its probabilities are smoothed when `smoothing` > 0."""
        frame = check_image(frame)
        det, framing = self.finder.find(frame, boxes)
        return self.classify_detections(frame, det, framing)

    def detect(self, frame: np.ndarray) -> Detections:
        """The detector's faces in a frame, as `Detections` (checked)."""
        return self.finder.detect(check_image(frame))

    def crops(self, frame: np.ndarray, det: Detections) -> np.ndarray:
        """(N, 1, 48, 48) network input of detected faces, framed as this Recognizer frames them."""
        return self.finder.crops(check_image(frame), det)

    def probs(
        self, frame: np.ndarray, det: Detections, framing: Any = None, backend: Backend | None = None
    ) -> np.ndarray:
        """(N, 7) probabilities of the faces `det` in a checked frame: cropped and classified `max_batch` at a
        time (`framing`: a box calibration, by default the detector's; `backend`: another of the same model)."""
        if len(det) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        parts = [
            self.classifier(self.finder.crops(frame, det.take(s), framing), backend)
            for s in chunks(len(det), self.max_batch)
        ]
        return np.concatenate(parts)

    def classify_detections(
        self, frame: np.ndarray, det: Detections, framing: Any = None, backend: Backend | None = None
    ) -> list[Face]:
        """Crop + classify + track `det`'s faces in a checked frame: the last stage of a video frame (the stream
        runs it with its pipeline twin as `backend`)."""
        probs = self.probs(frame, det, framing, backend)
        track_ids, probs = self.tracker.update(det.boxes, probs)
        return make_faces(det.boxes, probs, track_ids, det.landmarks)

    # -- faces ----------------------------------------------------------------------------------
    def predict_faces(self, crops: Any) -> list[Face]:
        """Emotions of already-cropped faces, each resized to 48x48. `crops`: a list of images
        (any sizes, gray or BGR), one image (HxW or HxWx3), or a batch array N x H x W (gray) or
        N x H x W x 3 (BGR). Each Face's box is its whole crop."""
        boxes, probs = [], []
        for b, batch in self.finder.whole_crops(crops, self.max_batch):
            boxes.append(b)
            probs.append(self.classifier(batch))
        if not boxes:
            return []
        if len(boxes) == 1:  # one chunk (up to max_batch faces): nothing to join
            return make_faces(boxes[0], probs[0])
        return make_faces(np.concatenate(boxes), np.concatenate(probs))

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) for a normalised (N, 1, 48, 48) float32 batch."""
        return self.classifier(check_batch(batch))

    # -- video ----------------------------------------------------------------------------------
    def stream(self, source: Any, **kw: Any) -> Iterator[Any]:
        """Per-frame results of a camera index, video file or iterable of frames, with capture, detection
        and classification overlapped in threads (see `deepemotion.runtime.stream`). The tracks start
        afresh (as after `reset`)."""
        from .stream import stream

        return stream(self, source, **kw)

    def reset(self) -> None:
        """Forget the tracks and the smoothing history (e.g. at a scene cut or a new video)."""
        self.tracker.reset()


def predict_probs(model: Any, images: Any, backend: Any = "auto") -> tuple[np.ndarray, str]:
    """(probabilities (N, 7), the backend's name) of faces (an (N, H, W) uint8 array or a list of crops) as
    `Recognizer.predict_faces` returns them."""
    rec = Recognizer(model=model, backend=backend, detector=None)
    return faces_probs(rec, images), rec.backend.name


def faces_probs(rec: Recognizer, images: Any) -> np.ndarray:
    """(N, 7) probabilities of faces (an (N, H, W) uint8 array or a list of crops) through `rec.predict_faces`."""
    faces = rec.predict_faces(images)
    return np.stack([f.probs for f in faces]) if faces else np.zeros((0, NUM_CLASSES), np.float32)
