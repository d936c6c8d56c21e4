"""Accuracy, per-class precision/recall and the confusion matrix (numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import CLASSES


def metrics_from_predictions(
    labels: np.ndarray, pred: np.ndarray, class_names: tuple[str, ...] = CLASSES
) -> dict[str, Any]:
    k = len(class_names)
    labels = np.asarray(labels, np.int64)
    pred = np.asarray(pred, np.int64)
    if labels.shape != pred.shape:
        raise ValueError(f"labels {labels.shape} and predictions {pred.shape} differ in shape")
    if len(labels) and (min(labels.min(), pred.min()) < 0 or max(labels.max(), pred.max()) >= k):
        raise ValueError(f"labels and predictions must be in 0..{k - 1}")
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (labels, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), np.nan)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), np.nan)
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == pred).mean()) if len(labels) else float("nan"),
        "per_class": {
            name: {
                "precision": None if np.isnan(precision[i]) else float(precision[i]),
                "recall": None if np.isnan(recall[i]) else float(recall[i]),
                "support": int(cm[i].sum()),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": cm.tolist(),
        "class_names": list(class_names),
    }


def format_metrics(m: dict[str, Any], name: str = "") -> str:
    """A few lines of text: accuracy, then precision/recall/support per class."""
    lines = [f"{name + ': ' if name else ''}accuracy {m['accuracy']:.4f} on {m['n']} faces"]
    for cls, pc in m["per_class"].items():
        pr = "-" if pc["precision"] is None else f"{pc['precision']:.3f}"
        rc = "-" if pc["recall"] is None else f"{pc['recall']:.3f}"
        lines.append(f"  {cls:9s} precision {pr:>6}  recall {rc:>6}  support {pc['support']}")
    return "\n".join(lines)


# --- calibration: do the scores mean what they say? ------------------------------------------------------------
def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 15, floor_draws: int = 200) -> dict[str, Any]:
    """Expected calibration error of the top-class score (equal-width bins over [0, 1], as Guo et al. 2017) and
    the per-bin table of a reliability diagram: faces, mean score and accuracy in each non-empty bin.

    The binned ECE is biased upwards on a finite test set: each bin's accuracy is a sample mean, so even scores that
    are exactly right show a gap. Two figures put it in scale: `ece_floor`, the mean ECE over `floor_draws` label
    sets drawn from the scores themselves (what a perfectly calibrated model with these scores would show on this
    many faces; fixed seed), and `ece_debiased`, the per-bin squared gap minus its sampling variance (Kumar, Liang
    and Ma 2019, "Verified uncertainty calibration"), square-rooted with its sign kept (near 0, or below, when the
    gaps are no larger than sampling noise)."""
    p = np.asarray(probs, np.float64)
    y = np.asarray(labels, np.int64)
    if p.ndim != 2 or len(p) != len(y) or len(y) == 0:
        raise ValueError(f"probs must be (N, C) and labels (N,), N > 0; got {p.shape} and {y.shape}")
    score, right = p.max(1), p.argmax(1) == y
    which = np.clip(np.ceil(score * bins).astype(np.int64) - 1, 0, bins - 1)
    faces = np.bincount(which, minlength=bins)
    score_sum = np.bincount(which, score, bins)
    table, ece, sq = [], 0.0, 0.0
    for b in np.flatnonzero(faces):
        n = int(faces[b])
        conf, acc = float(score_sum[b] / n), float(right[which == b].mean())
        ece += n / len(y) * abs(acc - conf)
        if n > 1:  # a one-face bin has no variance estimate; it is left out of the debiased sum
            sq += n / len(y) * ((acc - conf) ** 2 - acc * (1 - acc) / (n - 1))
        table.append({"bin": [b / bins, (b + 1) / bins], "faces": n, "score": conf, "accuracy": acc})
    nll = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean())
    out = {
        "ece": float(ece),
        "ece_debiased": float(np.sign(sq) * np.sqrt(abs(sq))),
        "bins": bins,
        "nll": nll,
        "accuracy": float(right.mean()),
        "table": table,
    }
    if floor_draws:
        rng = np.random.default_rng(0)
        cum = np.cumsum(p / p.sum(1, keepdims=True), 1)
        top = p.argmax(1)
        draws = []
        for _ in range(floor_draws):  # per bin |right - score| summed over faces, divided by all faces
            drawn = np.minimum((rng.random((len(p), 1)) > cum).sum(1), p.shape[1] - 1)
            draws.append(np.abs(np.bincount(which, drawn == top, bins) - score_sum).sum() / len(y))
        out["ece_floor"] = float(np.mean(draws))
        out["ece_floor_draws"] = floor_draws
    return out


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.25, hi: float = 4.0) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (Guo et al. 2017), by
    golden-section search over log T (the NLL is unimodal in T)."""
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.int64)

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(1, keepdims=True)
        return float((np.log(np.exp(s).sum(1)) - s[np.arange(len(y)), y]).mean())

    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(60):
        if nll(c) < nll(d):
            b, d = d, c
            c = b - g * (b - a)
        else:
            a, c = c, d
            d = a + g * (b - a)
    return float(np.exp((a + b) / 2))
