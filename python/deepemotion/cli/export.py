"""`fer-export`: a bundled model or a checkpoint -> ONNX (portable, plugin, INT8) -> TensorRT engine, or a Triton
model repository.

    fer-export onnx --out model.onnx                     # portable + plugin flavours, verified
    fer-export int8 --out model.int8.onnx                # calibrated INT8 (QDQ) graph, checked on PublicTest
    fer-export engine --out model.engine --precision fp16 --batch 1 16 64
    fer-export triton --out repo/ --format onnx          # a Triton model repository (python | onnx | tensorrt)
    fer-export formats                                   # what can be exported, and what it needs

Existing output files are never replaced unless --overwrite is given; files are written atomically. The formats
and what each needs come from one table (`deepemotion.export.formats.FORMATS`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import HelpFormatter, UsageError, cli_main, output_path, parser, require

PROG = "fer-export"


def build_parser() -> argparse.ArgumentParser:
    from ..export.formats import FORMATS, format_table

    p = parser(PROG, __doc__ or "", epilog="formats:\n" + format_table())
    sub = p.add_subparsers(dest="cmd", required=True)
    for f in FORMATS:
        sp = sub.add_parser(f.name, help=f.description.split(";")[0], formatter_class=HelpFormatter)
        sp.add_argument("--overwrite", action="store_true", help="replace existing output files")
        sp.add_argument("--debug", action="store_true", help="show the full traceback of an error")
        globals()[f"add_{f.name}_options"](sp)
    pf = sub.add_parser("formats", help="list the export formats", formatter_class=HelpFormatter)
    pf.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def _model_option(sp: argparse.ArgumentParser, out: str) -> None:
    sp.add_argument("--model", default="default", help="bundled model name (default, tiny) or a .pt checkpoint")
    sp.add_argument("--out", default=out, help="output file")


def add_onnx_options(sp: argparse.ArgumentParser) -> None:
    _model_option(sp, "deepemotion.onnx")
    sp.add_argument(
        "--flavour",
        choices=["portable", "plugin", "both"],
        default="both",
        help="both: the plugin flavour goes beside the portable file as *.plugin.onnx",
    )
    sp.add_argument(
        "--fp16",
        action="store_true",
        help="FP16 weights and I/O (theta stays FP32); for strongly "
        "typed TensorRT networks; verified against PyTorch FP32 with a looser tolerance",
    )


def add_int8_options(sp: argparse.ArgumentParser) -> None:
    _model_option(sp, "deepemotion.int8.onnx")
    sp.add_argument("--calibration", type=int, default=2000, help="FER2013 Training faces used for calibration")
    sp.add_argument(
        "--data", default="fer2013", help="data set for calibration (train split) and the check (public_test)"
    )


def add_engine_options(sp: argparse.ArgumentParser) -> None:
    _model_option(sp, "deepemotion.engine")
    sp.add_argument("--onnx", default=None, help="an existing plugin-flavour (or INT8 QDQ) ONNX; default: export one")
    sp.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        default="fp16",
        help="int8: explicit quantization from the QDQ graph (fer-export int8)",
    )
    sp.add_argument("--batch", type=int, nargs=3, default=[1, 16, 64], metavar=("MIN", "OPT", "MAX"))
    sp.add_argument("--workspace-mb", type=int, default=256)
    sp.add_argument("--timing-cache", default=None, help="file to reuse/store the timing cache")


def add_triton_options(sp: argparse.ArgumentParser) -> None:
    from ..serving.repository import FORMS

    sp.add_argument("--model", default="default", help="bundled model name (default, tiny) or an .onnx file")
    sp.add_argument(
        "--out",
        default="deepemotion_repository",
        help="the repository folder (must not exist, "
        "unless --overwrite: then a deepemotion repository there is replaced whole)",
    )
    sp.add_argument(
        "--format",
        dest="form",
        choices=FORMS,
        default="python",
        help="python: runs on fer-serve's pip-installed server; onnx / tensorrt: NVIDIA's Triton "
        "container (export/triton/)",
    )
    sp.add_argument("--max-batch", type=int, default=64, help="max_batch_size of the faces model")
    sp.add_argument("--instances", type=int, default=1, help="model instances")
    sp.add_argument(
        "--kind",
        choices=("cpu", "gpu"),
        default="cpu",
        help="instance kind (onnx form only; python: cpu; tensorrt: gpu)",
    )
    sp.add_argument("--no-dynamic-batching", action="store_true", help="serve each request as it comes")
    sp.add_argument("--no-frames", action="store_true", help="no deepemotion_frames model (python form)")


def load_torch_model(spec: str) -> Any:
    from ..training.checkpoint import load_model

    return load_model(spec)[0]


def cmd_onnx(args: argparse.Namespace) -> int:
    from ..export.onnx import export_portable, ort_runner, reference_session, to_plugin_graph, verify_against_torch
    from ..files import OutputPlan, atomic_write_bytes
    from ..labels import INPUT_NAME

    out = Path(args.out)
    plan = OutputPlan([args.model], args.overwrite)
    portable_out = plan.add(out, "ONNX file") if args.flavour in ("portable", "both") else None
    plugin_out = (
        plan.add(out.with_suffix(".plugin.onnx") if args.flavour == "both" else out, "plugin ONNX file")
        if args.flavour in ("plugin", "both")
        else None
    )
    model = load_torch_model(args.model)
    portable = export_portable(model, half=args.fp16)
    tol = 2e-2 if args.fp16 else 1e-5
    if portable_out is not None:
        err = verify_against_torch(model, ort_runner(portable), "portable ONNX (ONNX Runtime)", tol)
        atomic_write_bytes(portable_out, portable)
        print(f"wrote {portable_out} (ONNX Runtime vs PyTorch: max |diff|/max(1,|logit|) {err:.2e})")
    if plugin_out is not None:
        plugin = to_plugin_graph(portable)
        if args.fp16:
            print(f"{PROG}: the FP16 plugin graph is not verified here (onnx.reference runs our kernel in FP32)")
        else:
            sess = reference_session(plugin)
            err = verify_against_torch(
                model,
                lambda x: sess.run(None, {INPUT_NAME: x})[0],
                "plugin ONNX (reference evaluator)",
                tol,
                n=4,
                seed=1,
            )
            print(f"plugin graph: reference evaluator vs PyTorch: max |diff|/max(1,|logit|) {err:.2e}")
        atomic_write_bytes(plugin_out, plugin)
        print(f"wrote {plugin_out}")
    return 0


def cmd_int8(args: argparse.Namespace) -> int:
    from ..export.quantize import quantize_model
    from ..files import atomic_write_bytes

    out = output_path(args.out, inputs=[args.model], overwrite=args.overwrite, what="INT8 ONNX file")
    model = load_torch_model(args.model)
    data, report = quantize_model(model, args.data, n_calibration=args.calibration, progress=True)
    atomic_write_bytes(out, data)
    print(
        f"wrote {out}: PublicTest accuracy FP32 {report['fp32_accuracy']:.4f}, INT8 {report['int8_accuracy']:.4f} "
        f"(delta {100 * (report['int8_accuracy'] - report['fp32_accuracy']):+.2f} points)"
    )
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    from ..export.onnx import export_portable, to_plugin_graph
    from ..files import atomic_write_bytes
    from ..runtime.backends.tensorrt import tensorrt_status

    ok, why = tensorrt_status()
    if not ok:
        raise UsageError(f"engine: {why}")
    from ..export.tensorrt import build_engine

    out = output_path(
        args.out, inputs=[args.model] + ([args.onnx] if args.onnx else []), overwrite=args.overwrite, what="engine"
    )
    if args.onnx:
        onnx_path = Path(args.onnx)
        if not onnx_path.is_file():
            raise FileNotFoundError(f"{onnx_path}: no such ONNX file")
        data = onnx_path.read_bytes()
        if b"AffineGridSample" not in data:  # a portable (or QDQ) graph: rewrite its sampling into the plugin
            onnx_path = out.with_suffix(".plugin.onnx")
            atomic_write_bytes(onnx_path, to_plugin_graph(data))
    elif args.precision == "int8":
        raise UsageError("engine --precision int8 needs --onnx with the QDQ graph from `fer-export int8`")
    else:
        onnx_path = out.with_suffix(".plugin.onnx")
        model = load_torch_model(args.model)
        atomic_write_bytes(onnx_path, to_plugin_graph(export_portable(model, half=args.precision == "fp16")))
    side = build_engine(
        onnx_path, out, args.precision, tuple(args.batch), args.workspace_mb, args.timing_cache, args.command
    )
    print(
        f"wrote {out} and {out}.json ({side['precision']}, batch {args.batch}, {side['gpu']}, "
        f"TensorRT {side['tensorrt']}, {side['build_seconds']} s)"
    )
    return 0


def cmd_triton(args: argparse.Namespace) -> int:
    from ..serving.repository import RepositoryOptions, write_repository

    opts = RepositoryOptions(
        form=args.form,
        model=args.model,
        max_batch=args.max_batch,
        instances=args.instances,
        kind=args.kind,
        dynamic_batching=not args.no_dynamic_batching,
        frames=not args.no_frames,
    )
    if args.form != "python":
        require("onnx", "export", f"{PROG} triton --format {args.form}")
    out = Path(args.out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not args.overwrite:
        raise UsageError(
            f"{out}: exists; give a new folder for the repository, or --overwrite to replace a deepemotion repository"
        )
    info = write_repository(out, opts, overwrite=args.overwrite)
    print(
        f"wrote {out}: models {', '.join(info['models'])} ({args.form} form, {info['precision']} graph of "
        f"{info['deepemotion_model']})"
    )
    for f in info["files"]:
        print(f"  {f}")
    if args.form == "tensorrt":
        print(f"the plan is built where it runs: {out}/deepemotion/build_plan.sh (see export/triton/README.md)")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..export.formats import FORMATS, format_table

    if args.cmd == "formats":
        print(format_table())
        return 0
    fmt = next(f for f in FORMATS if f.name == args.cmd)
    for module, extra in fmt.needs:  # before anything imports them: name the extra, not the module
        require(module, extra, f"{PROG} {args.cmd}")
    return globals()[f"cmd_{fmt.name}"](args)


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
