"""Package a trained checkpoint as a bundled model (maintainer script; not installed).

    python tools/bundle.py --checkpoint RUN/best.pt --name default [--int8]

Writes into python/deepemotion/weights/:
  <stem>.pt        the weights (float16 storage to keep the wheel small; computed in float32)
  <stem>.onnx      the portable FP32 graph, built from exactly those float16-rounded weights
  <stem>.int8.onnx with --int8: the calibrated INT8 QDQ graph (fer-export int8)
  <stem>.json      metadata: architecture, size, training data/command/selection split, and the
                   PublicTest accuracy *as delivered by Recognizer.predict_faces* with these files
                   (ONNX Runtime on the CPU, the default path), per-class recall, confusion matrix.
No path of the machine it ran on is recorded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from deepemotion.export.onnx import export_portable, sha256
from deepemotion.runtime.assets import BUNDLED_MODELS
from deepemotion.training.checkpoint import model_from_state, read_checkpoint
from deepemotion.training.data import resolve_dataset
from deepemotion.training.loop import predict_logits
from deepemotion.training.metrics import metrics_from_predictions
from deepemotion.training.model import describe

WEIGHTS = Path(__file__).resolve().parents[1] / "python" / "deepemotion" / "weights"


def recognizer_metrics(onnx_path: Path, data: object, backend: str = "onnxruntime") -> dict:
    """What users get: the bundled graph through Recognizer.predict_faces (crop, normalisation, backend)."""
    from deepemotion.runtime.recognizer import Recognizer

    rec = Recognizer(model=str(onnx_path), backend=backend, detector=None)
    pred = np.array([f.class_id for f in rec.predict_faces(data.images)])  # type: ignore[attr-defined]
    return metrics_from_predictions(data.labels, pred)  # type: ignore[attr-defined]


def strip_paths(value: object) -> object:
    """The value with every absolute path shortened to its last two components (no machine paths in metadata)."""
    import re

    if isinstance(value, str):
        return re.sub(r"(?<![\w.])/(?:[^\s/\"']+/)*([^\s/\"']+/[^\s/\"']+)", r"\1", value)
    if isinstance(value, list):
        return [strip_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: strip_paths(v) for k, v in value.items()}
    return value


def int8_speedup(fp32: Path, int8: Path, rounds: int = 5) -> dict[str, float]:
    """INT8/FP32 faces-per-second ratio at batch 1 and 64, ONNX Runtime on this CPU, the two graphs
    alternated ``rounds`` times (median of each)."""
    from deepemotion.benchmarks.timing import time_calls
    from deepemotion.runtime.backends import create_backend

    a, b = create_backend("onnxruntime", str(fp32)), create_backend("onnxruntime", str(int8))
    out = {}
    for n in (1, 64):
        x = (np.random.default_rng(n).random((n, 1, 48, 48), np.float32) * 2 - 1).astype(np.float32)
        ta, tb = [], []
        for _ in range(rounds):
            ta.append(float(np.median(time_calls(lambda: a.run(x), 0.3, 5))))
            tb.append(float(np.median(time_calls(lambda: b.run(x), 0.3, 5))))
        out[f"speedup_batch{n}"] = float(np.median(ta) / np.median(tb))
    return out


def init_of(meta: dict) -> str | None:
    """The checkpoint a run started from, as its command named it (the run records only the file name)."""
    words = str(meta.get("command") or "").split()
    if "--init" in words[:-1]:
        return Path(words[words.index("--init") + 1]).as_posix()
    return meta.get("init")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/bundle.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--name", choices=sorted(BUNDLED_MODELS), default="default")
    p.add_argument("--data", default="fer2013", help="data set measured on (from $DEEPEMOTION_DATA)")
    p.add_argument("--split", default="public_test")
    p.add_argument("--int8", action="store_true", help="also write the calibrated INT8 graph")
    p.add_argument("--out", default=str(WEIGHTS), help="output folder")
    args = p.parse_args(argv)

    ckpt = read_checkpoint(args.checkpoint)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    model = model_from_state(ckpt["config"], half, args.checkpoint)
    stem = BUNDLED_MODELS[args.name]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_bytes = export_portable(model)
    torch.save(half, out / f"{stem}.pt")
    (out / f"{stem}.onnx").write_bytes(onnx_bytes)

    data = resolve_dataset(args.data, args.split)
    m_rec = recognizer_metrics(out / f"{stem}.onnx", data)
    m_torch = metrics_from_predictions(data.labels, predict_logits(model, data.images).argmax(1))
    evaluation = {"data": args.data, "split": args.split, "n": m_rec["n"], "accuracy": m_rec["accuracy"],
                  "how": "Recognizer(model=NAME, detector=None).predict_faces(48x48 faces) with the backend "
                         "Recognizer() picks on a CPU (default_backend_cpu): exactly what users get",
                  "default_backend_cpu": "onnxruntime",
                  "accuracy_fp32": m_rec["accuracy"],
                  "accuracy_torch_fp32": m_torch["accuracy"],
                  "per_class_recall": {k: v["recall"] for k, v in m_rec["per_class"].items()},
                  "confusion_matrix": m_rec["confusion_matrix"],
                  "command": f"fer-eval --model {args.name} --data {args.data} --split {args.split}"}
    if args.int8:
        from deepemotion.export.quantize import quantize_model

        int8, report = quantize_model(model, args.data, progress=True)
        (out / f"{stem}.int8.onnx").write_bytes(int8)
        m_int8 = recognizer_metrics(out / f"{stem}.int8.onnx", data)
        speed = int8_speedup(out / f"{stem}.onnx", out / f"{stem}.int8.onnx")
        delta = 100 * (m_int8["accuracy"] - m_rec["accuracy"])
        evaluation["accuracy_int8"] = m_int8["accuracy"]
        evaluation["int8"] = {**{k: v for k, v in report.items() if k not in ("float_nodes", "fp32_accuracy",
                                                                              "int8_accuracy", "delta_points")},
                              "delta_points": delta, **speed,
                              "default_on_cpu": bool(delta >= -0.5 and min(speed.values()) > 1.0)}
        if evaluation["int8"]["default_on_cpu"]:  # then the INT8 graph is what Recognizer() delivers on a CPU
            evaluation["default_backend_cpu"] = "onnxruntime-int8"
            evaluation["accuracy"] = m_int8["accuracy"]
            evaluation["per_class_recall"] = {k: v["recall"] for k, v in m_int8["per_class"].items()}
            evaluation["confusion_matrix"] = m_int8["confusion_matrix"]
    meta_in = ckpt.get("meta", {})
    meta = {
        "name": args.name,
        "file_stem": stem,
        "architecture": "DeepEmotion family (Minaee et al. 2021): STN (localization net -> theta -> affine grid + "
                        "bilinear sampling) + VGG-style feature stages + 2 FC",
        "config": ckpt["config"],
        **describe(model),
        "classes": list(__import__("deepemotion").CLASSES),
        "input": "N x 1 x 48 x 48 float32, gray, (v/255 - 0.5)/0.5",
        "training_data": meta_in.get("data"), "train_split": meta_in.get("train_split"),
        "selection_split": meta_in.get("val_split"), "selected_epoch": meta_in.get("epoch"),
        "initialised_from": init_of(meta_in),
        "training_command": meta_in.get("command"), "train_config": meta_in.get("train_config"),
        "trained_on": meta_in.get("date"), "bundled_on": time.strftime("%Y-%m-%d"),
        "evaluation": evaluation,
        "weights_dtype": "float16 storage (float32 compute)",
        "onnx_sha256": sha256(onnx_bytes),
        "bundle_command": f"python tools/bundle.py --checkpoint {Path(args.checkpoint).parent.name}/"
                          f"{Path(args.checkpoint).name} --name {args.name}" + (" --int8" if args.int8 else ""),
    }
    meta = strip_paths(meta)
    (out / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps({"accuracy (Recognizer, default CPU backend)": evaluation["accuracy"],
                      "accuracy_fp32": m_rec["accuracy"], "accuracy_torch_fp32": m_torch["accuracy"],
                      **({"accuracy_int8": evaluation["accuracy_int8"]} if args.int8 else {}),
                      "files": [f"{stem}.{k}" for k in ("pt", "onnx", "json")]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
