"""Package a trained checkpoint as a bundled model (maintainer script; not installed).

    python references/fer2013/bundle.py --checkpoint RUN/best.pt --name default [--int8] [--robustness]

1. **Calibrated scores**: a per-face temperature -- the logits times an inverse temperature that is piecewise linear
   in the face's own top score (``DeepEmotionConfig.score_knots``/``score_scales``, ``ScoreCalibration.fit``) -- is
   fitted on FER2013 ``public_test:calibrate`` (the half of PublicTest that no choice of epoch or candidate uses;
   ``public_test:select`` is that half's twin, on which the fit is checked) and stored in the config: every graph
   made from the model -- ONNX FP32, INT8, TensorRT engines, Triton repositories -- ends with it, so every backend
   gives the calibrated probabilities. (A single temperature cannot do it: these models are over-confident at mid
   scores and under-confident at high ones.)
2. **A constant STN where training left one**: when none of the localization net's hidden units fires on any FER2013
   face (train, PublicTest, PublicTest under every robustness condition), their incoming weights are zeroed
   (``--no-freeze-stn`` keeps them): θ is then provably the same for every input and the graphs hold it as a constant
   (deepemotion.export.stn) -- the same answers on every checked face, the localization net's time saved per face.
3. Writes into python/deepemotion/weights/:
   <stem>.pt        the weights (float16 storage to keep the wheel small; computed in float32)
   <stem>.onnx      the portable FP32 graph, built from exactly those float16-rounded weights
   <stem>.int8.onnx with --int8: the calibrated INT8 QDQ graph (fer-export int8)
   <stem>.json      metadata: architecture, size, training data/command/selection split, and what
                    ``Recognizer.predict_faces`` delivers with these files: PublicTest accuracy, per-class recall,
                    confusion matrix, calibration (ECE before/after), with --robustness the robot-camera conditions.
No path of the machine it ran on is recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepemotion.data.datasets import resolve_dataset
from deepemotion.evaluation.metrics import fit_temperature, metrics_from_predictions, reliability
from deepemotion.evaluation.validate import predict_logits
from deepemotion.export.onnx import drop_dead_units, export_portable, sha256
from deepemotion.export.stn import constant_theta
from deepemotion.labels import CLASSES, INPUT_SIZE
from deepemotion.model import DeepEmotion, describe
from deepemotion.runtime.assets import BUNDLED_MODELS
from deepemotion.runtime.recognizer import predict_probs
from deepemotion.training.checkpoint import model_from_state, read_checkpoint

WEIGHTS = Path(__file__).resolve().parents[2] / "python" / "deepemotion" / "weights"


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


#: the INT8 graph becomes a bundle's CPU default only if it is this much faster than FP32 at batch 1 and at 64:
#: smaller ratios are this 2-core machine's round-to-round noise (the tiny model's INT8 graph measured 1.39x / 0.97x
#: in one build and 1.11x / 1.03x in the next)
INT8_MARGIN = 1.05


def int8_speedup(fp32: Path, int8: Path, rounds: int = 9) -> dict[str, float]:
    """INT8/FP32 faces-per-second ratio at batch 1 and 64, ONNX Runtime on this CPU, the two graphs
    alternated ``rounds`` times (median of each)."""
    from deepemotion.benchmarks.timing import time_calls
    from deepemotion.runtime.backends import create_backend

    a, b = create_backend("onnxruntime", str(fp32)), create_backend("onnxruntime", str(int8))
    out = {}
    for n in (1, 64):
        x = (np.random.default_rng(n).random((n, 1, INPUT_SIZE, INPUT_SIZE), np.float32) * 2 - 1).astype(np.float32)
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


def calibrate(model: DeepEmotion, data: str) -> tuple[DeepEmotion, dict[str, Any]]:
    """(the uncalibrated ``model`` with the score calibration fitted on the calibration half in its config, the
    record). The record gives the ECE of both halves before and after (the select half is the check: the fit never
    saw it) and, for comparison, with the NLL-fitted single temperature."""
    from dataclasses import replace

    from deepemotion.model import ScoreCalibration

    cal, sel = resolve_dataset(data, "public_test:calibrate"), resolve_dataset(data, "public_test:select")
    if model.calibration is not None:
        raise ValueError("calibrate() fits an uncalibrated model's logits")
    z_cal, z_sel = predict_logits(model, cal.images), predict_logits(model, sel.images)
    fitted = ScoreCalibration.fit(z_cal, cal.labels)
    t_nll = fit_temperature(z_cal, cal.labels)

    def ece(map_: Any, z: np.ndarray, labels: np.ndarray) -> float:
        with torch.no_grad():
            probs = torch.softmax(map_(torch.from_numpy(z)).double(), 1).numpy()
        return reliability(probs, labels, floor_draws=0)["ece"]

    maps = {"before": lambda z: z, "after": fitted, "single_temperature_nll": lambda z: z / t_nll}
    cfg = replace(model.config, score_knots=fitted.knots, score_scales=fitted.scales)
    out = model_from_state(cfg.to_dict(), model.state_dict())
    return out, {
        "method": "per-face temperature: logits x s(p), p the face's top softmax score, s piecewise linear "
        "through (score_knots, score_scales) (DeepEmotionConfig); fitted by "
        "ScoreCalibration.fit (top-label log loss)",
        "score_knots": list(fitted.knots),
        "score_scales": list(fitted.scales),
        "fitted_on": f"{cal.name} ({len(cal)} faces, PyTorch FP32 logits)",
        "checked_on": f"{sel.name} ({len(sel)} faces the fit never saw)",
        "in_the_graphs": "every exported graph ends with it (nodes under /calibration/): every backend's "
        "softmax gives calibrated probabilities",
        **{
            f"ece_{half}_{k}": ece(m, z, d.labels)
            for k, m in maps.items()
            for half, z, d in (("calibration_half", z_cal, cal), ("select_half", z_sel, sel))
        },
        "temperature_nll": t_nll,
    }


def float16(model: DeepEmotion) -> dict[str, torch.Tensor]:
    """The model's state dict with float16 storage (exact for weights already rounded to float16)."""
    return {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}


def freeze_stn(model: DeepEmotion, data: str) -> dict[str, Any]:
    """Item 2 above: when no hidden unit of the localization net fires on any face of ``data``'s train and test
    splits, nor on the test faces under every robustness condition (network input made by the runtime's crop path),
    zero their incoming weights: θ is then provably constant and the graphs hold it instead of the net
    (deepemotion.export.stn). The same answers on every checked face; faster per face."""
    from deepemotion.evaluation.robustness import PERTURBATIONS
    from deepemotion.export.stn import freeze_localization
    from deepemotion.runtime.recognizer import Recognizer

    train, test = resolve_dataset(data, "train"), resolve_dataset(data, "public_test")
    finder = Recognizer(detector=None).finder
    rng = np.random.default_rng(0)

    def inputs() -> Any:
        yield from (batch for _, batch in finder.whole_crops(train.images, 256))
        for pert in PERTURBATIONS.values():
            yield from (batch for _, batch in finder.whole_crops(pert.apply(test.images, rng), 256))

    report = freeze_localization(model, inputs())
    report["checked_on"] = (
        f"{train.name} ({len(train)} faces) and {test.name} ({len(test)} faces) under each of "
        f"{len(PERTURBATIONS)} robustness conditions (clean included)"
    )
    report["note"] = (
        "θ is constant: none of the localization net's hidden units fires on any checked face, so "
        "their incoming weights are zeroed and the graphs hold θ instead of the net"
        if report["frozen"]
        else "a localization unit fires on some checked face: the graphs compute θ per face"
    )
    print(f"STN: {report['note']} ({report['faces_checked']} faces checked)", flush=True)
    return report


def evaluate_graph(path: Path, data: Any, select: Any) -> dict[str, Any]:
    """What Recognizer.predict_faces delivers with this graph: accuracy, per-class figures, calibration."""
    probs, _ = predict_probs(str(path), data.images, "onnxruntime")
    m = metrics_from_predictions(data.labels, probs.argmax(1))
    sel = np.isin(data.ids, select.ids)
    rel = reliability(probs, data.labels)
    return {
        **m,
        "ece": rel["ece"],
        "ece_floor": rel["ece_floor"],
        "ece_debiased": rel["ece_debiased"],
        "ece_select_half": reliability(probs[sel], data.labels[sel], floor_draws=0)["ece"],
        "reliability": rel["table"],
    }


def export_files(
    model: DeepEmotion, half: dict[str, torch.Tensor], out: Path, stem: str, data: str, int8: bool
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    onnx_bytes = export_portable(model)
    torch.save(half, out / f"{stem}.pt")
    (out / f"{stem}.onnx").write_bytes(onnx_bytes)
    report: dict[str, Any] = {"onnx_sha256": sha256(onnx_bytes)}
    if int8:
        from deepemotion.export.quantize import quantize_model

        data_int8, report["int8"] = quantize_model(model, data, progress=True)
        (out / f"{stem}.int8.onnx").write_bytes(data_int8)
    return report


def evaluation(
    args: argparse.Namespace, model: DeepEmotion, out: Path, stem: str, files: dict[str, Any]
) -> dict[str, Any]:
    data, select = resolve_dataset(args.data, args.split), resolve_dataset(args.data, f"{args.split}:select")
    fp32 = evaluate_graph(out / f"{stem}.onnx", data, select)
    ev: dict[str, Any] = {
        "data": args.data,
        "split": args.split,
        "n": fp32["n"],
        "accuracy": fp32["accuracy"],
        "how": "Recognizer(model=NAME, detector=None).predict_faces(48x48 faces) with the backend Recognizer() "
        "picks on a CPU (default_backend_cpu): exactly what users get",
        "default_backend_cpu": "onnxruntime",
        "accuracy_fp32": fp32["accuracy"],
        "accuracy_torch_fp32": float((predict_logits(model, data.images).argmax(1) == data.labels).mean()),
        "command": f"fer-eval --model {args.name} --data {args.data} --split {args.split}",
    }
    chosen = fp32
    if args.int8:
        int8 = evaluate_graph(out / f"{stem}.int8.onnx", data, select)
        speed = int8_speedup(out / f"{stem}.onnx", out / f"{stem}.int8.onnx")
        delta = 100 * (int8["accuracy"] - fp32["accuracy"])
        rep = files["int8"]
        ev["accuracy_int8"] = int8["accuracy"]
        ev["int8"] = {
            **{
                k: v
                for k, v in rep.items()
                if k not in ("float_nodes", "fp32_accuracy", "int8_accuracy", "delta_points")
            },
            "delta_points": delta,
            **speed,
            "default_on_cpu": bool(delta >= -0.5 and min(speed.values()) >= INT8_MARGIN),
            "rule": f"INT8 at most 0.5 points less accurate and at least {INT8_MARGIN}x as fast at batch 1 and 64",
        }
        if ev["int8"]["default_on_cpu"]:  # then the INT8 graph is what Recognizer() delivers on a CPU
            ev["default_backend_cpu"], ev["accuracy"], chosen = "onnxruntime-int8", int8["accuracy"], int8
    ev["per_class_recall"] = {k: v["recall"] for k, v in chosen["per_class"].items()}
    ev["confusion_matrix"] = chosen["confusion_matrix"]
    for k in ("ece", "ece_floor", "ece_debiased", "ece_select_half"):
        ev[k] = chosen[k]
    ev["reliability_15_bins"] = chosen["reliability"]
    return ev


def robustness(args: argparse.Namespace, out: Path, stem: str, backend: str) -> dict[str, Any]:
    from deepemotion.evaluation.robustness import CAMERA_CONDITIONS, evaluate

    data = resolve_dataset(args.data, args.split)
    kind = "int8.onnx" if backend.endswith("int8") else "onnx"
    r = evaluate(str(out / f"{stem}.{kind}"), data.images, data.labels, backend="onnxruntime", progress=True)
    rows = {x["condition"]: round(x["change_points"], 2) for x in r["rows"]}
    camera = {c: rows[c] for c in CAMERA_CONDITIONS}
    return {
        "change_points": rows,
        "worst": r["worst"],
        "worst_change_points": round(r["worst_change_points"], 2),
        "worst_condition": min(camera, key=camera.get),
        "command": f"fer-eval --model {args.name} --data {args.data} --split {args.split} --perturb",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="references/fer2013/bundle.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--name", choices=sorted(BUNDLED_MODELS), default="default")
    p.add_argument("--data", default="fer2013", help="data set measured on (from $DEEPEMOTION_DATA)")
    p.add_argument("--split", default="public_test")
    p.add_argument("--int8", action="store_true", help="also write the calibrated INT8 graph")
    p.add_argument("--no-calibration", action="store_true", help="do not fit a score calibration")
    p.add_argument("--robustness", action="store_true", help="also record the robot-camera conditions")
    p.add_argument(
        "--no-freeze-stn",
        action="store_true",
        help="keep the localization net even when none of its hidden units fires on any checked face",
    )
    p.add_argument("--out", default=str(WEIGHTS), help="output folder")
    args = p.parse_args(argv)

    ckpt = read_checkpoint(args.checkpoint)
    model = model_from_state(ckpt["config"], ckpt["state_dict"], args.checkpoint)
    # exactly the float16-rounded weights, without a calibration the checkpoint's config may carry (e.g. interpolated
    # with a bundle): it was fitted to other logits
    model = model_from_state(model.config.uncalibrated().to_dict(), float16(model), args.checkpoint)
    calib = None
    if not args.no_calibration:
        model, calib = calibrate(model, args.data)
    stn = None if args.no_freeze_stn else freeze_stn(model, args.data)
    half = float16(model)  # what the .pt stores (with a frozen STN's zeroed weights)
    stem, out = BUNDLED_MODELS[args.name], Path(args.out)
    files = export_files(model, half, out, stem, args.data, args.int8)
    ev = evaluation(args, model, out, stem, files)
    if calib is not None:
        ev["calibration"] = calib
    if args.robustness:
        ev["robustness"] = robustness(args, out, stem, ev["default_backend_cpu"])
    meta = metadata(args, ckpt, model, ev, files["onnx_sha256"])
    if stn is not None:
        meta["graph"]["stn"] = stn
    (out / f"{stem}.json").write_text(json.dumps(strip_paths(meta), indent=2) + "\n")
    print(
        json.dumps(
            {
                "accuracy (Recognizer, default CPU backend)": ev["accuracy"],
                "accuracy_fp32": ev["accuracy_fp32"],
                "ece": ev["ece"],
                "score_scales": calib and calib["score_scales"],
                **({"accuracy_int8": ev["accuracy_int8"]} if args.int8 else {}),
                **({"robustness": ev["robustness"]} if args.robustness else {}),
            },
            indent=2,
        )
    )
    return 0


def metadata(
    args: argparse.Namespace, ckpt: dict[str, Any], model: DeepEmotion, ev: dict[str, Any], onnx_sha: str
) -> dict[str, Any]:
    meta_in = ckpt.get("meta", {})
    graph = drop_dead_units(model)  # the network the ONNX graphs hold
    return {
        "name": args.name,
        "file_stem": BUNDLED_MODELS[args.name],
        "architecture": "DeepEmotion family (Minaee et al. 2021): STN (localization net -> theta -> affine grid + "
        "bilinear sampling) + VGG-style feature stages + 2 FC",
        "config": model.config.to_dict(),
        **describe(model),
        "graph": {
            "hidden_units": graph.fc1.out_features,
            **describe(graph, constant_theta(model) is not None),
            "note": "the ONNX graphs leave out the hidden units whose fc2 weights are all zero (same logits)"
            " and, with a constant STN (stn), the localization net",
        },
        "classes": list(CLASSES),
        "input": "N x 1 x 48 x 48 float32, gray, (v/255 - 0.5)/0.5",
        "training_data": meta_in.get("data"),
        "train_split": meta_in.get("train_split"),
        "selection_split": meta_in.get("val_split"),
        "selected_epoch": meta_in.get("epoch"),
        "initialised_from": init_of(meta_in),
        "training_command": meta_in.get("command"),
        "train_config": meta_in.get("train_config"),
        "weight_interpolation": strip_paths(meta_in.get("interpolated")),  # references/fer2013/interpolate.py, if used
        "trained_on": meta_in.get("date"),
        "bundled_on": time.strftime("%Y-%m-%d"),
        "evaluation": ev,
        "weights_dtype": "float16 storage (float32 compute)",
        "onnx_sha256": onnx_sha,
        "bundle_command": f"python references/fer2013/bundle.py --checkpoint {Path(args.checkpoint).parent.name}/"
        f"{Path(args.checkpoint).name} --name {args.name}"
        + (" --int8" if args.int8 else "")
        + (" --robustness" if args.robustness else ""),
    }


if __name__ == "__main__":
    sys.exit(main())
