"""The C++ SDK beside Python's Recognizer, in one run: `predict(frame)` on the 640x480 example frame with one face,
and `predict_faces` faces/s on 48x48 gray crops at the given batch sizes.

The C++ side is `libdeepemotion` through its bindings (`deepemotion._sdk`, which release the GIL around the call):
the bundled FP32 graph through OpenCV's DNN module, YuNet through OpenCV's DNN module. The Python side is
`Recognizer` with its default backend (the INT8 graph where the model recommends it) and with FP32 ONNX Runtime,
YuNet through ONNX Runtime. Every setup is timed in its turn (`time_in_turns`: each setup brings a thread pool of
its own), the order reversed every round (`ROUNDS` rounds); the medians over the rounds are reported. The ratio of
C++'s time to each Python setup's is taken within each round (the turns of a round are seconds apart, while this
shared machine has slower and faster phases lasting minutes: whole runs gave 1.2x to 2.6x) and reported as its
median over the rounds, with its range. Both sides get the same crops, as a list of arrays (what the C++ bindings
take)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..labels import INPUT_SIZE
from .timing import time_in_turns

#: rounds of turns per measurement (the C++/Python ratio is taken within each)
ROUNDS = 7


def _rounds(calls: dict[str, Callable[[], Any]], min_time: float, rounds: int) -> dict[str, np.ndarray]:
    """Each setup's median seconds per call in each of `rounds` rounds in turns (the order reversed every other
    round)."""
    per_round = [time_in_turns(calls, min_time, 5, reverse=bool(r % 2)) for r in range(rounds)]
    return {k: np.array([np.median(t[k]) for t in per_round]) for k in calls}


def _frame_rows(py: dict[str, Any], model: str | None, min_time: float, rounds: int) -> dict[str, Any]:
    """predict(frame) of each Python setup and of C++ with the YuNet file Python uses, or why it was not timed."""
    from .. import _sdk
    from .stages import example_frame

    frame = example_frame()
    first = next(iter(py.values()))
    if first.detector_name != "yunet":
        return {"skipped": f"C++ detects with YuNet only, and Python's detector here is {first.detector_name}"}
    cpp = _sdk.Recognizer(model=model or "default", detector_model=str(first.detector.model_path))
    faces = {"C++": len(cpp.predict(frame)[0]), **{k: len(r.predict(frame)) for k, r in py.items()}}
    if len(set(faces.values())) != 1:
        return {"skipped": f"the setups found different numbers of faces in the benchmark frame: {faces}"}
    calls = {k: (lambda r=r: r.predict(frame)) for k, r in py.items()}
    calls["C++"] = lambda: cpp.predict(frame)
    t = _rounds(calls, min_time, rounds)
    ratio = {k: t["C++"] / t[k] for k in py}  # within each round
    return {
        "frame": "640x480 BGR",
        "faces": faces["C++"],
        "ms": {k: float(np.median(v)) * 1e3 for k, v in t.items()},
        "rounds_ms": {k: [float(x) * 1e3 for x in v] for k, v in t.items()},
        "cpp_time_vs": {k: float(np.median(v)) for k, v in ratio.items()},
        "cpp_time_vs_range": {k: [float(v.min()), float(v.max())] for k, v in ratio.items()},
    }


def bench_cpp(
    batches: tuple[int, ...] = (1, 64), min_time: float = 0.3, rounds: int = ROUNDS, model: str | None = None
) -> dict[str, Any]:
    """See the module docstring; {"error": why} when this build has no C++ SDK."""
    from .._ext import build_info

    if not build_info().get("sdk"):
        return {
            "error": "this build has no C++ SDK (build_info()['sdk'] is False): install OpenCV's C++ "
            "development files (e.g. apt-get install libopencv-dev) and reinstall deepemotion"
        }
    from .. import _sdk
    from ..runtime.recognizer import Recognizer

    py = {"python auto": Recognizer(model=model), "python onnxruntime": Recognizer(model=model, backend="onnxruntime")}
    backends = {k: r.backend.name for k, r in py.items()}
    cpp = _sdk.Recognizer(model=model or "default", detector="none")
    rng = np.random.default_rng(0)
    rows = []
    for b in batches:
        crops = list(rng.integers(0, 256, (b, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8))
        calls = {k: (lambda r=r: r.predict_faces(crops)) for k, r in py.items()}
        calls["C++"] = lambda: cpp.predict_faces(crops)
        t = _rounds(calls, min_time, rounds)
        rows.append({"batch": b, "faces_per_s": {k: b / float(np.median(v)) for k, v in t.items()}})
    return {
        "model": model or "default",
        "python_backends": backends,
        "cpp_backend": cpp.backend_name,
        "rounds": rounds,
        "predict_frame": _frame_rows(py, model, min_time, rounds),
        "predict_faces": rows,
    }


def format_cpp(r: dict[str, Any]) -> str:
    """A few lines: predict(frame) times and ratios, then faces/s per batch size."""
    if "error" in r:
        return f"C++ SDK: {r['error']}"
    names = ["C++", *r["python_backends"]]
    backends = {"C++": r["cpp_backend"], **r["python_backends"]}
    lines = []
    f = r["predict_frame"]
    if "skipped" in f:
        lines.append(f"predict(frame): not timed: {f['skipped']}")
    else:
        lines.append(
            f"predict(frame), {f['frame']} with {f['faces']} face(s), median ms over {r['rounds']} rounds "
            "(C++ time / this setup's within a round: median, range):"
        )

        def ratio(k: str) -> str:
            lo, hi = f["cpp_time_vs_range"][k]
            return f"   {f['cpp_time_vs'][k]:.2f}x ({lo:.2f}-{hi:.2f}x)"

        lines += [
            f"  {k:20} {backends[k]:18} {f['ms'][k]:8.2f}" + (ratio(k) if k in f["cpp_time_vs"] else "") for k in names
        ]
    lines.append("predict_faces, 48x48 crops, faces/s: " + "  ".join(f"{k} ({backends[k]})" for k in names))
    lines += [
        f"  batch {row['batch']:5d}: " + "  ".join(f"{row['faces_per_s'][k]:9.0f}" for k in names)
        for row in r["predict_faces"]
    ]
    return "\n".join(lines)
