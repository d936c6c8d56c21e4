"""The lent-GPU run's parts, on the CPU: the data packer (bit-exact), the results packer (what comes back fits the
device tool's limits), the kernel sweep's rows, and the resident training path (equal to the host path where the
math is the same; the dense camera chain equal to the sparse one for the same draws). The whole command is
rehearsed by ``DRY=1 bash scripts/device/gpu_run.sh`` in CI."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

TOOLS = Path(__file__).resolve().parents[1] / "scripts" / "device"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _faces(n: int, seed: int = 0) -> np.ndarray:
    """Face-like images: smooth shading, edges, flat areas, saturated pixels and noise (every predictor branch)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    base = np.sin(xx[None] / rng.uniform(2, 9, (n, 1, 1))) * 90 + yy[None] * rng.uniform(-3, 3, (n, 1, 1)) + 128
    img = base + rng.normal(0, rng.uniform(0, 20, (n, 1, 1)), (n, 48, 48))
    img[:, 10:20, 5:15] = rng.integers(0, 2, (n, 1, 1)) * 255  # flat blocks at both ends of the range
    return np.clip(img, 0, 255).astype(np.uint8)


def test_median_predictor_round_trip_is_exact():
    gd = _tool("gpu_data")
    img = _faces(64)
    res = gd.fold(img.astype(np.int16) - gd.predict_med(img))
    assert res.dtype == np.uint8
    np.testing.assert_array_equal(gd.decode(res), img)
    # fold maps residuals 0, -1, 1, -2, 2 ... to 0, 1, 2, 3, 4 ...: small magnitudes stay small
    np.testing.assert_array_equal(gd.fold(np.array([0, -1, 1, -2, 2, 127, -128])), [0, 1, 2, 3, 4, 254, 255])
    np.testing.assert_array_equal(gd.unfold(gd.fold(np.arange(-128, 128))), np.arange(-128, 128))


def _archive(path: Path, n: int = 120) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    split = np.where(np.arange(n) < 80, "train", "public_test")
    ids = np.array([f"{'Training' if s == 'train' else 'PublicTest'}_{i:05d}.jpg" for i, s in enumerate(split)])
    d = {
        "images": _faces(n, 2),
        "labels": rng.integers(0, 7, n).astype(np.int64),
        "split": split,
        "ids": ids,
        "class_names": np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]),
    }
    np.savez(path, **d)
    return d


def test_pack_unpack_keeps_exactly_train_and_the_select_half(tmp_path):
    from deepemotion.data.datasets import FaceSet, half

    gd = _tool("gpu_data")
    src = _archive(tmp_path / "fer2013.npz")
    info = gd.pack(tmp_path / "fer2013.npz", tmp_path / "f.fpk", ["train", "public_test:select"])
    gd.unpack(tmp_path / "f.fpk", tmp_path / "out" / "fer2013.npz")
    got = np.load(tmp_path / "out" / "fer2013.npz")
    # the select half as the trainer computes it (deepemotion.data.datasets.half)
    pt = np.flatnonzero(src["split"] == "public_test")
    faces = FaceSet(src["images"][pt], src["labels"][pt], src["split"][pt], src["ids"][pt])
    select = set(half(faces, "select").ids.tolist())
    keep = np.array([s == "train" or i in select for s, i in zip(src["split"], src["ids"])])
    assert 0 < (~keep).sum() < 40 and info["faces"] == keep.sum()
    for k in ("images", "labels", "ids"):
        np.testing.assert_array_equal(got[k], src[k][keep])
    assert list(got["split"]) == list(src["split"][keep])
    assert list(got["class_names"]) == list(src["class_names"])
    assert all(zlib.crc32(i.encode()) % 2 == 0 for i in got["ids"][got["split"] == "public_test"])


def test_a_damaged_pack_is_refused(tmp_path):
    import lzma

    gd = _tool("gpu_data")
    _archive(tmp_path / "fer2013.npz")
    gd.pack(tmp_path / "fer2013.npz", tmp_path / "f.fpk", ["train"])
    body = bytearray(lzma.decompress((tmp_path / "f.fpk").read_bytes()))
    body[-500] ^= 1  # one bit of one residual
    (tmp_path / "bad.fpk").write_bytes(lzma.compress(bytes(body)))
    with pytest.raises(SystemExit, match="damaged"):
        gd.unpack(tmp_path / "bad.fpk", tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def _checkpoint(path: Path, arch: str = "tiny") -> None:
    from deepemotion.model import DeepEmotion, arch_config
    from deepemotion.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(path, DeepEmotion(arch_config(arch)), {"note": "test"})


def test_results_pack_fits_the_limits_and_comes_home(tmp_path):
    from deepemotion.training.checkpoint import load_checkpoint

    gp = _tool("gpu_pack")
    work = tmp_path / "work"
    (work / "runs" / "teacher-a").mkdir(parents=True)
    (work / "runs" / "tiny-kd").mkdir(parents=True)
    (work / "build").mkdir()
    (work / "run.log").write_text("log\n")
    (work / "runs" / "tiny-kd" / "metrics.json").write_text(json.dumps([{"epoch": 1}]))
    _checkpoint(work / "runs" / "teacher-a" / "best.pt", "base")
    _checkpoint(work / "runs" / "tiny-kd" / "best.pt")
    (work / "runs" / "tiny-kd" / "last.pt").write_bytes(b"x" * 1000)  # resumable state: never packed
    (work / "build" / "CMakeCache.txt").write_text("scratch")
    (work / "blob.bin").write_bytes(np.random.default_rng(0).bytes(3 << 20))  # over a 1-part budget below
    info = gp.pack(work, tmp_path / "out", max_parts=1)
    parts = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in parts] == ["results.tar.00"] and parts[0].stat().st_size <= gp.PART
    assert info["left_out"] == [] or all("blob.bin" in x for x in info["left_out"])
    gp.unpack(tmp_path / "out", tmp_path / "home")
    home = tmp_path / "home"
    manifest = json.loads((home / "MANIFEST.json").read_text())
    assert "runs/tiny-kd/best.pt" in manifest["packed"] and "runs/teacher-a/best.fp16.pt" in manifest["packed"]
    assert not (home / "runs" / "tiny-kd" / "last.pt").exists() and not (home / "build").exists()
    # the student comes back as trained; the teacher in float16, and loads as a float32 model
    a, _ = load_checkpoint(work / "runs" / "tiny-kd" / "best.pt")
    b, _ = load_checkpoint(home / "runs" / "tiny-kd" / "best.pt")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=k)
    raw = torch.load(home / "runs" / "teacher-a" / "best.fp16.pt", map_location="cpu", weights_only=True)
    assert {v.dtype for v in raw["state_dict"].values() if v.is_floating_point()} == {torch.float16}
    t, _ = load_checkpoint(home / "runs" / "teacher-a" / "best.fp16.pt")
    assert next(t.parameters()).dtype == torch.float32


def test_results_pack_leaves_out_what_does_not_fit_and_says_so(tmp_path):
    gp = _tool("gpu_pack")
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.log").write_text("kept first")
    (work / "big.bin").write_bytes(b"\0" * (gp.PART + 10))
    info = gp.pack(work, tmp_path / "out", max_parts=1)
    assert len(info["left_out"]) == 1 and "big.bin" in info["left_out"][0]
    gp.unpack(tmp_path / "out", tmp_path / "home")
    assert (tmp_path / "home" / "a.log").read_text() == "kept first"
    assert "big.bin" in json.loads((tmp_path / "home" / "MANIFEST.json").read_text())["left_out"][0]


def test_kernel_sweep_rows_on_the_cpu():
    from deepemotion.benchmarks.sweep import format_table, n_sets, run

    assert n_sets(1e6, 1e12) == 240 and n_sets(1e9, 1e12) == 2 and n_sets(1e9, 1.5e9) == 1
    r = run(
        "cpu",
        batches=(16,),
        crop_faces_per_frame=(3,),
        frame_hw=(160, 200),
        min_time=0.02,
        max_bytes=2e6,
        copy_bytes=1 << 20,
    )
    kinds = [row["kernel"] for row in r["rows"]]
    assert kinds == ["affine_grid_sample", "crop_faces"] and r["info"]["copy_GBps"] > 0
    for row in r["rows"]:
        assert row["ours_ms"] > 0 and row["torch_ms"] > 0
        assert row["speedup_vs_torch"] == pytest.approx(row["torch_ms"] / row["ours_ms"])
        # the PyTorch columns time the same computation as ours
        assert row["max_abs_diff_vs_torch"] < 1e-4
    assert "copy rate" in format_table(r)


def test_dense_camera_chain_equals_the_sparse_one_for_the_same_draws():
    from deepemotion.training import augment as A

    v = torch.rand(48, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    for seed in range(6):
        d = A.draw_chain(48, torch.Generator().manual_seed(seed))
        d = dataclasses.replace(d, noise=torch.zeros(48, dtype=torch.bool))  # the noise fields differ by design
        sparse = A._chain_sparse(v.clone(), d, torch.Generator().manual_seed(1))
        dense = A._chain_dense(v.clone(), d, torch.Generator().manual_seed(1))
        torch.testing.assert_close(dense, sparse, rtol=0, atol=1e-5)
        touched = d.blur | d.motion | d.small | d.jpeg
        assert bool(touched.any()) and (dense[touched] - v[touched]).abs().amax() > 1e-3
        assert torch.equal(dense[~touched], v[~touched])


def test_dense_degrade_leaves_unpicked_faces_alone():
    from deepemotion.training.augment import AugmentConfig, degrade

    x = torch.randn(64, 1, 48, 48)
    y = degrade(x, AugmentConfig(degrade=0.5), torch.Generator().manual_seed(3), dense=True)
    same = (y == x).flatten(1).all(1)
    assert 10 < int(same.sum()) < 54  # about half picked (and a picked face with no step drawn is unchanged too)


def test_resident_training_equals_the_host_path_on_the_cpu(tmp_path):
    from deepemotion.data.datasets import FaceSet
    from deepemotion.model import arch_config
    from deepemotion.training.augment import AugmentConfig
    from deepemotion.training.config import TrainConfig
    from deepemotion.training.loop import Trainer

    rng = np.random.default_rng(0)
    n = 160
    faces = FaceSet(_faces(n, 5), rng.integers(0, 7, n), np.zeros(n, "<U1"), np.array([str(i) for i in range(n)]))

    def run(resident: bool, aug: AugmentConfig, out: str) -> dict:
        cfg = TrainConfig(
            model=arch_config("tiny", widths=(4, 8, 8, 8), hidden=16),
            augment=aug,
            epochs=2,
            batch_size=32,
            precision="fp32",
        )
        t = Trainer(cfg, faces, faces.subset(np.arange(40)), tmp_path / out, resident=resident)
        t.prepare_folder(False, False)
        assert t.resident is resident
        t.fit(progress=False)
        return t.selected_model().state_dict()

    for i, aug in enumerate([AugmentConfig(brightness=0.4, contrast=0.3), AugmentConfig(mixup=0.4, cutmix=1.0)]):
        host, res = run(False, aug, f"h{i}"), run(True, aug, f"r{i}")
        for k in host:
            torch.testing.assert_close(res[k], host[k], rtol=0, atol=0, msg=k)


def test_weight_average_matches_its_definition():
    from deepemotion.model import DeepEmotion, arch_config
    from deepemotion.training.average import WeightAverage

    torch.manual_seed(0)
    m = DeepEmotion(arch_config("tiny", widths=(4, 8, 8, 8), hidden=16))
    avg = WeightAverage(m, 0.9)
    ref = {k: v.clone() for k, v in m.state_dict().items()}
    for step in range(1, 5):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * step)
            for b in m.buffers():
                b.add_(1)
        avg.update(m)
        d = min(0.9, (1.0 + step) / (10.0 + step))
        for k, v in m.state_dict().items():
            ref[k] = ref[k] * d + v * (1 - d) if v.is_floating_point() else v.clone()
    for k, v in avg.model.state_dict().items():
        torch.testing.assert_close(v, ref[k], rtol=1e-6, atol=1e-6, msg=k)
