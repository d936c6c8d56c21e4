"""Accuracy as users get it (`runtime.recognizer.predict_probs`: faces through `Recognizer.predict_faces` with
the shipped graph, preprocessing and backend), for `fer-bench --accuracy`; `fer-eval`,
`references/fer2013/bundle.py` and the robustness benchmark measure through the same function."""

from __future__ import annotations

from typing import Any

from ..runtime.recognizer import predict_probs


def accuracy_fp32_int8(model: str | None, data: Any) -> dict[str, Any]:
    """Accuracy of the FP32 and the INT8 graph of a bundled model on `data` (a FaceSet), each through
    Recognizer."""
    out: dict[str, Any] = {"data": data.name, "n": len(data)}
    for backend in ("onnxruntime", "onnxruntime-int8"):
        probs, _ = predict_probs(model or "default", data.images, backend)
        out[backend] = float((probs.argmax(1) == data.labels).mean())
    out["delta_points"] = 100 * (out["onnxruntime-int8"] - out["onnxruntime"])
    return out
