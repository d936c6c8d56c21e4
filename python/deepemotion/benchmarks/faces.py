"""Per-face throughput of ``Recognizer(model=..., detector=None).predict_faces`` for several models side by side
(``fer-bench --faces --models default tiny old.int8.onnx``): the same 48x48 faces, every model with the backend
``Recognizer`` picks for it on this machine (or a model file as it is), rounds alternated so that load on the
machine hits every model alike; medians of the rounds. The capacity of a server or of a crowd scene, and (batch 1)
the latency of one face."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..labels import INPUT_SIZE
from .timing import time_calls


def bench_faces(models: Sequence[str], batches: Sequence[int] = (1, 64), rounds: int = 5, min_time: float = 0.3
                ) -> dict[str, Any]:
    from ..runtime.recognizer import Recognizer

    recs = {m: Recognizer(model=m, detector=None) for m in models}
    faces = np.random.default_rng(0).integers(0, 256, (max(batches), INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    rows = []
    for b in batches:
        x = faces[:b]
        times: dict[str, list[float]] = {m: [] for m in models}
        for _ in range(rounds):
            for m, rec in recs.items():
                times[m].append(float(np.median(time_calls(lambda: rec.predict_faces(x), min_time, 5))))
        for m in models:
            t = float(np.median(times[m]))
            rows.append({"model": m, "backend": recs[m].backend.name, "batch": b, "ms_per_call": t * 1e3,
                         "faces_per_s": b / t, "rounds_ms": [v * 1e3 for v in times[m]]})
    first = models[0]
    for r in rows:
        base = next(q for q in rows if q["model"] == first and q["batch"] == r["batch"])
        r[f"vs_{first}"] = r["faces_per_s"] / base["faces_per_s"]
    return {"models": list(models), "rounds": rounds, "rows": rows}


def format_faces(res: dict[str, Any]) -> str:
    first = res["models"][0]
    lines = [f"{'model':36} {'backend':18} {'batch':>5} {'ms/call':>8} {'faces/s':>8} {'vs ' + first:>12}"]
    for r in res["rows"]:
        lines.append(f"{r['model'][-36:]:36} {r['backend']:18} {r['batch']:5d} {r['ms_per_call']:8.3f} "
                     f"{r['faces_per_s']:8.0f} {r['vs_' + first]:11.2f}x")
    return "\n".join(lines)
