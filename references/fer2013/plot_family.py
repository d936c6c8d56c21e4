"""Accuracy against compute for members of the model family (maintainer script).

    python references/fer2013/plot_family.py NAME=CHECKPOINT[:tta] ... [--bundled] --out docs/results/accuracy_vs_mflops

Each checkpoint is exported to ONNX and measured on FER2013 PublicTest through Recognizer.predict_faces (ONNX
Runtime, FP32), with its parameters and MFLOP per face counted on the model as exported (``:tta`` adds flip
averaging inside the graph, which doubles the FLOPs). ``--bundled`` adds the bundled models from their metadata.
Writes OUT.json (the points, with each checkpoint's training command and epochs) and OUT.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bundle import strip_paths  # references/fer2013/bundle.py, beside this script

from deepemotion.data.datasets import resolve_dataset
from deepemotion.export.onnx import export_portable
from deepemotion.export.quantize import runtime_accuracy
from deepemotion.model import DeepEmotion, describe
from deepemotion.plots import plot_accuracy_vs_flops
from deepemotion.runtime.assets import BUNDLED_MODELS, bundled_model
from deepemotion.training.checkpoint import load_checkpoint

BUDGET_MFLOPS = 200.0


def _measured_point(spec: str, test: Any) -> dict[str, Any]:
    """NAME=CHECKPOINT[:tta] measured on `test` through the runtime."""
    name, _, path = spec.partition("=")
    tta = path.endswith(":tta")
    path = path[:-4] if tta else path
    model, ckpt = load_checkpoint(path)
    if tta:
        flipped = DeepEmotion(replace(model.config, tta_flip=True))
        flipped.load_state_dict(model.state_dict())
        model = flipped.eval()
    info = describe(model)
    acc = runtime_accuracy(export_portable(model), test.images, test.labels)
    meta = ckpt.get("meta", {})
    print(f"{name}: {acc:.4f} at {info['mflops_per_face']:.1f} MFLOP, {info['parameters']:,} params", flush=True)
    return {
        "name": name,
        "mflops": info["mflops_per_face"],
        "params": info["parameters"],
        "accuracy": acc,
        "epochs": meta.get("train_config", {}).get("epochs"),
        "selected_epoch": meta.get("epoch"),
        "command": meta.get("command"),
        "tta_in_graph": tta,
    }


def _bundled_points() -> list[dict[str, Any]]:
    """The bundled models, from their metadata."""
    points = []
    for name in BUNDLED_MODELS:
        b = bundled_model(name)
        if b.has("json"):
            m = b.metadata()
            points.append(
                {
                    "name": f"bundled {name}",
                    "mflops": m["mflops_per_face"],
                    "params": m["parameters"],
                    "accuracy": m["evaluation"]["accuracy"],
                    "bundled": True,
                    "command": m.get("training_command"),
                }
            )
    return points


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help="NAME=CHECKPOINT[:tta]")
    p.add_argument("--bundled", action="store_true", help="add the bundled models (from their metadata)")
    p.add_argument(
        "--extra", default=None, help="a JSON list of earlier points to keep (name, mflops, params, accuracy, note)"
    )
    p.add_argument("--out", required=True, help="output path without suffix")
    args = p.parse_args(argv)
    test = resolve_dataset("fer2013", "public_test")
    points = json.loads(Path(args.extra).read_text()) if args.extra else []
    points += [_measured_point(spec, test) for spec in args.runs]
    if args.bundled:
        points += _bundled_points()
    out = Path(args.out)
    record = {
        "budget_mflops": BUDGET_MFLOPS,
        "data": test.name,
        "how": "Recognizer.predict_faces, ONNX Runtime",
        "points": points,
    }
    out.with_suffix(".json").write_text(json.dumps(strip_paths(record), indent=2) + "\n")  # no machine paths
    plot_accuracy_vs_flops(
        points,
        out.with_suffix(".png"),
        budget_mflops=BUDGET_MFLOPS,
        title="FER2013 PublicTest accuracy vs compute (star: bundled)",
    )
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
