"""The measurements of `fer-bench`, one table: each suite names its option, says what it needs, runs on the parsed
options and reports a few lines. `fer-bench` adds an option per suite and runs the chosen ones in order."""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Suite:
    name: str  # key in the JSON, and the option (--NAME, or --no-NAME)
    help: str
    default_on: bool  # on unless --no-NAME (else off unless --NAME)
    run: Callable[[argparse.Namespace], Any]
    report: Callable[[Any], str]
    needs: tuple[tuple[str, str], ...] = ()  # (module, extra) imported first


def _backends(args: argparse.Namespace) -> Any:
    from .backends import bench_backends, ratios

    rows, skipped = bench_backends(
        tuple(args.batches), args.min_time, args.min_runs, args.engine, args.backends, model=args.model
    )
    return {"rows": rows, "skipped": skipped, "ratios": ratios(rows)}


def _report_backends(r: Any) -> str:
    from .backends import format_rows

    text = format_rows(r["rows"], r["skipped"])
    if r["ratios"]:
        text += "\n\nthroughput ratios, measured side by side in this run:\n" + "\n".join(r["ratios"])
    return text


def _stages(args: argparse.Namespace) -> Any:
    from .stages import bench_stages

    return bench_stages(args.min_time, args.min_runs, model=args.model)


def _report_stages(s: Any) -> str:
    if "error" in s:
        return f"predict() stages: {s['error']}"
    return (
        f"predict() on a 640x480 frame with one face ({s['backend']}, detector {s['detector']}), p50: detect "
        f"{s['detect_ms_p50']:.2f} ms, crop {s['crop_ms_p50']:.3f} ms, classify {s['classify_ms_p50']:.3f} ms, "
        f"total {s['predict_total_ms_p50']:.2f} ms (with given boxes {s['predict_with_boxes_ms_p50']:.3f} ms)"
    )


def _recognizer(args: argparse.Namespace) -> Any:
    from .recognizer import bench_recognizer

    return bench_recognizer(tuple(args.batches), model=args.model)


def _report_recognizer(r: Any) -> str:
    from .recognizer import format_recognizer

    return (
        "Recognizer.predict_faces vs plain ONNX Runtime (FP32 graph, its defaults), same faces, alternated:\n"
        + format_recognizer(r)
    )


def _stream(args: argparse.Namespace) -> Any:
    from .stages import bench_stream, synthetic_video

    with tempfile.TemporaryDirectory() as tmp:
        video = synthetic_video(str(Path(tmp) / "faces.avi"), frames=args.stream_frames)
        s = bench_stream(video, model=args.model)
    s["video"] = f"synthetic 640x480 MJPG, {args.stream_frames} frames, one moving face"
    return s


def _report_stream(s: Any) -> str:
    return (
        f"stream on a {s['frames']}-frame video ({s['faces']} faces, detector {s['detector']}): "
        + ", ".join(f"{k} {v:.1f} frames/s" for k, v in s["fps"].items())
        + f"; best pipelined / sequential {s['speedup']:.2f}x"
    )


def _detectors(args: argparse.Namespace) -> Any:
    from .detectors import run

    return run(
        args.detector_frames, seed=args.detector_seed, model=args.model, only_default=args.detector_setups == "default"
    )


def _report_detectors(d: Any) -> str:
    from .detectors import format_table

    return format_table(d)


def _accuracy(args: argparse.Namespace) -> Any:
    from ..data.datasets import resolve_dataset
    from ..evaluation.accuracy import accuracy_fp32_int8

    return accuracy_fp32_int8(args.model, resolve_dataset("fer2013", "public_test"))


def _report_accuracy(a: Any) -> str:
    return (
        f"FER2013 PublicTest via Recognizer.predict_faces: FP32 {a['onnxruntime']:.4f}, INT8 "
        f"{a['onnxruntime-int8']:.4f} ({a['delta_points']:+.2f} points)"
    )


def _kernels(args: argparse.Namespace) -> Any:
    from .._ext import cuda_available
    from .kernels import run

    rows = run("cpu", (1, 64, 4096), args.min_time / 2)
    return rows + (run("cuda", (1, 64, 4096), args.min_time / 2) if cuda_available() else [])


def _report_kernels(rows: Any) -> str:
    from .kernels import format_table

    return format_table(rows)


def _faces(args: argparse.Namespace) -> Any:
    from .faces import bench_faces

    return bench_faces(
        args.models or [args.model, "tiny"], tuple(args.batches), min_time=max(0.1, args.min_time / 3), progress=True
    )


def _report_faces(r: Any) -> str:
    from .faces import format_faces

    return f"Recognizer.predict_faces per model, in turns, {r['rounds']} rounds (medians):\n" + format_faces(r)


def _profile(args: argparse.Namespace) -> Any:
    from ..runtime.backends import auto_order
    from .profile import profile_session

    backends = args.backends or [e.name for e in auto_order(args.model, "cpu")][:1]
    options = {"split_warp": False} if getattr(args, "whole_graph", False) else {}
    return [profile_session(args.model, b, batch, **options) for b in backends for batch in args.batches]


def _report_profile(ps: Any) -> str:
    from .profile import format_profile

    return "\n".join(format_profile(p) for p in ps)


def _serve(args: argparse.Namespace) -> Any:
    from .serving import bench_serving

    return bench_serving(args.model, seconds=max(1.0, args.min_time))


def _report_serve(r: Any) -> str:
    from .serving import format_serving

    return (
        f"served vs local, {r['faces_per_call']} face(s) per call, best of {r['rounds']} alternated rounds:\n"
        + format_serving(r)
    )


def _cpp(args: argparse.Namespace) -> Any:
    from .cpp import ROUNDS, bench_cpp

    return bench_cpp(tuple(args.batches), min_time=max(0.1, args.min_time / ROUNDS), model=args.model)


def _report_cpp(r: Any) -> str:
    from .cpp import format_cpp

    return "the C++ SDK beside Python's Recognizer, in turns (medians over rounds):\n" + format_cpp(r)


SUITES: tuple[Suite, ...] = (
    Suite(
        "backends", "every available backend at --batches (its own table and plot)", True, _backends, _report_backends
    ),
    Suite("stages", "the stages of predict() on a 640x480 frame with one face", True, _stages, _report_stages),
    Suite(
        "recognizer",
        "Recognizer.predict_faces vs plain ONNX Runtime on the FP32 graph",
        False,
        _recognizer,
        _report_recognizer,
    ),
    Suite(
        "cpp",
        "the C++ SDK (libdeepemotion) beside Python's Recognizer: predict(frame) and predict_faces",
        False,
        _cpp,
        _report_cpp,
    ),
    Suite(
        "faces", "predict_faces faces/s of --models (default: --model and tiny), in turns", False, _faces, _report_faces
    ),
    Suite(
        "profile",
        "ONNX Runtime's per-op and per-node kernel time (--backends, default: the auto CPU backend)",
        False,
        _profile,
        _report_profile,
    ),
    Suite(
        "stream",
        "the pipelined stream against the sequential loop on a video with faces",
        False,
        _stream,
        _report_stream,
    ),
    Suite(
        "detectors",
        "detectors on PublicTest faces pasted into photos (needs $DEEPEMOTION_DATA)",
        False,
        _detectors,
        _report_detectors,
        (("skimage", "bench"),),
    ),
    Suite(
        "accuracy", "FP32 vs INT8 on FER2013 PublicTest (needs $DEEPEMOTION_DATA)", False, _accuracy, _report_accuracy
    ),
    Suite("kernels", "the affine_grid_sample micro-benchmark", False, _kernels, _report_kernels, (("torch", "train"),)),
    Suite(
        "serve",
        "local vs served by Triton (gRPC/HTTP, dynamic batching on/off) at 1, 8, 32 clients",
        False,
        _serve,
        _report_serve,
        (("tritonclient.grpc", "serve"),),
    ),
)
