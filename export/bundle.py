"""Package a trained checkpoint as the bundled model (``deepemotion/weights/``).

    python -m deepemotion.export.bundle --checkpoint runs/fer2013/best.pt [--out python/deepemotion/weights]

Writes ``deepemotion_fer2013.pt`` (state dict, float16 storage to keep the wheel small),
``deepemotion_fer2013.onnx`` (portable flavour, built from those same float16-rounded weights) and
``deepemotion_fer2013.json`` (architecture, training data and command, date, and the PublicTest
accuracy measured here on the bundled weights with both PyTorch and ONNX Runtime).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deepemotion.export.bundle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default="fer2013", help="data set to measure on (default fer2013 from $DEEPEMOTION_DATA)")
    p.add_argument("--split", default="public_test")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "python" / "deepemotion" / "weights"),
                   help="output folder (default: the source tree's python/deepemotion/weights)")
    p.add_argument("--name", default="deepemotion_fer2013")
    args = p.parse_args(argv)

    import onnxruntime as ort

    from deepemotion.data import resolve_dataset
    from deepemotion.model import DeepEmotion, count_flops, count_parameters
    from deepemotion.train import evaluate, load_checkpoint, metrics_from_predictions, to_input

    from .to_onnx import export_portable, sha256

    model, ckpt = load_checkpoint(args.checkpoint)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    bundled = DeepEmotion.from_config(ckpt["config"])
    bundled.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    bundled.eval()
    onnx_bytes = export_portable(bundled)

    data = resolve_dataset(args.data, args.split)
    tta = bool(ckpt["meta"].get("train_config", {}).get("tta_flip", True))
    m_torch = evaluate(bundled, data, tta_flip=tta)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    x = to_input(torch.from_numpy(data.images)).numpy()
    logits = sess.run(None, {"input": x})[0]
    if tta:
        from deepemotion.recognizer import _softmax as softmax

        probs = 0.5 * (softmax(logits) + softmax(sess.run(None, {"input": np.ascontiguousarray(x[..., ::-1])})[0]))
    else:
        probs = logits
    m_onnx = metrics_from_predictions(data.labels, probs.argmax(1))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(half, out / f"{args.name}.pt")
    (out / f"{args.name}.onnx").write_bytes(onnx_bytes)
    meta = {
        "name": args.name,
        "architecture": "DeepEmotion (Minaee et al. 2021): STN + 4 conv + 2 FC",
        "config": ckpt["config"],
        "parameters": count_parameters(bundled),
        "flops_per_face": count_flops(bundled)["flops"],
        "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "input": "N x 1 x 48 x 48 float32, gray, (v/255 - 0.5)/0.5",
        "training_data": ckpt["meta"].get("data"), "train_split": ckpt["meta"].get("train_split"),
        "selection_split": ckpt["meta"].get("val_split"), "best_epoch": ckpt["meta"].get("epoch"),
        "training_command": ckpt["meta"].get("command"), "train_config": ckpt["meta"].get("train_config"),
        "trained_on": ckpt["meta"].get("date"),
        "bundled_on": time.strftime("%Y-%m-%d"),
        "tta_flip": tta,
        "evaluation": {"data": args.data, "split": args.split, "n": m_torch["n"],
                       "accuracy_torch": m_torch["accuracy"], "accuracy_onnxruntime": m_onnx["accuracy"],
                       "command": f"fer-eval --data {args.data} --split {args.split}"},
        "weights_dtype": "float16 storage (float32 compute)",
        "onnx_sha256": sha256(onnx_bytes),
        "bundle_command": "python -m deepemotion.export.bundle " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    (out / f"{args.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps({"accuracy_torch": m_torch["accuracy"], "accuracy_onnxruntime": m_onnx["accuracy"],
                      "out": str(out)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
