"""One robustness plot from several ``fer-eval --perturb`` results (maintainer script).

    python references/fer2013/plot_robustness.py docs/results/robustness_previous/default_robustness.json \
        docs/results/robustness_default/robustness.json docs/results/robustness_previous/tiny_robustness.json \
        docs/results/robustness_tiny/robustness.json --out docs/results/robustness_before_after.png

Each file's ``model`` field labels its bars (``--labels`` overrides them, in order).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepemotion.evaluation.robustness import plot


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", type=Path, help="robustness.json files written by fer-eval --perturb")
    p.add_argument("--labels", nargs="+", default=None)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    results = [json.loads(f.read_text()) for f in args.results]
    if args.labels:
        if len(args.labels) != len(results):
            p.error(f"{len(args.labels)} labels for {len(results)} results")
        for r, label in zip(results, args.labels):
            r["label"] = label
    plot(results, str(args.out), args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
