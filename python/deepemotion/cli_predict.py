"""`fer-predict`: emotions of the faces in images, a video file or a camera.

    fer-predict --example                      # the bundled example photo
    fer-predict photos/*.jpg --out annotated/  # images (globs are expanded)
    fer-predict clip.mp4 --out annotated/      # a video file -> annotated video + JSON lines
    fer-predict --camera 0 --max-frames 300    # a camera index

Exit codes: 0 done, 1 some inputs could not be read, 2 bad arguments or setup (missing backend).
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Iterable

import numpy as np

from .labels import CLASSES

VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
# one colour per class (BGR)
COLOURS = [(60, 60, 230), (60, 160, 60), (160, 60, 160), (40, 200, 240), (200, 120, 40), (230, 200, 60),
           (170, 170, 170)]


def example_image() -> Path:
    from importlib import resources

    return Path(str(resources.files("deepemotion") / "assets" / "astronaut.jpg"))


def annotate(frame: np.ndarray, faces: Iterable[Any]) -> np.ndarray:
    """Draw each face's box, label, score and a bar per class."""
    import cv2

    out = frame.copy() if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    for f in faces:
        x, y, w, h = f.box
        col = COLOURS[f.class_id]
        thick = max(1, round(min(out.shape[:2]) / 300))
        cv2.rectangle(out, (x, y), (x + w, y + h), col, thick)
        text = f"{f.label} {f.score:.0%}"
        scale = max(0.4, min(1.2, w / 160))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y - 4 if y - th - 6 >= 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - 4), (x + tw + 4, ty + 2), col, -1)
        cv2.putText(out, text, (x + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        # probability bars beside the box
        bx = x + w + 4 if x + w + 90 < out.shape[1] else max(0, x - 90)
        bh = max(6, h // 10)
        for k, (name, p) in enumerate(zip(CLASSES, f.probs)):
            by = y + k * (bh + 2)
            if by + bh >= out.shape[0]:
                break
            cv2.rectangle(out, (bx, by), (bx + 60, by + bh), (40, 40, 40), -1)
            cv2.rectangle(out, (bx, by), (bx + int(60 * float(p)), by + bh), COLOURS[k], -1)
            cv2.putText(out, name[:3], (bx + 62, by + bh - 1), cv2.FONT_HERSHEY_SIMPLEX, bh / 22, (255, 255, 255), 1,
                        cv2.LINE_AA)
    return out


def _expand(inputs: list[str]) -> list[str]:
    out: list[str] = []
    for s in inputs:
        matches = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
        out.extend(matches if matches else [s])
    return out


def _emit(rec: dict[str, Any], json_out: IO[str] | None) -> None:
    if json_out is not None:
        json_out.write(json.dumps(rec) + "\n")
        json_out.flush()


def _run_image(path: str, rec: Any, out_dir: Path | None, json_out: IO[str] | None, quiet: bool) -> bool:
    import cv2

    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        print(f"fer-predict: cannot read image {path}", file=sys.stderr)
        return False
    t0 = time.perf_counter()
    faces = rec.predict(frame)
    ms = (time.perf_counter() - t0) * 1e3
    if not quiet:
        print(f"{path}: {len(faces)} face(s) in {ms:.1f} ms")
        for f in faces:
            top = sorted(zip(CLASSES, f.probs), key=lambda t: -t[1])[:3]
            print(f"  box {f.box}: {f.label} ({f.score:.2f})  [" + ", ".join(f"{c} {p:.2f}" for c, p in top) + "]")
    written = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = out_dir / f"{Path(path).stem}_annotated.jpg"
        cv2.imwrite(str(written), annotate(frame, faces))
        if not quiet:
            print(f"  annotated copy: {written}")
    _emit({"source": path, "frame": 0, "latency_ms": round(ms, 3), "faces": [f.to_dict() for f in faces],
           "annotated": str(written) if written else None}, json_out)
    return True


def _run_stream(source: str | int, rec: Any, out_dir: Path | None, json_out: IO[str] | None, quiet: bool,
                max_frames: int | None, show_progress: bool) -> bool:
    import cv2
    from tqdm.auto import tqdm

    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        print(f"fer-predict: cannot open {'camera' if isinstance(source, int) else 'video'} {source}", file=sys.stderr)
        return False
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if isinstance(source, str) else 0
    if max_frames:
        total = min(total, max_frames) if total > 0 else max_frames
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    name = f"camera{source}" if isinstance(source, int) else Path(source).stem
    bar = tqdm(total=total or None, unit="frame", desc=name, disable=not show_progress)
    n, lat = 0, []
    try:
        while max_frames is None or n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            t0 = time.perf_counter()
            faces = rec.predict(frame)
            lat.append((time.perf_counter() - t0) * 1e3)
            if out_dir is not None:
                if writer is None:
                    out_dir.mkdir(parents=True, exist_ok=True)
                    path = out_dir / f"{name}_annotated.mp4"
                    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (frame.shape[1], frame.shape[0]))
                writer.write(annotate(frame, faces))
            _emit({"source": str(source), "frame": n, "latency_ms": round(lat[-1], 3),
                   "faces": [f.to_dict() for f in faces]}, json_out)
            n += 1
            bar.update(1)
            if n % 10 == 0:
                bar.set_postfix(ms=f"{np.median(lat[-10:]):.1f}")
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
    if not quiet:
        med = f", median {np.median(lat):.1f} ms/frame" if lat else ""
        print(f"{name}: {n} frames{med}" + (f"; annotated video in {out_dir}" if out_dir and n else ""))
    return n > 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="image files (globs ok) or video files")
    p.add_argument("--example", action="store_true", help="run on the bundled example photo")
    p.add_argument("--camera", type=int, default=None, help="camera index (e.g. 0)")
    p.add_argument("--out", default="fer_output", help="folder for annotated images/videos (default fer_output; "
                   "'' to write none)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="write one JSON line per frame to FILE (default stdout)")
    p.add_argument("--model", default=None, help="model file (.onnx, .pt, TensorRT .engine); default bundled")
    p.add_argument("--backend", default="auto", help="auto | onnxruntime | onnxruntime-cuda | torch | tensorrt")
    p.add_argument("--device", default=None, help="cpu or cuda (for backends that have both)")
    p.add_argument("--min-face", type=int, default=40, help="smallest face side in pixels (default 40)")
    p.add_argument("--smoothing", type=float, default=None, help="EMA of probabilities across video frames "
                   "(0..1; default 0.5 for video/camera, 0 for images)")
    p.add_argument("--max-frames", type=int, default=None, help="stop video/camera after this many frames")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    from ._backends import BackendUnavailable
    from .recognizer import Recognizer

    inputs = _expand(args.inputs)
    if args.example:
        inputs.insert(0, str(example_image()))
    if not inputs and args.camera is None:
        p.error("give image/video files, --example or --camera N")
    is_stream = args.camera is not None or any(Path(i).suffix.lower() in VIDEO_EXT for i in inputs)
    smoothing = args.smoothing if args.smoothing is not None else (0.5 if is_stream else 0.0)
    try:
        rec = Recognizer(model=args.model, backend=args.backend, device=args.device, min_face=args.min_face,
                         smoothing=smoothing)
    except (BackendUnavailable, FileNotFoundError, ValueError) as exc:
        print(f"fer-predict: {exc}", file=sys.stderr)
        return 2
    json_out: IO[str] | None = None
    if args.json == "-":
        json_out = sys.stdout
    elif args.json:
        json_out = open(args.json, "w")
    quiet = args.quiet or args.json == "-"
    out_dir = Path(args.out) if args.out else None
    if not quiet:
        from .weights import bundled_metadata

        if args.model is None:
            meta = bundled_metadata()
            acc = meta["evaluation"]["accuracy_torch"]
            print(f"model: bundled {meta['name']} (FER2013 PublicTest accuracy {acc:.1%}); backend: {rec.backend.name}")
    ok = True
    try:
        for src in inputs:
            rec.reset()
            if Path(src).suffix.lower() in VIDEO_EXT:
                ok &= _run_stream(src, rec, out_dir, json_out, quiet, args.max_frames, not args.quiet)
            else:
                ok &= _run_image(src, rec, out_dir, json_out, quiet)
        if args.camera is not None:
            ok &= _run_stream(args.camera, rec, out_dir, json_out, quiet, args.max_frames, not args.quiet)
    finally:
        if json_out is not None and json_out is not sys.stdout:
            json_out.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
