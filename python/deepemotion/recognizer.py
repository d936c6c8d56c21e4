"""The Recognizer: frames in, per-face emotions out.

    from deepemotion import Recognizer
    rec = Recognizer()                  # bundled model, backend="auto", OpenCV Haar face detector
    for face in rec.predict(frame):     # frame: HxWx3 uint8 BGR (OpenCV order) or HxW gray
        print(face.box, face.label, face.score)

All faces of a frame go from the frame to one (N, 1, 48, 48) batch in a single C++ call
(crop, gray conversion and normalisation fused) and through the model in one backend call.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._backends import Backend, create_backend
from ._ext import assert_has_ext
from .detect import Detector, HaarDetector
from .labels import CLASSES
from .preprocess import MEAN, SIZE, STD


@dataclass
class Face:
    box: tuple[int, int, int, int]   # x, y, w, h in frame pixels
    label: str                       # most likely class
    score: float                     # its probability
    probs: np.ndarray = field(repr=False)  # (7,) probabilities in CLASSES order, sum 1

    @property
    def class_id(self) -> int:
        return CLASSES.index(self.label)

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "label": self.label, "score": round(float(self.score), 6),
                "probs": {c: round(float(p), 6) for c, p in zip(CLASSES, self.probs)}}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between (N, 4) and (M, 4) xywh boxes."""
    ax0, ay0, ax1, ay1 = a[:, 0, None], a[:, 1, None], (a[:, 0] + a[:, 2])[:, None], (a[:, 1] + a[:, 3])[:, None]
    bx0, by0, bx1, by1 = b[None, :, 0], b[None, :, 1], (b[:, 0] + b[:, 2])[None], (b[:, 1] + b[:, 3])[None]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def check_image(img: Any, what: str = "frame") -> np.ndarray:
    """Validate a frame/crop; returns a C-contiguous uint8 HxW or HxWx3 array.

    uint8 is taken as is; float arrays must hold finite values in [0, 255]; HxWx1 is squeezed;
    HxWx4 (BGRA) is rejected with a hint."""
    if not isinstance(img, np.ndarray):
        kind = type(img).__module__.split(".")[0]
        hint = " (move it to the host with .cpu().numpy() / cupy.asnumpy, or use a GPU backend)" \
            if kind in ("torch", "cupy") else ""
        raise TypeError(f"{what} must be a numpy.ndarray, got {type(img).__name__}{hint}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        raise ValueError(f"{what} has 4 channels (BGRA?); convert with cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"{what} must be HxW (gray) or HxWx3 (BGR), got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {img.shape})")
    if img.dtype != np.uint8:
        if img.dtype.kind != "f":
            raise TypeError(f"{what} must be uint8 (or float in [0, 255]), got dtype {img.dtype}")
        if not np.isfinite(img).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        if img.min() < 0 or img.max() > 255:
            raise ValueError(f"{what} float values must lie in [0, 255], got [{img.min()}, {img.max()}]")
        img = np.rint(img).astype(np.uint8)
    return np.ascontiguousarray(img)


class Recognizer:
    """Facial-expression recognizer.

    Args:
        model: None for the bundled model, or a path (.onnx; .pt checkpoint for the torch backend
            or exported on the fly; a TensorRT .engine for backend="tensorrt").
        backend: "auto" (ONNX Runtime, CUDA provider when present), "onnxruntime",
            "onnxruntime-cuda", "torch" or "tensorrt".
        detector: "haar" (default), None (then pass boxes= to predict), or any object with
            ``detect(frame) -> (N, 4) int32 xywh``.
        min_face: smallest face side in pixels for the default detector.
        smoothing: 0..1, exponential moving average of each face's probabilities across calls
            (faces matched by box overlap); 0 disables it. For video.
        supersample: sub-samples per axis when shrinking a face box to 48x48 ("auto": per box,
            about box side / 48, at most 4; 1: plain bilinear as cv2.resize INTER_LINEAR).

    Thread safety: one Recognizer may be shared by threads. The backend runs concurrently; the
    detector and the smoothing state are guarded by a lock (OpenCV's cascade is not re-entrant).
    With smoothing on, calls from several threads interleave into one track history, so use one
    instance per video stream.
    """

    def __init__(self, model: Any = None, backend: str = "auto", detector: Detector | str | None = "haar",
                 min_face: int = 40, smoothing: float = 0.0, supersample: int | str = "auto",
                 device: str | None = None, **backend_options: Any) -> None:
        self._ext = assert_has_ext()
        if not 0.0 <= float(smoothing) < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if supersample != "auto" and not (isinstance(supersample, int) and 1 <= supersample <= 16):
            raise ValueError(f"supersample must be 'auto' or an int in 1..16, got {supersample!r}")
        self.backend: Backend = backend if isinstance(backend, Backend) else \
            create_backend(backend, model, device, **backend_options)
        if detector == "haar":
            detector = HaarDetector(min_face=min_face)
        elif isinstance(detector, str):
            raise ValueError(f"unknown detector {detector!r}: use 'haar', None, or a Detector object")
        elif detector is not None and not isinstance(detector, Detector):
            raise TypeError("detector must have a detect(frame) -> (N, 4) boxes method")
        self.detector = detector
        self.smoothing = float(smoothing)
        self.supersample = supersample
        self._lock = threading.Lock()
        self._tracks: tuple[np.ndarray, np.ndarray] | None = None  # boxes, probs of the previous call

    # -- public API ---------------------------------------------------------------------------
    def predict(self, frame: np.ndarray, boxes: Any = None) -> list[Face]:
        """Faces in a frame with their emotions. ``boxes``: (N, 4) x, y, w, h to skip detection."""
        frame = check_image(frame)
        if boxes is None:
            if self.detector is None:
                raise ValueError("this Recognizer has no detector (detector=None): pass boxes=")
            with self._lock:
                boxes = np.asarray(self.detector.detect(frame), np.int32).reshape(-1, 4)
        else:
            boxes = self._check_boxes(boxes, frame.shape)
        if len(boxes) == 0:
            with self._lock:
                if self.smoothing:
                    self._tracks = None
            return []
        batch = self._crop(frame, boxes)
        probs = self.classify(batch)
        if self.smoothing:
            probs = self._smooth(boxes, probs)
        return self._faces(boxes, probs)

    def predict_faces(self, crops: Any) -> list[Face]:
        """Emotions of already-cropped faces, each resized to 48x48. ``crops``: a list of images
        (any sizes, gray or BGR), one image (HxW or HxWx3), or a batch array N x H x W (gray) or
        N x H x W x 3 (BGR). Each Face's box is its whole crop."""
        if isinstance(crops, np.ndarray) and (crops.ndim == 4 or (crops.ndim == 3 and crops.shape[-1] != 3)):
            if len(crops) == 0:
                return []
            # a uniform batch is one tall frame with stacked boxes: one C++ call, no bleeding
            # between crops (sampling clamps to each box)
            n, h, w = crops.shape[:3]
            tall = check_image(crops.reshape((n * h, w) + crops.shape[3:]), "crops")
            boxes = np.stack([np.zeros(n), np.arange(n) * h, np.full(n, w), np.full(n, h)], 1).astype(np.int32)
            return self._faces(np.tile(np.array([[0, 0, w, h]], np.int32), (n, 1)),
                               self.classify(self._crop(tall, boxes)))
        if isinstance(crops, np.ndarray):
            items = [crops]
        elif isinstance(crops, (list, tuple)):
            items = list(crops)
        else:
            raise TypeError(f"crops must be a numpy array or a list of them, got {type(crops).__name__}")
        if not items:
            return []
        imgs = [check_image(c, f"crop {i}") for i, c in enumerate(items)]
        full = [np.array([[0, 0, im.shape[1], im.shape[0]]], np.int32) for im in imgs]
        batch = np.concatenate([self._crop(im, box) for im, box in zip(imgs, full)])
        return self._faces(np.concatenate(full), self.classify(batch))

    def classify(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) for a normalised (N, 1, 48, 48) float32 batch."""
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:] != (1, SIZE, SIZE):
            raise ValueError(f"batch must be float32 (N, 1, {SIZE}, {SIZE}), got {batch.dtype} {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, len(CLASSES)), np.float32)
        return _softmax(np.asarray(self.backend.run(np.ascontiguousarray(batch)), np.float64)).astype(np.float32)

    def reset(self) -> None:
        """Forget the smoothing history (e.g. at a scene cut)."""
        with self._lock:
            self._tracks = None

    # -- internals ----------------------------------------------------------------------------
    def _crop(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        k = 0 if self.supersample == "auto" else int(self.supersample)  # 0: the C++ side picks per box
        return self._ext.crop_faces(frame, np.ascontiguousarray(boxes, np.int32), SIZE, MEAN, STD, k)

    @staticmethod
    def _check_boxes(boxes: Any, shape: tuple[int, ...]) -> np.ndarray:
        b = np.asarray(boxes, dtype=np.float64)
        if b.size == 0:
            return np.zeros((0, 4), np.int32)
        if b.ndim == 1 and b.shape[0] == 4:
            b = b[None]
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4) as (x, y, w, h), got {b.shape}")
        if not np.isfinite(b).all():
            raise ValueError("boxes contain NaN or infinite values")
        b = np.rint(b).astype(np.int64)
        h, w = shape[:2]
        bad = (b[:, 2] < 1) | (b[:, 3] < 1) | (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 0] + b[:, 2] > w) | \
              (b[:, 1] + b[:, 3] > h)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"box {i} {tuple(int(v) for v in b[i])} must have w, h >= 1 and lie inside the "
                             f"{w}x{h} frame")
        return b.astype(np.int32)

    def _smooth(self, boxes: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """EMA of probabilities per face; a face continues the previous call's face it overlaps most
        (greedy by IoU, at least 0.3)."""
        with self._lock:
            out = probs.copy()
            if self._tracks is not None:
                prev_boxes, prev_probs = self._tracks
                iou = _iou(boxes.astype(np.float64), prev_boxes.astype(np.float64))
                taken_new, taken_old = set(), set()
                for flat in np.argsort(-iou, axis=None):
                    i, j = divmod(int(flat), iou.shape[1])
                    if iou[i, j] < 0.3:
                        break
                    if i in taken_new or j in taken_old:
                        continue
                    taken_new.add(i)
                    taken_old.add(j)
                    out[i] = self.smoothing * prev_probs[j] + (1.0 - self.smoothing) * probs[i]
            self._tracks = (boxes.copy(), out.copy())
            return out

    @staticmethod
    def _faces(boxes: np.ndarray, probs: np.ndarray) -> list[Face]:
        idx = probs.argmax(1)
        return [Face(tuple(int(v) for v in boxes[i]), CLASSES[int(idx[i])], float(probs[i, idx[i]]), probs[i])
                for i in range(len(boxes))]
