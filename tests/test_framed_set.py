"""references/fer2013/make_framed_set.py on a few real FER2013 Training faces: the detector-framed crops it adds are
crops of the right faces, the file keeps the project's .npz format, and --add-to keeps what it extends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOOL = Path(__file__).resolve().parents[1] / "references" / "fer2013" / "make_framed_set.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    from _helpers import YUNET

    env = dict(os.environ, DEEPEMOTION_YUNET=str(YUNET))
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, env=env, timeout=600)


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of the centres of two blurred faces, the best over a few zooms and shifts of ``b``
    (the detector frames a face a little differently from its original crop)."""
    import cv2

    ca = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 2)[8:40, 8:40]
    ca = ca - ca.mean()
    best = -1.0
    for zoom in (0.85, 1.0, 1.15):
        m = cv2.getRotationMatrix2D((24, 24), 0, zoom)
        bb = cv2.warpAffine(
            cv2.GaussianBlur(b.astype(np.float32), (0, 0), 2), m, (48, 48), borderMode=cv2.BORDER_REPLICATE
        )
        for dy in range(-6, 7, 2):
            for dx in range(-6, 7, 2):
                cb = np.roll(bb, (dy, dx), (0, 1))[8:40, 8:40]
                cb = cb - cb.mean()
                best = max(best, float((ca * cb).sum() / np.sqrt((ca * ca).sum() * (cb * cb).sum() + 1e-6)))
    return best


@pytest.fixture(scope="module")
def framed(tmp_path_factory):
    pytest.importorskip("skimage")
    from _helpers import require_data, require_yunet

    require_data("fer2013.npz")
    require_yunet()
    out = tmp_path_factory.mktemp("framed") / "a.npz"
    r = _run("--out", str(out), "--limit", "24", "--seed", "0")
    assert r.returncode == 0, r.stderr[-2000:]
    return out


@pytest.mark.slow
@pytest.mark.data
def test_framed_crops_are_the_right_faces(framed):
    from deepemotion.data.datasets import load_npz, resolve_dataset

    train = load_npz(framed, "train")
    test = load_npz(framed, "public_test")
    source = resolve_dataset("fer2013", "train")
    assert len(test) == len(resolve_dataset("fer2013", "public_test"))
    assert np.array_equal(train.images[:24], source.images[:24])
    extra = train.subset(np.arange(24, len(train)))
    assert len(extra) >= 2 * 18, "the detector should find most of 24 pasted faces"
    assert len(extra) % 2 == 0 and extra.images.dtype == np.uint8 and extra.images.shape[1:] == (48, 48)
    pos = {str(s): i for i, s in enumerate(source.ids[:24])}
    same, best_own = [], []
    for img, lab, name in zip(extra.images, extra.labels, extra.ids):
        src_id, kind = str(name).rsplit("/", 1)
        assert kind in ("aligned0-s0", "box0-s0")
        i = pos[src_id]
        assert lab == source.labels[i]
        own = _similarity(img, source.images[i])
        same.append(own)
        best_own.append(own > max(_similarity(img, source.images[j]) for j in range(24) if j != i))
    # each crop resembles its own face more than the 23 others (a few faces framed far tighter may not)
    assert np.median(same) > 0.8 and np.mean(best_own) >= 0.8


@pytest.mark.slow
@pytest.mark.data
def test_add_to_keeps_the_old_set(framed, tmp_path):
    out = tmp_path / "b.npz"
    r = _run("--add-to", str(framed), "--out", str(out), "--limit", "8", "--seed", "1", "--backgrounds", "mixed")
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = np.load(framed), np.load(out)
    ta, tb = a["split"] == "train", b["split"] == "train"
    assert np.array_equal(b["images"][tb][: ta.sum()], a["images"][ta])
    assert np.array_equal(b["images"][~tb], a["images"][~ta])
    new_ids = [str(s) for s in b["ids"][tb][ta.sum() :]]
    assert 8 <= len(new_ids) <= 16 and all(s.endswith(("aligned0-s1", "box0-s1")) for s in new_ids)
    assert not list(tmp_path.glob("*.partial*"))
    r = _run("--add-to", str(out), "--out", str(out), "--limit", "1")
    assert r.returncode != 0 and "must differ" in r.stderr
