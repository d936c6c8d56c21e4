"""Training loop, augmentation, distillation, weight averaging, checkpoints, resume and metrics on small
generated data."""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import replace

import numpy as np
import pytest

from _helpers import error_line, huge_network_checkpoint, run_cli

torch = pytest.importorskip("torch")

from _helpers import pickle_payload_checkpoint
from deepemotion.data.datasets import FaceSet  # noqa: E402
from deepemotion.evaluation.metrics import metrics_from_predictions  # noqa: E402
from deepemotion.evaluation.validate import evaluate
from deepemotion.model import DeepEmotionConfig  # noqa: E402
from deepemotion.training.augment import AugmentConfig, affine_theta, augment, mix, random_erase  # noqa: E402
from deepemotion.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint  # noqa: E402
from deepemotion.training.config import TrainConfig
from deepemotion.training.distill import kd_loss
from deepemotion.training.loop import RunFolderInUse, lr_at, sampling_weights, train  # noqa: E402

SMALL = DeepEmotionConfig(
    widths=(4, 8), depths=(1, 1), padding=1, relu_each_conv=True, batch_norm=True, hidden=16, dropout=0.1
)


def synthetic_faces(n: int, seed: int = 0) -> FaceSet:
    """Class 3 (happy) has a bright bar in the lower half ("mouth"), class 0 (angry) in the upper half."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(40, 90, (n, 48, 48)).astype(np.uint8)
    labels = np.where(np.arange(n) % 2 == 0, 3, 0)
    for i, y in enumerate(labels):
        r = 32 if y == 3 else 10
        imgs[i, r : r + 6, 14:34] = 230
    return FaceSet(imgs, labels.astype(np.int64), np.array(["g"] * n), np.array([str(i) for i in range(n)]))


def small_cfg(**kw) -> TrainConfig:
    base = dict(
        model=SMALL,
        augment=AugmentConfig(rotate_deg=5, erase_p=0.0),
        epochs=2,
        batch_size=32,
        lr=0.01,
        seed=1,
        warmup_epochs=0,
        ema=0.0,
        precision="fp32",
    )
    base.update(kw)
    return TrainConfig(**base)


def test_train_learns_and_writes(tmp_path):
    data = synthetic_faces(256)
    val = synthetic_faces(64, seed=5)
    res = train(small_cfg(epochs=3), data, val, tmp_path / "run", progress=False)
    assert res.best_val_accuracy >= 0.9, res.history
    hist = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert all(h["images_per_second"] > 0 for h in hist)
    assert (tmp_path / "run" / "metrics.csv").read_text().startswith("epoch,")
    model, ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert ckpt["meta"]["epoch"] == res.best_epoch
    assert evaluate(model, val)["accuracy"] == pytest.approx(res.best_val_accuracy)


def test_bf16_ema_and_mixing_train_too(tmp_path):
    cfg = small_cfg(
        epochs=2, precision="bf16", ema=0.9, augment=AugmentConfig(erase_p=0.5, mixup=0.4, cutmix=1.0, mix_p=1.0)
    )
    res = train(cfg, synthetic_faces(256), synthetic_faces(64, seed=5), tmp_path / "run", progress=False)
    assert all(np.isfinite(h["train_loss"]) for h in res.history)
    assert {"val_accuracy", "val_accuracy_raw"} <= set(res.history[-1])
    ck = read_checkpoint(tmp_path / "run" / "last.pt")
    assert "ema_state_dict" in ck and ck["ema_updates"] == 2 * (256 // 32)


def test_distillation_from_a_teacher(tmp_path):
    data, val = synthetic_faces(256), synthetic_faces(64, seed=5)
    train(small_cfg(epochs=3), data, val, tmp_path / "teacher", progress=False)
    res = train(
        small_cfg(epochs=4, teachers=(str(tmp_path / "teacher" / "best.pt"),), kd_alpha=0.5, seed=3),
        data,
        val,
        tmp_path / "student",
        progress=False,
    )
    assert res.best_val_accuracy >= 0.9


def test_kd_loss_is_zero_for_equal_logits_and_positive_otherwise():
    a = torch.randn(4, 7)
    assert float(kd_loss(a, a, 4.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_loss(a, a.flip(1), 4.0)) > 0


def test_resume_continues_exactly(tmp_path):
    data = synthetic_faces(128)
    cfg = small_cfg(epochs=2, ema=0.9, augment=AugmentConfig(erase_p=0.5, mixup=0.3, mix_p=1.0))
    train(cfg, data, None, tmp_path / "full", progress=False)
    part = train(cfg, data, None, tmp_path / "part", progress=False, stop_after=1)
    assert len(part.history) == 1
    res = train(cfg, data, None, tmp_path / "part", resume=True, progress=False)
    assert [h["epoch"] for h in res.history] == [1, 2]
    a = read_checkpoint(tmp_path / "full" / "last.pt")
    b = read_checkpoint(tmp_path / "part" / "last.pt")
    for key in ("state_dict", "ema_state_dict"):
        for k in a[key]:
            torch.testing.assert_close(a[key][k], b[key][k], rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="different training configuration"):
        train(replace(cfg, lr=0.001), data, None, tmp_path / "part", resume=True, progress=False)
    # the thread count is not part of the recipe: a run resumes on a busier or a bigger machine
    again = train(replace(cfg, threads=cfg.threads + 1), data, None, tmp_path / "part", resume=True, progress=False)
    assert [h["epoch"] for h in again.history] == [1, 2]


def test_resume_reads_a_run_started_before_newer_config_fields(tmp_path):
    """A run folder written before the model config gained fields (sample_size, loc_pool) resumes: the missing
    fields take their defaults, which are the behaviour the run was started with."""
    data = synthetic_faces(64)
    cfg = small_cfg(epochs=2)
    train(cfg, data, None, tmp_path, progress=False, stop_after=1)
    last = tmp_path / "last.pt"
    ck = torch.load(last, map_location="cpu", weights_only=True)
    for key in ("sample_size", "loc_pool"):
        del ck["train_config"]["model"][key]
    torch.save(ck, last)
    res = train(cfg, data, None, tmp_path, resume=True, progress=False)
    assert [h["epoch"] for h in res.history] == [1, 2]


def test_run_folder_is_not_overwritten_without_asking(tmp_path):
    data = synthetic_faces(64)
    train(small_cfg(epochs=1), data, None, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "best.pt").read_bytes()
    with pytest.raises(RunFolderInUse, match="--resume"):
        train(small_cfg(epochs=1), data, None, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "best.pt").read_bytes() == before
    train(small_cfg(epochs=1, seed=9), data, None, tmp_path / "run", progress=False, overwrite=True)
    assert (tmp_path / "run" / "best.pt").read_bytes() != before


def test_untrusted_pickle_is_refused_not_run(tmp_path):
    evil, marker = pickle_payload_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    assert not marker.exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(pickle.dumps([1, 2]) + b"junk")
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)


def test_augment_identity_and_shapes():
    gen = torch.Generator().manual_seed(0)
    cfg = AugmentConfig(flip=False, rotate_deg=0, scale=0, shear=0, translate=0, erase_p=0)
    th = affine_theta(5, cfg, gen)
    torch.testing.assert_close(th, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(5, 2, 3))
    imgs = torch.randint(0, 256, (5, 48, 48), dtype=torch.uint8)
    x = augment(imgs, cfg, gen)
    torch.testing.assert_close(x, ((imgs.float() / 255 - 0.5) / 0.5).unsqueeze(1), atol=1e-5, rtol=1e-5)
    flipped = affine_theta(1000, AugmentConfig(), gen)[:, 0, 0]
    assert 0.3 < (flipped < 0).float().mean() < 0.7


def test_photometric_gain_and_contrast():
    from deepemotion.training.augment import photometric

    gen = torch.Generator().manual_seed(0)
    x = torch.full((500, 1, 48, 48), 0.0)  # intensity 0.5 everywhere
    x[:, :, :24] = -0.5  # top half 0.25
    out = photometric(x, AugmentConfig(brightness=0.4, contrast=0.0), gen)
    v = out * 0.5 + 0.5
    gain = v[:, 0, 30, 0] / 0.5
    assert 0.59 < float(gain.min()) and float(gain.max()) < 1.41 and float(gain.std()) > 0.1
    torch.testing.assert_close(v[:, 0, 0, 0], 0.25 * gain)  # one gain per face
    same = photometric(x, AugmentConfig(), gen)
    assert torch.equal(same, x)
    assert float(photometric(x, AugmentConfig(brightness=3.0), gen).abs().max()) <= 1.0  # clipped


def test_random_erase_and_mix():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(200, 1, 48, 48)
    erased = random_erase(x, AugmentConfig(erase_p=0.5, erase_area=(0.1, 0.1)), gen)
    changed = (erased != 0).flatten(1).any(1).float().mean()
    assert 0.35 < float(changed) < 0.65
    frac = (erased != 0).flatten(1).float().mean(1)
    assert float(frac.max()) < 0.2
    y = torch.arange(8) % 7
    xs = torch.stack([torch.full((1, 48, 48), float(i)) for i in range(8)])
    mx, t = mix(xs, y, 7, AugmentConfig(mixup=0.4, mix_p=1.0), gen)
    torch.testing.assert_close(t.sum(1), torch.ones(8))
    _, t0 = mix(xs, y, 7, AugmentConfig(), gen, label_smoothing=0.1)
    assert float(t0.max()) == pytest.approx(0.9 + 0.1 / 7)


def test_oversampling_weights_and_schedule():
    labels = np.array([0] * 90 + [1] * 10)
    w = sampling_weights(labels, 1.0)
    assert w[labels == 0].sum() == pytest.approx(0.5) and w[labels == 1].sum() == pytest.approx(0.5)
    cfg = small_cfg(epochs=10, warmup_epochs=2, lr=0.1)
    assert lr_at(0.0, cfg) < 0.001 and lr_at(2.0, cfg) == pytest.approx(0.1)
    assert lr_at(10.0, cfg) == pytest.approx(0.001)


@pytest.mark.parametrize(
    "kw",
    [
        {"lr": float("nan")},
        {"lr": 0},
        {"batch_size": 0},
        {"epochs": 0},
        {"optimizer": "lion"},
        {"ema": 1.0},
        {"precision": "fp8"},
    ],
)
def test_bad_recipes(kw):
    with pytest.raises(ValueError):
        small_cfg(**kw)


def test_metrics_from_predictions():
    y = np.array([0, 0, 1, 1, 3, 6])
    p = np.array([0, 1, 1, 1, 3, 0])
    m = metrics_from_predictions(y, p)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["angry"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert m["per_class"]["disgust"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["fear"] == {"precision": None, "recall": None, "support": 0}
    assert np.array(m["confusion_matrix"]).sum() == 6 and m["confusion_matrix"][6][0] == 1


def test_fer_train_sets_the_sampling_size_and_localization_pool(capsys):
    """--sample-size / --loc-pool reach the model config (references/fer2013/experiments/arch_speed.py measures such
    variants before they are trained); a value the family cannot build is a usage error (exit 2), not a traceback."""
    from deepemotion.cli.train import build_parser, main, make_config

    args = build_parser().parse_args(
        ["--data", "fer2013", "--out", "x", "--arch", "tiny-fast", "--sample-size", "32", "--loc-pool", "1"]
    )
    model = make_config(args).model
    assert (model.sample_size, model.loc_pool, model.widths) == (32, 1, (16, 32, 64))
    plain = build_parser().parse_args(["--data", "x", "--out", "x", "--arch", "tiny-fast"])
    assert make_config(plain).model.sample_size == 24
    assert main(["--data", "fer2013", "--arch", "tiny-fast", "--loc-pool", "3", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert "loc_pool" in err and "Traceback" not in err


def test_fer_train_init_refuses_architecture_options_it_would_ignore(capsys):
    """--init takes the architecture from the checkpoint: shape options next to it were silently ignored before;
    now they are a usage error naming them. Dropout has no weights, so a fine-tune may change it."""
    from deepemotion.cli.train import build_parser, main, make_config
    from deepemotion.training.checkpoint import read_checkpoint

    assert (
        main(["--data", "fer2013", "--init", "tiny", "--widths", "8,8", "--arch", "paper", "--out", "/nonexistent/x"])
        == 2
    )
    err = capsys.readouterr().err
    assert "--arch, --widths cannot change it" in err and "Traceback" not in err
    assert main(["--data", "fer2013", "--teacher-tta", "--out", "/nonexistent/x"]) == 2
    assert "no --teacher is given" in capsys.readouterr().err
    init = read_checkpoint("tiny")["config"]
    args = build_parser().parse_args(["--data", "x", "--out", "x", "--init", "tiny", "--dropout", "0.05"])
    model = make_config(args, init).model
    assert model.dropout == 0.05 and model.widths == tuple(init["widths"])


def test_time_budget_fits_the_epochs_after_the_warm_up(tmp_path, capsys):
    from deepemotion.training.loop import Trainer

    data = synthetic_faces(128)
    # a budget of less than one epoch: the run stops after its first, and says so; its checkpoint keeps the
    # planned epochs, so that --resume can finish it
    short = Trainer(small_cfg(epochs=5), data, None, tmp_path / "short")
    short.prepare_folder(False, False)
    res = short.fit(progress=False, time_budget=1e-6)
    assert [h["epoch"] for h in res.history] == [1]
    assert "stopping at 1 of 5 epochs" in capsys.readouterr().out
    # two epochs at most: planned after the first; a tiny budget gives 1 epoch, recorded in the checkpoint
    two = Trainer(small_cfg(epochs=2), data, None, tmp_path / "two")
    two.prepare_folder(False, False)
    assert [h["epoch"] for h in two.fit(progress=False, time_budget=1e-6).history] == [1] and two.cfg.epochs == 1
    assert read_checkpoint(tmp_path / "two" / "last.pt")["train_config"]["epochs"] == 1
    assert "-> 1 epochs (at most 2)" in capsys.readouterr().out
    # a generous budget keeps --epochs (the most it may set), and the run is the one without a budget
    full = Trainer(small_cfg(epochs=3), data, None, tmp_path / "full")
    full.prepare_folder(False, False)
    assert [h["epoch"] for h in full.fit(progress=False, time_budget=1e9).history] == [1, 2, 3]
    train(small_cfg(epochs=3), data, None, tmp_path / "plain", progress=False)
    a, b = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(tmp_path / "plain" / "last.pt")
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0)
    # a budget needs a fresh run: a resumed one keeps its epochs
    again = Trainer(small_cfg(epochs=3), data, None, tmp_path / "full")
    again.prepare_folder(True, False)
    with pytest.raises(ValueError, match="fresh run"):
        again.fit(progress=False, time_budget=10.0)


def test_epoch_plan_skips_the_warm_up_epoch_and_stops_runs_that_slow_down():
    from deepemotion.training.loop import EpochPlan

    # start, then the ends of epochs 1..4: the first (10 s) carries the warm-up, the second takes 3 s
    ticks = iter([0.0, 10.0, 13.0, 16.0, 30.0])
    plan = EpochPlan(40.0, 100, clock=lambda: next(ticks))
    assert plan.after_epoch(1) == (100, False)  # not planned from the warm-up epoch
    assert plan.after_epoch(2) == (2 + (40 - 13) // 3, False)  # 27 s left at 3 s an epoch: 9 more
    assert plan.after_epoch(3) == (11, False)  # 16 s + 3 s < 40 s
    assert plan.after_epoch(4) == (11, True)  # 30 s + 14 s (it slowed down) > 40 s: stop now
    # never more than asked, never fewer than done
    ticks = iter([0.0, 1.0, 2.0])
    assert EpochPlan(1e6, 7, clock=lambda: next(ticks)).after_epoch(1) == (7, False)
    ticks = iter([0.0, 5.0, 10.0])
    one = EpochPlan(1.0, 7, clock=lambda: next(ticks))
    assert one.after_epoch(1)[0] == 7 and one.after_epoch(2) == (2, False)


def test_fer_train_time_budget_is_checked(tmp_path, capsys):
    from deepemotion.cli.train import main

    for bad in ("0", "-5"):
        assert main(["--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "run"), "--time-budget", bad]) != 0
        assert "--time-budget must be a positive number of seconds" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# --- checkpoints that are not what they claim -------------------------------------------------------------------
def test_a_tiny_checkpoint_asking_for_a_huge_network_is_refused_at_once(tmp_path):
    pytest.importorskip("torch")
    huge = huge_network_checkpoint(tmp_path)
    assert huge.stat().st_size < 4000
    t0 = time.monotonic()
    r = run_cli("eval", "--model", str(huge), "--data", "fer2013", "--split", "public_test")
    assert r.returncode == 2 and "huge.pt" in error_line(r, "fer-eval")
    assert time.monotonic() - t0 < 60


def test_random_bytes_as_a_checkpoint_are_not_called_python_objects(tmp_path):
    pytest.importorskip("torch")
    from deepemotion.training.checkpoint import CheckpointError, read_checkpoint

    bad = tmp_path / "random.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(bad)
