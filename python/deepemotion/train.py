"""Training and evaluation of DeepEmotion (paper recipe, with the changes listed in TrainConfig).

Everything in the hot path is batched tensor work: a batch of uint8 faces is indexed from one
tensor, augmented by a single affine_grid + grid_sample call (flip, rotation, scale, shear and
translation folded into one theta per face), normalised and fed to the model.
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .data import FaceSet
from .labels import CLASSES
from .model import DeepEmotion, count_flops, count_parameters
from .preprocess import MEAN, STD


@dataclass
class TrainConfig:
    # model
    width: int = 10
    hidden: int = 50
    dropout: float = 0.5
    batch_norm: bool = False
    # optimisation (paper: Adam, lr 0.005, weight decay 0.001, l2 on the FC layers)
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.005
    weight_decay: float = 1e-3
    l2_fc: float = 1e-4           # lambda of eq. (1); the paper tunes it on validation
    schedule: str = "cosine"      # ours: "cosine" (to 1% of lr) or "constant" (paper)
    warmup_epochs: int = 1
    label_smoothing: float = 0.0  # ours, optional
    # data (paper: flips, small rotations, small distortions, oversampling)
    oversample: float = 0.5       # class sampling weight = count^-oversample (0: none, 1: fully balanced)
    flip: bool = True
    rotate_deg: float = 10.0
    scale: float = 0.1            # +- relative
    shear: float = 0.1            # +- (the "small distortion")
    translate: float = 0.1        # +- fraction of the half-size
    # evaluation
    tta_flip: bool = True         # ours: average the prediction of the face and its mirror image
    seed: int = 0
    threads: int = 0              # torch threads (0: leave PyTorch's default)

    def model(self) -> DeepEmotion:
        return DeepEmotion(self.width, self.hidden, self.dropout, batch_norm=self.batch_norm)


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 48, 48) -> normalised float (N, 1, 48, 48)."""
    return ((images.float() / 255.0) - MEAN).div_(STD).unsqueeze(1)


def augment_theta(n: int, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random affine transforms (N, 2, 3) for a batch: flip, rotation, scale, shear, translation."""
    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    ang = u(-cfg.rotate_deg, cfg.rotate_deg) * (math.pi / 180.0)
    s = 1.0 + u(-cfg.scale, cfg.scale)
    sh = u(-cfg.shear, cfg.shear)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    c, si = torch.cos(ang), torch.sin(ang)
    theta = torch.empty(n, 2, 3)
    theta[:, 0, 0] = s * c * flip
    theta[:, 0, 1] = -s * si + sh
    theta[:, 1, 0] = s * si * flip
    theta[:, 1, 1] = s * c
    theta[:, 0, 2] = u(-cfg.translate, cfg.translate)
    theta[:, 1, 2] = u(-cfg.translate, cfg.translate)
    return theta


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    theta = augment_theta(x.shape[0], cfg, gen)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # border padding: a rotated face keeps plausible edges instead of black corners
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def sampling_weights(labels: np.ndarray, power: float) -> np.ndarray:
    counts = np.bincount(labels, minlength=int(labels.max()) + 1).astype(np.float64)
    w = np.where(counts[labels] > 0, counts[labels] ** -power, 0.0)
    return w / w.sum()


@torch.no_grad()
def predict_probs(model: DeepEmotion, images: np.ndarray | torch.Tensor, batch_size: int = 512,
                  tta_flip: bool = True) -> np.ndarray:
    """Class probabilities (N, 7) for uint8 faces (N, 48, 48)."""
    model.eval()
    imgs = torch.as_tensor(images)
    out = []
    for i in range(0, len(imgs), batch_size):
        x = to_input(imgs[i:i + batch_size])
        p = F.softmax(model(x), dim=1)
        if tta_flip:
            p = 0.5 * (p + F.softmax(model(torch.flip(x, dims=[3])), dim=1))
        out.append(p)
    return torch.cat(out).numpy() if out else np.zeros((0, len(CLASSES)), np.float32)


def metrics_from_predictions(labels: np.ndarray, pred: np.ndarray, class_names: tuple[str, ...] = CLASSES
                             ) -> dict[str, Any]:
    k = len(class_names)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (labels, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), np.nan)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), np.nan)
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == pred).mean()) if len(labels) else float("nan"),
        "per_class": {name: {"precision": None if np.isnan(precision[i]) else float(precision[i]),
                             "recall": None if np.isnan(recall[i]) else float(recall[i]),
                             "support": int(cm[i].sum())} for i, name in enumerate(class_names)},
        "confusion_matrix": cm.tolist(),
        "class_names": list(class_names),
    }


def evaluate(model: DeepEmotion, data: FaceSet, tta_flip: bool = True, batch_size: int = 512) -> dict[str, Any]:
    probs = predict_probs(model, data.images, batch_size, tta_flip)
    return metrics_from_predictions(data.labels, probs.argmax(1), CLASSES)


def save_checkpoint(path: str | os.PathLike[str], model: DeepEmotion, meta: dict[str, Any],
                    extra: dict[str, Any] | None = None) -> None:
    ckpt = {"format": "deepemotion-checkpoint-1", "config": model.config.to_dict(),
            "state_dict": model.state_dict(), "meta": meta}
    if extra:
        ckpt.update(extra)
    tmp = Path(str(path) + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[DeepEmotion, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint`; returns (model in eval mode, checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "deepemotion-checkpoint-1":
        raise ValueError(f"{path}: not a deepemotion checkpoint (missing format 'deepemotion-checkpoint-1')")
    model = DeepEmotion.from_config(ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


@dataclass
class TrainResult:
    best_epoch: int
    best_val_accuracy: float
    epoch_seconds: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    total_seconds: float = 0.0


def _keep_freed_memory() -> None:
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
        libc.mallopt(m_mmap_threshold, 32 << 20)   # the largest value glibc accepts on 64-bit
        libc.mallopt(m_trim_threshold, (1 << 31) - 1)
        libc.mallopt(m_top_pad, 256 << 20)
    except (OSError, AttributeError):
        pass


def _lr_at(epoch: float, cfg: TrainConfig) -> float:
    if cfg.warmup_epochs > 0 and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-3) / cfg.warmup_epochs
    if cfg.schedule == "constant":
        return cfg.lr
    t = (epoch - cfg.warmup_epochs) / max(1e-9, cfg.epochs - cfg.warmup_epochs)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t))))


def train(cfg: TrainConfig, train_set: FaceSet, val_set: FaceSet | None, out_dir: str | os.PathLike[str], *,
          resume: bool = False, progress: bool = True, meta: dict[str, Any] | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train with ``cfg``; select the best epoch on ``val_set`` accuracy (the last epoch if None).

    Writes to ``out_dir``: ``best.pt`` (best validation checkpoint), ``last.pt`` (resumable: model,
    optimiser, generator states, history), ``metrics.json`` and ``metrics.csv`` (one row per epoch).
    ``stop_after`` ends this call after that many epochs (continue later with ``resume=True``).
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _keep_freed_memory()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = cfg.model()
    fc_params = {id(p) for p in (model.fc1.weight, model.fc2.weight)}
    opt = torch.optim.Adam([
        {"params": [p for p in model.parameters() if id(p) not in fc_params], "weight_decay": cfg.weight_decay},
        # the FC weights get the explicit l2 term of eq. (1) instead of the optimiser's decay
        {"params": [p for p in model.parameters() if id(p) in fc_params], "weight_decay": 0.0},
    ], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    history: list[dict[str, Any]] = []
    start_epoch, best_acc, best_epoch = 0, -1.0, -1
    last = out / "last.pt"
    if resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        if ck.get("train_config") != asdict(cfg):
            raise ValueError(f"{last}: was written with a different training configuration; "
                             "use a new output folder or the same options")
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        if "torch_rng" in ck:  # dropout draws from the global generator (absent in 0.1.0-dev checkpoints)
            torch.set_rng_state(ck["torch_rng"])
        rng.bit_generator.state = ck["numpy_rng"]
        history = ck["history"]
        start_epoch = ck["epoch"] + 1
        best_acc, best_epoch = ck["best_val_accuracy"], ck["best_epoch"]

    images = torch.from_numpy(train_set.images)
    labels = torch.from_numpy(train_set.labels)
    weights = sampling_weights(train_set.labels, cfg.oversample)
    steps = max(1, len(train_set) // cfg.batch_size)
    info = {"parameters": count_parameters(model), **count_flops(model)}
    t_all = time.perf_counter()
    end_epoch = cfg.epochs if stop_after is None else min(cfg.epochs, start_epoch + stop_after)
    for epoch in range(start_epoch, end_epoch):
        model.train()
        t0 = time.perf_counter()
        order = rng.choice(len(train_set), size=steps * cfg.batch_size, replace=True, p=weights) \
            if cfg.oversample > 0 else rng.permutation(len(train_set))[: steps * cfg.batch_size]
        order_t = torch.from_numpy(order).view(steps, cfg.batch_size)
        tot_loss, tot_correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not progress,
                   unit="batch")
        for i in bar:
            for g in opt.param_groups:
                g["lr"] = _lr_at(epoch + i / steps, cfg)
            idx = order_t[i]
            x = augment(to_input(images[idx]), cfg, gen)
            y = labels[idx]
            logits = model(x)
            loss = model.loss(logits, y, l2=cfg.l2_fc, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(y)
            tot_correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{tot_correct / seen:.3f}")
        train_time = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": _lr_at(epoch + 1 - 1e-9, cfg),
                               "train_loss": tot_loss / seen, "train_accuracy": tot_correct / seen,
                               "epoch_seconds": train_time}
        if val_set is not None and len(val_set):
            m = evaluate(model, val_set, tta_flip=cfg.tta_flip)
            row["val_accuracy"] = m["accuracy"]
            acc = m["accuracy"]
        else:
            acc = float(epoch)  # no validation: keep the last epoch
        history.append(row)
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch + 1
            save_checkpoint(out / "best.pt", model, {**(meta or {}), "epoch": epoch + 1,
                                                      "val_accuracy": row.get("val_accuracy"),
                                                      "train_config": asdict(cfg), **info})
        save_checkpoint(last, model, {**(meta or {}), "epoch": epoch + 1}, extra={
            "optimizer": opt.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            "numpy_rng": rng.bit_generator.state,
            "history": history, "epoch": epoch, "best_val_accuracy": best_acc, "best_epoch": best_epoch,
            "train_config": asdict(cfg)})
        _write_history(out, history)
        val = f" val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
        print(f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
              f"train_acc {row['train_accuracy']:.4f}{val}  ({train_time:.1f} s)", flush=True)
    return TrainResult(best_epoch, best_acc, [h["epoch_seconds"] for h in history], history,
                       time.perf_counter() - t_all)


def _write_history(out: Path, history: list[dict[str, Any]]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=1))
    keys = sorted({k for h in history for k in h}, key=lambda k: (k != "epoch", k))
    with open(out / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def plot_confusion(metrics: dict[str, Any], path: str | os.PathLike[str], title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(metrics["confusion_matrix"], dtype=np.float64)
    names = metrics["class_names"]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{int(cm[i, j])}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {metrics['accuracy']:.2%} (n={metrics['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_history(history: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(ep, [h["train_accuracy"] for h in history], label="train (augmented, oversampled)")
    if any("val_accuracy" in h for h in history):
        ax.plot(ep, [h.get("val_accuracy", np.nan) for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
