"""How the score calibration's shape was chosen (maintainer script; not installed).

    python references/fer2013/experiments/calibration_choice.py --json docs/results/calibration_choice.json

``ScoreCalibration`` (deepemotion.model) scales each face's logits by a piecewise-linear function of its top
score; ``references/fer2013/bundle.py`` fits it on FER2013 ``public_test:calibrate`` with fixed knots and smoothness.
This script
compares those fixed choices -- knot sets, smoothness, and the single NLL temperature -- by cross-fitting the two
halves of PublicTest: fit on ``calibrate`` and measure the ECE on ``select``, fit on ``select`` and measure on
``calibrate``; a choice's figure is the mean of the two held-out ECEs, over the bundled models (their uncalibrated
PyTorch FP32 logits, as bundle.py fits them). No figure is measured on faces its own fit saw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from deepemotion.data.datasets import resolve_dataset
from deepemotion.evaluation.metrics import fit_temperature, reliability
from deepemotion.evaluation.validate import predict_logits
from deepemotion.files import atomic_write_text
from deepemotion.model import ScoreCalibration
from deepemotion.training.checkpoint import load_model, model_from_state

KNOT_SETS = {
    "2 knots": (1 / 7, 1.0),
    "3 knots": (1 / 7, 0.6, 1.0),
    "4 knots": (1 / 7, 0.5, 0.8, 1.0),
    "5 knots": (1 / 7, 0.45, 0.7, 0.88, 1.0),
}
SMOOTHNESS = (0.001, 0.01, 0.1)


def raw_logits(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(uncalibrated FP32 logits, labels) of a bundled model on a split."""
    model, meta = load_model(name)
    raw = model_from_state(model.config.uncalibrated().to_dict(), model.state_dict(), name)
    data = resolve_dataset("fer2013", split)
    return predict_logits(raw, data.images), data.labels


def held_out_ece(
    fit: Callable[[np.ndarray, np.ndarray], Callable[[torch.Tensor], torch.Tensor]],
    halves: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, float]:
    out = {}
    for a, b in (("calibrate", "select"), ("select", "calibrate")):
        f = fit(*halves[a])
        z, y = halves[b]
        with torch.no_grad():
            probs = torch.softmax(f(torch.from_numpy(z)).double(), 1).numpy()
        out[f"fit_{a}_ece_{b}"] = reliability(probs, y, floor_draws=0)["ece"]
    out["mean"] = float(np.mean(list(out.values())))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["default", "tiny"])
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    choices: dict[str, Callable[..., Any]] = {
        "none": lambda z, y: lambda t: t,
        "single temperature (NLL)": lambda z, y: lambda t, T=fit_temperature(z, y): t / T,
    }
    for name, knots in KNOT_SETS.items():
        for s in SMOOTHNESS:
            shipped = " (shipped)" if (knots, s) == (ScoreCalibration.KNOTS, ScoreCalibration.SMOOTHNESS) else ""
            choices[f"{name}, smoothness {s:g}{shipped}"] = lambda z, y, k=knots, s=s: ScoreCalibration.fit(z, y, k, s)
    rows = []
    per_model = {m: {h: raw_logits(m, f"public_test:{h}") for h in ("calibrate", "select")} for m in args.models}
    for choice, fit in choices.items():
        row: dict[str, Any] = {"choice": choice}
        for m, halves in per_model.items():
            row[m] = held_out_ece(fit, halves)
        row["mean_held_out_ece"] = float(np.mean([row[m]["mean"] for m in per_model]))
        rows.append(row)
        print(
            f"{choice:34s} "
            + "  ".join(f"{m} {100 * row[m]['mean']:.2f}%" for m in per_model)
            + f"  mean {100 * row['mean_held_out_ece']:.2f}%",
            flush=True,
        )
    best = min(rows[2:], key=lambda r: r["mean_held_out_ece"])
    print(f"lowest mean held-out ECE: {best['choice']}")
    if "(shipped)" not in best["choice"]:
        print("note: ScoreCalibration.KNOTS/SMOOTHNESS are not this choice")
    if args.json is not None:
        result = {
            "command": f"python references/fer2013/experiments/calibration_choice.py --json {args.json}",
            "what": "held-out 15-bin ECE of each calibration choice, cross-fitted over PublicTest's halves",
            "rows": rows,
            "lowest": best["choice"],
        }
        print(f"wrote {atomic_write_text(args.json, json.dumps(result, indent=1) + chr(10))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
