"""`fer-bench`: latency, throughput and where the time goes, side by side in one run.

    fer-bench                                  # all available backends, batches 1 8 64 256, predict() stages
    fer-bench --batches 1 64 --min-time 2 --json bench.json --plot bench.png
    fer-bench --engine model.engine            # include TensorRT (an engine from `fer-export engine`)
    fer-bench --profile --model tiny --batches 1 64   # ONNX Runtime's per-op / per-node kernel time
    fer-bench --faces --models default tiny --batches 1 64   # per-face throughput, models side by side
    fer-bench --serve --no-backends --no-stages       # local vs served by Triton at 1, 8, 32 clients
    fer-bench --cpp --no-backends --no-stages --batches 1 64   # the C++ SDK beside Python
    fer-bench --compare a.json b.json          # ratios between two runs (b / a speed-up)

The measurements are suites from one table (`deepemotion.benchmarks.suites.SUITES`): backends and stages run
unless --no-backends / --no-stages; the others when named (--recognizer, --cpp, --profile, --stream, --detectors,
--accuracy, --kernels, --serve). For each backend and batch size: warm-up, then timed runs until --min-time has
passed (and at least --min-runs); p50/p90/p99 latency per batch, faces/s at p50, and peak memory. Backends that
cannot run here are listed as skipped, with the reason. The JSON output is refused if it exists (--overwrite) or
is an input (--model, --engine).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import UsageError, add_model_options, cli_main, parser, require

PROG = "fer-bench"
DEFAULT_BATCHES = (1, 8, 64, 256)
#: --min-time per case at most an hour (inf never ends); batches as large as a Recognizer's max_batch may be
MAX_MIN_TIME_S = 3600.0
MAX_BATCH = 65536


def build_parser() -> argparse.ArgumentParser:
    from ..benchmarks.suites import SUITES

    p = parser(PROG, __doc__ or "")
    add_model_options(p, backend=False)
    p.add_argument("--batches", type=int, nargs="+", default=list(DEFAULT_BATCHES), help="batch sizes")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per case")
    p.add_argument("--min-runs", type=int, default=10, help="timed runs per case, at least")
    p.add_argument("--backends", nargs="+", default=None, help="only these backends")
    p.add_argument("--engine", default=None, help="TensorRT engine to include")
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="--faces: the models compared (bundled names or .onnx files; the first is the reference)",
    )
    for s in SUITES:
        if s.default_on:
            p.add_argument(f"--no-{s.name}", action="store_true", help=f"skip: {s.help}")
        else:
            p.add_argument(f"--{s.name}", action="store_true", help=f"also: {s.help}")
    p.add_argument(
        "--whole-graph",
        action="store_true",
        help="--profile: ONNX Runtime runs the whole graph, the constant warp head included (as without "
        "deepemotion), instead of the backend's C++ head",
    )
    p.add_argument("--stream-frames", type=int, default=120, help="frames of the --stream video")
    p.add_argument("--detector-frames", type=int, default=300, help="frames of the detector benchmark")
    p.add_argument("--detector-seed", type=int, default=0, help="seed of the detector benchmark's frames")
    p.add_argument(
        "--detector-setups",
        choices=("all", "default"),
        default="all",
        help="the detector benchmark's setups: all, or only the default Recognizer()",
    )
    p.add_argument("--json", default="fer_bench.json", help="output JSON ('' for none)")
    p.add_argument("--plot", default="fer_bench.png", help="output plot of the backends ('' for none; matplotlib)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json / --plot files")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print ratios of two runs and exit")
    return p


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Options and outputs checked before anything is measured; returns the planned outputs."""
    from ..benchmarks.backends import candidate_backends
    from ..files import OutputPlan
    from ..runtime.assets import is_bundled_name

    if any(not 1 <= b <= MAX_BATCH for b in args.batches):
        raise UsageError(f"--batches must be in 1..{MAX_BATCH}, got {args.batches}")
    if args.min_runs < 1 or not 0 <= args.min_time <= MAX_MIN_TIME_S:
        raise UsageError(
            f"--min-runs must be >= 1 and --min-time in 0..{MAX_MIN_TIME_S:g} seconds, got "
            f"{args.min_runs} and {args.min_time}"
        )
    if args.whole_graph and not args.profile:
        raise UsageError("--whole-graph changes how --profile runs the graph; add --profile")
    if args.detector_frames < 1 or args.stream_frames < 1:
        raise UsageError("--detector-frames and --stream-frames must be >= 1")
    labels = [label for label, _ in candidate_backends(args.engine, args.model)]
    unknown = [b for b in args.backends or [] if b not in labels]
    if unknown:
        raise UsageError(f"unknown backend(s) {unknown}; choose from {', '.join(labels)}")
    checks = [(args.model, "--model"), (args.engine, "--engine")] + [(m, "--models") for m in args.models or []]
    for path, what in checks:
        if path is not None and not (what != "--engine" and is_bundled_name(path)) and not Path(path).is_file():
            raise UsageError(f"{what} {path}: no such file")
    plan = OutputPlan([args.model, args.engine, *(args.models or [])], args.overwrite)
    return {k: plan.add(v, f"--{k} file") for k, v in (("json", args.json), ("plot", args.plot)) if v}


def chosen(args: argparse.Namespace) -> list[Any]:
    from ..benchmarks.suites import SUITES

    return [s for s in SUITES if (not getattr(args, f"no_{s.name}") if s.default_on else getattr(args, s.name))]


def run(args: argparse.Namespace) -> int:
    from ..benchmarks.backends import compare
    from ..benchmarks.timing import machine_info

    if args.compare:
        print(compare(*args.compare))
        return 0
    outputs = check_args(args)
    suites = chosen(args)
    for s in suites:
        for module, extra in s.needs:
            require(module, extra, f"{PROG} --{s.name}")
    info = machine_info()
    print(f"machine: {info['cpu']} ({info['cores']} cores)" + (f", GPU {info['gpu']['name']}" if "gpu" in info else ""))
    result: dict[str, Any] = {"machine": info, "command": args.command}
    for k, s in enumerate(suites, 1):
        # a suite may take a minute or more (--serve starts servers): say which one runs before it does
        print(f"\n[{k}/{len(suites)}] {s.name}: {s.help} ...", flush=True)
        out = s.run(args)
        if s.name == "backends":  # its rows, skipped and ratios stay at the top level of the JSON (--compare reads it)
            result.update(out)
        else:
            result[s.name] = out
        print("\n" + s.report(out), flush=True)
    write_outputs(result, outputs, info)
    return 0


def write_outputs(result: dict[str, Any], outputs: dict[str, Any], info: dict[str, Any]) -> None:
    from ..benchmarks.backends import plot
    from ..files import atomic_write, atomic_write_text
    from ..plots import PlotUnavailable

    if "json" in outputs:
        atomic_write_text(outputs["json"], json.dumps(result, indent=2))
        print(f"\nwrote {outputs['json']}")
    if "plot" in outputs and result.get("rows"):
        title = f"fer-bench on {info['cpu']} ({info['cores']} cores)" + (
            f", {info['gpu']['name']}" if "gpu" in info else ""
        )
        try:
            atomic_write(outputs["plot"], lambda tmp: plot(result["rows"], tmp, title))
            print(f"wrote {outputs['plot']}")
        except PlotUnavailable as exc:
            print(f"{PROG}: plot skipped: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
