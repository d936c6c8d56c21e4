"""Accuracy, per-class precision/recall and the confusion matrix (numpy only)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..labels import CLASSES


def metrics_from_predictions(labels: np.ndarray, pred: np.ndarray, class_names: tuple[str, ...] = CLASSES
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
        "per_class": {name: {"precision": None if np.isnan(precision[i]) else float(precision[i]),
                             "recall": None if np.isnan(recall[i]) else float(recall[i]),
                             "support": int(cm[i].sum())} for i, name in enumerate(class_names)},
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
