"""Where a backend's time goes: ONNX Runtime's own profiler over many runs of a bundled model (or a model file),
kernel time summed per operator type and per node (`fer-bench --profile`). For the ONNX Runtime backends (the
CPU paths users get); the session is built exactly as the backend builds it. A graph whose constant warp head the
backend runs in C++ (`ConstantWarpHead`) gets that head timed too, as the node `warp head` (op `ConstantWarp`)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from typing import Any

import numpy as np

from ..labels import INPUT_SIZE


def profile_session(model: Any, backend: str, batch: int, runs: int = 300, **options: Any) -> dict[str, Any]:
    """Kernel time per op type and per node of `backend` (an ONNX Runtime backend, made exactly as Recognizer
    makes it, with the profiler on) running `model` at `batch` faces per run. Microseconds per run (the
    profiler adds a little overhead of its own)."""
    from ..runtime.backends import create_backend

    # a model ONNX Runtime cannot load is refused here first, with our message: a profiling session that fails to
    # load prints ONNX Runtime's own error line ("Could not write a profile") when it is destroyed
    create_backend(backend, model, **options)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            b = create_backend(backend, model, profile_prefix=os.path.join(tmp, "profile"), **options)
        except TypeError:
            raise ValueError(f"backend {backend!r} is not profiled (ONNX Runtime backends only)") from None
        x = np.random.default_rng(0).random((batch, 1, INPUT_SIZE, INPUT_SIZE), np.float32) * 2 - 1
        for _ in range(runs):
            b.run(x)
        with open(b.session.end_profiling()) as f:
            events = json.load(f)
        head = getattr(b, "warp_head", None)
        if head is not None:  # the part ONNX Runtime's profiler does not see
            t0 = time.perf_counter()
            for _ in range(runs):
                head(x)
            events.append(
                {
                    "cat": "Node",
                    "name": "warp head_kernel_time",
                    "args": {"op_name": "ConstantWarp"},
                    "dur": (time.perf_counter() - t0) * 1e6,
                }
            )
    return summarize(events, runs, backend, batch)


def summarize(events: list[dict[str, Any]], runs: int, backend: str, batch: int) -> dict[str, Any]:
    per_type: dict[str, float] = defaultdict(float)
    per_node: dict[str, list[Any]] = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = e.get("args", {}).get("op_name", "?")
        per_type[op] += e["dur"]
        node = e["name"][: -len("_kernel_time")]
        per_node.setdefault(node, [op, 0.0])[1] += e["dur"]
    total = sum(per_type.values()) or 1.0
    return {
        "backend": backend,
        "batch": batch,
        "runs": runs,
        "nodes_per_run": len(per_node),
        "kernel_us_per_run": total / runs,
        "op_types": [
            {"op": k, "us_per_run": v / runs, "share": v / total}
            for k, v in sorted(per_type.items(), key=lambda kv: -kv[1])
        ],
        "nodes": [
            {"node": k, "op": op, "us_per_run": v / runs, "share": v / total}
            for k, (op, v) in sorted(per_node.items(), key=lambda kv: -kv[1][1])
        ],
    }


def format_profile(p: dict[str, Any], top: int = 8) -> str:
    lines = [
        f"{p['backend']} batch {p['batch']}: {p['kernel_us_per_run']:.0f} us of kernels per run, "
        f"{p['nodes_per_run']} nodes"
    ]
    lines += [f"  {r['op']:22} {r['us_per_run']:8.1f} us {100 * r['share']:5.1f}%" for r in p["op_types"][:top]]
    lines.append(
        "  slowest nodes: " + ", ".join(f"{r['node']} ({r['op']}, {100 * r['share']:.0f}%)" for r in p["nodes"][:4])
    )
    return "\n".join(lines)
