"""`fer-eval`: accuracy, per-class precision/recall and the confusion matrix of a model on a data split.

A bundled model or an .onnx file is evaluated through ``Recognizer.predict_faces`` -- the same
graph, preprocessing and backend that users get, so the figure is exactly what ``Recognizer``
returns. A .pt checkpoint is evaluated with PyTorch (its own forward, including in-graph TTA).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .common import cli_main, parser, require_torch

PROG = "fer-eval"


def build_parser() -> argparse.ArgumentParser:
    from ..runtime.assets import BUNDLED_MODELS
    from ..runtime.backends import backend_help

    p = parser(PROG, __doc__ or "")
    p.add_argument("--model", default="default", help=f"bundled model ({' | '.join(BUNDLED_MODELS)}), an .onnx file, "
                   "or a .pt checkpoint")
    p.add_argument("--data", required=True, help="fer2013 | ckplus | jaffe (from $DEEPEMOTION_DATA) or a path "
                   "(.npz, FER2013 .csv, image folder)")
    p.add_argument("--split", default=None, help="train | public_test | private_test (FER2013, when the data has it)")
    p.add_argument("--variant", default="images", help="JAFFE: images or images_facecrop")
    p.add_argument("--backend", default="auto", help=f"for bundled/.onnx models: {backend_help()}")
    p.add_argument("--out", default=None, help="folder for metrics.json and confusion.png")
    return p


def evaluate_runtime(model: str, images: np.ndarray, backend: str = "auto") -> tuple[np.ndarray, str]:
    """Predicted classes of 48x48 uint8 faces as ``Recognizer.predict_faces`` returns them."""
    from ..runtime.recognizer import Recognizer

    rec = Recognizer(model=model, backend=backend, detector=None)
    faces = rec.predict_faces(images)
    return np.array([f.class_id for f in faces], np.int64), rec.backend.name


def run(args: argparse.Namespace) -> int:
    from ..training.data import resolve_dataset
    from ..training.metrics import format_metrics, metrics_from_predictions

    kw: dict[str, Any] = {"variant": args.variant} if args.variant != "images" else {}
    data = resolve_dataset(args.data, args.split, **kw)
    if args.model.endswith((".pt", ".pth")):
        require_torch(PROG)
        from ..training.checkpoint import load_checkpoint
        from ..training.loop import predict_logits

        model, _ = load_checkpoint(args.model)
        pred = predict_logits(model, data.images).argmax(1)
        how = "PyTorch checkpoint"
    else:
        pred, backend = evaluate_runtime(args.model, data.images, args.backend)
        how = f"Recognizer.predict_faces, backend {backend}"
    m = metrics_from_predictions(data.labels, pred, data.class_names)
    m.update({"model": Path(args.model).name if "/" in args.model else args.model, "data": data.name,
              "split": args.split, "evaluated_with": how})
    print(format_metrics(m, f"{data.name} ({how})"))
    if args.out:
        from ..files import atomic_write_text
        from ..training.plots import PlotUnavailable, plot_confusion

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "metrics.json", json.dumps(m, indent=2))
        print(f"wrote {out / 'metrics.json'}")
        try:
            plot_confusion(m, out / "confusion.png", title=f"{data.name}: accuracy {m['accuracy']:.2%}")
            print(f"wrote {out / 'confusion.png'}")
        except PlotUnavailable as exc:
            print(f"{PROG}: confusion.png skipped: {exc}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
