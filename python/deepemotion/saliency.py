"""Occlusion saliency (paper section 4.4).

Slide an N x N patch with stride s over the face, zero it out, and record how much the probability
of the originally predicted class drops, and whether the predicted label changes. All occluded
copies of a face go through the model in one batch. Each pixel's score is the mean drop over the
patches covering it.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .labels import CLASSES

PredictFn = Callable[[np.ndarray], np.ndarray]  # uint8 (N, H, W) -> probabilities (N, K)


@dataclass
class SaliencyResult:
    label: int                 # predicted class of the unoccluded face
    prob: float                # its probability
    drop: np.ndarray           # (H, W) mean drop of that probability over patches covering each pixel
    flip: np.ndarray           # (H, W) fraction of covering patches that changed the predicted label
    patch_drops: np.ndarray    # (rows, cols) drop per patch position
    patch_flips: np.ndarray    # (rows, cols) bool


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


def occlusion_saliency(predict: PredictFn, image: np.ndarray, patch: int = 8, stride: int = 2,
                       fill: int = 0) -> SaliencyResult:
    """Saliency map of one uint8 (H, W) face under ``predict``; one batched call of ``predict``."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W) uint8, got {image.shape} {image.dtype}")
    pos = occlusion_positions(image.shape, patch, stride)
    batch = np.repeat(image[None], len(pos) + 1, axis=0)
    for k, (y, x) in enumerate(pos, start=1):
        batch[k, y:y + patch, x:x + patch] = fill
    probs = np.asarray(predict(batch))
    label = int(np.argmax(probs[0]))
    p0 = float(probs[0, label])
    drops = p0 - probs[1:, label]
    flips = probs[1:].argmax(1) != label
    acc = np.zeros(image.shape, np.float64)
    acc_flip = np.zeros(image.shape, np.float64)
    cover = np.zeros(image.shape, np.float64)
    for (y, x), d, f in zip(pos, drops, flips):
        acc[y:y + patch, x:x + patch] += d
        acc_flip[y:y + patch, x:x + patch] += f
        cover[y:y + patch, x:x + patch] += 1
    rows = sorted({y for y, _ in pos})
    cols = sorted({x for _, x in pos})
    grid = np.zeros((len(rows), len(cols)))
    grid_flip = np.zeros((len(rows), len(cols)), bool)
    for (y, x), d, f in zip(pos, drops, flips):
        grid[rows.index(y), cols.index(x)] = d
        grid_flip[rows.index(y), cols.index(x)] = f
    return SaliencyResult(label, p0, (acc / cover).astype(np.float32), (acc_flip / cover).astype(np.float32),
                          grid, grid_flip)


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
    text = title or f"{CLASSES[res.label] if res.label < len(CLASSES) else res.label} p={res.prob:.2f} | " \
                    f"drop map (max {res.drop.max():.2f}) | label flips"
    cv2.putText(bar, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, row])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-saliency", description="Occlusion saliency maps (paper section 4.4): "
                                "one overlay PNG per face plus a JSON summary.")
    p.add_argument("images", nargs="*", help="face images (any size; read as grayscale, resized to 48x48)")
    p.add_argument("--example", action="store_true", help="use the bundled example photo (implies --detect)")
    p.add_argument("--detect", action="store_true", help="find faces in the images first (OpenCV detector) and "
                   "map each face, instead of resizing the whole image")
    p.add_argument("--data", help="or: a data set (fer2013 | ckplus | jaffe | path) ...")
    p.add_argument("--split", default=None)
    p.add_argument("--index", type=int, nargs="+", default=[0], help="... and indices into it")
    p.add_argument("--model", default="bundled", help="checkpoint .pt or 'bundled'")
    p.add_argument("--patch", type=int, default=8, help="occluder size N (default 8)")
    p.add_argument("--stride", type=int, default=2, help="stride s (default 2)")
    p.add_argument("--out", default="saliency", help="output folder (default ./saliency)")
    args = p.parse_args(argv)
    from .cli_train import _require_torch

    if not _require_torch("fer-saliency"):
        return 2

    import cv2

    from .data import DataError, resolve_dataset
    from .train import predict_probs
    from .weights import load_model

    faces: list[tuple[str, np.ndarray, int | None]] = []
    images = list(args.images)
    if args.example:
        from .cli_predict import example_image

        images.insert(0, str(example_image()))
        args.detect = True
    try:
        detector = None
        if args.detect:
            from .detect import HaarDetector

            detector = HaarDetector()
        for f in images:
            img = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise DataError(f"{f}: cannot be read as an image")
            if detector is None:
                faces.append((Path(f).stem, cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA), None))
                continue
            boxes = detector.detect(img)
            if len(boxes) == 0:
                print(f"{f}: no face found", file=sys.stderr)
            for k, (x, y, w, h) in enumerate(boxes):
                crop = cv2.resize(img[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA)
                faces.append((f"{Path(f).stem}_face{k}", crop, None))
        if args.data:
            ds = resolve_dataset(args.data, args.split)
            for i in args.index:
                if not 0 <= i < len(ds):
                    raise DataError(f"index {i} out of range for {ds.name} ({len(ds)} faces)")
                faces.append((f"{ds.name.replace(':', '_')}_{i}", ds.images[i], int(ds.labels[i])))
        if not faces:
            p.error("no faces: give face images, --detect with photos, --example or --data")
        model, _ = load_model(args.model)
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"fer-saliency: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for name, img, truth in faces:
        res = occlusion_saliency(lambda b: predict_probs(model, b, tta_flip=False), img, args.patch, args.stride)
        truth_txt = f" (true: {CLASSES[truth]})" if truth is not None else ""
        title = f"pred {CLASSES[res.label]} p={res.prob:.2f}{truth_txt} | drop map | label flips"
        cv2.imwrite(str(out / f"{name}.png"), overlay(img, res, title=title))
        summary.append({"name": name, "pred": CLASSES[res.label], "prob": res.prob,
                        "truth": CLASSES[truth] if truth is not None else None,
                        "max_drop": float(res.drop.max()), "flip_fraction": float((res.flip > 0).mean()),
                        "png": str(out / f"{name}.png")})
        print(f"{name}: {CLASSES[res.label]} p={res.prob:.2f}{truth_txt} -> {out / (name + '.png')}")
    (out / "saliency.json").write_text(json.dumps(summary, indent=2))
    return 0
