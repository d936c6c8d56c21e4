"""Training loop, checkpoints, resume, evaluation metrics and saliency on small generated data."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepemotion.data import FaceSet
from deepemotion.saliency import occlusion_positions, occlusion_saliency
from deepemotion.train import (TrainConfig, augment, augment_theta, evaluate, load_checkpoint,
                               metrics_from_predictions, sampling_weights, train)


def synthetic_faces(n: int, seed: int = 0) -> FaceSet:
    """Class 3 (happy) has a bright bar in the lower half ("mouth"), class 0 (angry) in the upper half."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(40, 90, (n, 48, 48)).astype(np.uint8)
    labels = np.where(np.arange(n) % 2 == 0, 3, 0)
    for i, y in enumerate(labels):
        r = 32 if y == 3 else 10
        imgs[i, r:r + 6, 14:34] = 230
    return FaceSet(imgs, labels.astype(np.int64), np.array(["g"] * n), np.array([str(i) for i in range(n)]))


def small_cfg(**kw) -> TrainConfig:
    base = dict(width=4, hidden=16, epochs=2, batch_size=32, rotate_deg=5, tta_flip=False, seed=1, warmup_epochs=0)
    base.update(kw)
    return TrainConfig(**base)


def test_train_learns_and_writes(tmp_path):
    data = synthetic_faces(256)
    val = synthetic_faces(64, seed=5)
    res = train(small_cfg(epochs=3), data, val, tmp_path / "run", progress=False)
    assert res.best_val_accuracy >= 0.9, res.history
    hist = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("epoch,")
    model, ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["meta"]["epoch"] == res.best_epoch
    assert evaluate(model, val, tta_flip=False)["accuracy"] == pytest.approx(res.best_val_accuracy)


def test_resume_continues_exactly(tmp_path):
    data = synthetic_faces(128)
    cfg = small_cfg(epochs=2)
    train(cfg, data, None, tmp_path / "full", progress=False)
    part = train(cfg, data, None, tmp_path / "part", progress=False, stop_after=1)
    assert len(part.history) == 1
    res = train(cfg, data, None, tmp_path / "part", resume=True, progress=False)
    assert [h["epoch"] for h in res.history] == [1, 2]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=False)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    with pytest.raises(ValueError, match="different training configuration"):
        train(small_cfg(epochs=2, lr=0.001), data, None, tmp_path / "part", resume=True, progress=False)


def test_augment_identity_and_shapes():
    gen = torch.Generator().manual_seed(0)
    cfg = TrainConfig(flip=False, rotate_deg=0, scale=0, shear=0, translate=0)
    th = augment_theta(5, cfg, gen)
    torch.testing.assert_close(th, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(5, 2, 3))
    x = torch.rand(5, 1, 48, 48)
    torch.testing.assert_close(augment(x, cfg, gen), x, atol=1e-5, rtol=1e-5)
    flipped = augment_theta(1000, TrainConfig(), gen)[:, 0, 0]
    assert 0.3 < (flipped < 0).float().mean() < 0.7


def test_oversampling_weights():
    labels = np.array([0] * 90 + [1] * 10)
    w = sampling_weights(labels, 1.0)
    assert w[labels == 0].sum() == pytest.approx(0.5) and w[labels == 1].sum() == pytest.approx(0.5)
    w0 = sampling_weights(labels, 0.0)
    assert w0[labels == 1].sum() == pytest.approx(0.1)


def test_metrics_from_predictions():
    y = np.array([0, 0, 1, 1, 3, 6])
    p = np.array([0, 1, 1, 1, 3, 0])
    m = metrics_from_predictions(y, p)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["angry"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert m["per_class"]["disgust"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["fear"] == {"precision": None, "recall": None, "support": 0}
    assert np.array(m["confusion_matrix"]).sum() == 6 and m["confusion_matrix"][6][0] == 1


def test_saliency_marks_the_only_discriminative_region():
    """A predictor whose only evidence is the brightness of rows 30-38, cols 18-30: occluding it must
    drop the probability there and nowhere else, and flip the label there."""
    def predict(batch: np.ndarray) -> np.ndarray:
        s = batch[:, 30:38, 18:30].astype(np.float64).mean(axis=(1, 2)) / 255.0
        logit = 12 * (s - 0.5)
        p_happy = 1 / (1 + np.exp(-logit))
        probs = np.zeros((len(batch), 7))
        probs[:, 3] = p_happy
        probs[:, 6] = 1 - p_happy
        return probs

    face = synthetic_faces(2).images[0]
    face[30:38, 18:30] = 240
    calls = []
    res = occlusion_saliency(lambda b: (calls.append(len(b)), predict(b))[1], face, patch=8, stride=4)
    assert calls == [len(occlusion_positions((48, 48), 8, 4)) + 1]  # one batched forward pass
    assert res.label == 3
    inside = res.drop[30:38, 18:30].mean()
    outside = np.concatenate([res.drop[:20].ravel(), res.drop[:, 42:].ravel()])
    assert inside > 0.2
    assert np.abs(outside).max() < 1e-9
    assert res.flip[30:38, 18:30].max() > 0 and res.flip[:20].max() == 0


def test_saliency_bad_args():
    with pytest.raises(ValueError):
        occlusion_saliency(lambda b: b, np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError):
        occlusion_positions((48, 48), 0, 2)
    with pytest.raises(ValueError):
        occlusion_positions((48, 48), 60, 2)
