"""A bundled model's predict_faces latency now against an earlier commit's graph (by default the default model as
bundled in 0.2.0), side by side in one run (maintainer script).

    python references/fer2013/experiments/bench_default_latency.py --json default_latency.json
    python references/fer2013/experiments/bench_default_latency.py --model tiny --start ba9a30a --json
    docs/results/calibration_speed_tiny.json

"start": the graph bundled at commit 58aa1d3 (0.2.0; read from git history) -- the INT8 graph, or the FP32 one for a
model whose CPU default is FP32 -- through today's runtime. "now": the bundled model as
``Recognizer(model=NAME, detector=None)`` runs it. The same random 48x48 faces, the two in turns (a block of calls
each, the order reversed every round), medians of the rounds (``deepemotion.benchmarks.faces.time_recognizers``); the
change is now / start - 1. ``--start`` another commit (e.g. the one before a graph change) compares with that commit's
graph. The first study also ran the start graph with 48x48 crops through the C++ resampler, as the runtime of 0.2.0
did; that needed a switch that no longer exists, and its numbers are frozen in
docs/notes/2026-12-02-default-latency-study.md and docs/notes/2026-12-01-gray-crops-skip-the-resampler.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from deepemotion import Recognizer
from deepemotion.benchmarks.faces import time_recognizers
from deepemotion.benchmarks.timing import machine_info
from deepemotion.files import atomic_write_text
from deepemotion.runtime.assets import bundled_model

ROOT = Path(__file__).resolve().parents[3]
PROG = "references/fer2013/experiments/bench_default_latency.py"
START = "58aa1d3"


def graph_at(rev: str, folder: Path, name: str = "default", kind: str = "int8.onnx") -> Path:
    """A bundled model's graph (``kind``: "int8.onnx" or "onnx") as committed at ``rev``, written into ``folder``."""
    rel = bundled_model(name).path(kind).relative_to(ROOT)
    data = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{rel.as_posix()}"], check=True, capture_output=True
    ).stdout
    path = folder / f"{name}_{rev}.{kind}"
    path.write_bytes(data)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", choices=["default", "tiny"], help="the bundled model")
    p.add_argument("--start", default=START, help="commit whose bundled graph of the model is the start")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        now = Recognizer(model=args.model, detector=None)
        kind = "int8.onnx" if now.backend.name.endswith("int8") else "onnx"
        old = graph_at(args.start, Path(tmp), args.model, kind)
        recs = {"start": Recognizer(model=str(old), detector=None), "now": now}
        backends = {k: r.backend.name for k, r in recs.items()}
        times = time_recognizers(recs, args.batches, args.rounds, min_time=0.2)
    rows = []
    for b in args.batches:
        t0 = float(np.median(times[("start", b)]))
        for k in recs:
            t = float(np.median(times[(k, b)]))
            rows.append(
                {
                    "setup": k,
                    "backend": backends[k],
                    "batch": b,
                    "ms_per_call": t * 1e3,
                    "change_vs_start": t / t0 - 1,
                    "rounds_ms": [v * 1e3 for v in times[(k, b)]],
                }
            )
            print(f"batch {b:3d}  {k:6s} {t * 1e3:8.3f} ms per call  {100 * (t / t0 - 1):+6.1f}%")
    if args.json is not None:
        result = {
            "machine": machine_info(),
            "command": f"python {PROG} " + " ".join(argv if argv is not None else sys.argv[1:]),
            "model": args.model,
            "start": args.start,
            "rounds": args.rounds,
            "rows": rows,
        }
        print(f"wrote {atomic_write_text(args.json, json.dumps(result, indent=1) + chr(10))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
