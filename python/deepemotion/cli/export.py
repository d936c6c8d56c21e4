"""`fer-export`: a bundled model or a checkpoint -> ONNX (portable, plugin, INT8) -> TensorRT engine.

    fer-export onnx --out model.onnx                     # portable + plugin flavours, verified
    fer-export int8 --out model.int8.onnx                # calibrated INT8 (QDQ) graph, checked on PublicTest
    fer-export engine --out model.engine --precision fp16 --batch 1 16 64
    fer-export formats                                   # what can be exported, and what it needs

Existing output files are never replaced unless --overwrite is given; files are written atomically.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from .common import UsageError, cli_main, output_path, parser, require, require_torch

PROG = "fer-export"


def build_parser() -> argparse.ArgumentParser:
    from ..export.formats import FORMATS

    p = parser(PROG, __doc__ or "", epilog="formats:\n" + "\n".join(f"  {f.name:14} {f.description}" for f in FORMATS))
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser, out: str) -> None:
        sp.add_argument("--model", default="default", help="bundled model name (default, tiny) or a .pt checkpoint")
        sp.add_argument("--out", default=out, help="output file")
        sp.add_argument("--overwrite", action="store_true", help="replace existing output files")
        sp.add_argument("--debug", action="store_true", help="show the full traceback of an error")

    from .common import HelpFormatter

    po = sub.add_parser("onnx", help="portable and plugin ONNX, verified against PyTorch",
                        formatter_class=HelpFormatter)
    common(po, "deepemotion.onnx")
    po.add_argument("--flavour", choices=["portable", "plugin", "both"], default="both",
                    help="both: the plugin flavour goes beside the portable file as *.plugin.onnx")
    po.add_argument("--fp16", action="store_true", help="FP16 weights and I/O (theta stays FP32); for strongly "
                    "typed TensorRT networks; verified against PyTorch FP32 with a looser tolerance")
    pq = sub.add_parser("int8", help="calibrated INT8 QDQ graph (STN sampling kept in float)",
                        formatter_class=HelpFormatter)
    common(pq, "deepemotion.int8.onnx")
    pq.add_argument("--calibration", type=int, default=2000, help="FER2013 Training faces used for calibration")
    pq.add_argument("--data", default="fer2013", help="data set for calibration (train split) and the check "
                    "(public_test)")
    pe = sub.add_parser("engine", help="TensorRT engine (needs TensorRT and a GPU)", formatter_class=HelpFormatter)
    common(pe, "deepemotion.engine")
    pe.add_argument("--onnx", default=None, help="an existing plugin-flavour (or INT8 QDQ) ONNX; default: export one")
    pe.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp16",
                    help="int8: explicit quantization from the QDQ graph (fer-export int8)")
    pe.add_argument("--batch", type=int, nargs=3, default=[1, 16, 64], metavar=("MIN", "OPT", "MAX"))
    pe.add_argument("--workspace-mb", type=int, default=256)
    pe.add_argument("--timing-cache", default=None, help="file to reuse/store the timing cache")
    pf = sub.add_parser("formats", help="list the export formats", formatter_class=HelpFormatter)
    pf.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def load_torch_model(spec: str) -> Any:
    require_torch(PROG)
    require("onnx", "export", PROG)
    from ..training.checkpoint import load_model

    return load_model(spec)[0]


def scaled_error(got: Any, ref: Any) -> float:
    """max |got - ref| / max(1, |ref|): absolute for small logits, relative for large ones."""
    import numpy as np

    return float((np.abs(got - ref) / np.maximum(1.0, np.abs(ref))).max())


def verify(model: Any, run: Callable[[Any], Any], what: str, atol: float, n: int = 8, seed: int = 0) -> float:
    """Max scaled |run(x) - PyTorch(x)| over a random batch; raises if above atol."""
    import torch

    x = torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    err = scaled_error(run(x.numpy()), ref)
    if err > atol:
        raise RuntimeError(f"{what} differs from PyTorch by {err:.3g} (> {atol})")
    return err


def _ort_runner(data: bytes) -> Callable[[Any], Any]:
    import numpy as np
    import onnxruntime as ort

    from ..labels import INPUT_NAME

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    half = sess.get_inputs()[0].type == "tensor(float16)"
    return lambda x: sess.run(None, {INPUT_NAME: x.astype(np.float16) if half else x})[0].astype(np.float32)


def cmd_onnx(args: argparse.Namespace) -> int:
    from ..export.onnx import export_portable, reference_session, to_plugin_graph
    from ..files import atomic_write_bytes
    from ..labels import INPUT_NAME

    out = Path(args.out)
    ppath = out.with_suffix(".plugin.onnx") if args.flavour == "both" else out
    targets = ([out] if args.flavour in ("portable", "both") else []) + \
        ([ppath] if args.flavour in ("plugin", "both") else [])
    for t in targets:
        output_path(t, inputs=[args.model], overwrite=args.overwrite, what="ONNX file")
    model = load_torch_model(args.model)
    portable = export_portable(model, half=args.fp16)
    tol = 2e-2 if args.fp16 else 1e-5
    if args.flavour in ("portable", "both"):
        err = verify(model, _ort_runner(portable), "portable ONNX (ONNX Runtime)", tol)
        atomic_write_bytes(out, portable)
        print(f"wrote {out} (ONNX Runtime vs PyTorch: max |diff|/max(1,|logit|) {err:.2e})")
    if args.flavour in ("plugin", "both"):
        plugin = to_plugin_graph(portable)
        if args.fp16:
            print(f"{PROG}: the FP16 plugin graph is not verified here (onnx.reference runs our kernel in FP32)")
        else:
            sess = reference_session(plugin)
            err = verify(model, lambda x: sess.run(None, {INPUT_NAME: x})[0], "plugin ONNX (reference evaluator)",
                         tol, n=4, seed=1)
            print(f"plugin graph: reference evaluator vs PyTorch: max |diff|/max(1,|logit|) {err:.2e}")
        atomic_write_bytes(ppath, plugin)
        print(f"wrote {ppath}")
    return 0


def cmd_int8(args: argparse.Namespace) -> int:
    from ..export.quantize import quantize_model
    from ..files import atomic_write_bytes

    out = output_path(args.out, inputs=[args.model], overwrite=args.overwrite, what="INT8 ONNX file")
    model = load_torch_model(args.model)
    data, report = quantize_model(model, args.data, n_calibration=args.calibration, progress=True)
    atomic_write_bytes(out, data)
    print(f"wrote {out}: PublicTest accuracy FP32 {report['fp32_accuracy']:.4f}, INT8 {report['int8_accuracy']:.4f} "
          f"(delta {100 * (report['int8_accuracy'] - report['fp32_accuracy']):+.2f} points)")
    return 0


def cmd_engine(args: argparse.Namespace) -> int:
    from ..export.onnx import export_portable, to_plugin_graph
    from ..files import atomic_write_bytes
    from ..runtime.backends.tensorrt import tensorrt_status

    ok, why = tensorrt_status()
    if not ok:
        raise UsageError(f"engine: {why}")
    from ..export.tensorrt import build_engine

    out = output_path(args.out, inputs=[args.model] + ([args.onnx] if args.onnx else []), overwrite=args.overwrite,
                      what="engine")
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
    side = build_engine(onnx_path, out, args.precision, tuple(args.batch), args.workspace_mb, args.timing_cache,
                        args.command)
    print(f"wrote {out} and {out}.json ({side['precision']}, batch {args.batch}, {side['gpu']}, "
          f"TensorRT {side['tensorrt']}, {side['build_seconds']} s)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.cmd == "formats":
        from ..export.formats import FORMATS

        for f in FORMATS:
            print(f"{f.name:14} {f.suffix:13} gpu={'yes' if f.needs_gpu else 'no ':3}  needs {', '.join(f.needs)}\n"
                  f"{'':14} {f.description}")
        return 0
    for module in ("torch", "onnx"):  # before anything imports them: name the extra, not the module
        require(module, "export", f"{PROG} {args.cmd}")
    return {"onnx": cmd_onnx, "int8": cmd_int8, "engine": cmd_engine}[args.cmd](args)


def main(argv: Sequence[str] | None = None) -> int:
    def body(args: argparse.Namespace) -> int:
        args.command = PROG + " " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        return run(args)

    return cli_main(PROG, build_parser, body, argv)


if __name__ == "__main__":
    sys.exit(main())
