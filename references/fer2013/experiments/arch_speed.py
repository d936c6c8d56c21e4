"""Speed of architectures before training them (maintainer script): how fast would a member of the family be?

    python references/fer2013/experiments/arch_speed.py tiny-fast tiny-fast:widths=24,48,96:hidden=96 --json
    docs/results/arch_speed.json

Each ARCH[:FIELD=VALUE...] (a ``fer-train --arch`` name with DeepEmotionConfig fields replaced) is built with random
weights -- the graph, and so the time, does not depend on training -- exported to ONNX as the bundles are, and run
through ``Recognizer(model=..., detector=None).predict_faces`` beside the bundled default and tiny models
(``fer-bench --faces``: alternated rounds, medians; ratios are the result, the machine is noisy). Prints parameters,
MFLOP per face and faces/s per batch size.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from deepemotion.benchmarks.faces import bench_faces, format_faces
from deepemotion.export.onnx import export_portable
from deepemotion.model import DeepEmotion, DeepEmotionConfig, arch_config, describe


def parse_spec(spec: str) -> DeepEmotionConfig:
    """'tiny-fast:widths=24,48,96:hidden=96' -> that config."""
    name, *pairs = spec.split(":")
    types = {f.name: f.type for f in fields(DeepEmotionConfig)}
    over: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in types:
            raise SystemExit(f"{spec}: unknown field {key!r}; fields: {', '.join(sorted(types))}")
        kind = str(types[key])
        if "tuple" in kind:
            over[key] = tuple(int(v) for v in value.split(","))
        elif "bool" in kind:
            over[key] = value.lower() in ("1", "true", "yes")
        else:
            over[key] = float(value) if "float" in kind else int(value)
    return replace(arch_config(name), **over)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("specs", nargs="+", help="ARCH[:FIELD=VALUE...]")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    sizes, files = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(args.specs):
            model = DeepEmotion(parse_spec(spec)).eval()
            path = Path(tmp) / f"{i}_{spec.replace(':', '_').replace(',', '-').replace('=', '-')}.onnx"
            export_portable(model, path)
            files.append(str(path))
            sizes[path.name] = {"spec": spec, **describe(model)}
            print(
                f"{spec}: {sizes[path.name]['parameters']:,} parameters, "
                f"{sizes[path.name]['mflops_per_face']:.1f} MFLOP/face",
                flush=True,
            )
        res = bench_faces(["default", "tiny", *files], tuple(args.batches), rounds=args.rounds)
    for row in res["rows"]:
        row["model"] = sizes.get(Path(row["model"]).name, {}).get("spec", row["model"])
    res["models"] = [sizes.get(Path(m).name, {}).get("spec", m) for m in res["models"]]
    res["architectures"] = list(sizes.values())
    print(format_faces(res))
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
