"""Accuracy and calibration as users get them: faces through ``Recognizer(detector=None).predict_faces`` with the
shipped graph, preprocessing and backend (``fer-eval``, ``fer-bench --accuracy``, ``tools/bundle.py`` and the
robustness benchmark all measure through here)."""
from __future__ import annotations

from typing import Any

import numpy as np


def predict_probs(model: Any, images: Any, backend: Any = "auto") -> tuple[np.ndarray, str]:
    """(probabilities (N, 7), the backend's name) of faces (an (N, H, W) uint8 array or a list of crops) as
    ``Recognizer.predict_faces`` returns them."""
    from ..runtime.recognizer import Recognizer

    rec = Recognizer(model=model, backend=backend, detector=None)
    faces = rec.predict_faces(images)
    probs = np.stack([f.probs for f in faces]) if faces else np.zeros((0, 7), np.float32)
    return probs, rec.backend.name


def accuracy_fp32_int8(model: str | None, data: Any) -> dict[str, Any]:
    """Accuracy of the FP32 and the INT8 graph of a bundled model on ``data`` (a FaceSet), each through
    Recognizer."""
    out: dict[str, Any] = {"data": data.name, "n": len(data)}
    for backend in ("onnxruntime", "onnxruntime-int8"):
        probs, _ = predict_probs(model or "default", data.images, backend)
        out[backend] = float((probs.argmax(1) == data.labels).mean())
    out["delta_points"] = 100 * (out["onnxruntime-int8"] - out["onnxruntime"])
    return out
