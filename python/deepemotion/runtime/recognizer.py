"""The Recognizer: frames in, per-face emotions out.

    from deepemotion import Recognizer
    rec = Recognizer()                  # bundled model, backend="auto", detector="auto" (YuNet, else Haar)
    for face in rec.predict(frame):     # frame: HxWx3 uint8 BGR (OpenCV order) or HxW gray
        print(face.box, face.label, face.score)

The stages, each in its own module: detect (``detect/``), align + crop (``align.py``, one C++ call for
all faces of a frame), classify (a backend from ``backends/``, in chunks of ``max_batch`` faces so
memory does not grow with the number of faces), track + smooth (``tracking.py``).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._ext import assert_has_ext
from ..labels import CLASSES, INPUT_SIZE, NUM_CLASSES
from .align import Aligner
from .assets import bundled_model, is_bundled_name
from .backends import Backend, check_logits, create_backend
from .backends.onnxruntime import SPINNING_BACKENDS
from .detect import Detections, Detector, HaarDetector, YuNetDetector
from .inputs import check_boxes, check_image, split_crops
from .tracking import Tracker

#: faces cropped and classified per backend call; memory per call is bounded by this, not by the face count
DEFAULT_MAX_BATCH = 256


@dataclass
class Face:
    box: tuple[int, int, int, int]   # x, y, w, h in frame pixels
    label: str                       # most likely class
    score: float                     # its probability
    probs: np.ndarray = field(repr=False)  # (7,) probabilities in CLASSES order, sum 1
    track_id: int | None = None      # stable across frames of one video (None for single images)
    landmarks: np.ndarray | None = field(default=None, repr=False)  # (5, 2) frame pixels, when the detector gives them

    @property
    def class_id(self) -> int:
        return CLASSES.index(self.label)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"box": list(self.box), "label": self.label, "score": round(float(self.score), 6),
                             "probs": {c: round(float(p), 6) for c, p in zip(CLASSES, self.probs)}}
        if self.track_id is not None:
            d["track_id"] = int(self.track_id)
        return d


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def make_detector(detector: Any, min_face: int, detector_model: str | os.PathLike[str] | None) -> Detector | None:
    """``auto``: YuNet when its model file is available (given, cached or downloadable), else Haar with one
    warning saying how to get YuNet; ``yunet``/``haar`` by name; None; or any object with ``detect``."""
    from .download import ModelUnavailable

    if detector == "auto":
        from .backends import BackendUnavailable

        try:
            return YuNetDetector(detector_model, min_face=min_face)
        except (ModelUnavailable, BackendUnavailable, ValueError, OSError) as exc:  # any reason YuNet cannot run
            warnings.warn(f"deepemotion: using the Haar face detector, which finds fewer faces: {exc}",
                          RuntimeWarning, stacklevel=3)
            return HaarDetector(min_face=min_face)
    if detector == "yunet":
        return YuNetDetector(detector_model, min_face=min_face)
    if detector == "haar":
        return HaarDetector(min_face=min_face)
    if detector is None:
        return None
    if isinstance(detector, str):
        raise ValueError(f"unknown detector {detector!r}: use 'auto', 'yunet', 'haar', None, or a Detector object")
    if not isinstance(detector, Detector):
        raise TypeError("detector must have a detect(frame) method returning (N, 4) boxes or Detections")
    return detector


class Recognizer:
    """Facial-expression recognizer.

    Args:
        model: None or "default" for the bundled default model, "tiny" for the bundled tiny model, or a
            path (.onnx; a .pt checkpoint with backend="torch"; a TensorRT .engine with backend="tensorrt").
        backend: "auto" (ONNX Runtime: CUDA provider when present, else CPU) or a name from
            ``deepemotion.runtime.backends.BACKENDS``, or a Backend object.
        detector: "auto" (YuNet if its model file is available, else Haar), "yunet", "haar", None (then
            pass boxes= to predict), or any object with ``detect(frame)``.
        detector_model: path of the YuNet ONNX file (default: $DEEPEMOTION_YUNET, the cache, or a download).
        min_face: smallest face side in pixels for the built-in detectors.
        smoothing: 0..1, exponential moving average of each tracked face's probabilities across calls. For video.
        align: how a detected face is framed for the network: "roll" (the box, turned upright when the landmarks
            show a head roll beyond 15 degrees), "box", or "landmarks" (a similarity transform from YuNet's five
            points); see ``deepemotion.runtime.align``. True/False mean "landmarks"/"box".
        max_batch: faces per backend call (larger batches are cut into chunks).

    Thread safety: one Recognizer may be shared by threads; every stage is thread-safe (detectors and
    the tracker hold locks, backends are re-entrant or lock). With smoothing on, calls from several
    threads interleave into one track history, so use one instance per video stream.
    """

    def __init__(self, model: Any = None, backend: Any = "auto", detector: Any = "auto", min_face: int = 40,
                 smoothing: float = 0.0, supersample: int | str = "auto", device: str | None = None,
                 detector_model: str | os.PathLike[str] | None = None, align: str | bool = "roll",
                 max_batch: int = DEFAULT_MAX_BATCH, **backend_options: Any) -> None:
        assert_has_ext()
        if supersample != "auto" and not (isinstance(supersample, int) and 1 <= supersample <= 16):
            raise ValueError(f"supersample must be 'auto' or an int in 1..16, got {supersample!r}")
        if not isinstance(max_batch, int) or not 1 <= max_batch <= 65536:
            raise ValueError(f"max_batch must be an int in 1..65536, got {max_batch!r}")
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda', got {device!r}")
        if isinstance(min_face, bool) or not isinstance(min_face, (int, np.integer)) or min_face < 1:
            raise ValueError(f"min_face must be a positive int, got {min_face!r}")
        self.detector = make_detector(detector, int(min_face), detector_model)
        if self.detector_name == "haar" and (backend == "auto" or backend in SPINNING_BACKENDS):
            # ONNX Runtime's idle threads spin after a run (its default): back-to-back calls get faster (one face
            # per call: 0.43 -> 0.33 ms on the 2-core CPU), but the spinning threads take the cores from OpenCV's
            # Haar cascade that runs next in predict() (38 -> 51 ms per frame). YuNet runs in ONNX Runtime itself
            # and is not slowed (6.7 -> 6.5 ms), so only the Haar detector turns spinning off.
            backend_options.setdefault("spinning", False)
        self.backend: Backend = create_backend(backend, model, device, **backend_options)
        self.model_name = bundled_model(model).name if is_bundled_name(model) else str(model)
        self.tracker = Tracker(smoothing)
        self.aligner = Aligner(supersample=0 if supersample == "auto" else int(supersample), framing=align)
        self.max_batch = min(max_batch, getattr(self.backend, "max_batch", max_batch) or max_batch)

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
    def detector_name(self) -> str:
        """Which detector runs: "yunet", "haar", "none" or the class name of a custom detector."""
        if self.detector is None:
            return "none"
        return getattr(self.detector, "name", type(self.detector).__name__)

    @property
    def framing(self) -> str:
        """How detected faces are framed: "roll", "box" or "landmarks" (``align=``)."""
        return self.aligner.framing

    def model_info(self) -> dict[str, Any] | None:
        """The bundled model's metadata (None for a model file)."""
        if self.model_name in ("default", "tiny"):
            return bundled_model(self.model_name).metadata()
        return None

    # -- public API ---------------------------------------------------------------------------
    def predict(self, frame: np.ndarray, boxes: Any = None) -> list[Face]:
        """Faces in a frame with their emotions. ``boxes``: (N, 4) x, y, w, h to skip detection."""
        frame = check_image(frame)
        det, source = self._detections(frame, boxes)
        if len(det) == 0:
            if self.tracker.smoothing:
                self.tracker.update(det.boxes, np.zeros((0, NUM_CLASSES), np.float32))
            return []
        probs = self._probs(frame, det, source)
        track_ids = None
        if self.tracker.smoothing:
            track_ids, probs = self.tracker.update(det.boxes, probs)
        return self._faces(det.boxes, probs, track_ids, det.landmarks)

    def track(self, frame: np.ndarray, boxes: Any = None) -> list[Face]:
        """Like :meth:`predict`, for consecutive video frames: every face gets a track id that stays the
        same across frames, and its probabilities are smoothed when ``smoothing`` > 0."""
        frame = check_image(frame)
        det, source = self._detections(frame, boxes)
        return self._classify_detections(frame, det, source)

    def _detections(self, frame: np.ndarray, boxes: Any) -> tuple[Detections, str]:
        if boxes is None:
            return self.detect(frame), self.detector_name
        return Detections(check_boxes(boxes, frame.shape)), "given"

    def _probs(self, frame: np.ndarray, det: Detections, source: str, backend: Backend | None = None) -> np.ndarray:
        """Crop (framed like the training crops) and classify, max_batch faces at a time."""
        if len(det) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        chunks = (det.take(slice(i, i + self.max_batch)) for i in range(0, len(det), self.max_batch))
        return np.concatenate([self._classify(self.aligner.crop(frame, d, source), backend) for d in chunks])

    def _classify_detections(self, frame: np.ndarray, det: Detections, source: str | None = None,
                             backend: Backend | None = None) -> list[Face]:
        """Crop + classify + track: the last stage of a video frame (frame already checked); ``backend``: another
        backend of the same model (the stream's pipeline twin)."""
        probs = self._probs(frame, det, self.detector_name if source is None else source, backend)
        track_ids, probs = self.tracker.update(det.boxes, probs)
        return self._faces(det.boxes, probs, track_ids, det.landmarks)

    def detect(self, frame: np.ndarray) -> Detections:
        """The detector's faces in a checked frame, as :class:`Detections`."""
        if self.detector is None:
            raise ValueError("this Recognizer has no detector (detector=None): pass boxes=")
        found = self.detector.detect(frame)
        if isinstance(found, Detections):
            return found
        return Detections(check_boxes(found, frame.shape))

    def predict_faces(self, crops: Any) -> list[Face]:
        """Emotions of already-cropped faces, each resized to 48x48. ``crops``: a list of images
        (any sizes, gray or BGR), one image (HxW or HxWx3), or a batch array N x H x W (gray) or
        N x H x W x 3 (BGR). Each Face's box is its whole crop."""
        items = split_crops(crops)
        n = len(items)
        if n == 0:
            return []
        boxes, probs = [], []
        for s in range(0, n, self.max_batch):
            chunk = items[s:s + self.max_batch]
            if isinstance(chunk, np.ndarray):
                # a uniform batch is one tall frame with stacked boxes: one C++ call, no bleeding
                # between crops (sampling clamps to each box)
                m, h, w = chunk.shape[:3]
                tall = check_image(chunk.reshape((m * h, w) + chunk.shape[3:]), "crops")
                stacked = np.stack([np.zeros(m), np.arange(m) * h, np.full(m, w), np.full(m, h)], 1).astype(np.int32)
                batch = self.aligner.crop_boxes(tall, stacked)
                boxes.append(np.tile(np.array([[0, 0, w, h]], np.int32), (m, 1)))
            else:
                imgs = [check_image(c, f"crop {s + i}") for i, c in enumerate(chunk)]
                full = [np.array([[0, 0, im.shape[1], im.shape[0]]], np.int32) for im in imgs]
                batch = np.concatenate([self.aligner.crop_boxes(im, b) for im, b in zip(imgs, full)])
                boxes.append(np.concatenate(full))
            probs.append(self.classify(batch))
        return self._faces(np.concatenate(boxes), np.concatenate(probs))

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) for a normalised (N, 1, 48, 48) float32 batch."""
        if not isinstance(batch, np.ndarray):
            raise TypeError(f"batch must be a numpy.ndarray, got {type(batch).__name__}")
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:] != (1, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"batch must be float32 (N, 1, {INPUT_SIZE}, {INPUT_SIZE}), got {batch.dtype} "
                             f"{batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        if not np.isfinite(batch).all():
            raise ValueError("batch contains NaN or infinite values")
        return self._classify(batch)

    def _classify(self, batch: np.ndarray, backend: Backend | None = None) -> np.ndarray:
        """classify() on a checked batch."""
        backend = self.backend if backend is None else backend
        out = []
        for s in range(0, len(batch), self.max_batch):
            x = np.ascontiguousarray(batch[s:s + self.max_batch])
            logits = check_logits(backend.run(x), len(x), f"backend {backend.name}")
            out.append(softmax(logits.astype(np.float64)).astype(np.float32))
        return np.concatenate(out)

    def stream(self, source: Any, **kw: Any) -> Iterator[Any]:
        """Per-frame results of a camera index, video file or iterable of frames, with capture, detection
        and classification overlapped in threads (see :mod:`deepemotion.runtime.stream`)."""
        from .stream import stream

        return stream(self, source, **kw)

    def reset(self) -> None:
        """Forget the tracks and the smoothing history (e.g. at a scene cut or a new video)."""
        self.tracker.reset()

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _faces(boxes: np.ndarray, probs: np.ndarray, track_ids: np.ndarray | None = None,
               landmarks: np.ndarray | None = None) -> list[Face]:
        idx = probs.argmax(1)
        scores = probs[np.arange(len(idx)), idx]
        box_list = boxes.tolist()
        return [Face(tuple(box_list[i]), CLASSES[idx[i]], float(scores[i]), probs[i],
                     None if track_ids is None else int(track_ids[i]),
                     None if landmarks is None else landmarks[i])
                for i in range(len(box_list))]
