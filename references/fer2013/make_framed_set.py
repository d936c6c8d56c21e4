"""Build a training set of faces framed by the detector, as Recognizer().predict frames them (maintainer script).

    python references/fer2013/make_framed_set.py --out /tmp/fer2013_framed.npz [--variants 1] [--seed 0]

Why: a face that the detector finds in a camera frame is cropped from its landmarks (or its box), and that
framing differs a little from face to face and from FER2013's own crops; a network trained on the original
crops only loses a few points on such faces (docs/results/detectors.json: "acc found" vs "acc crops").
Fine-tuning on crops made by the real pipeline closes most of that gap.

How: every FER2013 *Training* face (never a test split) is upscaled to 72-220 px, its brightness scaled by
0.6-1.4, and pasted at a random place into a 360x480 frame whose background is a blurred colour-noise
texture, random shapes or a scikit-image picture (``--backgrounds``; none of the detector benchmark's
photos). The default detector (YuNet) runs on the frame; the detection that matches the pasted face
(IoU >= 0.4) is cropped twice by the runtime's own crop op: aligned by its landmarks (the default) and by
its box (the box-to-crop mapping of Haar and caller boxes). Faces the detector misses keep only their
original crop.

Writes an .npz in the project's format (images, labels, split, ids, class_names): split "train" holds the
original Training crops plus the framed ones (ids "<id>/aligned<v>-s<seed>", "<id>/box<v>-s<seed>"), split
"public_test" the original PublicTest crops for model selection. ``--add-to`` adds framed crops (other seed,
other backgrounds) to a set written before. Train on it with
``fer-train --data OUT.npz --train-split train --val-split public_test --init <checkpoint> ...``.
Needs $DEEPEMOTION_DATA and the YuNet model ($DEEPEMOTION_YUNET or the cache).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

#: scikit-image sample pictures without people that the detector benchmark does not use
PICTURES = ("cell", "checkerboard", "colorwheel", "horse", "logo", "microaneurysms", "page", "text", "binary_blobs")


def noise_background(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """A blurred colour-noise texture."""
    import cv2

    mean = rng.uniform(30, 220, 3)
    noise = rng.normal(0, 45, hw + (3,)) + mean
    return np.clip(cv2.GaussianBlur(noise, (0, 0), float(rng.uniform(2, 8))), 0, 255).astype(np.uint8)


def clutter_background(rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """Random filled rectangles, circles and lines in random colours: sharp edges and flat areas."""
    import cv2

    h, w = hw
    img = np.empty(hw + (3,), np.uint8)
    img[:] = rng.integers(0, 256, 3, dtype=np.uint8)
    for _ in range(int(rng.integers(10, 40))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(10, 200)), y0 + int(rng.integers(10, 200))), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x0, y0), int(rng.integers(5, 80)), colour, -1)
        else:
            cv2.line(img, (x0, y0), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour, int(rng.integers(1, 8)))
    return img


def background(kind: str, rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """One frame's background: ``noise``, ``clutter``, ``pictures`` or ``mixed`` (one of the three at random)."""
    from deepemotion.data.scenes import background_photo

    if kind == "mixed":
        kind = ("noise", "clutter", "pictures")[int(rng.integers(0, 3))]
    if kind == "noise":
        return noise_background(rng, hw)
    if kind == "clutter":
        return clutter_background(rng, hw)
    img = background_photo(PICTURES[int(rng.integers(0, len(PICTURES)))], rng, hw)
    return np.clip(img * rng.uniform(0.5, 1.2, 3), 0, 255).astype(np.uint8)  # a random tint


def paste(
    face: np.ndarray, rng: np.random.Generator, frame_hw: tuple[int, int] = (360, 480), kind: str = "noise"
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """(BGR frame, true box) with ``face`` upscaled to 72-220 px, brightness x0.6-1.4, on a background."""
    import cv2

    h, w = frame_hw
    side = int(rng.integers(72, 221))
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big = np.clip(big * rng.uniform(0.6, 1.4), 0, 255).astype(np.uint8)
    bg = np.ascontiguousarray(background(kind, rng, frame_hw))
    x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    bg[y : y + side, x : x + side] = big[..., None]
    return bg, (x, y, side, side)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--variants", type=int, default=1, help="framed copies per training face (each: aligned + box)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--backgrounds",
        choices=("noise", "clutter", "pictures", "mixed"),
        default="noise",
        help="frame backgrounds: blurred colour noise, random shapes, scikit-image pictures the detector "
        "benchmark does not use (needs scikit-image), or a mix of the three",
    )
    p.add_argument(
        "--add-to",
        default=None,
        metavar="NPZ",
        help="a set this script wrote: keep all of it and add the new framed crops to its train split",
    )
    p.add_argument("--limit", type=int, default=0, help="only the first N training faces (0: all; for a try)")
    args = p.parse_args(argv)
    if args.variants < 1:
        p.error("--variants must be >= 1")
    if args.add_to and Path(args.add_to).resolve() == Path(args.out).resolve():
        p.error("--add-to and --out must differ (the old set is kept as it is)")
    return args


def framed_crops(train: object, n: int, args: argparse.Namespace, rng: np.random.Generator) -> tuple:
    """(crops, labels, ids, faces the detector missed): each face pasted, found by YuNet, cropped twice."""
    from tqdm.auto import tqdm

    from deepemotion.benchmarks.detectors import match_boxes
    from deepemotion.runtime.align import Aligner
    from deepemotion.runtime.detect import YuNetDetector

    detector = YuNetDetector()  # the default Recognizer()'s detector, with its defaults
    aligned, boxed = Aligner(framing="landmarks"), Aligner(framing="box")
    images, labels, ids, missed = [], [], [], 0
    for v in range(args.variants):
        for i in tqdm(range(n), desc=f"variant {v + 1}/{args.variants}", unit="face"):
            frame, box = paste(train.images[i], rng, kind=args.backgrounds)  # type: ignore[attr-defined]
            det = detector.detect(frame)
            m = int(match_boxes(np.array([box]), det.boxes)[0]) if len(det) else -1
            if m < 0:
                missed += 1
                continue
            one = det.take(slice(m, m + 1))
            for name, al in (("aligned", aligned), ("box", boxed)):
                images.append(al.crop_uint8(frame, one, detector.box_in_crop)[0])
                labels.append(int(train.labels[i]))  # type: ignore[attr-defined]
                ids.append(f"{train.ids[i]}/{name}{v}-s{args.seed}")  # type: ignore[attr-defined]
    return images, labels, ids, missed


def base_sets(args: argparse.Namespace, train: object, test: object, n: int) -> tuple:
    """(train part, test part) the framed crops are added to: the --add-to set's, or FER2013's own."""
    if args.add_to:
        old = np.load(args.add_to)
        if not {"images", "labels", "split", "ids"} <= set(old.files):
            sys.exit(f"{args.add_to}: not a set written by this script")
        tr = old["split"] == "train"
        return (
            (old["images"][tr], old["labels"][tr], [str(s) for s in old["ids"][tr]]),
            (
                old["images"][~tr],
                old["labels"][~tr],
                [str(s) for s in old["ids"][~tr]],
                [str(s) for s in old["split"][~tr]],
            ),
        )
    return (
        (train.images[:n], train.labels[:n], [str(s) for s in train.ids[:n]]),  # type: ignore[attr-defined]
        (test.images, test.labels, [str(s) for s in test.ids], ["public_test"] * len(test)),
    )  # type: ignore


def main(argv: list[str] | None = None) -> int:
    from deepemotion.data.datasets import resolve_dataset
    from deepemotion.files import atomic_write
    from deepemotion.labels import CLASSES, INPUT_SIZE

    args = parse_args(argv)
    train, test = resolve_dataset("fer2013", "train"), resolve_dataset("fer2013", "public_test")
    n = len(train) if args.limit <= 0 else min(args.limit, len(train))
    t0 = time.perf_counter()
    images, labels, ids, missed = framed_crops(train, n, args, np.random.default_rng(args.seed))
    framed = np.stack(images) if images else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
    (base_images, base_labels, base_ids), (test_images, test_labels, test_ids, test_split) = base_sets(
        args, train, test, n
    )
    arrays = {
        "images": np.concatenate([base_images, framed, test_images]),
        "labels": np.concatenate([base_labels, np.array(labels, np.int64), test_labels]),
        "split": np.array(["train"] * (len(base_images) + len(framed)) + test_split),
        "ids": np.array(base_ids + ids + test_ids),
        "class_names": np.array(CLASSES),
    }
    # a killed run leaves no half-written set under the final name
    atomic_write(args.out, lambda tmp: np.savez_compressed(tmp, **arrays))
    summary = {
        "command": "python references/fer2013/make_framed_set.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "training_faces": n,
        "variants": args.variants,
        "framed_crops": int(len(framed)),
        "train_split": int(len(base_images) + len(framed)),
        "missed_by_detector": missed,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
