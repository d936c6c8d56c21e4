"""`fer-saliency`: occlusion saliency maps (paper section 4.4) of the model users get, one overlay PNG
per face plus a JSON summary. The faces go through `Recognizer.predict_faces` (the shipped graph)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import CLASSES, INPUT_SIZE
from .common import UsageError, add_model_options, cli_main, parser

PROG = "fer-saliency"


def build_parser() -> argparse.ArgumentParser:
    p = parser(PROG, __doc__ or "")
    p.add_argument("images", nargs="*", help="face images (any size; read as grayscale, resized to 48x48)")
    p.add_argument("--example", action="store_true", help="use the bundled example photo (implies --detect)")
    p.add_argument(
        "--detect",
        action="store_true",
        help="find faces in the images first and map each face, instead of resizing the whole image",
    )
    p.add_argument("--data", help="or: a data set (fer2013 | ckplus | jaffe | path) ...")
    p.add_argument("--split", default=None, help="... its split ...")
    p.add_argument("--index", type=int, nargs="+", default=[0], help="... and indices into it")
    add_model_options(p)
    p.add_argument("--patch", type=int, default=8, help="occluder size N")
    p.add_argument("--stride", type=int, default=2, help="stride s")
    p.add_argument("--out", default="saliency", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing maps and saliency.json")
    return p


def collect_faces(args: argparse.Namespace, rec: Any) -> list[tuple[str, np.ndarray, int | None]]:
    import cv2

    from ..files import read_image
    from ..runtime.assets import example_image
    from ..runtime.inputs import to_uint8

    faces: list[tuple[str, np.ndarray, int | None]] = []
    images = list(args.images)
    if args.example:
        images.insert(0, str(example_image()))
        args.detect = True
    for f in images:
        img = read_image(f)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if not args.detect:
            faces.append((Path(f).stem, cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA), None))
            continue
        det = rec.detect(img)
        if len(det) == 0:
            print(f"{PROG}: {f}: no face found", file=sys.stderr)
        # the face as the network sees it: aligned like the training crops, back to 0..255
        crops = to_uint8(rec.crops(img, det))
        for k, crop in enumerate(crops):
            faces.append((f"{Path(f).stem}_face{k}", crop, None))
    if args.data:
        from ..data.datasets import resolve_dataset

        ds = resolve_dataset(args.data, args.split)
        for i in args.index:
            if not 0 <= i < len(ds):
                raise UsageError(f"--index {i} out of range for {ds.name} ({len(ds)} faces)")
            faces.append((f"{ds.name.replace(':', '_')}_{i}", ds.images[i], int(ds.labels[i])))
    return faces


def plan_outputs(args: argparse.Namespace, faces: list[tuple[str, np.ndarray, int | None]]) -> dict[str, Path]:
    """Output file per face name (unique: a repeated stem gets _2, _3 ...) and saliency.json, checked before any
    map is computed: never an input, never an existing file without --overwrite."""
    from ..files import OutputPlan, display_name

    out = Path(args.out)
    plan = OutputPlan(list(args.images) + ([args.data] if args.data else []), args.overwrite, folders=[out])
    files: dict[str, Path] = {}
    for name, _, _ in faces:
        base, k, unique = display_name(name), 2, display_name(name)
        while unique in files:  # two inputs with the same stem: keep both maps
            unique, k = f"{base}_{k}", k + 1
        files[unique] = plan.add(out / f"{unique}.png", "saliency map")
    files["saliency.json"] = plan.add(out / "saliency.json", "summary")
    return files


def run(args: argparse.Namespace) -> int:
    from ..evaluation.saliency import occlusion_positions, occlusion_saliency, overlay
    from ..files import atomic_write_text, write_image
    from ..runtime.recognizer import Recognizer

    occlusion_positions((INPUT_SIZE, INPUT_SIZE), args.patch, args.stride)  # validates patch/stride first
    if not (args.images or args.example or args.data):
        raise UsageError("no faces: give face images, --detect with photos, --example or --data")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    rec = Recognizer(model=args.model, backend=args.backend, detector="auto" if (args.detect or args.example) else None)
    faces = collect_faces(args, rec)
    if not faces:
        raise UsageError("no faces found in the given images")
    files = plan_outputs(args, faces)

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.stack([f.probs for f in rec.predict_faces(batch)])

    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for (name, png), (_, img, truth) in zip(list(files.items())[:-1], faces):
        res = occlusion_saliency(predict, img, args.patch, args.stride)
        true_name = CLASSES[truth] if truth is not None and truth < len(CLASSES) else None
        truth_txt = f" (true: {true_name})" if true_name else ""
        write_image(
            png,
            overlay(img, res, title=f"pred {CLASSES[res.label]} p={res.prob:.2f}{truth_txt} | drop map | label flips"),
        )
        summary.append(
            {
                "name": name,
                "pred": CLASSES[res.label],
                "prob": res.prob,
                "truth": true_name,
                "max_drop": float(res.drop.max()),
                "flip_fraction": float((res.flip > 0).mean()),
                "png": str(png),
            }
        )
        print(f"{name}: {CLASSES[res.label]} p={res.prob:.2f}{truth_txt} -> {png}")
    atomic_write_text(files["saliency.json"], json.dumps(summary, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
