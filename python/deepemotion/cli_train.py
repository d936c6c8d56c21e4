"""`fer-train` and `fer-eval`: train DeepEmotion on real data and evaluate checkpoints."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np


def _require_torch(prog: str) -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{prog}: needs PyTorch: pip install 'deepemotion[train]' (on a CPU-only machine pin a CPU "
              "build of torch with a constraints file, as constraints.txt does, to avoid a multi-GB CUDA download)",
              file=sys.stderr)
        return False
    return True


def _add_config_args(p: argparse.ArgumentParser) -> None:
    from .train import TrainConfig

    d = TrainConfig()
    g = p.add_argument_group("model and recipe (defaults: paper recipe + the changes noted)")
    g.add_argument("--width", type=int, default=d.width, help=f"feature conv channels (default {d.width})")
    g.add_argument("--hidden", type=int, default=d.hidden, help=f"units of the first FC layer (default {d.hidden})")
    g.add_argument("--dropout", type=float, default=d.dropout)
    g.add_argument("--batch-norm", action="store_true", help="batch norm after each feature conv (ours)")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (paper: 0.005; default {d.lr})")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--l2-fc", type=float, default=d.l2_fc, help="lambda of the ||w_fc||^2 term, eq. (1)")
    g.add_argument("--schedule", choices=["cosine", "constant"], default=d.schedule)
    g.add_argument("--warmup-epochs", type=int, default=d.warmup_epochs)
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    g.add_argument("--oversample", type=float, default=d.oversample,
                   help="class sampling weight count^-p (0: none, 1: balanced; default %(default)s)")
    g.add_argument("--rotate-deg", type=float, default=d.rotate_deg)
    g.add_argument("--no-flip", action="store_true")
    g.add_argument("--no-tta", action="store_true", help="no test-time flip averaging in validation")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--threads", type=int, default=d.threads, help="torch threads (0: PyTorch default)")


def _config(args: argparse.Namespace) -> Any:
    from .train import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    kw = {k: v for k, v in vars(args).items() if k in names}
    kw["flip"] = not args.no_flip
    kw["tta_flip"] = not args.no_tta
    return TrainConfig(**kw)


def _load(args: argparse.Namespace, split: str | None) -> Any:
    from .data import resolve_dataset

    kw: dict[str, Any] = {}
    if getattr(args, "keep_contempt", False):
        kw["keep_contempt"] = True
    if getattr(args, "variant", None) and args.variant != "images":
        kw["variant"] = args.variant
    return resolve_dataset(args.data, split, **kw)


def train_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="fer-train",
        description="Train DeepEmotion. With --val-split, the best epoch on that split is kept (best.pt); with "
                    "--cv-folds K, K models are trained over subject-disjoint folds and the mean accuracy reported.")
    p.add_argument("--data", required=True,
                   help="fer2013 | ckplus | jaffe (from $DEEPEMOTION_DATA) or a path: .npz, FER2013 .csv, image folder")
    p.add_argument("--train-split", default=None, help="e.g. train (FER2013)")
    p.add_argument("--val-split", default=None, help="e.g. public_test (FER2013); model selection uses it")
    p.add_argument("--cv-folds", type=int, default=0, help="subject-independent k-fold (CK+, JAFFE)")
    p.add_argument("--variant", default="images", help="JAFFE: images (whole frame) or images_facecrop")
    p.add_argument("--keep-contempt", action="store_true", help="CK+: keep the 8th class")
    p.add_argument("--out", required=True, help="output folder (checkpoints, metrics.json/csv, plots)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if not _require_torch("fer-train"):
        return 2
    _add_config_args(p)
    args = p.parse_args(argv)

    from .data import DataError
    from .train import plot_history, train

    cfg = _config(args)
    out = Path(args.out)
    command = "fer-train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    meta = {"data": args.data, "train_split": args.train_split, "val_split": args.val_split, "command": command,
            "date": time.strftime("%Y-%m-%d")}
    try:
        if args.cv_folds:
            return _cross_validate(args, cfg, out, meta)
        train_set = _load(args, args.train_split)
        val_set = _load(args, args.val_split) if args.val_split else None
    except DataError as exc:
        print(f"fer-train: error: {exc}", file=sys.stderr)
        return 2
    print(f"training on {len(train_set)} faces ({train_set.name}); validation: "
          f"{len(val_set) if val_set is not None else 0} faces; config: {json.dumps(asdict(cfg))}", flush=True)
    res = train(cfg, train_set, val_set, out, resume=args.resume, progress=not args.quiet, meta=meta)
    plot_history(res.history, out / "curves.png")
    summary = {"best_epoch": res.best_epoch, "best_val_accuracy": res.best_val_accuracy if val_set else None,
               "median_epoch_seconds": float(np.median(res.epoch_seconds)) if res.epoch_seconds else None,
               "total_seconds": res.total_seconds, "command": command}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


def _cross_validate(args: argparse.Namespace, cfg: Any, out: Path, meta: dict[str, Any]) -> int:
    from .data import subject_folds
    from .train import evaluate, load_checkpoint, train

    data = _load(args, None)
    folds = subject_folds(data.groups, args.cv_folds, seed=cfg.seed)
    accs, n_correct, n_total = [], 0, 0
    t0 = time.perf_counter()
    for k, (tr, te) in enumerate(folds):
        tr_set, te_set = data.subset(tr, f"{data.name}:fold{k}-train"), data.subset(te, f"{data.name}:fold{k}-test")
        assert not set(tr_set.groups.tolist()) & set(te_set.groups.tolist())
        print(f"fold {k + 1}/{len(folds)}: train {len(tr_set)} faces, test {len(te_set)} faces "
              f"({len(set(te_set.groups.tolist()))} held-out subjects)", flush=True)
        # No separate validation split on these small sets: the last epoch is kept (no peeking at the test fold).
        train(cfg, tr_set, None, out / f"fold{k}", progress=not args.quiet, meta={**meta, "fold": k})
        model, _ = load_checkpoint(out / f"fold{k}" / "best.pt")
        m = evaluate(model, te_set, tta_flip=cfg.tta_flip)
        accs.append(m["accuracy"])
        n_correct += round(m["accuracy"] * m["n"])
        n_total += m["n"]
        print(f"fold {k + 1}: test accuracy {m['accuracy']:.4f}", flush=True)
    summary = {"data": args.data, "variant": args.variant, "folds": len(folds), "fold_accuracies": accs,
               "mean_accuracy": float(np.mean(accs)), "std_accuracy": float(np.std(accs)),
               "pooled_accuracy": n_correct / n_total, "total_seconds": time.perf_counter() - t0,
               "protocol": "subject-independent k-fold; last epoch kept per fold", "command": meta["command"]}
    (out / "cv_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


def eval_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-eval", description="Evaluate a checkpoint (or the bundled model) on a data "
                                "split: accuracy, per-class precision/recall, confusion matrix (JSON + PNG).")
    p.add_argument("--model", default="bundled", help="checkpoint .pt, or 'bundled' (default)")
    p.add_argument("--data", required=True, help="fer2013 | ckplus | jaffe or a path (.npz, .csv, folder)")
    p.add_argument("--split", default=None, help="e.g. public_test")
    p.add_argument("--variant", default="images")
    p.add_argument("--out", default=None, help="folder for metrics.json and confusion.png")
    p.add_argument("--no-tta", action="store_true", help="no test-time flip averaging")
    args = p.parse_args(argv)
    if not _require_torch("fer-eval"):
        return 2

    from .data import DataError
    from .train import evaluate, plot_confusion
    from .weights import load_model

    try:
        model, meta = load_model(args.model)
        data = _load(args, args.split)
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"fer-eval: error: {exc}", file=sys.stderr)
        return 2
    tta = False if args.no_tta else bool(meta.get("tta_flip", True))
    m = evaluate(model, data, tta_flip=tta)
    m.update({"model": args.model, "data": args.data, "split": args.split, "tta_flip": tta})
    print(f"{data.name}: accuracy {m['accuracy']:.4f} on {m['n']} faces (tta_flip={tta})")
    for name, pc in m["per_class"].items():
        pr = "-" if pc["precision"] is None else f"{pc['precision']:.3f}"
        rc = "-" if pc["recall"] is None else f"{pc['recall']:.3f}"
        print(f"  {name:9s} precision {pr:>6}  recall {rc:>6}  support {pc['support']}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(m, indent=2))
        plot_confusion(m, out / "confusion.png", title=f"{data.name}: accuracy {m['accuracy']:.2%}")
        print(f"wrote {out / 'metrics.json'} and {out / 'confusion.png'}")
    return 0
