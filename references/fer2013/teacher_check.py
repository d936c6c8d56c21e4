"""Is a teacher worth distilling from? (maintainer script)

    python references/fer2013/teacher_check.py default runs/teacher-large/best.pt --split public_test:select

Accuracy (PyTorch, FP32) of each checkpoint with and without flip averaging, and of their ensemble as
``fer-train --teacher A --teacher B --teacher-tta`` forms it (the flip-averaged logits averaged over the teachers), on
a split meant for choices (``public_test:select`` by default). A teacher helps only if the ensemble beats the best
single member with flip averaging by more than noise: the difference is printed with its paired standard error.
"""

from __future__ import annotations

import argparse

import numpy as np

from deepemotion.data.datasets import resolve_dataset
from deepemotion.evaluation.validate import predict_logits
from deepemotion.training.checkpoint import load_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="bundled model names or .pt files")
    p.add_argument("--data", default="fer2013")
    p.add_argument("--split", default="public_test:select")
    args = p.parse_args(argv)
    data = resolve_dataset(args.data, args.split)
    mirrored = np.ascontiguousarray(data.images[:, :, ::-1])
    flipped = []
    for spec in args.checkpoints:
        model, _ = load_model(spec)
        plain = predict_logits(model, data.images)
        both = (plain + predict_logits(model, mirrored)) / 2
        flipped.append(both)
        print(
            f"{spec}: {100 * (plain.argmax(1) == data.labels).mean():.2f}%, with flip averaging "
            f"{100 * (both.argmax(1) == data.labels).mean():.2f}% ({data.name}, {len(data)} faces)"
        )
    if len(flipped) > 1:
        ens = np.mean(flipped, axis=0)
        right = [(f.argmax(1) == data.labels) for f in flipped]
        best = int(np.argmax([r.mean() for r in right]))
        ens_right = ens.argmax(1) == data.labels
        diff, se = paired_difference(ens_right, right[best])
        print(
            f"ensemble with flip averaging: {100 * ens_right.mean():.2f}%; minus the best member "
            f"({args.checkpoints[best]}, flip averaging): {diff:+.2f} ± {se:.2f} points (paired standard error)"
        )
    return 0


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean of a - b, its standard error), in points, for two per-face correctness vectors on the same faces.
    Pairing removes the faces both get right or both get wrong, so this is far tighter than comparing two
    accuracies' own standard errors -- but on 1,741 faces a point is still about two standard errors."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return 100 * float(d.mean()), 100 * float(d.std(ddof=1) / np.sqrt(len(d)))


if __name__ == "__main__":
    raise SystemExit(main())
