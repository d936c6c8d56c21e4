"""Recognizer.predict_faces against plain ONNX Runtime on the bundled FP32 graph, on the same faces.

"Plain ONNX Runtime" is what a user would write without deepemotion: one InferenceSession with ONNX
Runtime's defaults on the bundled FP32 .onnx, fed faces already normalised to the network's input (so it
does less work than predict_faces, which takes uint8 crops of any size, resamples and normalises them, checks
and softmaxes). The two alternate, round after round, so that load on the machine hits both alike; the
ratio of medians is reported. Also: what predict_faces spends outside the network at batch 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import INPUT_SIZE
from ..runtime.inputs import normalise_faces
from .timing import time_calls


def bench_recognizer(
    batches: tuple[int, ...] = (1, 256), rounds: int = 5, min_time: float = 0.3, model: str | None = None
) -> dict[str, Any]:
    import onnxruntime as ort

    from ..runtime.assets import bundled_model
    from ..runtime.backends.base import Backend
    from ..runtime.recognizer import Recognizer

    rec = Recognizer(model=model, detector=None)
    plain = ort.InferenceSession(bundled_model(model).path("onnx").read_bytes(), providers=["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    rng = np.random.default_rng(0)
    rows = []
    for b in batches:
        crops = rng.integers(0, 256, (b, INPUT_SIZE, INPUT_SIZE)).astype(np.uint8)
        x = normalise_faces(crops)
        tr, tp = [], []
        for _ in range(rounds):
            tr.append(float(np.median(time_calls(lambda: rec.predict_faces(crops), min_time, 5))))
            tp.append(float(np.median(time_calls(lambda: plain.run(None, {name: x}), min_time, 5))))
        r, p = float(np.median(tr)), float(np.median(tp))
        rows.append(
            {
                "batch": b,
                "recognizer_faces_per_s": b / r,
                "plain_ort_fp32_faces_per_s": b / p,
                "speedup": p / r,
                "recognizer_backend": rec.backend.name,
            }
        )

    class _Null(Backend):  # the network replaced by nothing: what remains is predict_faces' own overhead
        name = "null"

        def run(self, x: np.ndarray) -> np.ndarray:
            return np.zeros((len(x), 7), np.float32)

    null = Recognizer(backend=_Null(), detector=None)
    one = rng.integers(0, 256, (INPUT_SIZE, INPUT_SIZE)).astype(np.uint8)
    overhead_us = 1e6 * float(np.median(time_calls(lambda: null.predict_faces(one), min_time, 200)))
    net_us = 1e6 * float(np.median(time_calls(lambda: rec.backend.run(x[:1]), min_time, 50)))
    return {"rows": rows, "batch1_overhead_us": overhead_us, "batch1_network_us": net_us, "model": rec.model_name}


def format_recognizer(res: dict[str, Any]) -> str:
    lines = [f"{'batch':>5} {'predict_faces f/s':>18} {'plain ORT FP32 f/s':>19} {'ratio':>6}  (backend)"]
    for r in res["rows"]:
        lines.append(
            f"{r['batch']:5d} {r['recognizer_faces_per_s']:18.0f} {r['plain_ort_fp32_faces_per_s']:19.0f} "
            f"{r['speedup']:5.2f}x  ({r['recognizer_backend']})"
        )
    lines.append(
        f"batch 1: predict_faces outside the network {res['batch1_overhead_us']:.0f} us, the network "
        f"{res['batch1_network_us']:.0f} us"
    )
    return "\n".join(lines)
