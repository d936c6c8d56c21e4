"""`fer-eval`: accuracy, per-class precision/recall, the confusion matrix and the calibration of a model on a data
split; with --perturb, the same under a robot camera's conditions (small, blurred, compressed, noisy faces ...).

    fer-eval --model default --data fer2013 --split public_test
    fer-eval --model tiny --data fer2013 --split public_test --perturb --out results/   # all conditions
    fer-eval --data fer2013 --split public_test --perturb size20 blur1.2 jpeg20

A bundled model or an .onnx file is evaluated through `Recognizer.predict_faces` -- the same graph,
preprocessing and backend that users get, so the figure is exactly what `Recognizer` returns. A .pt checkpoint
is evaluated with PyTorch (its own forward, including in-graph TTA). Scores are checked for calibration: the
expected calibration error (ECE, 15 bins) of the top-class score and a reliability diagram.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .common import UsageError, add_model_options, cli_main, parser, require_torch

PROG = "fer-eval"


def build_parser() -> argparse.ArgumentParser:
    from ..evaluation.robustness import PERTURBATIONS

    p = parser(PROG, __doc__ or "")
    add_model_options(p)
    p.add_argument(
        "--data",
        required=True,
        help="fer2013 | ckplus | jaffe (from $DEEPEMOTION_DATA) or a path (.npz, FER2013 .csv, image folder)",
    )
    p.add_argument("--split", default=None, help="train | public_test | private_test (FER2013, when the data has it)")
    p.add_argument("--variant", default="images", help="JAFFE: images or images_facecrop")
    p.add_argument(
        "--perturb",
        nargs="*",
        default=None,
        metavar="CONDITION",
        help=f"accuracy under these conditions (none named: all): {', '.join(PERTURBATIONS)}",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random perturbations")
    p.add_argument(
        "--out",
        default=None,
        help="folder for metrics.json, confusion.png, reliability.png (and robustness.json/.png with --perturb)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace those files when they exist")
    return p


def plan_outputs(args: argparse.Namespace) -> dict[str, Path]:
    """The files this run writes, checked before the evaluation starts."""
    from ..files import OutputPlan

    if not args.out:
        return {}
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    plan = OutputPlan([args.data, args.model], args.overwrite, folders=[out])
    names = ["metrics.json", "confusion.png", "reliability.png"]
    names += ["robustness.json", "robustness.png"] if args.perturb is not None else []
    return {n: plan.add(out / n, n) for n in names}


def model_runner(args: argparse.Namespace) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """(faces -> probabilities, how): PyTorch for a checkpoint, else `Recognizer.predict_faces`. The model is loaded
    here, before the data, so that a model file that is refused is refused at once."""
    if args.model.endswith((".pt", ".pth")):
        require_torch(PROG)
        from ..evaluation.validate import predict_logits
        from ..runtime.classify import softmax
        from ..training.checkpoint import load_checkpoint

        model, _ = load_checkpoint(args.model)
        return (lambda images: softmax(predict_logits(model, images))), "PyTorch checkpoint"
    from ..runtime.recognizer import Recognizer, faces_probs

    rec = Recognizer(model=args.model, backend=args.backend, detector=None)
    return (lambda images: faces_probs(rec, images)), f"Recognizer.predict_faces, backend {rec.backend.name}"


def check_args(args: argparse.Namespace) -> None:
    """Options that need neither the model nor the data, checked first."""
    from ..evaluation.robustness import PERTURBATIONS

    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    unknown = [n for n in args.perturb or [] if n not in PERTURBATIONS]
    if unknown:
        raise UsageError(
            f"--perturb: unknown condition(s) {', '.join(unknown)}; choose from {', '.join(PERTURBATIONS)}"
        )
    if args.perturb is not None and args.model.endswith((".pt", ".pth")):
        raise UsageError("--perturb runs through Recognizer: give a bundled model or an .onnx file")


def write_figures(outputs: dict[str, Path], m: dict[str, Any], label: str) -> None:
    from ..files import atomic_write
    from ..plots import PlotUnavailable, plot_confusion, plot_reliability

    try:
        atomic_write(
            outputs["confusion.png"], lambda tmp: plot_confusion(m, tmp, title=f"{label}: accuracy {m['accuracy']:.2%}")
        )
        atomic_write(
            outputs["reliability.png"],
            lambda tmp: plot_reliability([(m["model"], m["calibration"])], tmp, title=f"{label}: reliability"),
        )
        print(f"wrote {outputs['confusion.png']} and {outputs['reliability.png']}")
    except PlotUnavailable as exc:
        print(f"{PROG}: figures skipped: {exc}", file=sys.stderr)


def run_perturbations(args: argparse.Namespace, data: Any, outputs: dict[str, Path]) -> None:
    from ..evaluation.robustness import evaluate, format_table, plot
    from ..files import atomic_write, atomic_write_text
    from ..plots import PlotUnavailable

    res = evaluate(args.model, data.images, data.labels, args.perturb or None, args.backend, args.seed, progress=True)
    res.update({"data": data.name, "split": args.split, "command": args.command})
    print("\n" + format_table(res))
    if outputs:
        atomic_write_text(outputs["robustness.json"], json.dumps(res, indent=2) + "\n")
        try:
            atomic_write(outputs["robustness.png"], lambda tmp: plot([res], tmp, f"{data.name}: {args.model}"))
        except PlotUnavailable as exc:
            print(f"{PROG}: robustness.png skipped: {exc}", file=sys.stderr)
        print(f"wrote {outputs['robustness.json']}")


def run(args: argparse.Namespace) -> int:
    from ..data.datasets import resolve_dataset
    from ..evaluation.metrics import format_metrics, metrics_from_predictions, reliability
    from ..files import atomic_write_text

    check_args(args)
    outputs = plan_outputs(args)
    predict, how = model_runner(args)
    kw: dict[str, Any] = {"variant": args.variant} if args.variant != "images" else {}
    data = resolve_dataset(args.data, args.split, **kw)
    probs = predict(data.images)
    m = metrics_from_predictions(data.labels, probs.argmax(1), data.class_names)
    m.update(
        {
            "model": Path(args.model).name if "/" in args.model else args.model,
            "data": data.name,
            "split": args.split,
            "evaluated_with": how,
            "command": args.command,
        }
    )
    if data.labels.max() < probs.shape[1]:
        m["calibration"] = reliability(probs, data.labels)
    print(format_metrics(m, f"{data.name} ({how})"))
    if "calibration" in m:
        c = m["calibration"]
        print(
            f"calibration: ECE {100 * c['ece']:.2f}% ({c['bins']} bins; scores that were exactly right would "
            f"show {100 * c['ece_floor']:.2f}% on these {len(data.labels):,} faces; debiased estimate "
            f"{100 * c['ece_debiased']:.2f}%), NLL {c['nll']:.4f}"
        )
    if outputs:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(outputs["metrics.json"], json.dumps(m, indent=2) + "\n")
        print(f"wrote {outputs['metrics.json']}")
        if "calibration" in m:
            write_figures(outputs, m, data.name)
    if args.perturb is not None:
        run_perturbations(args, data, outputs)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
