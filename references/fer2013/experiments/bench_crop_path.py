"""predict_faces on 48x48 crops that skip the resampler (gray) and on the same crops through it (BGR), alternated in
one run (maintainer script).

    python references/fer2013/experiments/bench_crop_path.py --models default tiny --batches 1 64 --json
    crop_path.json

A batch of 48x48 gray crops is normalised directly ((v / 255 - MEAN) / STD, as in training); the same faces as BGR
(B = G = R) go through the C++ crop op, which for a crop of the network's size only reproduces the pixels (to 1e-3 of
a grey level). Both paths exist in the runtime; they run side by side here, in turns whose order reverses every round
(``deepemotion.benchmarks.timing.time_in_turns``), medians of the rounds. The comparison this script first made, gray
crops through the resampler as the runtime of then did, needed a switch that no longer exists; its answer is frozen in
docs/notes/2026-12-01-gray-crops-skip-the-resampler.md (docs/results/archive/crop_path.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deepemotion import Recognizer
from deepemotion.benchmarks.timing import time_in_turns
from deepemotion.files import atomic_write_text
from deepemotion.labels import INPUT_SIZE

PATHS = ("bgr", "gray")  # through the crop op, then the direct path


def time_paths(recs: dict[str, Recognizer], batches: list[int], rounds: int) -> dict[tuple[str, str, int], float]:
    """Median seconds per ``predict_faces`` call, keyed by (model, path, batch)."""
    gray = np.random.default_rng(0).integers(0, 256, (max(batches), INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    faces = {"gray": gray, "bgr": np.repeat(gray[..., None], 3, axis=3)}
    out: dict[tuple[str, str, int], list[float]] = {}
    for b in batches:
        calls = {
            (m, path): (lambda rec=rec, x=faces[path][:b]: rec.predict_faces(x))
            for m, rec in recs.items()
            for path in PATHS
        }
        for r in range(rounds):
            named = {f"{m} {path}": fn for (m, path), fn in calls.items()}
            times = time_in_turns(named, 0.15, 5, warmup=5, reverse=r % 2 == 1)
            for m, path in calls:
                out.setdefault((m, path, b), []).append(float(np.median(times[f"{m} {path}"])))
    return {k: float(np.median(v)) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["default", "tiny"])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    recs = {m: Recognizer(model=m, detector=None) for m in args.models}
    times = time_paths(recs, args.batches, args.rounds)
    rows = []
    for b in args.batches:
        for m in args.models:
            old, new = times[(m, "bgr", b)], times[(m, "gray", b)]
            rows.append(
                {
                    "model": m,
                    "batch": b,
                    "bgr_resampled_ms": old * 1e3,
                    "gray_direct_ms": new * 1e3,
                    "latency_change": new / old - 1,
                }
            )
            change = 100 * (new / old - 1)
            print(
                f"{m:10s} batch {b:3d}: {old * 1e3:7.3f} (BGR, resampled) -> {new * 1e3:7.3f} ms per call "
                f"(gray, direct) ({change:+.1f}%)"
            )
    if args.json is not None:
        print(f"wrote {atomic_write_text(args.json, json.dumps({'rounds': args.rounds, 'rows': rows}, indent=1))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
