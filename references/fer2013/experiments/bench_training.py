"""Training throughput: the 0.1 training step against today's Trainer, side by side in one run.

    python references/fer2013/experiments/bench_training.py [--rounds 5] [--steps 20] [--json
    docs/results/training_speed.json]

Both train the 0.1 bundled configuration (paper-style network, width 32, hidden 128, batch norm; 384,119
parameters) on real FER2013 Training faces, batch 128, with the same augmentation (flip, rotation, scale,
shear, translation as one batched affine warp):

- ``0.1 loop``: a faithful copy of the 0.1 step (kept here, not in the package): float32, contiguous tensors,
  Adam, nn.Dropout, and a host sync per step for the running loss and accuracy (float(loss), int(correct));
- ``Trainer``: today's ``deepemotion.training.loop.Trainer.step`` (the code fer-train runs): bfloat16 autocast
  where the CPU has native bf16, channels-last, fused AdamW, a cheaper dropout mask, no host sync in the step;
- ``Trainer + camera chain``: the same with ``--degrade 0.5`` (blur, small faces, noise, JPEG on half the faces:
  the recipe of the robust models); ``camera_chain_cost`` is the share of throughput it costs.

The two alternate for --rounds rounds of --steps steps each (after warm-up), so that load on the machine hits
both alike; images/s is the median over rounds. Needs torch and $DEEPEMOTION_DATA.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepemotion.data.datasets import resolve_dataset
from deepemotion.model import PAPER, DeepEmotion, to_input
from deepemotion.training.augment import AugmentConfig, affine_theta
from deepemotion.training.config import TrainConfig
from deepemotion.training.loop import Trainer

LEGACY = replace(PAPER, widths=(32, 32), hidden=128, batch_norm=True)  # the 0.1 bundled network


def legacy_step_fn(model: DeepEmotion, images: torch.Tensor, labels: torch.Tensor, aug: AugmentConfig, seed: int):
    """The 0.1 training step: fp32, Adam(lr 0.005, wd 1e-3 except the FC weights), per-step host syncs."""
    fc = {id(model.fc1.weight), id(model.fc2.weight)}
    opt = torch.optim.Adam(
        [
            {"params": [p for p in model.parameters() if id(p) not in fc], "weight_decay": 1e-3},
            {"params": [p for p in model.parameters() if id(p) in fc], "weight_decay": 0.0},
        ],
        lr=0.005,
    )
    gen = torch.Generator().manual_seed(seed)
    stats = {"loss": 0.0, "correct": 0, "seen": 0}

    def step(idx: torch.Tensor) -> None:
        x = to_input(images[idx])
        theta = affine_theta(x.shape[0], aug, gen)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        y = labels[idx]
        logits = model(x)
        loss = model.loss(logits, y, l2=1e-4)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        stats["loss"] += float(loss.detach()) * len(y)  # host sync, as 0.1 did
        stats["correct"] += int((logits.argmax(1) == y).sum())  # and another
        stats["seen"] += len(y)

    return step


def make_arms(data: object, bs: int) -> dict[str, object]:
    """name -> a step function over a batch of face indices: the 0.1 loop, today's Trainer, and today's Trainer
    with the robot-camera chain on half the faces (--degrade 0.5, the recipe of the robust models)."""
    from dataclasses import replace

    aug = AugmentConfig(scale=0.1, translate=0.1, erase_p=0.0)  # 0.1's augmentation
    legacy_model = DeepEmotion(LEGACY).train()
    legacy_model.dropout = torch.nn.Dropout(LEGACY.dropout)  # 0.1 used PyTorch's dropout (bernoulli_ masks)
    arms = {
        "0.1 loop": legacy_step_fn(
            legacy_model,
            torch.from_numpy(data.images),  # type: ignore[attr-defined]
            torch.from_numpy(data.labels),
            aug,
            0,
        )
    }  # type: ignore[attr-defined]
    for name, a in (("Trainer", aug), ("Trainer + camera chain", replace(aug, degrade=0.5))):
        cfg = TrainConfig(model=LEGACY, augment=a, batch_size=bs, ema=0.0, label_smoothing=0.0)
        trainer = Trainer(cfg, data, None, "/tmp/unused-bench-run", meta={})  # type: ignore[arg-type]
        trainer.model.train()
        arms[name] = trainer.step
        arms["_autocast"] = trainer.autocast
    return arms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = resolve_dataset("fer2013", "train")
    bs = args.batch_size
    arms = make_arms(data, bs)
    autocast = arms.pop("_autocast")
    rng = np.random.default_rng(0)

    def timed(fn, n: int) -> float:
        idx = [torch.from_numpy(rng.integers(0, len(data), bs)) for _ in range(n)]
        t0 = time.perf_counter()
        out = None
        for i in idx:
            out = fn(i)
        if out is not None:  # the Trainer's tensors: make sure the work is done
            float(out[0])
        return n * bs / (time.perf_counter() - t0)

    for fn in arms.values():  # warm-up (allocator, oneDNN primitive caches)
        timed(fn, 5)
    rates: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(args.rounds):  # alternated, so that load on the machine hits every arm alike
        for name, fn in arms.items():
            rates[name].append(timed(fn, args.steps))
    med = {k: float(np.median(v)) for k, v in rates.items()}
    from deepemotion.training.loop import bf16_native

    res = {
        "config": f"0.1 bundled network (widths 32,32; hidden 128; BN), batch {bs}, FER2013 Training faces",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "bf16_native": bf16_native(),
        "precision_trainer": "bf16" if autocast is not None else "fp32",
        "images_per_second": med,
        "rounds": rates,
        "speedup": med["Trainer"] / med["0.1 loop"],
        "camera_chain_cost": 1.0 - med["Trainer + camera chain"] / med["Trainer"],
        "epoch_seconds_at_median": {k: math.ceil(len(data) / v) for k, v in med.items()},
        "command": "python references/fer2013/experiments/bench_training.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
