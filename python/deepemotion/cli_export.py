"""`fer-export`: checkpoint (or the bundled model) -> ONNX (portable / plugin) -> TensorRT engine.

    fer-export onnx --out model.onnx                     # portable + plugin flavours, verified
    fer-export engine --out model.engine --precision fp16 --batch 1 16 64
    fer-export formats                                   # what can be exported, and what it needs
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any


def _model(spec: str) -> Any:
    from .weights import load_model

    return load_model(spec)[0]


def _scaled_error(got: Any, ref: Any) -> float:
    """max |got - ref| / max(1, |ref|): absolute for small logits, relative for large ones."""
    import numpy as np

    return float((np.abs(got - ref) / np.maximum(1.0, np.abs(ref))).max())


def verify_portable(model: Any, data: bytes, atol: float = 1e-5) -> float:
    """Max scaled |ONNX Runtime - PyTorch| over a random batch (raises if above atol)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    x = torch.rand(8, 1, 48, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        ref = model(x).numpy()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    err = _scaled_error(got, ref)
    if err > atol:
        raise RuntimeError(f"portable ONNX differs from PyTorch by {err:.3g} (> {atol})")
    return err


def verify_plugin(model: Any, data: bytes, atol: float = 1e-5) -> float:
    """Max scaled |onnx.reference (AffineGridSample = our C++ kernel) - PyTorch|."""
    import numpy as np
    import torch

    from deepemotion.export.to_onnx import reference_session

    x = torch.rand(4, 1, 48, 48, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ref = model(x).numpy()
    got = reference_session(data).run(None, {"input": x.numpy()})[0]
    err = _scaled_error(got, ref)
    if err > atol:
        raise RuntimeError(f"plugin ONNX (reference evaluator) differs from PyTorch by {err:.3g} (> {atol})")
    return err


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    po = sub.add_parser("onnx", help="export ONNX (portable and plugin flavours), verified against PyTorch")
    po.add_argument("--model", default="bundled", help="checkpoint .pt or 'bundled' (default)")
    po.add_argument("--out", default="deepemotion.onnx", help="portable file; the plugin flavour goes beside it "
                    "as *.plugin.onnx")
    po.add_argument("--flavour", choices=["portable", "plugin", "both"], default="both")
    po.add_argument("--fp16", action="store_true", help="FP16 weights and I/O (theta stays FP32); for strongly "
                    "typed TensorRT networks; skips the FP32 verification")
    pe = sub.add_parser("engine", help="build a TensorRT engine (needs TensorRT and a GPU)")
    pe.add_argument("--model", default="bundled")
    pe.add_argument("--onnx", default=None, help="an existing plugin-flavour ONNX (default: export one)")
    pe.add_argument("--out", default="deepemotion.engine")
    pe.add_argument("--precision", choices=["fp32", "fp16"], default="fp16")
    pe.add_argument("--batch", type=int, nargs=3, default=[1, 16, 64], metavar=("MIN", "OPT", "MAX"))
    pe.add_argument("--workspace-mb", type=int, default=256)
    pe.add_argument("--timing-cache", default=None, help="file to reuse/store the timing cache")
    sub.add_parser("formats", help="list the export formats")
    args = p.parse_args(argv)
    command = "fer-export " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    if args.cmd == "formats":
        from deepemotion.export.formats import FORMATS

        for f in FORMATS:
            print(f"{f.name:14} {f.suffix:13} gpu={'yes' if f.needs_gpu else 'no ':3}  needs {', '.join(f.needs)}\n"
                  f"{'':14} {f.description}")
        return 0

    try:
        from deepemotion.export.to_onnx import export_portable, to_plugin_graph
    except ImportError as exc:
        print(f"fer-export: needs torch and onnx: pip install 'deepemotion[export]' ({exc})", file=sys.stderr)
        return 2
    try:
        model = _model(args.model)
    except (FileNotFoundError, ValueError) as exc:
        print(f"fer-export: {exc}", file=sys.stderr)
        return 2

    if args.cmd == "onnx":
        out = Path(args.out)
        portable = export_portable(model, half=args.fp16)
        if args.flavour in ("portable", "both"):
            out.write_bytes(portable)
            msg = "" if args.fp16 else \
                f" (ONNX Runtime vs PyTorch: max |diff|/max(1,|logit|) {verify_portable(model, portable):.2e})"
            print(f"wrote {out}{msg}")
        if args.flavour in ("plugin", "both"):
            plugin = to_plugin_graph(portable)
            ppath = out.with_suffix(".plugin.onnx") if args.flavour == "both" else out
            ppath.write_bytes(plugin)
            msg = "" if args.fp16 else \
                f" (reference evaluator vs PyTorch: max |diff|/max(1,|logit|) {verify_plugin(model, plugin):.2e})"
            print(f"wrote {ppath}{msg}")
        return 0

    # engine
    from deepemotion._backends import BackendUnavailable, tensorrt_status

    ok, why = tensorrt_status()
    if not ok:
        print(f"fer-export engine: {why}", file=sys.stderr)
        return 2
    from deepemotion.export.to_trt import build_engine

    out = Path(args.out)
    onnx_path = Path(args.onnx) if args.onnx else out.with_suffix(".plugin.onnx")
    if not args.onnx:
        onnx_path.write_bytes(to_plugin_graph(export_portable(model, half=args.precision == "fp16")))
    try:
        side = build_engine(onnx_path, out, args.precision, tuple(args.batch), args.workspace_mb, args.timing_cache,
                            command)
    except (BackendUnavailable, RuntimeError, ValueError) as exc:
        print(f"fer-export engine: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} and {out}.json ({side['precision']}, batch {args.batch}, {side['gpu']}, "
          f"TensorRT {side['tensorrt']}, {side['build_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
