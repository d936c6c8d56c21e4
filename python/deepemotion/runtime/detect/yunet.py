"""YuNet (Shiqi Yu et al. 2023), the default face detector.

Two engines run the same network:

- `onnxruntime` (default) / `onnxruntime-cuda` / `onnxruntime-tensorrt`: the ONNX graph through ONNX
  Runtime (CPU, its CUDA provider, or its TensorRT provider in FP16 with the engines cached in
  `<cache>/deepemotion/tensorrt/`), with the decoding of the three strides and the NMS written here
  (`decode`, `nms`); on the 2-core test machine about 2.5x faster than OpenCV's DNN module on the same
  frames, with identical detections (docs/detectors.md), and on a GPU or a Jetson detection stays on the GPU
  (the CUDA and TensorRT providers have not been run by us: no GPU was available);
- `opencv`: OpenCV's `cv2.FaceDetectorYN` (its own decoding and NMS).

For ONNX Runtime the canonical 640x640 file is made shape-generic in memory (its input and output sizes are
rewritten to symbols), so frames of any size multiple of 32 go through it.

The model file is never bundled: `deepemotion.runtime.download.yunet_model_path` finds it (argument,
`$DEEPEMOTION_YUNET`, the user cache) or downloads it once, checksum-verified.

Frames are downscaled before detection so that the smallest face wanted (`min_face` frame pixels) still
spans `MIN_DETECTOR_PX` detector pixels, and the longer side is at most `max_side`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .base import Detections, clip_boxes, register_detector

STRIDES = (8, 16, 32)
#: how the network runs: OpenCV's FaceDetectorYN, or ONNX Runtime (CPU, CUDA provider, TensorRT provider)
ENGINES = ("opencv", "onnxruntime", "onnxruntime-cuda", "onnxruntime-tensorrt")
#: smallest face side, in detector input pixels, that YuNet still finds reliably: on the detector benchmark
#: (docs/detectors.md) faces of 72-220 px lost 12 points of recall when halved to 36-110 px
MIN_DETECTOR_PX = 40


def decode(
    outputs: dict[str, np.ndarray], width: int, height: int, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet's anchor-free heads -> (boxes (N, 4) x, y, w, h, scores (N,), landmarks (N, 5, 2)), in input pixels.

    Each stride s has one prior per cell of its (height / s) x (width / s) grid, in row-major order. A prior
    at cell (row, col) predicts: score = sqrt(cls * obj) (both already probabilities); box centre
    ((col + dx) s, (row + dy) s) and size (exp(dw) s, exp(dh) s); landmark k at ((col + kx) s, (row + ky) s).
    """
    boxes, scores, marks = [], [], []
    for s in STRIDES:
        cols, rows = width // s, height // s
        cls = outputs[f"cls_{s}"].reshape(-1)
        obj = outputs[f"obj_{s}"].reshape(-1)
        for name, per_prior, out in (
            ("cls", 1, cls),
            ("obj", 1, obj),
            ("bbox", 4, outputs[f"bbox_{s}"]),
            ("kps", 10, outputs[f"kps_{s}"]),
        ):
            if out.size != cols * rows * per_prior:
                raise ValueError(
                    f"YuNet output {name}_{s} has {out.size} values for a {cols}x{rows} grid "
                    f"({per_prior} per prior): not a YuNet model"
                )
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        bb = outputs[f"bbox_{s}"].reshape(-1, 4)
        kp = outputs[f"kps_{s}"].reshape(-1, 5, 2)
        keep = np.flatnonzero((score >= score_threshold) & np.isfinite(bb).all(1) & np.isfinite(kp).all((1, 2)))
        if keep.size == 0:
            continue
        r, c = np.divmod(keep, cols)
        bb, kp = bb[keep], kp[keep]
        cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
        w, h = np.exp(np.minimum(bb[:, 2], 10.0)) * s, np.exp(np.minimum(bb[:, 3], 10.0)) * s
        boxes.append(np.stack([cx - w / 2, cy - h / 2, w, h], 1))
        scores.append(score[keep])
        marks.append(np.stack([(c[:, None] + kp[..., 0]) * s, (r[:, None] + kp[..., 1]) * s], -1))
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(marks)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int = 5000) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (highest score first; a box is dropped when its IoU with
    a kept box exceeds `iou_threshold`). Each round drops every box the new pick suppresses, with numpy."""
    order = np.argsort(-scores, kind="stable")[:top_k]
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    area = np.maximum(boxes[:, 2], 0) * np.maximum(boxes[:, 3], 0)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.array(keep, np.int64)


#: the graph outputs our decoding reads: score, objectness, box and landmark heads of each stride
OUTPUTS = tuple(f"{head}_{s}" for head in ("cls", "obj", "bbox", "kps") for s in STRIDES)


def shape_generic(model: bytes, where: str = "YuNet model") -> bytes:
    """The YuNet graph with its spatial input sizes and output prior counts made symbolic (its reshapes already
    compute their shapes), so ONNX Runtime accepts any input size multiple of 32. Checks first that the file is
    YuNet (one N x 3 x H x W input, the twelve head outputs): ValueError naming `where` otherwise. Needs no
    `onnx` package (`deepemotion.runtime.onnx_graph.proto`)."""
    from ..onnx_graph.proto import interface, make_dims_symbolic

    try:
        inputs, outputs = interface(model)
    except ValueError as exc:
        raise ValueError(f"{where}: not a readable ONNX file ({exc})") from None
    names = [o.name for o in outputs]
    missing = [n for n in OUTPUTS if n not in names]
    shape = inputs[0].shape if inputs else None
    if missing or shape is None or len(shape) != 4 or shape[1] != 3:
        got = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise ValueError(
            f"{where}: not a YuNet face-detector model (input shape {shape}, outputs {got or 'none'}; "
            f"YuNet has one N x 3 x H x W input and the outputs {OUTPUTS[0]} ... {OUTPUTS[-1]})"
        )
    return make_dims_symbolic(model, {2: "height", 3: "width"}, {1: "priors"})


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


class YuNetDetector:
    """YuNet. `engine`: `opencv` (cv2.FaceDetectorYN), or `onnxruntime`, `onnxruntime-cuda`,
    `onnxruntime-tensorrt` (our decoding and NMS). `min_face`: smallest face side kept, in frame pixels (it
    also sets the downscale); `max_side`: the longer side of the detector input at most.
    `score_threshold` 0.6: on the detector benchmark (`fer-bench --detectors`, frame seeds 0 and 1) 0.7
    found 89.6% / 91.2% of the faces and 0.6 91.0% / 93.2%, with 0.05 -> 0.07 false faces per frame.
    Safe to share between threads."""

    name = "yunet"
    box_in_crop = "yunet"  # its crop calibration (assets/alignment.json)

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        min_face: int = 20,
        max_side: int = 640,
        engine: str = "onnxruntime",
    ) -> None:
        from ..download import yunet_model_path

        if not 0 < score_threshold < 1 or not 0 < nms_threshold < 1:
            raise ValueError("score_threshold and nms_threshold must be in (0, 1)")
        if min_face < 1 or max_side < 32:
            raise ValueError("min_face must be >= 1 and max_side >= 32")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        path = Path(model_path) if model_path is not None else yunet_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: YuNet ONNX file not found")
        self.model_path, self.engine = path, engine
        self.score_threshold, self.nms_threshold = float(score_threshold), float(nms_threshold)
        self.min_face, self.max_side = int(min_face), int(max_side)
        self._lock = threading.Lock()
        if engine == "opencv":
            import cv2

            if not hasattr(cv2, "FaceDetectorYN"):
                raise RuntimeError("this OpenCV build has no cv2.FaceDetectorYN (needs OpenCV >= 4.5.4)")
            shape_generic(path.read_bytes(), str(path))  # refuses a file that is not YuNet, naming it
            try:
                self._det = cv2.FaceDetectorYN.create(
                    str(path), "", (320, 320), self.score_threshold, self.nms_threshold
                )
            except cv2.error as exc:
                raise ValueError(f"{path}: OpenCV cannot load this YuNet model ({str(exc).strip()[:200]})") from None
        else:
            self._session = self._ort_session(path, engine)

    @staticmethod
    def _ort_session(path: Path, engine: str) -> Any:
        import onnxruntime as ort

        from ..backends.onnxruntime import execution_providers
        from ..download import cache_dir

        device = {"onnxruntime": "cpu", "onnxruntime-cuda": "cuda", "onnxruntime-tensorrt": "tensorrt"}[engine]
        # TensorRT: one FP16 engine per input size, built on first use (seconds to minutes on a Jetson), then reused
        providers = execution_providers(device, f"YuNet on {engine}", engine_cache=cache_dir() / "tensorrt")
        opts = ort.SessionOptions()
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        graph = shape_generic(path.read_bytes(), str(path))
        try:
            return ort.InferenceSession(graph, sess_options=opts, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own types for graphs it cannot load
            raise ValueError(f"{path}: ONNX Runtime cannot load this YuNet model ({_first_line(exc)})") from None

    def scale_for(self, h: int, w: int) -> float:
        """Downscale factor for a frame: the smallest wanted face keeps MIN_DETECTOR_PX pixels, the longer side
        at most max_side; never upscaled."""
        return min(1.0, max(MIN_DETECTOR_PX / self.min_face, 32.0 / max(h, w)), self.max_side / max(h, w))

    def detect(self, frame: np.ndarray) -> Detections:
        import cv2

        bgr = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = bgr.shape[:2]
        s = self.scale_for(h, w)
        sw, sh = max(1, round(w * s)), max(1, round(h * s))
        small = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1.0 else bgr
        sx, sy = sw / w, sh / h
        if self.engine == "opencv":
            with self._lock:
                self._det.setInputSize((sw, sh))
                _, faces = self._det.detect(small)
            if faces is None or len(faces) == 0:
                return Detections.empty(with_landmarks=True)
            faces = np.asarray(faces, np.float64)
            boxes, scores, marks = faces[:, :4], faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2)
        else:
            boxes, scores, marks = self._run_onnx(small)
        boxes = boxes / np.array([sx, sy, sx, sy])
        marks = marks / np.array([sx, sy])
        clipped, keep = clip_boxes(np.rint(boxes).astype(np.int64), w, h)
        keep &= (clipped[:, 2] >= self.min_face) & (clipped[:, 3] >= self.min_face)
        return Detections(clipped, scores.astype(np.float32), marks.astype(np.float32)).take(keep)

    def _run_onnx(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = img.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32  # pad bottom/right to a multiple of 32
        x = np.zeros((1, 3, ph, pw), np.float32)
        x[0, :, :h, :w] = img.transpose(2, 0, 1)
        names = [o.name for o in self._session.get_outputs()]
        try:
            outs = dict(zip(names, self._session.run(None, {self._session.get_inputs()[0].name: x})))
        except Exception as exc:  # noqa: BLE001 - a graph that loads but cannot run: a broken model file
            raise ValueError(
                f"{self.model_path}: ONNX Runtime cannot run this YuNet model on a {pw}x{ph} input ({_first_line(exc)})"
            ) from None
        boxes, scores, marks = decode(outs, pw, ph, self.score_threshold)
        keep = nms(boxes, scores, self.nms_threshold)
        return boxes[keep], scores[keep], marks[keep]


@register_detector(
    "yunet",
    "YuNet (Shiqi Yu et al. 2023) through ONNX Runtime, with five landmarks",
    cls=YuNetDetector,
    landmarks=True,
    slowed_by_spinning=False,
    auto_rank=10,
    needs="the YuNet model file: downloaded once into the cache, or $DEEPEMOTION_YUNET",
)
def _yunet(model_path: str | os.PathLike[str] | None = None, min_face: int = 40) -> YuNetDetector:
    return YuNetDetector(model_path, min_face=min_face)
