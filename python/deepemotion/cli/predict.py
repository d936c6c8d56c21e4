"""`fer-predict`: emotions of the faces in images, video files or a camera.

    fer-predict --example                      # the bundled example photo
    fer-predict photos/*.jpg --out annotated/  # images (globs are expanded)
    fer-predict clip.mp4 --out annotated/      # a video file -> annotated video + JSON lines
    fer-predict --camera 0 --max-frames 300    # a camera index
    fer-predict --prefetch                     # download the YuNet detector into the cache, then exit

Outputs never overwrite an input; annotated files are named <stem>_annotated.<ext> in --out, with
_2, _3, ... added when two inputs share a name. Exit codes: 0 done, 1 some inputs failed, 2 bad
arguments or setup.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..labels import CLASSES, FRAMINGS
from .common import UsageError, add_model_options, cli_main, one_line, parser

PROG = "fer-predict"
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
# container of the annotated video -> (fourcc, suffix); other inputs get mp4v in .mp4 (and are told so)
VIDEO_OUT = {".avi": ("MJPG", ".avi"), ".mp4": ("mp4v", ".mp4"), ".m4v": ("mp4v", ".mp4"), ".mov": ("mp4v", ".mov")}


def build_parser() -> argparse.ArgumentParser:
    from ..runtime.detect import DETECTORS

    p = parser(PROG, __doc__ or "")
    p.add_argument("inputs", nargs="*", help="image files (globs ok) or video files")
    p.add_argument("--example", action="store_true", help="run on the bundled example photo")
    p.add_argument("--camera", type=int, default=None, help="camera index (e.g. 0)")
    p.add_argument("--out", default="fer_output", help="folder for annotated images/videos ('' to write none)")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="write one JSON line per frame to FILE ('-' or no FILE: stdout)")
    add_model_options(p, device=True, files="a model file (.onnx; .pt with --backend torch; .engine with "
                      "--backend tensorrt)")
    p.add_argument("--detector", default="auto", choices=("auto", *DETECTORS),
                   help="auto: YuNet when its model file is available (cached or downloadable), else Haar")
    p.add_argument("--detector-model", default=None, help="path of the YuNet ONNX file (default: $DEEPEMOTION_YUNET "
                   "or the cache)")
    p.add_argument("--min-face", type=int, default=40, help="smallest face side in pixels")
    p.add_argument("--align", default="roll", choices=FRAMINGS,
                   help="how a detected face is framed: roll (its box, turned upright beyond a 15-degree head roll), "
                        "box, or landmarks (YuNet's five points)")
    p.add_argument("--smoothing", type=float, default=None, help="EMA of each tracked face's probabilities across "
                   "video frames (0..1; default 0.5 for video/camera, 0 for images)")
    p.add_argument("--max-frames", type=int, default=None, help="stop video/camera after this many frames")
    p.add_argument("--sequential", action="store_true", help="video/camera: run the stages one after another "
                   "instead of the pipelined stream")
    p.add_argument("--prefetch", action="store_true", help="download the YuNet detector model into the cache "
                   "(for machines that will be offline) and exit")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors (and JSON lines on stdout)")
    return p


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    out: list[str] = []
    for s in inputs:
        matches = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
        out.extend(matches if matches else [s])
    return out


class OutputNamer:
    """Unique output paths in one folder: <stem>_annotated<suffix>, then _2, _3, ... for repeated stems;
    never the path of an input."""

    def __init__(self, folder: Path, inputs: Sequence[str]) -> None:
        self.folder = folder
        self.used: set[str] = set()
        self.inputs = {os.path.realpath(i) for i in inputs if os.path.exists(i)}

    def __call__(self, source: str, suffix: str) -> Path:
        from ..files import display_name

        # a name that is not valid UTF-8 is written with backslash escapes (OpenCV cannot take it)
        stem = display_name(Path(source).stem) if source else "output"
        k = 1
        while True:
            name = f"{stem}_annotated{'' if k == 1 else f'_{k}'}{suffix}"
            path = self.folder / name
            if name not in self.used and os.path.realpath(path) not in self.inputs:
                self.used.add(name)
                return path
            k += 1


class JsonLines:
    """JSON lines to stdout, or to a file written atomically when the run ends (never onto an input)."""

    def __init__(self, target: str | None, inputs: Sequence[str]) -> None:
        self.target = target
        self.fh: IO[str] | None = None
        self.tmp: Path | None = None
        if target in (None, "-"):
            self.fh = sys.stdout if target == "-" else None
            return
        path = Path(target)
        if path.is_dir():
            raise UsageError(f"--json {target}: is a folder; give a file name")
        if not path.parent.exists():
            raise UsageError(f"--json {target}: no such folder {path.parent}")
        for i in inputs:
            if os.path.exists(i) and path.exists() and path.samefile(i):
                raise UsageError(f"--json {target}: is also an input; refusing to overwrite it")
        self.tmp = path.with_name(f".{path.name}.partial")
        self.fh = open(self.tmp, "w")

    def write(self, rec: dict[str, Any]) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(rec, allow_nan=False) + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.tmp is not None and self.fh is not None:
            self.fh.close()
            os.replace(self.tmp, self.target)  # type: ignore[arg-type]
            self.fh = None


def _print_faces(name: str, faces: list[Any], ms: float) -> None:
    print(f"{name}: {len(faces)} face(s) in {ms:.1f} ms")
    for f in faces:
        top = sorted(zip(CLASSES, f.probs), key=lambda t: -t[1])[:3]
        print(f"  box {f.box}: {f.label} ({f.score:.2f})  [" + ", ".join(f"{c} {p:.2f}" for c, p in top) + "]")


def run_image(path: str, rec: Any, namer: OutputNamer | None, out: JsonLines, quiet: bool) -> bool:

    from ..files import display_name, read_image, write_image
    from ..runtime.draw import annotate

    try:
        frame = read_image(path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return False
    t0 = time.perf_counter()
    faces = rec.predict(frame)
    ms = (time.perf_counter() - t0) * 1e3
    if not quiet:
        _print_faces(display_name(path), faces, ms)
    written = None
    if namer is not None:
        namer.folder.mkdir(parents=True, exist_ok=True)
        written = namer(path, ".jpg")
        write_image(written, annotate(frame, faces))
        if not quiet:
            print(f"  annotated copy: {written}")
    out.write({"source": display_name(path), "frame": 0, "latency_ms": round(ms, 3),
               "faces": [f.to_dict() for f in faces], "annotated": str(written) if written else None})
    return True


def run_stream(source: str | int, rec: Any, namer: OutputNamer | None, out: JsonLines, quiet: bool,
               max_frames: int | None, show_progress: bool, sequential: bool) -> bool:
    import cv2
    from tqdm.auto import tqdm

    from ..files import display_name
    from ..runtime.stream import open_capture

    is_cam = isinstance(source, int)
    label = f"camera {source}" if is_cam else display_name(source)
    try:
        cap = open_capture(source)
    except (FileNotFoundError, ValueError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return False
    total = 0 if is_cam else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    if max_frames:
        total = min(total, max_frames) if total > 0 else max_frames
    writer, path = None, None
    fourcc, suffix = VIDEO_OUT.get("" if is_cam else Path(str(source)).suffix.lower(), ("mp4v", ".mp4"))
    bar = tqdm(total=total or None, unit="frame", desc=label, disable=not show_progress)
    n, lat = 0, []
    t_start = time.perf_counter()
    rec.reset()
    try:
        for r in rec.stream(source, max_frames=max_frames, pipelined=not sequential):
            lat.append(r.latency_ms)
            if namer is not None:
                if writer is None:
                    from ..runtime.draw import annotate

                    namer.folder.mkdir(parents=True, exist_ok=True)
                    path = namer(f"camera{source}" if is_cam else str(source), suffix)
                    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps,
                                             (r.frame.shape[1], r.frame.shape[0]))
                    if not writer.isOpened():
                        raise OSError(f"{path}: OpenCV cannot write {fourcc} video here")
                writer.write(annotate(r.frame, r.faces))
            out.write({"source": label, "frame": r.index, "latency_ms": round(r.latency_ms, 3),
                       "faces": [f.to_dict() for f in r.faces]})
            n += 1
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.release()
    wall = time.perf_counter() - t_start
    if not quiet:
        fps_txt = f", {n / wall:.1f} frames/s" if n and wall > 0 else ""
        note = "" if is_cam or Path(str(source)).suffix.lower() in VIDEO_OUT else f" ({fourcc} in {suffix}: "\
            f"OpenCV writes no {Path(str(source)).suffix} here)"
        print(f"{label}: {n} frames{fps_txt}" + (f"; annotated video: {path}{note}" if path and n else ""))
    return n > 0


def run(args: argparse.Namespace) -> int:
    from ..runtime.assets import example_image
    from ..runtime.recognizer import Recognizer

    if args.prefetch:
        from ..runtime.download import yunet_model_path

        print(f"YuNet detector model: {yunet_model_path()}")
        return 0
    inputs = expand_inputs(args.inputs)
    if args.example:
        inputs.insert(0, str(example_image()))
    if not inputs and args.camera is None:
        raise UsageError("give image/video files, --example or --camera N (see --help)")
    if args.min_face < 1:
        raise UsageError(f"--min-face must be >= 1, got {args.min_face}")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {args.max_frames}")
    is_stream = args.camera is not None or any(Path(i).suffix.lower() in VIDEO_EXT for i in inputs)
    smoothing = args.smoothing if args.smoothing is not None else (0.5 if is_stream else 0.0)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    out = JsonLines(args.json, inputs)
    quiet = args.quiet or args.json == "-"
    rec = Recognizer(model=args.model, backend=args.backend, device=args.device, min_face=args.min_face,
                     smoothing=smoothing, detector=args.detector, detector_model=args.detector_model,
                     align=args.align)
    if not quiet:
        info = rec.model_info()
        model = f"bundled {rec.model_name!r} (FER2013 PublicTest accuracy {info['evaluation']['accuracy']:.1%})" \
            if info else rec.model_name
        print(f"model: {model}; backend: {rec.backend.name}; detector: {rec.detector_name}; framing: {rec.framing}")
    namer = OutputNamer(Path(args.out), inputs) if args.out else None
    ok = True
    try:
        for src in inputs:
            rec.reset()
            if Path(src).suffix.lower() in VIDEO_EXT:
                ok &= run_stream(src, rec, namer, out, quiet, args.max_frames, not args.quiet, args.sequential)
            else:
                ok &= run_image(src, rec, namer, out, quiet)
        if args.camera is not None:
            ok &= run_stream(args.camera, rec, namer, out, quiet, args.max_frames, not args.quiet, args.sequential)
    finally:
        out.close()
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
