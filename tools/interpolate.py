"""Interpolate two checkpoints of one architecture, weight by weight (maintainer script; not installed).

    python tools/interpolate.py --start default --end RUN/best.pt --alpha 0.3 0.5 0.7 --out /tmp/soup

A robust fine-tune (``fer-train --init default --degrade 0.5``) gains on small, blurred, compressed faces and
loses some clean accuracy; the weights on the straight line between it and the model it started from often keep
most of both (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). For each alpha this writes
``OUT/alpha<A>.pt`` = (1 - alpha) * start + alpha * end -- every floating tensor, BatchNorm running statistics
included -- as an ordinary deepemotion checkpoint whose metadata names both ends and alpha.

Choose alpha on ``public_test:select`` (``fer-eval --backend torch --split public_test:select --perturb ...``),
never on the faces you report.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from deepemotion.training.checkpoint import FORMAT, model_from_state, read_checkpoint


def interpolate(start: dict, end: dict, alpha: float) -> dict[str, torch.Tensor]:
    """(1 - alpha) * start + alpha * end for floating tensors; the end's value for integer ones (counters)."""
    a, b = start["state_dict"], end["state_dict"]
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise SystemExit("the two checkpoints are not of one architecture (tensor names or shapes differ)")
    return {k: torch.lerp(a[k].float(), b[k].float(), alpha) if b[k].is_floating_point() else b[k].clone()
            for k in b}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start", required=True, help="checkpoint at alpha 0 (a bundled name or a .pt)")
    p.add_argument("--end", required=True, help="checkpoint at alpha 1 (a .pt)")
    p.add_argument("--alpha", type=float, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for alpha<A>.pt")
    args = p.parse_args(argv)
    if any(not 0.0 <= a <= 1.0 for a in args.alpha):
        raise SystemExit("--alpha: values in [0, 1]")
    start, end = read_checkpoint(args.start), read_checkpoint(args.end)
    if start["config"] != end["config"]:
        raise SystemExit("the two checkpoints have different configs")
    args.out.mkdir(parents=True, exist_ok=True)
    for alpha in args.alpha:
        state = interpolate(start, end, alpha)
        model_from_state(end["config"], state)  # refuses a state the config cannot load
        meta = dict(end.get("meta") or {})
        meta["interpolated"] = {"start": str(args.start), "end": str(args.end), "alpha": alpha,
                                "start_command": (start.get("meta") or {}).get("command"),
                                "end_command": (end.get("meta") or {}).get("command")}
        path = args.out / f"alpha{alpha:g}.pt"
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"format": FORMAT, "config": end["config"], "state_dict": state, "meta": meta}, tmp)
        tmp.replace(path)
        print(f"{path}  alpha {alpha:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
