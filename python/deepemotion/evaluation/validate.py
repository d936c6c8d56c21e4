"""A PyTorch model's logits and metrics on faces: `predict_logits` and `evaluate`, what the trainer's validation,
`fer-eval` on a checkpoint and the reference scripts measure with (in eval mode, float32 unless told)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.datasets import FaceSet
from ..model import DeepEmotion, to_input
from .metrics import metrics_from_predictions


@torch.no_grad()
def predict_logits(
    model: DeepEmotion, images: np.ndarray | torch.Tensor, batch_size: int = 512, autocast: torch.dtype | None = None
) -> np.ndarray:
    """Logits (N, C) of uint8 faces (N, 48, 48) in eval mode (with the model's own in-graph TTA, if any)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    imgs = torch.as_tensor(images)
    out = []
    try:
        for i in range(0, len(imgs), batch_size):
            x = to_input(imgs[i : i + batch_size]).to(device)
            with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
                out.append(model(x).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.num_classes), np.float32)


def evaluate(model: DeepEmotion, data: FaceSet, batch_size: int = 512) -> dict[str, Any]:
    """Accuracy, per-class precision/recall and the confusion matrix of `model` on `data` (float32)."""
    logits = predict_logits(model, data.images, batch_size)
    return metrics_from_predictions(data.labels, logits.argmax(1), data.class_names[: logits.shape[1]])
