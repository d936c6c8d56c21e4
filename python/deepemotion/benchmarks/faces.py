"""Per-face throughput of `Recognizer(model=..., detector=None).predict_faces` for several models side by side
(`fer-bench --faces --models default tiny old.int8.onnx`): the same 48x48 faces, every model with the backend
`Recognizer` picks for it on this machine (or a model file as it is), each model in its turn (a block of calls
after warm-up calls) and the turns' order reversed every round, so that load on the machine hits every model alike;
medians of the rounds. The capacity of a server or of a crowd scene, and (batch 1)
the latency of one face.

With `floor=True` (the default) one more row, `floor`, runs a three-node graph (mean of the face, one MatMul to 7
logits) through the same `predict_faces` path: the fixed cost of a call (checks, crop, normalisation, one ONNX
Runtime run, softmax, `Face` objects) that no model can go below. It needs the `onnx` package to write the graph
and is left out without it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..labels import INPUT_NAME, INPUT_SIZE, NUM_CLASSES
from .timing import time_in_turns

FLOOR = "floor"


def floor_graph() -> bytes | None:
    """ONNX bytes of the smallest classifier-shaped graph (N,1,48,48) -> (N,7): ReduceMean, Reshape, MatMul; None
    without the `onnx` package."""
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    consts = [
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "shape"),
        numpy_helper.from_array(np.linspace(-1, 1, NUM_CLASSES, dtype=np.float32)[None], "w"),
    ]
    nodes = [
        helper.make_node("ReduceMean", [INPUT_NAME, "axes"], ["mean"], keepdims=0),
        helper.make_node("Reshape", ["mean", "shape"], ["column"]),
        helper.make_node("MatMul", ["column", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "floor",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model.SerializeToString()


def _recognizers(models: Sequence[str], floor: bool) -> dict[str, Any]:
    from ..runtime.backends.onnxruntime import OnnxRuntimeBackend
    from ..runtime.recognizer import Recognizer

    recs = {m: Recognizer(model=m, detector=None) for m in models}
    data = floor_graph() if floor else None
    if data is not None:
        rec = Recognizer(model=models[0], detector=None)
        rec.backend = rec.classifier.backend = OnnxRuntimeBackend(data)  # same path and Python, no network
        recs[FLOOR] = rec
    return recs


def time_recognizers(
    recs: dict[str, Any], batches: Sequence[int], rounds: int = 5, min_time: float = 0.3, progress: bool = False
) -> dict[tuple[str, int], list[float]]:
    """Seconds per `predict_faces` call of each Recognizer in `recs` on the same random 48x48 faces, per batch
    size: `rounds` rounds, each the median per Recognizer of a block of its calls, the Recognizers in turns whose
    order reverses every round (`deepemotion.benchmarks.timing.time_in_turns`: each has its own ONNX Runtime
    thread pool, which would still spin during the next one's call if the calls alternated one by one). Keyed by
    (name, batch). `progress`: a bar on a terminal."""
    from tqdm.auto import tqdm

    faces = np.random.default_rng(0).integers(0, 256, (max(batches), INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    times: dict[tuple[str, int], list[float]] = {(m, b): [] for b in batches for m in recs}
    # one step per round and batch: a large batch takes minutes (10 calls per model and round at the least)
    with tqdm(
        total=len(batches) * rounds, desc="faces", unit="round", disable=None if progress else True, leave=False
    ) as bar:
        for b in batches:
            x = faces[:b]
            calls = {m: (lambda rec=rec: rec.predict_faces(x)) for m, rec in recs.items()}
            for r in range(rounds):
                bar.set_postfix_str(f"batch {b}")
                for m, t in time_in_turns(calls, min_time, 5, warmup=5, reverse=r % 2 == 1).items():
                    times[(m, b)].append(float(np.median(t)))
                bar.update(1)
    return times


def bench_faces(
    models: Sequence[str],
    batches: Sequence[int] = (1, 64),
    rounds: int = 5,
    min_time: float = 0.3,
    floor: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    recs = _recognizers(models, floor)
    times = time_recognizers(recs, batches, rounds, min_time, progress)
    rows = []
    for b in batches:
        for m in recs:
            t = float(np.median(times[(m, b)]))
            rows.append(
                {
                    "model": m,
                    "backend": recs[m].backend.name,
                    "batch": b,
                    "ms_per_call": t * 1e3,
                    "faces_per_s": b / t,
                    "rounds_ms": [v * 1e3 for v in times[(m, b)]],
                }
            )
    first = models[0]
    for r in rows:
        base = next(q for q in rows if q["model"] == first and q["batch"] == r["batch"])
        r[f"vs_{first}"] = r["faces_per_s"] / base["faces_per_s"]
    return {"models": list(recs), "rounds": rounds, "rows": rows}


def format_faces(res: dict[str, Any]) -> str:
    first = res["models"][0]
    lines = [f"{'model':36} {'backend':18} {'batch':>5} {'ms/call':>8} {'faces/s':>8} {'vs ' + first:>12}"]
    for r in res["rows"]:
        lines.append(
            f"{r['model'][-36:]:36} {r['backend']:18} {r['batch']:5d} {r['ms_per_call']:8.3f} "
            f"{r['faces_per_s']:8.0f} {r['vs_' + first]:11.2f}x"
        )
    return "\n".join(lines)
