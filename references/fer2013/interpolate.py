"""Interpolate two checkpoints of one architecture, weight by weight (maintainer script; not installed).

    python references/fer2013/interpolate.py --start default --end RUN/best.pt --alpha 0.3 0.5 0.7 --out /tmp/soup

A robust fine-tune (``fer-train --init default --degrade 0.5``) gains on small, blurred, compressed faces and
loses some clean accuracy; the weights on the straight line between it and the model it started from often keep
most of both (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). For each alpha this writes
``OUT/alpha<A>.pt`` = (1 - alpha) * start + alpha * end -- every floating tensor, BatchNorm running statistics
included -- as an ordinary deepemotion checkpoint whose metadata names both ends and alpha.

With ``--select``, each alpha is also exported (FP32 ONNX) and measured through ``Recognizer.predict_faces`` on
FER2013 ``public_test:select`` -- the half of PublicTest for choices; never the faces one reports -- clean and under
the camera conditions (``CAMERA_CONDITIONS``); the alpha kept is the one with the best worst-condition accuracy
among those whose clean accuracy is within ``--max-clean-loss`` points of alpha 0. Writes OUT/selection.json and
OUT/selection.png (clean vs worst-condition accuracy along the line).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from deepemotion.training.checkpoint import model_from_state, read_checkpoint, save_checkpoint


def interpolate(start: dict, end: dict, alpha: float) -> dict[str, torch.Tensor]:
    """(1 - alpha) * start + alpha * end for floating tensors; the end's value for integer ones (counters)."""
    a, b = start["state_dict"], end["state_dict"]
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise SystemExit("the two checkpoints are not of one architecture (tensor names or shapes differ)")
    return {k: torch.lerp(a[k].float(), b[k].float(), alpha) if b[k].is_floating_point() else b[k].clone() for k in b}


def measure(path: Path) -> dict[str, Any]:
    """Clean and CAMERA_CONDITIONS accuracies of the checkpoint ``path`` (exported next to it) on public_test:select."""
    from deepemotion.data.datasets import resolve_dataset
    from deepemotion.evaluation.robustness import CAMERA_CONDITIONS, evaluate
    from deepemotion.export.onnx import export_portable

    ckpt = read_checkpoint(path)
    onnx_path = path.with_suffix(".onnx")
    export_portable(model_from_state(ckpt["config"], ckpt["state_dict"]), onnx_path)
    data = resolve_dataset("fer2013", split="public_test:select")
    res = evaluate(str(onnx_path), data.images, data.labels, list(CAMERA_CONDITIONS))
    acc = {r["condition"]: 100 * r["accuracy"] for r in res["rows"]}
    worst = min((c for c in acc if c != "clean"), key=acc.get)
    return {
        "clean": acc["clean"],
        "worst": worst,
        "worst_accuracy": acc[worst],
        "worst_drop": acc["clean"] - acc[worst],
        "accuracy": acc,
    }


def select(rows: list[dict[str, Any]], max_clean_loss: float) -> dict[str, Any]:
    """The row with the best worst-condition accuracy among those within ``max_clean_loss`` of alpha 0's clean."""
    base = min(rows, key=lambda r: r["alpha"])["clean"]
    allowed = [r for r in rows if r["clean"] >= base - max_clean_loss]
    return max(allowed, key=lambda r: r["worst_accuracy"])


def plot_selection(rows: list[dict[str, Any]], path: Path, chosen: float) -> None:
    from deepemotion.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = sorted(rows, key=lambda r: r["alpha"])
    a = [r["alpha"] for r in rows]
    ax.plot(a, [r["clean"] for r in rows], "o-", label="clean")
    ax.plot(a, [r["worst_accuracy"] for r in rows], "s-", label="worst condition")
    ax.axvline(chosen, color="grey", ls="--", label=f"chosen alpha {chosen:g}")
    ax.set_xlabel("alpha (0: start, 1: robust fine-tune)")
    ax.set_ylabel("accuracy on public_test:select (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start", required=True, help="checkpoint at alpha 0 (a bundled name or a .pt)")
    p.add_argument("--end", required=True, help="checkpoint at alpha 1 (a .pt)")
    p.add_argument("--alpha", type=float, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for alpha<A>.pt")
    p.add_argument("--select", action="store_true", help="measure each alpha on public_test:select and choose one")
    p.add_argument("--max-clean-loss", type=float, default=1.0, help="points of clean accuracy --select may give up")
    args = p.parse_args(argv)
    if any(not 0.0 <= a <= 1.0 for a in args.alpha):
        raise SystemExit("--alpha: values in [0, 1]")
    start, end = read_checkpoint(args.start), read_checkpoint(args.end)
    if start["config"] != end["config"]:
        raise SystemExit("the two checkpoints have different configs")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for alpha in args.alpha:
        state = interpolate(start, end, alpha)
        model = model_from_state(end["config"], state)  # refuses a state the config cannot load
        meta = dict(end.get("meta") or {})
        meta["interpolated"] = {
            "start": str(args.start),
            "end": str(args.end),
            "alpha": alpha,
            "start_command": (start.get("meta") or {}).get("command"),
            "end_command": (end.get("meta") or {}).get("command"),
            "end_interpolated": (end.get("meta") or {}).get("interpolated"),
        }
        path = args.out / f"alpha{alpha:g}.pt"
        save_checkpoint(path, model, meta, state_dict=state)  # atomic, the project's checkpoint format
        print(f"{path}  alpha {alpha:g}")
        if args.select:
            rows.append({"alpha": alpha, "checkpoint": path.name, **measure(path)})
            r = rows[-1]
            print(
                f"  public_test:select clean {r['clean']:.2f}%  worst {r['worst']} {r['worst_accuracy']:.2f}% "
                f"(-{r['worst_drop']:.2f})",
                flush=True,
            )
    if rows:
        chosen = select(rows, args.max_clean_loss)
        (args.out / "selection.json").write_text(
            json.dumps(
                {
                    "start": str(args.start),
                    "end": str(args.end),
                    "max_clean_loss": args.max_clean_loss,
                    "rule": "best worst-condition accuracy among alphas within max_clean_loss of alpha 0's clean "
                    "accuracy",
                    "chosen_alpha": chosen["alpha"],
                    "rows": rows,
                },
                indent=1,
            )
        )
        plot_selection(rows, args.out / "selection.png", chosen["alpha"])
        print(f"chosen: alpha {chosen['alpha']:g} ({args.out / chosen['checkpoint']}); {args.out / 'selection.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
