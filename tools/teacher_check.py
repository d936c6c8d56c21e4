"""Is a teacher worth distilling from? (maintainer script)

    python tools/teacher_check.py default /work/runs/teacher-large/best.pt --split public_test:select

Accuracy (PyTorch, FP32) of each checkpoint with and without flip averaging, and of their ensemble as
``fer-train --teacher A --teacher B --teacher-tta`` forms it (the flip-averaged logits averaged over the teachers), on
a split meant for choices (``public_test:select`` by default). A teacher helps only if the ensemble beats the best
single member with flip averaging.
"""
from __future__ import annotations

import argparse

import numpy as np

from deepemotion.training.checkpoint import load_model
from deepemotion.training.data import resolve_dataset
from deepemotion.training.loop import predict_logits


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
        print(f"{spec}: {100 * (plain.argmax(1) == data.labels).mean():.2f}%, with flip averaging "
              f"{100 * (both.argmax(1) == data.labels).mean():.2f}% ({data.name}, {len(data)} faces)")
    if len(flipped) > 1:
        ens = np.mean(flipped, axis=0)
        print(f"ensemble with flip averaging: {100 * (ens.argmax(1) == data.labels).mean():.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
