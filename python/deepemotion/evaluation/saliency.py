"""Occlusion saliency (paper section 4.4).

Slide an N x N patch with stride s over the face, zero it out, and record how much the probability
of the originally predicted class drops, and whether the predicted label changes. All occluded
copies of a face go through the model in one batch. Each pixel's score is the mean drop over the
patches covering it. Numpy only: `predict` may be any model (`fer-saliency` passes the
Recognizer's, so the maps explain exactly the shipped graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..labels import CLASSES

PredictFn = Callable[[np.ndarray], np.ndarray]  # uint8 (N, H, W) -> probabilities (N, K)


@dataclass
class SaliencyResult:
    label: int  # predicted class of the unoccluded face
    prob: float  # its probability
    drop: np.ndarray  # (H, W) mean drop of that probability over patches covering each pixel
    flip: np.ndarray  # (H, W) fraction of covering patches that changed the predicted label
    patch_drops: np.ndarray  # (rows, cols) drop per patch position
    patch_flips: np.ndarray  # (rows, cols) bool


def occlusion_positions(size: tuple[int, int], patch: int, stride: int) -> list[tuple[int, int]]:
    h, w = size
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be >= 1, got patch={patch}, stride={stride}")
    if patch > min(h, w):
        raise ValueError(f"patch {patch} is larger than the image {h}x{w}")
    ys = list(range(0, h - patch + 1, stride))
    xs = list(range(0, w - patch + 1, stride))
    # make sure the last row/column of pixels is covered too
    if ys[-1] != h - patch:
        ys.append(h - patch)
    if xs[-1] != w - patch:
        xs.append(w - patch)
    return [(y, x) for y in ys for x in xs]


def occlusion_saliency(
    predict: PredictFn, image: np.ndarray, patch: int = 8, stride: int = 2, fill: int = 0
) -> SaliencyResult:
    """Saliency map of one uint8 (H, W) face under `predict`; one batched call of `predict`."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W) uint8, got {image.shape} {image.dtype}")
    pos = occlusion_positions(image.shape, patch, stride)
    batch = np.repeat(image[None], len(pos) + 1, axis=0)
    for k, (y, x) in enumerate(pos, start=1):
        batch[k, y : y + patch, x : x + patch] = fill
    probs = np.asarray(predict(batch))
    label = int(np.argmax(probs[0]))
    p0 = float(probs[0, label])
    drops = p0 - probs[1:, label]
    flips = probs[1:].argmax(1) != label
    acc = np.zeros(image.shape, np.float64)
    acc_flip = np.zeros(image.shape, np.float64)
    cover = np.zeros(image.shape, np.float64)
    for (y, x), d, f in zip(pos, drops, flips):
        acc[y : y + patch, x : x + patch] += d
        acc_flip[y : y + patch, x : x + patch] += f
        cover[y : y + patch, x : x + patch] += 1
    rows = sorted({y for y, _ in pos})
    cols = sorted({x for _, x in pos})
    grid = np.zeros((len(rows), len(cols)))
    grid_flip = np.zeros((len(rows), len(cols)), bool)
    for (y, x), d, f in zip(pos, drops, flips):
        grid[rows.index(y), cols.index(x)] = d
        grid_flip[rows.index(y), cols.index(x)] = f
    return SaliencyResult(
        label, p0, (acc / cover).astype(np.float32), (acc_flip / cover).astype(np.float32), grid, grid_flip
    )


def overlay(image: np.ndarray, res: SaliencyResult, scale: int = 6, title: str | None = None) -> np.ndarray:
    """A BGR picture: the face, the drop map over it (red = important), and the label-flip regions."""
    import cv2

    h, w = image.shape
    face = cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
    face_bgr = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    d = np.clip(res.drop / max(1e-6, float(res.drop.max())), 0, 1) if res.drop.max() > 0 else np.zeros_like(res.drop)
    heat = cv2.applyColorMap((cv2.resize(d, (w * scale, h * scale)) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    mixed = cv2.addWeighted(face_bgr, 0.5, heat, 0.5, 0)
    flip = cv2.resize((res.flip > 0).astype(np.uint8), (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
    flipped = face_bgr.copy()
    contours, _ = cv2.findContours(flip, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(flipped, contours, -1, (0, 0, 255), 2)
    pad = np.full((h * scale, 8, 3), 255, np.uint8)
    row = np.hstack([face_bgr, pad, mixed, pad, flipped])
    bar = np.full((28, row.shape[1], 3), 255, np.uint8)
    text = (
        title
        or f"{CLASSES[res.label] if res.label < len(CLASSES) else res.label} p={res.prob:.2f} | "
        f"drop map (max {res.drop.max():.2f}) | label flips"
    )
    cv2.putText(bar, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, row])
