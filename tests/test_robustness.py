"""Faces as robots see them: the camera chain of training (a torch simulation) against OpenCV's real operations,
the runtime's crop of a small face against what training now shows the network, calibration metrics, the
robustness benchmark and fer-eval --perturb."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
from deepemotion.evaluation.metrics import fit_temperature, reliability  # noqa: E402
from deepemotion.training.augment import AugmentConfig, augment, degrade, gaussian_blur, jpeg, motion_kernels, resize  # noqa: E402


@pytest.fixture
def faces(rng) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(rng.integers(0, 256, (48, 48), dtype=np.uint8), (0, 0), 1.5) for _ in range(16)])


def as_input(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(faces).float().unsqueeze(1) / 255.0


def test_jpeg_simulation_matches_opencvs_encoder(faces):
    for q in (20, 40, 80):
        ours = jpeg(as_input(faces), torch.full((len(faces),), q)).numpy()[:, 0] * 255
        real = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, q])[1], 0) for f in faces])
        loss = np.abs(real.astype(np.float32) - faces).mean()
        assert np.abs(ours - real).mean() < 0.15 * loss + 0.5, (q, np.abs(ours - real).mean(), loss)
        small = np.ascontiguousarray(faces[:, :20, :20])  # not a whole number of 8x8 blocks: edges replicated
        ours = jpeg(as_input(small), torch.full((len(faces),), q)).numpy()[:, 0] * 255
        real = np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, q])[1], 0) for f in small])
        assert np.abs(ours - real).mean() < 1.0


def test_blur_and_area_resize_match_opencv(faces):
    ours = gaussian_blur(as_input(faces), torch.full((len(faces),), 1.2)).numpy()[:, 0]
    real = np.stack(
        [cv2.GaussianBlur(f.astype(np.float32) / 255, (11, 11), 1.2, borderType=cv2.BORDER_REPLICATE) for f in faces]
    )
    np.testing.assert_allclose(ours, real, atol=1e-5)
    for size in (13, 16, 20, 32):
        ours = resize(as_input(faces), size, "area").numpy()[:, 0] * 255
        real = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])
        assert np.abs(ours - real).max() <= 0.51  # OpenCV rounds to uint8
    k = motion_kernels(torch.tensor([7.0, 3.0]), torch.tensor([0.0, 1.0]))
    np.testing.assert_allclose(k.sum(dim=(1, 2)).numpy(), 1.0, rtol=1e-6)
    assert (k[0, 5] > 0).sum() == 7 and (k[0, :5] == 0).all()  # a horizontal line of 7 px through the centre


def test_degrade_is_off_by_default_and_keeps_values_finite(faces):
    gen = torch.Generator().manual_seed(0)
    x = augment(torch.from_numpy(faces), AugmentConfig(), gen)
    assert degrade(x, AugmentConfig(), gen) is x
    y = degrade(x, AugmentConfig(degrade=1.0), gen)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y - x).abs().amax(dim=(1, 2, 3)).gt(0).float().mean() > 0.5  # most faces changed


def test_runtime_crop_of_a_small_face_is_what_training_shows(faces):
    """A 20 px face in a frame, cropped by the runtime (upsampled to 48 by the C++ crop), is the 'face seen at
    20 px' of the training chain: area-averaged down, bilinear back up."""
    from deepemotion import Recognizer

    rec = Recognizer(detector=None)
    for f in faces[:4]:
        small = cv2.resize(f, (20, 20), interpolation=cv2.INTER_AREA)
        frame = np.full((120, 160), 90, np.uint8)
        frame[50:70, 60:80] = small
        runtime = rec.aligner.crop_boxes(frame, np.array([[60, 50, 20, 20]], np.int32))[0, 0] * 0.5 + 0.5
        train = resize(resize(as_input(f[None]), 20, "area"), 48, "bilinear")[0, 0].numpy()
        assert np.abs(runtime - train).mean() * 255 < 1.0, np.abs(runtime - train).mean() * 255


def test_calibration_metrics():
    from deepemotion.runtime.classify import softmax

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (6000, 7))
    p = softmax(logits)
    labels = (rng.random((6000, 1)) > np.cumsum(p, 1)).sum(1)  # drawn from the model's own probabilities: calibrated
    t = fit_temperature(logits * 3.0, labels)  # over-confident by a factor 3: the fit undoes it
    assert 2.5 < t < 3.5, t
    calibrated = reliability(softmax(logits * 3.0, t), labels)
    raw = reliability(softmax(logits * 3.0), labels)
    assert calibrated["ece"] < 0.03 < raw["ece"], (calibrated["ece"], raw["ece"])
    assert sum(b["faces"] for b in raw["table"]) == 6000


def test_ece_floor_and_debiased_ece_separate_noise_from_miscalibration():
    """Scores that are exactly right still show a binned ECE on a small test set; the floor predicts that ECE and
    the debiased estimate stays near 0, while a real miscalibration (scores sharpened by 2) stands out in both."""
    from deepemotion.runtime.classify import softmax

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.5, (1500, 7))
    p = softmax(logits)
    right = []
    for seed in range(8):  # label sets drawn from the scores: calibrated by construction
        labels = (np.random.default_rng(seed).random((1500, 1)) > np.cumsum(p, 1)).sum(1)
        right.append(reliability(p, labels, floor_draws=50))
    floor = right[0]["ece_floor"]
    assert 0.01 < floor < 0.05, floor  # sizeable: 1,500 faces in 15 bins
    assert abs(np.mean([r["ece"] for r in right]) - floor) < 0.25 * floor
    assert abs(np.mean([r["ece_debiased"] for r in right])) < 0.5 * floor
    sharp = reliability(softmax(logits, 0.5), labels, floor_draws=50)  # over-confident
    big = softmax(rng.normal(0, 1.5, (200000, 7)), 0.5)  # its true calibration error, from many faces
    big_labels = (rng.random((200000, 1)) > np.cumsum(softmax(np.log(big), 2.0), 1)).sum(1)
    truth = reliability(big, big_labels, floor_draws=0)["ece"]
    assert sharp["ece"] > 2 * sharp["ece_floor"]
    assert abs(sharp["ece_debiased"] - truth) < 0.3 * truth, (sharp["ece_debiased"], truth)
    assert "ece_floor" not in reliability(p, labels, floor_draws=0)


def test_robustness_benchmark_and_fer_eval_perturb(tmp_path, rng):
    from deepemotion.cli.eval import main
    from deepemotion.evaluation.robustness import CAMERA_CONDITIONS, PERTURBATIONS, evaluate

    images = rng.integers(0, 256, (12, 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, 12)
    r = evaluate("tiny", images, labels, ["size20", "jpeg20", "camera"])
    assert [x["condition"] for x in r["rows"]] == ["clean", "size20", "jpeg20", "camera"]
    assert all(0 <= x["accuracy"] <= 1 and 0 <= x["ece"] <= 1 for x in r["rows"])
    assert set(CAMERA_CONDITIONS) <= set(PERTURBATIONS)
    assert r["worst_condition"] in ("size20", "jpeg20")  # the camera conditions among those run
    for name, p in PERTURBATIONS.items():  # every condition gives faces predict_faces takes
        out = p.apply(images[:2], np.random.default_rng(0))
        assert len(out) == 2 and np.asarray(out[0]).dtype == np.uint8, name
    np.savez(
        tmp_path / "faces.npz",
        images=images,
        labels=labels,
        split=np.array(["t"] * 12),
        ids=np.array([str(i) for i in range(12)]),
        class_names=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]),
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "--model",
                "tiny",
                "--data",
                str(tmp_path / "faces.npz"),
                "--perturb",
                "size16",
                "blur1.2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads((out / "robustness.json").read_text())
    assert [x["condition"] for x in res["rows"]] == ["clean", "size16", "blur1.2"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["calibration"]["ece"] <= 1 and (out / "reliability.png").is_file()
    assert main(["--data", str(tmp_path / "faces.npz"), "--perturb", "bogus"]) == 2
