"""`fer-predict`: emotions of the faces in images, video files or a camera.

    fer-predict --example                      # the bundled example photo
    fer-predict photos/*.jpg --out annotated/  # images (globs are expanded)
    fer-predict clip.mp4 --out annotated/      # a video file -> annotated video + JSON lines
    fer-predict --camera 0 --max-frames 300    # a camera index
    fer-predict --prefetch                     # download the YuNet detector into the cache, then exit

Annotated files are named <stem>_annotated.<ext> in --out (_2, _3, ... when two inputs share a name). Every
output is planned before the first frame: none may be an input, none may exist unless --overwrite, no two may
collide; each is written to a temporary file and renamed when it is complete, so a failed or interrupted run
leaves earlier outputs as they were. Exit codes: 0 done, 1 some inputs failed, 2 bad arguments or setup,
130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

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
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="write one JSON line per frame to FILE ('-' or no FILE: stdout)",
    )
    add_model_options(
        p, device=True, files="a model file (.onnx; .pt with --backend torch; .engine with --backend tensorrt)"
    )
    p.add_argument(
        "--detector",
        default="auto",
        choices=("auto", *DETECTORS),
        help="auto: YuNet when its model file is available (cached or downloadable), else Haar",
    )
    p.add_argument(
        "--detector-model", default=None, help="path of the YuNet ONNX file (default: $DEEPEMOTION_YUNET or the cache)"
    )
    p.add_argument("--min-face", type=int, default=40, help="smallest face side in pixels")
    p.add_argument(
        "--align",
        default="roll",
        choices=FRAMINGS,
        help="how a detected face is framed: roll (its box, turned upright beyond a 15-degree head roll), "
        "box, or landmarks (YuNet's five points)",
    )
    p.add_argument(
        "--smoothing",
        type=float,
        default=None,
        help="EMA of each tracked face's probabilities across "
        "video frames (0..1; default 0.5 for video/camera, 0 for images)",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop video/camera after this many frames")
    p.add_argument(
        "--sequential",
        action="store_true",
        help="video/camera: run the stages one after another instead of the pipelined stream",
    )
    p.add_argument(
        "--prefetch",
        action="store_true",
        help="download the YuNet detector model into the cache (for machines that will be offline) and exit",
    )
    p.add_argument("--quiet", action="store_true", help="print nothing but errors (and JSON lines on stdout)")
    p.add_argument("--overwrite", action="store_true", help="replace existing annotated copies and --json file")
    return p


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    out: list[str] = []
    for s in inputs:
        matches = sorted(glob.glob(s)) if any(c in s for c in "*?[") else [s]
        out.extend(matches if matches else [s])
    return out


class Outputs:
    """Every file of the run, planned before the first frame (`deepemotion.files.OutputPlan`): the annotated
    copy of each input (<stem>_annotated<suffix>, _2, _3 ... for repeated stems) and the --json file."""

    def __init__(
        self, folder: str, inputs: Sequence[str], camera: int | None, json_target: str | None, overwrite: bool
    ) -> None:
        from ..files import OutputPlan

        self.folder = Path(folder) if folder else None
        self.plan = OutputPlan(inputs, overwrite, folders=[self.folder] if self.folder else [])
        self.json = self.plan.add(json_target, "--json file") if json_target not in (None, "-") else None
        self.annotated: dict[str, Path] = {}
        if self.folder is None:
            return
        stems: dict[str, int] = {}
        sources = [(i, annotated_suffix(i)) for i in inputs] + (
            [(f"camera{camera}", ".mp4")] if camera is not None else []
        )
        for src, suffix in sources:
            from ..files import display_name

            stem = display_name(Path(src).stem)  # a name that is not UTF-8 is written with backslash escapes
            k = stems[stem] = stems.get(stem, 0) + 1
            self.annotated[src] = self.plan.add(
                self.folder / f"{stem}_annotated{'' if k == 1 else f'_{k}'}{suffix}", "annotated copy"
            )


def annotated_suffix(source: str) -> str:
    if Path(source).suffix.lower() in VIDEO_EXT:
        return VIDEO_OUT.get(Path(source).suffix.lower(), ("mp4v", ".mp4"))[1]
    return ".jpg"


class JsonLines:
    """JSON lines to stdout, or into a `deepemotion.files.PendingFile` beside the target, renamed onto it by
    `commit` (only when the run got through); `discard` removes it (a failed or interrupted run)."""

    def __init__(self, target: str | None, path: Path | None) -> None:
        from ..files import PendingFile

        self.stdout = target == "-"
        self.pending: PendingFile | None = None
        self.fh: TextIO | None = None
        self.lines = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # the plan allowed it: it exists, or is the run's --out
            self.pending = PendingFile(path)
            self.fh = open(self.pending.tmp, "w")

    def write(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, allow_nan=False) + "\n"
        self.lines += 1
        if self.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
        elif self.fh is not None:
            self.fh.write(line)

    def commit(self) -> None:
        if self.fh is None or self.pending is None:
            return
        self.fh.close()
        self.fh = None
        self.pending.commit()

    def discard(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
        if self.pending is not None:
            self.pending.discard()


def _print_faces(name: str, faces: list[Any], ms: float) -> None:
    print(f"{name}: {len(faces)} face(s) in {ms:.1f} ms")
    for f in faces:
        top = sorted(zip(CLASSES, f.probs), key=lambda t: -t[1])[:3]
        print(f"  box {f.box}: {f.label} ({f.score:.2f})  [" + ", ".join(f"{c} {p:.2f}" for c, p in top) + "]")


def run_image(path: str, rec: Any, outputs: Outputs, out: JsonLines, quiet: bool) -> bool:
    from ..files import display_name, read_image, write_image
    from ..runtime.draw import annotate

    try:
        frame = read_image(path)
    except (FileNotFoundError, IsADirectoryError, ValueError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return False
    t0 = time.perf_counter()
    faces = rec.predict(frame)
    ms = (time.perf_counter() - t0) * 1e3
    if not quiet:
        _print_faces(display_name(path), faces, ms)
    written = outputs.annotated.get(path)
    if written is not None:
        written.parent.mkdir(parents=True, exist_ok=True)
        write_image(written, annotate(frame, faces))
        if not quiet:
            print(f"  annotated copy: {written}")
    out.write(
        {
            "source": display_name(path),
            "frame": 0,
            "latency_ms": round(ms, 3),
            "faces": [f.to_dict() for f in faces],
            "annotated": str(written) if written else None,
        }
    )
    return True


class VideoOut:
    """The annotated video, written to a `deepemotion.files.PendingFile` beside its target and renamed when the
    stream ends well."""

    def __init__(self, path: Path | None, fourcc: str, fps: float) -> None:
        self.path, self.fourcc, self.fps = path, fourcc, fps
        self.writer: Any = None
        self.pending: Any = None

    def write(self, frame: Any, faces: list[Any]) -> None:
        import cv2

        from ..files import PendingFile
        from ..runtime.draw import annotate

        if self.path is None:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.pending = PendingFile(self.path)  # keeps the suffix: OpenCV picks the container from it
            self.writer = cv2.VideoWriter(
                str(self.pending.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (frame.shape[1], frame.shape[0])
            )
            if not self.writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write {self.fourcc} video here")
        self.writer.write(annotate(frame, faces))

    def close(self, keep: bool) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.pending is not None:
            if keep:
                self.pending.commit()
            else:
                self.pending.discard()


def run_stream(
    source: str | int,
    rec: Any,
    outputs: Outputs,
    out: JsonLines,
    quiet: bool,
    max_frames: int | None,
    show_progress: bool,
    sequential: bool,
) -> bool:
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
    fourcc = VIDEO_OUT.get("" if is_cam else Path(str(source)).suffix.lower(), ("mp4v", ".mp4"))[0]
    video = VideoOut(outputs.annotated.get(f"camera{source}" if is_cam else str(source)), fourcc, fps)
    bar = tqdm(total=total or None, unit="frame", desc=label, disable=None if show_progress else True)  # TTY only
    n, ok, t_start = 0, False, time.perf_counter()
    try:
        for r in rec.stream(source, max_frames=max_frames, pipelined=not sequential):
            video.write(r.frame, r.faces)
            out.write(
                {
                    "source": label,
                    "frame": r.index,
                    "latency_ms": round(r.latency_ms, 3),
                    "faces": [f.to_dict() for f in r.faces],
                }
            )
            n += 1
            bar.update(1)
        ok = n > 0
    finally:
        bar.close()
        video.close(keep=ok)
    if not quiet:
        wall = time.perf_counter() - t_start
        fps_txt = f", {n / wall:.1f} frames/s" if n and wall > 0 else ""
        print(f"{label}: {n} frames{fps_txt}" + (f"; annotated video: {video.path}" if video.path and ok else ""))
    return ok


def check_args(args: argparse.Namespace, inputs: list[str]) -> None:
    from ..runtime.stream import check_camera_index

    if not inputs and args.camera is None:
        raise UsageError("give image/video files, --example or --camera N (see --help)")
    if args.min_face < 1:
        raise UsageError(f"--min-face must be >= 1, got {args.min_face}")
    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.camera is not None:
        check_camera_index(args.camera)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")


def make_recognizer(args: argparse.Namespace, is_stream: bool, quiet: bool) -> Any:
    from ..runtime.recognizer import Recognizer

    smoothing = args.smoothing if args.smoothing is not None else (0.5 if is_stream else 0.0)
    rec = Recognizer(
        model=args.model,
        backend=args.backend,
        device=args.device,
        min_face=args.min_face,
        smoothing=smoothing,
        detector=args.detector,
        detector_model=args.detector_model,
        align=args.align,
    )
    if not quiet:
        info = rec.model_info()
        model = (
            f"bundled {rec.model_name!r} (FER2013 PublicTest accuracy {info['evaluation']['accuracy']:.1%})"
            if info
            else rec.model_name
        )
        print(f"model: {model}; backend: {rec.backend.name}; detector: {rec.detector_name}; framing: {rec.framing}")
    return rec


def run(args: argparse.Namespace) -> int:
    from ..runtime.assets import example_image

    if args.prefetch:
        from ..runtime.download import prefetch

        print(f"YuNet detector model: {prefetch()}")
        return 0
    inputs = expand_inputs(args.inputs)
    if args.example:
        inputs.insert(0, str(example_image()))
    check_args(args, inputs)
    outputs = Outputs(args.out, inputs, args.camera, args.json, args.overwrite)
    quiet = args.quiet or args.json == "-"
    rec = make_recognizer(
        args, args.camera is not None or any(Path(i).suffix.lower() in VIDEO_EXT for i in inputs), quiet
    )
    out = JsonLines(args.json, outputs.json)
    ok = True
    try:
        for src in inputs:
            if Path(src).suffix.lower() in VIDEO_EXT:
                ok &= run_stream(src, rec, outputs, out, quiet, args.max_frames, not args.quiet, args.sequential)
            else:
                rec.reset()
                ok &= run_image(src, rec, outputs, out, quiet)
        if args.camera is not None:
            ok &= run_stream(args.camera, rec, outputs, out, quiet, args.max_frames, not args.quiet, args.sequential)
    except BaseException:
        out.discard()  # a failed or interrupted run leaves the old --json file as it was
        raise
    if out.lines:
        out.commit()
    else:
        out.discard()
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
