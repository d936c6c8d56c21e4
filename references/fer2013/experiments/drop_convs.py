"""A shallower copy of a trained network, to fine-tune by distillation (maintainer script; not installed).

    python references/fer2013/experiments/drop_convs.py --model default --depths 1,1,1,2 --out runs/lite-init.pt
    fer-train --data fer2013 --train-split train --val-split public_test:select --init /work/runs/lite-init.pt \\
        --teacher default --teacher-tta --kd-alpha 0.9 --epochs 40 --out /work/runs/lite --quiet

Each feature stage of a DeepEmotion member is ``depth`` x (3x3 conv, BatchNorm, ReLU) and a max-pool; only the first
convolution of a stage changes the channel count, so the later ones can be left out without changing any other
shape. This writes a checkpoint of the same member with the stage depths given (each at most the model's own),
keeping the first convolutions of every stage and every other weight (localization net, STN regressor, fully
connected layers) as they are. The copy is a damaged network -- a start for ``fer-train --init`` with the original
as teacher, which recovers far faster than training the smaller member from scratch -- and the script prints its
PublicTest ``select``-half accuracy before any fine-tuning, so one sees how much there is to recover.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from deepemotion.model import DeepEmotion, DeepEmotionConfig, describe
from deepemotion.training.checkpoint import model_from_state, read_checkpoint, save_checkpoint


def shallower(
    config: DeepEmotionConfig, state: dict[str, torch.Tensor], depths: tuple[int, ...]
) -> tuple[DeepEmotionConfig, dict[str, torch.Tensor]]:
    """(config, state dict) of the member with ``depths``, its weights taken from ``state`` (the first convolutions
    of each stage; every tensor outside the feature stages unchanged)."""
    if len(depths) != len(config.depths) or any(not 1 <= d <= old for d, old in zip(depths, config.depths)):
        raise SystemExit(f"--depths {depths}: need one depth per stage, each from 1 to the model's own {config.depths}")
    if not config.relu_each_conv:
        raise SystemExit(
            "the model's stages end in pool-then-ReLU (the paper's layout); only members with a ReLU "
            "after every convolution can lose convolutions this way"
        )
    new = replace(config, depths=tuple(depths))
    with torch.device("meta"):
        wanted = DeepEmotion(new).state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, meta in wanted.items():
        # features.<stage>.<layer>.*: the first (conv, BN, ReLU) triples keep their layer indices
        if key not in state or tuple(state[key].shape) != tuple(meta.shape):
            raise SystemExit(f"{key}: no tensor of shape {tuple(meta.shape)} in the model")
        out[key] = state[key].clone()
    return new, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default", help="bundled model name or checkpoint")
    p.add_argument("--depths", required=True, help="convolutions per stage, e.g. 1,1,1,2")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-check", action="store_true", help="do not measure the copy on public_test:select")
    args = p.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; not overwriting it")
    ckpt = read_checkpoint(args.model)
    config = DeepEmotionConfig.from_dict(ckpt["config"])
    depths = tuple(int(d) for d in args.depths.split(","))
    new, state = shallower(config, ckpt["state_dict"], depths)
    model = model_from_state(new.to_dict(), state, str(args.out))
    meta = {
        "made_by": "references/fer2013/experiments/drop_convs.py",
        "from": str(args.model),
        "depths_from": list(config.depths),
        "depths": list(depths),
    }
    save_checkpoint(args.out, model, meta)
    print(f"{args.out}: {describe(model)}")
    if not args.no_check:
        from deepemotion.data.datasets import resolve_dataset
        from deepemotion.evaluation.validate import predict_logits

        data = resolve_dataset("fer2013", split="public_test:select")
        pred = predict_logits(model, data.images).argmax(1)
        print(
            f"public_test:select accuracy before fine-tuning: {100 * (pred == data.labels).mean():.2f}% "
            f"({len(pred)} faces)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
