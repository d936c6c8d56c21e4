"""`fer-bench`: latency and throughput of every available backend, side by side in one run.

    fer-bench                                  # all available backends, batches 1 8 64 256
    fer-bench --batches 1 64 --min-time 2 --json bench.json --plot bench.png
    fer-bench --engine model.engine            # include TensorRT (an engine from `fer-export engine`)
    fer-bench --kernels                        # also the affine_grid_sample micro-benchmark
    fer-bench --compare a.json b.json          # ratios between two runs (b / a speed-up)

For each backend and batch size: warm-up, then timed runs until --min-time has passed (and at
least --min-runs); p50/p90/p99 latency per batch, faces/s at p50, and peak memory (host: growth of
the process's peak RSS while that backend ran; GPU: torch's peak allocation when PyTorch runs on
CUDA). GPU backends are synchronised inside their run call, so wall-clock timing covers the GPU
work. The stages of predict(frame) (detection, crop, classify) are timed on a 640x480 frame with
one face. Backends that cannot run here are listed as skipped, with the reason.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import Any, Callable

import numpy as np

DEFAULT_BATCHES = (1, 8, 64, 256)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_calls(fn: Callable[[], Any], min_time: float, min_runs: int, warmup: int = 3) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.array(times)


def machine_info() -> dict[str, Any]:
    import onnxruntime

    from . import __version__
    from ._ext import build_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "deepemotion": __version__, "numpy": np.__version__,
                            "onnxruntime": onnxruntime.__version__, "build_info": build_info(),
                            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    for mod in ("torch", "openvino", "tensorrt", "cv2"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            pass
    from ._ext import cuda_available

    if cuda_available():
        from . import _C

        info["gpu"] = _C.cuda_device_info(0)
    return info


def candidate_backends(engine: str | None) -> list[tuple[str, Callable[[], Any]]]:
    """(name, factory) for every backend worth trying; factories raise when unavailable."""
    from ._backends import create_backend

    cands: list[tuple[str, Callable[[], Any]]] = [
        ("torch", lambda: create_backend("torch")),
        ("onnxruntime", lambda: create_backend("onnxruntime", spinning=True)),  # ONNX Runtime's defaults
        ("onnxruntime-nospin", lambda: create_backend("onnxruntime")),  # deepemotion's default (no spinning)
        ("onnxruntime-tuned", lambda: create_backend("onnxruntime-tuned")),
        ("openvino", lambda: create_backend("openvino")),
        ("onnxruntime-cuda", lambda: create_backend("onnxruntime-cuda")),
        ("torch-cuda", lambda: create_backend("torch", device="cuda")),
    ]
    if engine:
        cands.append(("tensorrt", lambda: create_backend("tensorrt", engine)))
    else:
        cands.append(("tensorrt", lambda: (_ for _ in ()).throw(
            RuntimeError("no engine given (build one with `fer-export engine`, then pass --engine)"))))
    return cands


def bench_backends(batches: tuple[int, ...], min_time: float, min_runs: int, engine: str | None,
                   only: list[str] | None = None, check_against: str = "onnxruntime") -> tuple[list, list]:
    rng = np.random.default_rng(0)
    xs = {b: (rng.random((b, 1, 48, 48), np.float32) * 2 - 1).astype(np.float32) for b in batches}
    rows, skipped = [], []
    reference: dict[int, np.ndarray] = {}
    for name, factory in candidate_backends(engine):
        if only and name not in only:
            continue
        rss0 = _peak_rss_mb()
        try:
            backend = factory()
        except Exception as exc:  # noqa: BLE001 - any reason a backend cannot run is reported
            skipped.append({"backend": name, "reason": str(exc).split("\n")[0]})
            continue
        gpu_mem = None
        for b in batches:
            x = xs[b]
            out = backend.run(x)
            if name == check_against:
                reference[b] = out
            diff = float(np.abs(out - reference[b]).max()) if b in reference else None
            t = time_calls(lambda: backend.run(x), min_time, min_runs)
            p50, p90, p99 = (float(np.percentile(t, q)) for q in (50, 90, 99))
            if name == "torch-cuda":
                import torch

                gpu_mem = torch.cuda.max_memory_allocated() / 2**20
            rows.append({"backend": name, "device": backend.device, "batch": b, "runs": int(len(t)),
                         "p50_ms": p50 * 1e3, "p90_ms": p90 * 1e3, "p99_ms": p99 * 1e3, "faces_per_s": b / p50,
                         "max_abs_diff_vs_" + check_against: diff,
                         "peak_rss_growth_mb": round(_peak_rss_mb() - rss0, 1), "gpu_peak_mb": gpu_mem})
    return rows, skipped


def bench_stages(min_time: float, min_runs: int, backend: str = "auto") -> dict[str, Any]:
    """Median ms of each stage of predict() on a 640x480 frame holding the example face."""
    import cv2

    from .cli_predict import example_image
    from .recognizer import Recognizer

    photo = cv2.imread(str(example_image()))
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 64:576] = cv2.resize(photo, (512, 480), interpolation=cv2.INTER_AREA)
    rec = Recognizer(backend=backend)
    boxes = rec.detector.detect(frame)
    n_faces = int(len(boxes))
    if n_faces == 0:
        return {"error": "no face detected in the benchmark frame"}
    batch = rec._crop(frame, boxes)
    stages = {
        "detect": time_calls(lambda: rec.detector.detect(frame), min_time, min_runs),
        "crop": time_calls(lambda: rec._crop(frame, boxes), min_time, min_runs),
        "classify": time_calls(lambda: rec.classify(batch), min_time, min_runs),
        "predict_total": time_calls(lambda: rec.predict(frame), min_time, min_runs),
        "predict_with_boxes": time_calls(lambda: rec.predict(frame, boxes=boxes), min_time, min_runs),
    }
    return {"frame": "640x480 BGR, one face", "faces": n_faces, "backend": rec.backend.name,
            **{f"{k}_ms_p50": float(np.median(v)) * 1e3 for k, v in stages.items()},
            **{f"{k}_ms_p90": float(np.percentile(v, 90)) * 1e3 for k, v in stages.items()}}


def format_rows(rows: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> str:
    lines = [f"{'backend':18} {'dev':4} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'faces/s':>9} "
             f"{'max|diff|':>9} {'rss+MB':>7}"]
    lines.append("-" * len(lines[0]))
    for r in rows:
        d = next((v for k, v in r.items() if k.startswith("max_abs_diff")), None)
        lines.append(f"{r['backend']:18} {r['device']:4} {r['batch']:5d} {r['p50_ms']:9.3f} {r['p90_ms']:9.3f} "
                     f"{r['p99_ms']:9.3f} {r['faces_per_s']:9.0f} {'-' if d is None else f'{d:.1e}':>9} "
                     f"{r['peak_rss_growth_mb']:7.1f}")
    for s in skipped:
        lines.append(f"{s['backend']:18} skipped: {s['reason']}")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]], base: str = "onnxruntime") -> list[str]:
    out = []
    by = {(r["backend"], r["batch"]): r for r in rows}
    for (name, b), r in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if name != base and (base, b) in by:
            out.append(f"{name:18} batch {b:4d}: {r['faces_per_s'] / by[(base, b)]['faces_per_s']:.2f}x {base}")
    return out


def plot(rows: list[dict[str, Any]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(r["backend"] for r in rows):
        rs = sorted((r for r in rows if r["backend"] == name), key=lambda r: r["batch"])
        bs = [r["batch"] for r in rs]
        axes[0].plot(bs, [r["p50_ms"] for r in rs], marker="o", label=name)
        axes[1].plot(bs, [r["faces_per_s"] for r in rs], marker="o", label=name)
    for ax, lab in zip(axes, ("latency per batch, p50 (ms)", "throughput (faces/s)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare(a_path: str, b_path: str) -> str:
    with open(a_path) as fa, open(b_path) as fb:
        a, b = json.load(fa), json.load(fb)
    ia = {(r["backend"], r["batch"]): r for r in a["rows"]}
    lines = [f"speed-up of {b_path} over {a_path} (faces/s ratio, >1 = faster)"]
    for r in b["rows"]:
        k = (r["backend"], r["batch"])
        if k in ia:
            lines.append(f"{k[0]:18} batch {k[1]:4d}: {r['faces_per_s'] / ia[k]['faces_per_s']:.2f}x "
                         f"(p50 {ia[k]['p50_ms']:.3f} -> {r['p50_ms']:.3f} ms)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=list(DEFAULT_BATCHES))
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per case (default 1)")
    p.add_argument("--min-runs", type=int, default=10)
    p.add_argument("--backends", nargs="+", default=None, help="only these backends")
    p.add_argument("--engine", default=None, help="TensorRT engine to include")
    p.add_argument("--no-stages", action="store_true", help="skip the predict() stage timing")
    p.add_argument("--kernels", action="store_true", help="also run the affine_grid_sample micro-benchmark")
    p.add_argument("--json", default="fer_bench.json", help="output JSON (default fer_bench.json)")
    p.add_argument("--plot", default="fer_bench.png", help="output plot (default fer_bench.png; '' for none)")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print ratios of two runs and exit")
    args = p.parse_args(argv)
    if args.compare:
        print(compare(*args.compare))
        return 0
    if any(b < 1 for b in args.batches):
        p.error("batch sizes must be >= 1")

    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores)" + (f", GPU {info['gpu']['name']}" if "gpu" in info else ""))
    rows, skipped = bench_backends(tuple(args.batches), args.min_time, args.min_runs, args.engine, args.backends)
    print(format_rows(rows, skipped))
    rat = ratios(rows)
    if rat:
        print("\nthroughput ratios, measured side by side in this run:")
        print("\n".join(rat))
    result: dict[str, Any] = {"machine": info, "command": "fer-bench " + " ".join(argv if argv is not None
                                                                                   else sys.argv[1:]),
                              "rows": rows, "skipped": skipped, "ratios": rat}
    if not args.no_stages:
        result["stages"] = bench_stages(args.min_time, args.min_runs)
        s = result["stages"]
        if "error" not in s:
            print(f"\npredict() on a 640x480 frame with one face ({s['backend']}), p50: detect "
                  f"{s['detect_ms_p50']:.2f} ms, crop {s['crop_ms_p50']:.3f} ms, classify {s['classify_ms_p50']:.3f} ms, "
                  f"total {s['predict_total_ms_p50']:.2f} ms (with given boxes {s['predict_with_boxes_ms_p50']:.3f} ms)")
    if args.kernels:
        from .kernel_bench import format_table, run

        from ._ext import cuda_available

        krows = run("cpu", (1, 64, 4096), args.min_time / 2)
        if cuda_available():
            krows += run("cuda", (1, 64, 4096), args.min_time / 2)
        result["kernels"] = krows
        print("\n" + format_table(krows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"\nwrote {args.json}")
    if args.plot and rows:
        plot(rows, args.plot, f"fer-bench on {info['cpu']} ({info['cores']} cores)"
             + (f", {info['gpu']['name']}" if "gpu" in info else ""))
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
