"""`fer-train`: train a DeepEmotion network (any member of the family) on real data."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .common import UsageError, cli_main, parser, require_torch

PROG = "fer-train"
# model.ARCHS (kept here so --help needs no torch)
ARCH_NAMES = ("paper", "tiny", "small", "base", "tiny-fast")
#: --time-budget at most a year: inf or 1e308 seconds cannot be divided into epochs
MAX_TIME_BUDGET_S = 365 * 86400.0
#: files that mark a folder as holding a run (training.loop.Trainer.prepare_folder refuses the same)
RUN_FILES = ("last.pt", "best.pt", "metrics.json")


def _ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        PROG,
        "Train DeepEmotion. With --val-split, the best epoch on that split is kept (best.pt); with "
        "--cv-folds K, K models are trained over subject-disjoint folds and the mean accuracy is "
        "reported. Defaults are the recipe of the bundled model (README, 'Training recipe').",
    )
    _data_options(p.add_argument_group("data and run folder"))
    _architecture_options(p.add_argument_group("architecture (a named member of the family, optionally changed)"))
    _recipe_options(p.add_argument_group("recipe"))
    _augment_options(p.add_argument_group("augmentation"))
    return p


def _data_options(d: Any) -> None:
    d.add_argument(
        "--data",
        required=True,
        help="fer2013 | ckplus | jaffe (from $DEEPEMOTION_DATA) or a path: .npz, FER2013 .csv, image folder",
    )
    d.add_argument("--train-split", default=None, help="e.g. train (FER2013)")
    d.add_argument("--val-split", default=None, help="e.g. public_test (FER2013); model selection uses it")
    d.add_argument("--cv-folds", type=int, default=0, help="subject-independent k-fold (CK+, JAFFE); 0: off")
    d.add_argument("--variant", default="images", help="JAFFE: images (whole frame) or images_facecrop")
    d.add_argument("--keep-contempt", action="store_true", help="CK+: keep the 8th class")
    d.add_argument("--out", required=True, help="run folder (checkpoints, metrics.json/csv, curves.png)")
    d.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt")
    d.add_argument("--overwrite", action="store_true", help="replace a run that OUT already holds")
    d.add_argument(
        "--init",
        default=None,
        metavar="CHECKPOINT",
        help="start from these weights (fine-tuning); the architecture is taken from the checkpoint",
    )
    d.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="stop after N more epochs (continue later with --resume); the schedule still spans --epochs",
    )
    d.add_argument("--device", default="cpu", help="cpu or cuda")
    d.add_argument(
        "--resident",
        choices=("auto", "on", "off"),
        default="auto",
        help="the faces, their augmentation and the camera chain on the training device, nothing in a "
        "step waiting for it (auto: on a GPU)",
    )
    d.add_argument("--quiet", action="store_true", help="no progress bars (one line per epoch still)")


def _architecture_options(m: Any) -> None:
    m.add_argument(
        "--arch",
        choices=ARCH_NAMES,
        default=None,
        help="base when not given (with --init: the "
        "checkpoint's). paper: the paper's network; tiny/small/base: VGG-style members (padded convs + BN); "
        "tiny-fast: the STN samples the face at 24x24 for its stages and its localization net sees the face "
        "pooled 2x (about 3x the default's faces/s)",
    )
    m.add_argument("--widths", type=_ints, default=None, help="channels per stage, e.g. 32,64,128,256")
    m.add_argument("--depths", type=_ints, default=None, help="convolutions per stage, e.g. 1,2,2,2")
    m.add_argument("--hidden", type=int, default=None, help="units of the first FC layer")
    m.add_argument("--dropout", type=float, default=None, help="dropout before the FC layers")
    m.add_argument(
        "--sample-size",
        type=int,
        default=None,
        help="pixels the STN samples the face at for the stages (48: the input size; tiny-fast: 24)",
    )
    m.add_argument(
        "--loc-pool",
        type=int,
        default=None,
        help="the localization net sees the face average-pooled by this factor (1: off; tiny-fast: 2)",
    )
    m.add_argument(
        "--tta-flip",
        action="store_true",
        help="flip averaging inside the network (doubles its FLOPs; exported into every graph)",
    )


def _recipe_options(r: Any) -> None:
    r.add_argument("--epochs", type=int, default=100)
    r.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a fresh run's wall time for its epochs: after the second epoch (the first carries the "
        "warm-up), --epochs becomes the number that fit (at most --epochs), so the schedule finishes "
        "in time (a lent GPU's minutes); a run whose epochs slow down stops before the budget",
    )
    r.add_argument("--batch-size", type=int, default=128)
    r.add_argument(
        "--optimizer",
        choices=("sgd", "adamw", "adam"),
        default="adamw",
        help="adamw: decoupled weight decay; sgd: Nesterov momentum; adam: the paper's",
    )
    r.add_argument("--lr", type=float, default=0.002, help="peak learning rate (paper: Adam 0.005)")
    r.add_argument("--momentum", type=float, default=0.9)
    r.add_argument(
        "--weight-decay",
        type=float,
        default=0.05,
        help="on conv/linear weights (not BN, biases or the FC weights of eq. (1)); decoupled with adamw",
    )
    r.add_argument("--l2-fc", type=float, default=1e-4, help="lambda of the ||w_fc||^2 term, paper eq. (1)")
    r.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    r.add_argument("--warmup-epochs", type=int, default=2)
    r.add_argument("--label-smoothing", type=float, default=0.1)
    r.add_argument(
        "--oversample", type=float, default=0.0, help="class sampling weight count^-p (0: natural, 1: balanced)"
    )
    r.add_argument(
        "--ema", type=float, default=0.999, help="decay of the weight average that is evaluated and kept (0: off)"
    )
    r.add_argument(
        "--teacher",
        action="append",
        default=[],
        metavar="CHECKPOINT",
        help="distil from this checkpoint (repeat for an ensemble; logits are averaged)",
    )
    r.add_argument("--kd-alpha", type=float, default=0.7, help="weight of the distillation term")
    r.add_argument("--kd-temperature", type=float, default=4.0)
    r.add_argument("--teacher-tta", action="store_true", help="the teacher averages each face with its mirror image")
    r.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="auto: bfloat16 autocast where the CPU has native bf16 (or on CUDA), else float32",
    )
    r.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="best: the epoch best on --val-split (model selection); last: the last epoch, --val-split only reported",
    )
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")


def _augment_options(a: Any) -> None:
    a.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    a.add_argument("--rotate-deg", type=float, default=10.0)
    a.add_argument("--scale", type=float, default=0.15, help="+- relative zoom")
    a.add_argument("--shear", type=float, default=0.1)
    a.add_argument("--translate", type=float, default=0.15, help="+- fraction of the half-size")
    a.add_argument("--brightness", type=float, default=0.4, help="+- relative brightness gain per face")
    a.add_argument("--contrast", type=float, default=0.3, help="+- relative contrast per face")
    a.add_argument("--erase-p", type=float, default=0.5, help="probability of random erasing per face")
    a.add_argument("--mixup", type=float, default=0.0, help="mixup Beta(a, a); 0: off")
    a.add_argument("--cutmix", type=float, default=0.0, help="cutmix Beta(a, a); 0: off")
    a.add_argument(
        "--degrade",
        type=float,
        default=0.0,
        help="probability that a face goes through a robot "
        "camera's chain (blur, a 12-40 px face, noise, JPEG; the teacher sees it before); 0: off",
    )


def _check_run_options(args: argparse.Namespace) -> None:
    """Usage errors of the run's own options (budget, stopping, folds, the teacher's TTA), before anything loads."""
    if args.teacher_tta and not args.teacher:
        raise UsageError("--teacher-tta changes how a teacher is run, and no --teacher is given")
    if args.time_budget is not None and not 0 < args.time_budget <= MAX_TIME_BUDGET_S:
        raise UsageError(
            f"--time-budget must be a positive number of seconds up to {MAX_TIME_BUDGET_S:.0f} (a year), "
            f"got {args.time_budget}"
        )
    if args.stop_after is not None and args.stop_after < 1:
        raise UsageError(f"--stop-after must be >= 1 (epochs of this call), got {args.stop_after}")
    if args.cv_folds and args.cv_folds < 2:
        raise UsageError(f"--cv-folds must be >= 2, got {args.cv_folds}")
    if args.time_budget is not None and args.cv_folds:
        raise UsageError("--time-budget fits one run's epochs; with --cv-folds each fold is its own run")


def _model_config(args: argparse.Namespace, init_config: dict[str, Any] | None) -> Any:
    """The network's configuration: `--init`'s checkpoint's (uncalibrated; only dropout may change) or the options'."""
    from ..model import DeepEmotionConfig, arch_config

    shape = ("arch", "widths", "depths", "hidden", "sample_size", "loc_pool")
    if init_config is not None:
        clash = ["--" + k.replace("_", "-") for k in shape if getattr(args, k) is not None]
        if clash:
            raise UsageError(
                f"--init takes the architecture from its checkpoint, so {', '.join(clash)} cannot change "
                "it: drop them to fine-tune, or leave out --init to train that architecture from scratch"
            )
        # a fine-tune changes the logits its score calibration was fitted to: references/fer2013/bundle.py fits a new
        # one
        model = DeepEmotionConfig.from_dict(init_config).uncalibrated()
        if args.dropout is not None:  # dropout has no weights: a fine-tune may change it
            model = replace(model, dropout=args.dropout)
    else:
        over = {k: getattr(args, k) for k in shape[1:] + ("dropout",) if getattr(args, k) is not None}
        model = arch_config(args.arch or "base", **over)
    return replace(model, tta_flip=True) if args.tta_flip else model


def make_config(args: argparse.Namespace, init_config: dict[str, Any] | None = None) -> Any:
    """TrainConfig from parsed options (architecture from `--init`'s checkpoint when given)."""
    from ..training.augment import AugmentConfig
    from ..training.config import TrainConfig

    _check_run_options(args)
    model = _model_config(args, init_config)
    aug = AugmentConfig(
        flip=not args.no_flip,
        rotate_deg=args.rotate_deg,
        scale=args.scale,
        shear=args.shear,
        translate=args.translate,
        brightness=args.brightness,
        contrast=args.contrast,
        erase_p=args.erase_p,
        mixup=args.mixup,
        cutmix=args.cutmix,
        degrade=args.degrade,
    )
    return TrainConfig(
        model=model,
        augment=aug,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        l2_fc=args.l2_fc,
        schedule=args.schedule,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        oversample=args.oversample,
        ema=args.ema,
        teachers=tuple(str(Path(t)) for t in args.teacher),
        kd_alpha=args.kd_alpha,
        kd_temperature=args.kd_temperature,
        teacher_tta=args.teacher_tta,
        precision=args.precision,
        keep=args.keep,
        seed=args.seed,
        threads=args.threads,
    )


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return out


def recipe_changes(recorded: Any, given: dict[str, Any]) -> list[str]:
    """What differs between a run's recorded training configuration and the one given now, as ``name: recorded X,
    given Y` (nested fields dotted: `model.widths``); empty when a resume may continue the run."""
    from ..training.config import comparable_recipe

    old, new = comparable_recipe(recorded), comparable_recipe(given)
    if old == new:
        return []
    if not isinstance(old, dict):
        return [f"no readable training configuration ({type(old).__name__})"]
    a, b = _flat(old), _flat(new)
    return [f"{k}: recorded {a.get(k)!r}, given {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_run_folder(folder: Path, cfg: Any, resume: bool, overwrite: bool) -> None:
    """What the trainer would refuse in `folder`, found before any data is read: a run there without --resume or
    --overwrite; with --resume, a last.pt that is not a readable checkpoint, or was written with other options (each
    named with its recorded value, e.g. the --epochs a --time-budget run chose)."""
    from ..training.checkpoint import read_checkpoint
    from ..training.loop import RunFolderInUse

    last = folder / "last.pt"
    if not resume:
        taken = [n for n in RUN_FILES if (folder / n).exists()]
        if taken and not overwrite:
            raise RunFolderInUse(
                f"{folder}: holds a run ({', '.join(taken)}); continue it with --resume, or "
                "replace it with --overwrite, or pick another --out"
            )
        return
    if not last.exists():
        return
    changes = recipe_changes(read_checkpoint(last).get("train_config"), cfg.to_dict())
    if changes:
        hint = (
            " (a --time-budget run records the epochs it chose: resume with that --epochs)"
            if any(c.startswith("epochs:") for c in changes)
            else ""
        )
        more = "; ..." if len(changes) > 4 else ""
        raise UsageError(
            f"{last}: was written with other training options: {'; '.join(changes[:4])}{more}{hint}; "
            "resume with the same options or use a new --out"
        )


def load_data(args: argparse.Namespace, split: str | None) -> Any:
    from ..data.datasets import resolve_dataset

    kw: dict[str, Any] = {}
    if getattr(args, "keep_contempt", False):
        kw["keep_contempt"] = True
    if getattr(args, "variant", None) and args.variant != "images":
        kw["variant"] = args.variant
    return resolve_dataset(args.data, split, **kw)


def run(args: argparse.Namespace) -> int:
    require_torch(PROG)
    from ..training.checkpoint import read_checkpoint
    from ..training.loop import Trainer

    init = read_checkpoint(args.init) if args.init else None
    cfg = make_config(args, init["config"] if init else None)
    out = Path(args.out)
    folders = [out / f"fold{k}" for k in range(args.cv_folds)] if args.cv_folds else [out]
    for folder in folders:  # refusals that need no data come before the data set is looked up
        check_run_folder(folder, cfg, args.resume, args.overwrite)
    meta = {
        "data": args.data if "/" not in args.data else Path(args.data).name,
        "train_split": args.train_split,
        "val_split": args.val_split,
        "command": args.command,
        "date": time.strftime("%Y-%m-%d"),
        "init": Path(args.init).name if args.init else None,
    }
    if args.cv_folds:
        return _cross_validate(args, cfg, out, meta, init)
    train_set = load_data(args, args.train_split)
    val_set = load_data(args, args.val_split) if args.val_split else None
    trainer = Trainer(
        cfg,
        train_set,
        val_set,
        out,
        device=args.device,
        meta=meta,
        resident={"auto": None, "on": True, "off": False}[args.resident],
    )
    trainer.prepare_folder(args.resume, args.overwrite)
    if init is not None and trainer.epoch == 0:
        trainer.model.load_state_dict(init["state_dict"])
        if trainer.ema is not None:
            trainer.ema.model.load_state_dict(init["state_dict"])
    print(
        f"training on {len(train_set)} faces ({train_set.name}); validation: "
        f"{len(val_set) if val_set is not None else 0} faces; {trainer.info['parameters']:,} parameters, "
        f"{trainer.info['mflops_per_face']:.1f} MFLOP/face; precision "
        f"{'bf16' if trainer.autocast is not None else 'fp32'}; data "
        f"{'resident on ' + args.device if trainer.resident else 'on the host'}; "
        f"config: {json.dumps(cfg.to_dict())}",
        flush=True,
    )
    res = trainer.fit(progress=not args.quiet, stop_after=args.stop_after, time_budget=args.time_budget)
    _write_summary(args, trainer, res, has_val=val_set is not None)
    return 0


def _write_summary(args: argparse.Namespace, trainer: Any, res: Any, has_val: bool) -> None:
    """curves.png (or why not) and summary.json of a finished run, the summary printed too."""
    from ..plots import PlotUnavailable, plot_history

    out, cfg = Path(args.out), trainer.cfg
    try:
        plot_history(res.history, out / "curves.png", title=f"{trainer.train_set.name}: {cfg.model.widths}")
    except PlotUnavailable as exc:
        print(f"{PROG}: curves.png skipped: {exc}", file=sys.stderr)
    summary = {
        "best_epoch": res.best_epoch,
        "best_val_accuracy": res.best_val_accuracy if has_val else None,
        "median_epoch_seconds": float(sorted(res.epoch_seconds)[len(res.epoch_seconds) // 2])
        if res.epoch_seconds
        else None,
        "total_seconds": res.total_seconds,
        "command": args.command,
        **trainer.info,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def _cross_validate(
    args: argparse.Namespace, cfg: Any, out: Path, meta: dict[str, Any], init: dict[str, Any] | None
) -> int:
    import numpy as np

    from ..data.datasets import subject_folds
    from ..evaluation.validate import evaluate
    from ..training.loop import Trainer

    data = load_data(args, None)
    folds = subject_folds(data.groups, args.cv_folds, seed=cfg.seed)
    accs, n_correct, n_total = [], 0, 0
    t0 = time.perf_counter()
    for k, (tr, te) in enumerate(folds):
        tr_set, te_set = data.subset(tr, f"{data.name}:fold{k}-train"), data.subset(te, f"{data.name}:fold{k}-test")
        if set(tr_set.groups.tolist()) & set(te_set.groups.tolist()):
            raise RuntimeError("a subject is in both the training and the test part of a fold")
        print(
            f"fold {k + 1}/{len(folds)}: train {len(tr_set)} faces, test {len(te_set)} faces "
            f"({len(set(te_set.groups.tolist()))} held-out subjects)",
            flush=True,
        )
        # No validation split on these small sets: the last epoch is kept (no peeking at the test fold).
        trainer = Trainer(cfg, tr_set, None, out / f"fold{k}", device=args.device, meta={**meta, "fold": k})
        trainer.prepare_folder(args.resume, args.overwrite)
        if init is not None and trainer.epoch == 0:
            trainer.model.load_state_dict(init["state_dict"])
            if trainer.ema is not None:
                trainer.ema.model.load_state_dict(init["state_dict"])
        trainer.fit(progress=not args.quiet)
        m = evaluate(trainer.selected_model(), te_set)
        accs.append(m["accuracy"])
        n_correct += round(m["accuracy"] * m["n"])
        n_total += m["n"]
        print(f"fold {k + 1}: test accuracy {m['accuracy']:.4f}", flush=True)
    summary = {
        "data": meta["data"],
        "variant": args.variant,
        "folds": len(folds),
        "fold_accuracies": accs,
        "mean_accuracy": float(np.mean(accs)),
        "std_accuracy": float(np.std(accs)),
        "pooled_accuracy": n_correct / n_total,
        "total_seconds": time.perf_counter() - t0,
        "init": meta["init"],
        "protocol": "subject-independent k-fold; last epoch kept per fold",
        "command": meta["command"],
    }
    (out / "cv_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
