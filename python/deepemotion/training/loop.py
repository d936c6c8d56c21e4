"""The training loop: one `Trainer` owns the model, optimiser, weight average, teacher and RNGs.

Fast on a CPU by construction: faces stay one uint8 tensor and a batch is indexed from it; all
augmentation is batched tensor work (`augment.py`); the network runs channels-last under bfloat16
autocast where the CPU has native bf16 (AVX512-BF16 / AMX), with float32 master weights; the loop
never waits on a Python scalar inside a step (loss and accuracy are summed as tensors and read once
per progress update). `references/fer2013/experiments/bench_training.py` measures it against the 0.1 loop.

On a GPU the run is *resident* (`resident=None` means: on CUDA): the faces and labels live on the device, the
augmentation and the camera chain run there from a device generator (per-batch choices from a CPU one), the
chain takes its dense form, and nothing in a step waits for the device -- the host only queues work, and the
loss and accuracy are read once an epoch. On the CPU the same resident path gives the same results as the
host path (tests/test_train.py), except that the camera chain then also takes its dense form.

Run folder (`out_dir`): `best.pt` (the weights selected on validation), `last.pt` (resumable:
model, weight average, optimiser, all RNG states, history), `metrics.json` / `metrics.csv`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import FaceSet
from ..evaluation.validate import evaluate
from ..model import DeepEmotion, describe
from .augment import augment, degrade, mix
from .average import WeightAverage
from .checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from .config import TrainConfig, comparable_recipe
from .distill import Teacher, kd_loss


def bf16_native() -> bool:
    """True when this CPU computes bfloat16 natively (oneDNN's AVX512-BF16 / AMX kernels)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None: float32)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "bf16" or bf16_native():
        return torch.bfloat16
    return None


def sampling_weights(labels: np.ndarray, power: float) -> np.ndarray:
    counts = np.bincount(labels, minlength=int(labels.max()) + 1).astype(np.float64)
    w = np.where(counts[labels] > 0, counts[labels] ** -power, 0.0)
    return w / w.sum()


def lr_at(epoch: float, cfg: TrainConfig) -> float:
    """Learning rate at a fractional epoch: linear warm-up, then cosine to 1% (or constant)."""
    warmup = min(cfg.warmup_epochs, cfg.epochs - 1)
    if warmup > 0 and epoch < warmup:
        return cfg.lr * (epoch + 1e-3) / warmup
    if cfg.schedule == "constant":
        return cfg.lr
    t = (epoch - warmup) / max(1e-9, cfg.epochs - warmup)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


@dataclass
class TrainResult:
    best_epoch: int
    best_val_accuracy: float
    epoch_seconds: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    total_seconds: float = 0.0


class EpochPlan:
    """How many epochs of a fresh run fit into `budget` seconds. The first epoch carries the warm-up (cuDNN's
    algorithm search, the allocator, lazy initialisation: 20-40% of an epoch on a GPU), so with three or more epochs
    the plan is made after the second, from the time between the ends of the first two (the second epoch, its
    validation and the first's checkpoints); the warm-up of the learning rate does not depend on the total, so
    planning late changes nothing before it. From then on, if an epoch's time says the next one would end past the
    budget (the machine got slower, e.g. other runs started beside it), the run stops after this one."""

    def __init__(self, budget: float, epochs: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.budget, self.epochs, self.clock = budget, epochs, clock
        self.plan_at = 2 if epochs >= 3 else 1
        self.start = clock()
        self.ends: list[float] = []

    def after_epoch(self, epoch: int) -> tuple[int, bool]:
        """(the run's epochs, whether to stop now) after `epoch` (1-based) ended."""
        now = self.clock()
        self.ends.append(now)
        per = now - (self.ends[-2] if len(self.ends) > 1 else self.start)
        elapsed = now - self.start
        if epoch == self.plan_at:
            fit = epoch + int(max(0.0, self.budget - elapsed) // max(per, 1e-9))
            planned = max(epoch, min(self.epochs, fit))
            print(
                f"time budget {self.budget:.0f} s: epoch {epoch} ended after {elapsed:.1f} s, {per:.1f} s per epoch "
                f"-> {planned} epochs (at most {self.epochs})",
                flush=True,
            )
            self.epochs = planned
            return self.epochs, False
        stop = epoch < self.epochs and elapsed + per > self.budget
        if stop:
            print(
                f"time budget {self.budget:.0f} s: after epoch {epoch} ({elapsed:.1f} s, {per:.1f} s per epoch) the "
                f"next would end past it; stopping at {epoch} of {self.epochs} epochs",
                flush=True,
            )
        return self.epochs, stop


class RunFolderInUse(FileExistsError):
    """The output folder holds a run and neither resume nor overwrite was asked for."""


def keep_freed_memory() -> None:
    """glibc returns large freed blocks to the OS and then page-faults them back on the next batch
    (tens of thousands of faults per step, costly in VMs). Keep them in the heap instead. Linux
    glibc only; a no-op elsewhere."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)  # the largest value glibc accepts on 64-bit
        libc.mallopt(m_trim_threshold, (1 << 31) - 1)
        libc.mallopt(m_top_pad, 256 << 20)
    except (OSError, AttributeError):
        pass


class Trainer:
    """Trains `cfg.model` on `train_set`; keeps the best epoch on `val_set` (the last if None)."""

    def __init__(
        self,
        cfg: TrainConfig,
        train_set: FaceSet,
        val_set: FaceSet | None,
        out_dir: str | os.PathLike[str],
        *,
        device: str = "cpu",
        meta: dict[str, Any] | None = None,
        resident: bool | None = None,
    ) -> None:
        if len(train_set) < cfg.batch_size:
            raise ValueError(
                f"{train_set.name}: {len(train_set)} training faces, fewer than one batch "
                f"({cfg.batch_size}); lower --batch-size"
            )
        n_classes = int(train_set.labels.max()) + 1
        if n_classes > cfg.model.num_classes:
            raise ValueError(
                f"{train_set.name}: labels go up to {n_classes - 1} but the model has {cfg.model.num_classes} classes"
            )
        self.cfg, self.train_set, self.val_set = cfg, train_set, val_set
        self.out = Path(out_dir)
        self.meta = dict(meta or {})
        self.device = torch.device(device)
        self.autocast = resolve_precision(cfg.precision, self.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every training batch has one shape: tune each conv once
        torch.manual_seed(cfg.seed)
        self.model = DeepEmotion(cfg.model).to(self.device).to(memory_format=torch.channels_last)
        self.opt = self._optimizer()
        self.ema = WeightAverage(self.model, cfg.ema) if cfg.ema > 0 else None
        self.teacher = Teacher(cfg.teachers, self.device, cfg.teacher_tta) if cfg.teachers else None
        # resident: the faces, their augmentation and the camera chain on the training device (see the module doc)
        self.resident = self.device.type == "cuda" if resident is None else bool(resident)
        data_device = self.device if self.resident else torch.device("cpu")
        self.gen = torch.Generator(device=data_device).manual_seed(cfg.seed)
        # per-batch choices are read on the host: from a CPU generator of their own where gen is on a GPU
        self.choice = None if data_device.type == "cpu" else torch.Generator().manual_seed(cfg.seed + 1)
        self.rng = np.random.default_rng(cfg.seed)
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.best_acc, self.best_epoch = -1.0, -1
        self.images = torch.from_numpy(np.ascontiguousarray(train_set.images)).to(data_device)
        self.labels = torch.from_numpy(train_set.labels).to(data_device)
        self.weights = sampling_weights(train_set.labels, cfg.oversample) if cfg.oversample > 0 else None
        self.steps = len(train_set) // cfg.batch_size
        self.info = describe(self.model)

    # -- setup -------------------------------------------------------------------------------------
    def _optimizer(self) -> torch.optim.Optimizer:
        cfg, m = self.cfg, self.model
        fc = {id(p) for p in m.fc_weights()}
        decay = [p for p in m.parameters() if p.ndim > 1 and id(p) not in fc]
        rest = [p for p in m.parameters() if p.ndim <= 1 or id(p) in fc]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        # fused: one kernel per parameter group instead of a loop over tensors (PyTorch >= 2.4 on CPU)
        fused = {"fused": True} if self.device.type in ("cpu", "cuda") else {}
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, **fused)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=cfg.lr, **fused)
        return torch.optim.Adam(groups, lr=cfg.lr, **fused)

    def prepare_folder(self, resume: bool, overwrite: bool) -> None:
        """Refuse to overwrite a run folder unless told; load `last.pt` when resuming."""
        last = self.out / "last.pt"
        if resume:
            if last.exists():
                self.load_state(last)
            return
        taken = [p.name for p in (last, self.out / "best.pt", self.out / "metrics.json") if p.exists()]
        if taken and not overwrite:
            raise RunFolderInUse(
                f"{self.out}: holds a run ({', '.join(taken)}); continue it with --resume, or "
                "replace it with --overwrite, or pick another --out"
            )
        self.out.mkdir(parents=True, exist_ok=True)

    def load_state(self, path: Path) -> None:
        ck = read_checkpoint(path)
        # the recipe must match; the CPU threads are the machine's business (resume on a busier or bigger one)
        if comparable_recipe(ck.get("train_config")) != comparable_recipe(self.cfg.to_dict()):
            raise CheckpointError(
                f"{path}: was written with a different training configuration; "
                "use a new output folder or the same options"
            )
        self.model.load_state_dict(ck["state_dict"])
        self.opt.load_state_dict(ck["optimizer"])
        if self.ema is not None:
            self.ema.model.load_state_dict(ck["ema_state_dict"])
            self.ema.updates = int(ck["ema_updates"])
        self._restore_generators(ck)
        torch.set_rng_state(ck["torch_rng"])
        self.rng.bit_generator.state = ck["numpy_rng"]
        self.history = list(ck["history"])
        self.epoch = int(ck["epoch"])
        self.best_acc, self.best_epoch = float(ck["best_val_accuracy"]), int(ck["best_epoch"])

    def _restore_generators(self, ck: dict[str, Any]) -> None:
        """The random streams of a resumed run; a run saved where its generators lived on another kind of device
        (a GPU run resumed on a CPU, say) continues with fresh streams from the seed and the epoch, and says so."""
        try:
            self.gen.set_state(ck["generator"])
            if self.choice is not None:
                self.choice.set_state(ck["choice_generator"])
        except (KeyError, RuntimeError, ValueError):
            seed = self.cfg.seed + 1000 * int(ck.get("epoch", 0))
            self.gen.manual_seed(seed)
            if self.choice is not None:
                self.choice.manual_seed(seed + 1)
            print(
                f"{self.out}: the saved random streams are for another device; continuing with fresh ones "
                f"(seed {seed})",
                flush=True,
            )

    # -- one step / one epoch -----------------------------------------------------------------------
    def _batch_order(self) -> torch.Tensor:
        n, bs = len(self.train_set), self.cfg.batch_size
        if self.weights is not None:
            order = self.rng.choice(n, size=self.steps * bs, replace=True, p=self.weights)
        else:
            order = self.rng.permutation(n)[: self.steps * bs]
        return torch.from_numpy(order).view(self.steps, bs).to(self.images.device)

    def step(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step on the faces `idx`; returns (loss, correct) as tensors (no host sync)."""
        cfg = self.cfg
        clean = augment(self.images[idx], cfg.augment, self.gen)
        y = self.labels[idx]
        clean, target = mix(clean, y, cfg.model.num_classes, cfg.augment, self.gen, cfg.label_smoothing, self.choice)
        # the camera chain: the student sees it, the teacher does not
        x = degrade(clean, cfg.augment, self.gen, self.choice, dense=self.resident)
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        target = target.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            logits = self.model(x).float()
            t_logits = None
            if self.teacher is not None:
                t_in = (
                    x
                    if clean is x
                    else clean.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                )
                t_logits = self.teacher(t_in)
        loss = F.cross_entropy(logits, target) + cfg.l2_fc * self.model.fc_l2()
        if t_logits is not None:
            loss = (1 - cfg.kd_alpha) * loss + cfg.kd_alpha * kd_loss(logits, t_logits, cfg.kd_temperature)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.ema is not None:
            self.ema.update(self.model)
        correct = (logits.detach().argmax(1) == y.to(self.device, non_blocking=True)).sum()
        return loss.detach(), correct  # on the training device: summed there, read once an epoch

    def train_epoch(self, progress: bool) -> dict[str, Any]:
        from tqdm.auto import tqdm

        cfg, epoch = self.cfg, self.epoch
        self.model.train()
        order = self._batch_order()
        tot_loss = torch.zeros((), device=self.device)
        tot_correct = torch.zeros((), dtype=torch.int64, device=self.device)
        t0 = time.perf_counter()
        bar = tqdm(
            range(self.steps),
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=None if progress else True,  # None: a bar on a terminal only
            unit="batch",
        )
        for i in bar:
            lr = lr_at(epoch + i / self.steps, cfg)
            for g in self.opt.param_groups:
                g["lr"] = lr
            loss, correct = self.step(order[i])
            tot_loss += loss
            tot_correct += correct
            if progress and i % 50 == 49:
                seen = (i + 1) * cfg.batch_size
                bar.set_postfix(loss=f"{float(tot_loss) / (i + 1):.3f}", acc=f"{int(tot_correct) / seen:.3f}")
        seen = self.steps * cfg.batch_size
        loss_mean = float(tot_loss) / self.steps  # the epoch's one wait for the device: before the clock is read
        seconds = time.perf_counter() - t0
        if not math.isfinite(loss_mean):
            raise FloatingPointError(f"epoch {epoch + 1}: the training loss is {loss_mean}; lower --lr")
        return {
            "epoch": epoch + 1,
            "lr": lr_at(epoch + 1 - 1e-9, cfg),
            "train_loss": loss_mean,
            "train_accuracy": int(tot_correct) / seen,
            "epoch_seconds": seconds,
            "images_per_second": seen / seconds,
        }

    def selected_model(self) -> DeepEmotion:
        """The weights that are evaluated and kept: the weight average if on, else the raw weights."""
        return self.ema.model if self.ema is not None else self.model

    # -- the whole run ------------------------------------------------------------------------------
    def fit(
        self,
        *,
        progress: bool = True,
        stop_after: int | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        time_budget: float | None = None,
    ) -> TrainResult:
        """Train up to `cfg.epochs` (this call: at most `stop_after` of them). `time_budget` (seconds of this
        call, a fresh run only): see `EpochPlan` -- the schedule is planned to end inside it, and the run
        stops early if epochs slow down; the epochs chosen are what the checkpoints record (resume it with
        `--epochs` that many)."""
        if time_budget is not None and self.epoch > 0:
            raise ValueError(
                f"a time budget sets the number of epochs of a fresh run; {self.out} is resumed at epoch "
                f"{self.epoch}: resume without one (and with --epochs {self.cfg.epochs}, as the run "
                "recorded)"
            )
        keep_freed_memory()
        plan = EpochPlan(time_budget, self.cfg.epochs) if time_budget is not None else None
        end = self.cfg.epochs if stop_after is None else min(self.cfg.epochs, self.epoch + stop_after)
        while self.epoch < end:
            row = self.train_epoch(progress)
            acc = self._validate(row)
            self.history.append(row)
            self.epoch += 1
            if plan is not None:
                epochs, stop = plan.after_epoch(self.epoch)
                if epochs != self.cfg.epochs:
                    self.cfg = replace(self.cfg, epochs=epochs)
                end = self.epoch if stop else (epochs if stop_after is None else min(epochs, end))
            self._record_epoch(row, acc)
            if on_epoch:
                on_epoch(row)
        total = plan.clock() - plan.start if plan is not None else sum(h["epoch_seconds"] for h in self.history)
        return TrainResult(
            self.best_epoch, self.best_acc, [h["epoch_seconds"] for h in self.history], self.history, total
        )

    def _validate(self, row: dict[str, Any]) -> float:
        """Validation accuracies into the epoch's `row`; returns what selects the kept epoch (the accuracy with
        `keep="best"`, else the epoch, so that the last one is kept)."""
        if self.val_set is None or not len(self.val_set):
            return float(self.epoch)  # no validation: keep the last epoch
        row["val_accuracy"] = evaluate(self.selected_model(), self.val_set)["accuracy"]
        if self.ema is not None:
            row["val_accuracy_raw"] = evaluate(self.model, self.val_set)["accuracy"]
        return row["val_accuracy"] if self.cfg.keep == "best" else float(self.epoch)

    def _record_epoch(self, row: dict[str, Any], acc: float) -> None:
        """After an epoch: best.pt when it is the best so far, last.pt, the history files and the progress line."""
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, self.epoch
            save_checkpoint(
                self.out / "best.pt",
                self.selected_model(),
                {
                    **self.meta,
                    "epoch": self.epoch,
                    "val_accuracy": row.get("val_accuracy"),
                    "train_config": self.cfg.to_dict(),
                    **self.info,
                },
            )
        self._save_last()
        write_history(self.out, self.history)
        val = f" val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
        print(
            f"epoch {self.epoch:3d}/{self.cfg.epochs}  loss {row['train_loss']:.4f}  train_acc "
            f"{row['train_accuracy']:.4f}{val}  ({row['epoch_seconds']:.1f} s, "
            f"{row['images_per_second']:.0f} img/s)",
            flush=True,
        )

    def _save_last(self) -> None:
        extra: dict[str, Any] = {
            "optimizer": self.opt.state_dict(),
            "generator": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "history": self.history,
            "epoch": self.epoch,
            **({"choice_generator": self.choice.get_state()} if self.choice is not None else {}),
            "best_val_accuracy": self.best_acc,
            "best_epoch": self.best_epoch,
            "train_config": self.cfg.to_dict(),
        }
        if self.ema is not None:
            extra["ema_state_dict"] = self.ema.model.state_dict()
            extra["ema_updates"] = self.ema.updates
        save_checkpoint(self.out / "last.pt", self.model, {**self.meta, "epoch": self.epoch}, extra=extra)


def train(
    cfg: TrainConfig,
    train_set: FaceSet,
    val_set: FaceSet | None,
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
    stop_after: int | None = None,
    device: str = "cpu",
) -> TrainResult:
    """Train with `cfg` into `out_dir` (see `Trainer`); `stop_after` ends this call after that many
    epochs (continue later with `resume=True`)."""
    trainer = Trainer(cfg, train_set, val_set, out_dir, device=device, meta=meta)
    trainer.prepare_folder(resume, overwrite)
    return trainer.fit(progress=progress, stop_after=stop_after)


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    from ..files import atomic_write, atomic_write_text

    atomic_write_text(out / "metrics.json", json.dumps(history, indent=1))
    keys = sorted({k for h in history for k in h}, key=lambda k: (k != "epoch", k))

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(history)

    atomic_write(out / "metrics.csv", write_csv)


__all__ = ["EpochPlan", "RunFolderInUse", "TrainResult", "Trainer", "train"]
