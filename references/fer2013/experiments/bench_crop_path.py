"""predict_faces with and without the direct path for 48x48 gray crops (maintainer script), alternated in one run.

    python references/fer2013/experiments/bench_crop_path.py --models default tiny --batches 1 64 --json
    docs/results/archive/crop_path.json

A batch of 48x48 gray crops is normalised directly ((v / 255 - MEAN) / STD, as in training) instead of
going through the C++ resampler, which for a crop of the network's size only reproduced the pixels (to 5e-4 of a
grey level). ``FaceFinder.always_resample = True`` restores the old path; both run side by side here, rounds
alternated, medians.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from deepemotion import Recognizer
from deepemotion.benchmarks.faces import time_recognizers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["default", "tiny"])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    recs = {}
    for m in args.models:
        for path in ("resample", "direct"):
            rec = Recognizer(model=m, detector=None)
            rec.finder.always_resample = path == "resample"
            recs[f"{m} {path}"] = rec
    times = time_recognizers(recs, args.batches, args.rounds, min_time=0.15)
    rows = []
    for b in args.batches:
        for m in args.models:
            old, new = (float(np.median(times[(f"{m} {q}", b)])) for q in ("resample", "direct"))
            rows.append({"model": m, "batch": b, "resample_ms": old * 1e3, "direct_ms": new * 1e3,
                         "latency_change": new / old - 1})
            change = 100 * (new / old - 1)
            print(f"{m:10s} batch {b:3d}: {old * 1e3:7.3f} -> {new * 1e3:7.3f} ms per call ({change:+.1f}%)")
    if args.json is not None:
        args.json.write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
