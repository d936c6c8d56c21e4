"""`fer-bench`: latency and throughput of every available backend, side by side in one run.

    fer-bench                                  # all available backends, batches 1 8 64 256, predict() stages
    fer-bench --batches 1 64 --min-time 2 --json bench.json --plot bench.png
    fer-bench --engine model.engine            # include TensorRT (an engine from `fer-export engine`)
    fer-bench --stream                         # pipelined stream vs the sequential loop on a video with faces
    fer-bench --recognizer                     # Recognizer.predict_faces vs plain ONNX Runtime on the FP32 graph
    fer-bench --accuracy                       # FP32 vs INT8 on FER2013 PublicTest ($DEEPEMOTION_DATA)
    fer-bench --kernels                        # the affine_grid_sample micro-benchmark (needs torch)
    fer-bench --detectors --no-backends        # detectors on PublicTest faces pasted into photos (docs/detectors.md)
    fer-bench --compare a.json b.json          # ratios between two runs (b / a speed-up)

For each backend and batch size: warm-up, then timed runs until --min-time has passed (and at least
--min-runs); p50/p90/p99 latency per batch, faces/s at p50, and peak memory (host: growth of the
process's peak RSS while that backend ran; GPU: torch's peak allocation when PyTorch runs on CUDA).
The stages of predict(frame) are timed on a 640x480 frame with one face, and say which detector ran.
Backends that cannot run here are listed as skipped, with the reason.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import UsageError, cli_main, parser, require, require_torch

PROG = "fer-bench"
DEFAULT_BATCHES = (1, 8, 64, 256)


def build_parser() -> argparse.ArgumentParser:
    p = parser(PROG, __doc__ or "")
    p.add_argument("--batches", type=int, nargs="+", default=list(DEFAULT_BATCHES), help="batch sizes")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per case")
    p.add_argument("--min-runs", type=int, default=10, help="timed runs per case, at least")
    p.add_argument("--backends", nargs="+", default=None, help="only these backends")
    p.add_argument("--model", default=None, help="bundled model name or model file (default: the bundled default)")
    p.add_argument("--engine", default=None, help="TensorRT engine to include")
    p.add_argument("--no-stages", action="store_true", help="skip the predict() stage timing")
    p.add_argument("--stream", action="store_true", help="also time the pipelined stream against the sequential loop")
    p.add_argument("--stream-frames", type=int, default=120, help="frames of the --stream video")
    p.add_argument("--recognizer", action="store_true", help="also compare Recognizer.predict_faces with plain "
                   "ONNX Runtime on the bundled FP32 graph (batches from --batches)")
    p.add_argument("--accuracy", action="store_true", help="also compare FP32 and INT8 accuracy on FER2013 "
                   "PublicTest (needs $DEEPEMOTION_DATA)")
    p.add_argument("--kernels", action="store_true", help="also run the affine_grid_sample micro-benchmark")
    p.add_argument("--detectors", action="store_true", help="also run the detector benchmark (recall, false faces, "
                   "label accuracy; needs scikit-image and $DEEPEMOTION_DATA)")
    p.add_argument("--detector-frames", type=int, default=300, help="frames of the detector benchmark")
    p.add_argument("--detector-seed", type=int, default=0, help="seed of the detector benchmark's frames")
    p.add_argument("--detector-setups", choices=("all", "default"), default="all",
                   help="the detector benchmark's setups: all, or only the default Recognizer()")
    p.add_argument("--no-backends", action="store_true", help="skip the backend table (and its plot)")
    p.add_argument("--json", default="fer_bench.json", help="output JSON")
    p.add_argument("--plot", default="fer_bench.png", help="output plot ('' for none; needs matplotlib)")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print ratios of two runs and exit")
    return p


def accuracy_fp32_int8(model: str | None) -> dict[str, Any]:
    """PublicTest accuracy of the FP32 and INT8 graphs, each as Recognizer.predict_faces delivers it."""
    from ..training.data import resolve_dataset
    from .eval import evaluate_runtime

    data = resolve_dataset("fer2013", "public_test")
    out: dict[str, Any] = {"data": data.name, "n": len(data)}
    for backend in ("onnxruntime", "onnxruntime-int8"):
        pred, _ = evaluate_runtime(model or "default", data.images, backend)
        out[backend] = float((pred == data.labels).mean())
    out["delta_points"] = 100 * (out["onnxruntime-int8"] - out["onnxruntime"])
    return out


def run(args: argparse.Namespace) -> int:
    from ..benchmarks.backends import bench_backends, compare, format_rows, plot, ratios
    from ..benchmarks.timing import machine_info
    from ..files import atomic_write_text

    if args.compare:
        print(compare(*args.compare))
        return 0
    if any(b < 1 for b in args.batches):
        raise UsageError("batch sizes must be >= 1")
    if args.min_runs < 1 or args.min_time < 0:
        raise UsageError("--min-runs must be >= 1 and --min-time >= 0")
    if args.detector_frames < 1 or args.stream_frames < 1:
        raise UsageError("--detector-frames and --stream-frames must be >= 1")
    if args.json and Path(args.json).is_dir():
        raise UsageError(f"--json {args.json}: is a folder")
    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores)" + (f", GPU {info['gpu']['name']}" if "gpu" in info else ""))
    rows, skipped = ([], []) if args.no_backends else \
        bench_backends(tuple(args.batches), args.min_time, args.min_runs, args.engine, args.backends, model=args.model)
    if rows or skipped:
        print(format_rows(rows, skipped))
    rat = ratios(rows)
    if rat:
        print("\nthroughput ratios, measured side by side in this run:")
        print("\n".join(rat))
    result: dict[str, Any] = {"machine": info, "command": args.command, "rows": rows, "skipped": skipped,
                              "ratios": rat}
    if not args.no_stages:
        from ..benchmarks.stages import bench_stages

        s = result["stages"] = bench_stages(args.min_time, args.min_runs, model=args.model)
        if "error" not in s:
            print(f"\npredict() on a 640x480 frame with one face ({s['backend']}, detector {s['detector']}), p50: "
                  f"detect {s['detect_ms_p50']:.2f} ms, crop {s['crop_ms_p50']:.3f} ms, classify "
                  f"{s['classify_ms_p50']:.3f} ms, total {s['predict_total_ms_p50']:.2f} ms (with given boxes "
                  f"{s['predict_with_boxes_ms_p50']:.3f} ms)")
    if args.recognizer:
        from ..benchmarks.recognizer import bench_recognizer, format_recognizer

        r = result["recognizer"] = bench_recognizer(tuple(args.batches), model=args.model)
        print("\nRecognizer.predict_faces vs plain ONNX Runtime (FP32 graph, its defaults), same faces, alternated:")
        print(format_recognizer(r))
    if args.stream:
        from ..benchmarks.stages import bench_stream, synthetic_video

        with tempfile.TemporaryDirectory() as tmp:
            video = synthetic_video(str(Path(tmp) / "faces.avi"), frames=args.stream_frames)
            s = result["stream"] = bench_stream(video, model=args.model)
        s["video"] = f"synthetic 640x480 MJPG, {args.stream_frames} frames, one moving face"
        print(f"\nstream on a {s['frames']}-frame video ({s['faces']} faces, detector {s['detector']}): "
              + ", ".join(f"{k} {v:.1f} frames/s" for k, v in s["fps"].items())
              + f"; best pipelined / sequential {s['speedup']:.2f}x")
    if args.detectors:
        require("skimage", "bench", "fer-bench --detectors")
        from ..benchmarks.detectors import format_table as detector_table
        from ..benchmarks.detectors import run as run_detectors

        d = result["detectors"] = run_detectors(args.detector_frames, seed=args.detector_seed, model=args.model,
                                                only_default=args.detector_setups == "default")
        print("\n" + detector_table(d))
    if args.accuracy:
        a = result["accuracy"] = accuracy_fp32_int8(args.model)
        print(f"\nFER2013 PublicTest via Recognizer.predict_faces: FP32 {a['onnxruntime']:.4f}, INT8 "
              f"{a['onnxruntime-int8']:.4f} ({a['delta_points']:+.2f} points)")
    if args.kernels:
        require_torch("fer-bench --kernels")
        from .._ext import cuda_available
        from ..benchmarks.kernels import format_table
        from ..benchmarks.kernels import run as run_kernels

        krows = run_kernels("cpu", (1, 64, 4096), args.min_time / 2)
        if cuda_available():
            krows += run_kernels("cuda", (1, 64, 4096), args.min_time / 2)
        result["kernels"] = krows
        print("\n" + format_table(krows))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    if args.plot and rows:
        from ..plots import PlotUnavailable

        try:
            plot(rows, args.plot, f"fer-bench on {info['cpu']} ({info['cores']} cores)"
                 + (f", {info['gpu']['name']}" if "gpu" in info else ""))
            print(f"wrote {args.plot}")
        except PlotUnavailable as exc:
            print(f"{PROG}: plot skipped: {exc}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    def body(args: argparse.Namespace) -> int:
        args.command = PROG + " " + " ".join(argv if argv is not None else sys.argv[1:])
        return run(args)

    return cli_main(PROG, build_parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
