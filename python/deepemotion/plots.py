"""Figures of training, evaluation and benchmarks (matplotlib, imported on use: `deepemotion[train]` or `[bench]`;
no torch)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or PlotUnavailable saying what to install."""
    try:
        import matplotlib
    except ImportError:
        raise PlotUnavailable(
            "plots need matplotlib: pip install matplotlib (or, in the clone of deepemotion, pip install '.[bench]')"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(metrics: dict[str, Any], path: str | os.PathLike[str], title: str = "") -> None:
    plt = pyplot()
    cm = np.array(metrics["confusion_matrix"], dtype=np.float64)
    names = metrics["class_names"]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{norm[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {metrics['accuracy']:.2%} (n={metrics['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> None:
    plt = pyplot()
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(ep, [h["train_accuracy"] for h in history], label="train (augmented)")
    for key, label in (("val_accuracy", "validation"), ("val_accuracy_raw", "validation (raw weights)")):
        if any(key in h for h in history):
            ax.plot(ep, [h.get(key, np.nan) for h in history], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_flops(
    points: Sequence[dict[str, Any]], path: str | os.PathLike[str], budget_mflops: float | None = None, title: str = ""
) -> None:
    """Scatter of accuracy against MFLOP per face; each point a dict with name, mflops, accuracy, params."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for p in points:
        ax.scatter(
            p["mflops"],
            100 * p["accuracy"],
            s=30 + p["params"] / 2e4,
            alpha=0.75,
            marker="*" if p.get("bundled") else "o",
        )
    if budget_mflops:
        ax.axvline(budget_mflops, color="grey", ls="--", lw=1)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 1.0, hi + 1.0)  # room for the labels
    ax.set_xscale("log")
    x0, x1 = ax.get_xlim()
    ax.set_xlim(x0 / 1.6, x1 * 2.2)
    if budget_mflops:
        ax.text(budget_mflops, ax.get_ylim()[0], " budget", color="grey", fontsize=7, va="bottom")
    # labels: bundled stars (which usually sit on their checkpoint's point) to the left, the others to the right;
    # labels of points at the same compute are stacked top-down (at least ``line`` points apart), with a leader line
    to_pt = 72.0 / fig.dpi
    line = 22.0
    placed: dict[tuple[bool, float], float] = {}
    for p in sorted(points, key=lambda q: -q["accuracy"]):
        left = bool(p.get("bundled"))
        x, y = p["mflops"], 100 * p["accuracy"]
        y_pt = ax.transData.transform((x, y))[1] * to_pt
        key = (left, round(float(np.log10(x)), 2))
        want = y_pt + (-6 if left else 5)
        if key in placed:
            want = min(want, placed[key] - line)
        placed[key] = want
        dy = want - y_pt
        ax.annotate(
            f"{p['name']}: {y:.2f}%\n{p['params'] / 1e6:.2f} M params",
            (x, y),
            textcoords="offset points",
            xytext=(-8 if left else 7, dy),
            ha="right" if left else "left",
            va="top" if left else "bottom",
            fontsize=7,
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"} if abs(dy) > 8 else None,
        )
    ax.set_xlabel("MFLOP per face (log scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "accuracy vs compute")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability(
    curves: Sequence[tuple[str, dict[str, Any]]], path: str | os.PathLike[str], title: str = ""
) -> None:
    """Reliability diagram: accuracy against mean top-class score per bin (`evaluation.metrics.reliability`
    results, one line per label), with the diagonal of perfect calibration and each curve's ECE. The bars are the
    sampling noise a perfectly calibrated model would show in each bin (95%: 1.96 sqrt(s (1 - s) / n) about the
    diagonal, s the bin's score, n its faces), and the legend gives the ECE such a model would show (the floor)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    for label, rel in curves:
        t = [b for b in rel["table"] if b["faces"] >= 10]  # bins with a handful of faces say nothing
        s = np.array([b["score"] for b in t])
        noise = 1.96 * np.sqrt(s * (1 - s) / np.array([b["faces"] for b in t]))
        floor = f" (exactly right: {100 * rel['ece_floor']:.2f}%)" if "ece_floor" in rel else ""
        (line,) = ax.plot(
            s, [b["accuracy"] for b in t], marker="o", ms=4, label=f"{label}: ECE {100 * rel['ece']:.2f}%{floor}"
        )
        ax.vlines(s, s - noise, s + noise, color=line.get_color(), alpha=0.3, lw=4)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("score (mean top-class probability in the bin)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title or "reliability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
