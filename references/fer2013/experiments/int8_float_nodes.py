"""Which nodes of the INT8 graph should stay in floating point? (maintainer script)

    python references/fer2013/experiments/int8_float_nodes.py --model default --batches 1 64 --json
    docs/results/int8_float_nodes.json

Builds the calibrated QDQ graph of a model three ways -- the shipped rule (the spatial transformer in float:
localization net, theta, grid, GridSample), that rule plus the first feature convolution in float (one input
channel leaves the INT8 kernels little to reduce over), and the localization net quantized too (only theta, the
grid and the sampling in float) -- and reports each graph's FER2013 PublicTest accuracy and its
``Recognizer(detector=None).predict_faces`` time, rounds alternated in one run, medians, ratios to the shipped rule.
Needs the data sets (``$DEEPEMOTION_DATA``) and the ``export`` extra.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx

from deepemotion import Recognizer
from deepemotion.benchmarks.faces import time_recognizers
from deepemotion.data.datasets import resolve_dataset
from deepemotion.export.onnx import export_portable
from deepemotion.export.quantize import calibration_faces, float_nodes, quantize_onnx, runtime_accuracy
from deepemotion.training.checkpoint import load_model


def first_conv_too(model: bytes) -> list[str]:
    g = onnx.load_from_string(model).graph
    convs = [n.name for n in g.node if n.op_type == "Conv" and "/features/" in n.name]
    return float_nodes(model) + convs[:1]


def localization_quantized(model: bytes) -> list[str]:
    return [n for n in float_nodes(model) if "/localization/" not in n]


RULES = {
    "shipped rule (STN in float)": float_nodes,
    "+ first conv in float": first_conv_too,
    "localization net in INT8": localization_quantized,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calibration-faces", type=int, default=2000)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    model, _ = load_model(args.model)
    fp32 = export_portable(model)
    train, test = resolve_dataset("fer2013", "train"), resolve_dataset("fer2013", "public_test")
    calib = calibration_faces(train, args.calibration_faces)  # the faces fer-export int8 draws
    rows, recs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, rule) in enumerate(RULES.items()):
            graph = quantize_onnx(fp32, calib, keep_float=rule)
            path = Path(tmp) / f"rule{i}.onnx"
            path.write_bytes(graph)
            acc = runtime_accuracy(graph, test.images, test.labels)
            rows.append({"rule": name, "float_nodes": len(rule(fp32)), "accuracy": acc})
            recs[name] = Recognizer(model=str(path), detector=None)
        times = time_recognizers(recs, args.batches, args.rounds, min_time=0.15)
    first = next(iter(RULES))
    for r in rows:
        for b in args.batches:
            t, base = (float(np.median(times[(k, b)])) for k in (r["rule"], first))
            r[f"batch{b}_ms"], r[f"batch{b}_speed_vs_shipped"] = t * 1e3, base / t
        speeds = ", ".join(
            f"batch {b}: {r[f'batch{b}_ms']:.3f} ms ({r[f'batch{b}_speed_vs_shipped']:.2f}x)" for b in args.batches
        )
        print(f"{r['rule']:30s} accuracy {100 * r['accuracy']:.2f}%  {speeds}")
    if args.json is not None:
        args.json.write_text(json.dumps({"model": args.model, "rounds": args.rounds, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
