"""Data loaders: FER2013 CSV, npz archives, image folders, subject folds; errors name file and line; malformed and
crafted files are one line naming the file (exit 2 in the tools) and never make a reader allocate gigabytes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from _helpers import error_line, require_data, run_cli
from deepemotion.data.datasets import (
    CONTEMPT,
    DataError,
    load_fer2013_csv,
    load_image_folder,
    load_npz,
    resolve_dataset,
    subject_folds,
)
from deepemotion.labels import CLASSES


def _pixels(v: int) -> str:
    return " ".join([str(v)] * 2304)


def write_csv(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


def test_fer_csv_splits(tmp_path):
    f = write_csv(
        tmp_path / "fer.csv",
        [
            (0, _pixels(1), "Training"),
            (3, _pixels(200), "PublicTest"),
            (6, _pixels(7), "PrivateTest"),
            (5, _pixels(9), "Training"),
        ],
    )
    all_ = load_fer2013_csv(f)
    assert all_.images.shape == (4, 48, 48) and all_.images.dtype == np.uint8
    assert all_.groups.tolist() == ["train", "public_test", "private_test", "train"]
    tr = load_fer2013_csv(f, "Training")
    assert tr.labels.tolist() == [0, 5] and tr.images[1, 0, 0] == 9
    assert load_fer2013_csv(f, "public_test").labels.tolist() == [3]


@pytest.mark.parametrize(
    "row, msg",
    [
        ("9," + _pixels(1) + ",Training", r"fer\.csv:3: emotion must be 0-6"),
        ("x," + _pixels(1) + ",Training", r"fer\.csv:3: emotion must be an integer"),
        ("1,1 2 3,Training", r"fer\.csv:3: expected 2304 pixels, got 3"),
        ("1," + _pixels(300) + ",Training", r"fer\.csv:3: pixel values must be 0-255"),
        ("1," + _pixels(1).replace("1", "a", 1) + ",Training", r"fer\.csv:3: pixels must be space-separated"),
        ("1," + _pixels(1) + ",Validation", r"fer\.csv:3: unknown Usage"),
    ],
)
def test_fer_csv_malformed_rows_name_file_and_line(tmp_path, row, msg):
    f = tmp_path / "fer.csv"
    f.write_text("emotion,pixels,Usage\n0," + _pixels(0) + ",Training\n" + row + "\n")
    with pytest.raises(DataError, match=msg):
        load_fer2013_csv(f)


def test_fer_csv_bad_header_and_missing(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"x\.csv:1: header"):
        load_fer2013_csv(f)
    with pytest.raises(DataError, match="no such file"):
        load_fer2013_csv(tmp_path / "missing.csv")


def test_image_folder(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    for cls, n in [("happy", 2), ("Anger", 1), ("contempt", 1), ("surprised", 1)]:
        (tmp_path / cls).mkdir()
        for i in range(n):
            cv2.imwrite(str(tmp_path / cls / f"S{i:03d}_001_{i}.png"), rng.integers(0, 255, (64, 60), np.uint8))
    ds = load_image_folder(tmp_path, group_by="prefix")
    assert ds.images.shape == (4, 48, 48)
    assert sorted(ds.labels.tolist()) == [0, 3, 3, 5]
    assert set(ds.groups.tolist()) == {"S000", "S001"}
    kept = load_image_folder(tmp_path, keep_contempt=True)
    assert (kept.labels == CONTEMPT).sum() == 1 and kept.class_names[-1] == "contempt"


def test_image_folder_errors(tmp_path):
    (tmp_path / "joyful").mkdir()
    with pytest.raises(DataError, match="unknown class folder"):
        load_image_folder(tmp_path)
    (tmp_path / "joyful").rmdir()
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: cannot be decoded"):
        load_image_folder(tmp_path)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 48, 48), np.uint8), labels=np.zeros(2, np.int64))
    with pytest.raises(DataError, match="missing array 'split'"):
        load_npz(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")


def test_subject_folds_are_disjoint():
    groups = np.array([f"S{i % 13}" for i in range(200)])
    folds = subject_folds(groups, 5, seed=3)
    seen = np.zeros(200, int)
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
        seen[te] += 1
    assert np.all(seen == 1)
    with pytest.raises(ValueError):
        subject_folds(groups, 14)


# --- real data ($DEEPEMOTION_DATA) ------------------------------------------------------------


@pytest.mark.data
def test_real_fer2013():
    p = require_data("fer2013.npz")
    tr = load_npz(p, "train")
    assert len(tr) == 28709
    assert tr.class_counts().tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert len(load_npz(p, "public_test")) == 3589
    with pytest.raises(DataError, match="no split 'private_test'"):
        load_npz(p, "private_test")


@pytest.mark.data
def test_real_ckplus_contempt_and_subjects():
    p = require_data("ckplus48.npz")
    ck = load_npz(p)
    assert len(ck) == 981 - 54 and CONTEMPT not in ck.labels
    assert ck.class_counts()[:6].tolist() == [135, 177, 75, 207, 84, 249]
    assert ck.class_counts()[6] == 0  # CK+48 has no neutral image
    assert len(load_npz(p, keep_contempt=True)) == 981
    assert len(set(ck.groups.tolist())) >= 100


@pytest.mark.data
def test_real_jaffe_variants():
    p = require_data("jaffe.npz")
    full = load_npz(p)
    crop = load_npz(p, variant="images_facecrop")
    assert len(full) == len(crop) == 213
    assert not np.array_equal(full.images, crop.images)
    assert sorted(set(full.groups.tolist())) == ["KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM"]
    assert full.class_counts().tolist() == [30, 29, 32, 31, 31, 30, 30]
    assert resolve_dataset(str(p)).name == "jaffe"
    assert CLASSES[3] == "happy"


# --- malformed and crafted files: one line naming the file, memory bounded --------------------------------------
def _csv(path: Path, pixels: str, prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + b"emotion,pixels,Usage\n0," + pixels.encode() + b",Training\n")
    return path


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: _csv(p, " ".join(["99999999999999999999999"] * 2304)), "0-255"),
        (lambda p: _csv(p, " ".join(["-1"] + ["1"] * 2303)), "0-255, got -1"),
        (lambda p: _csv(p, " ".join(["256"] + ["1"] * 2303)), "0-255"),
        (lambda p: _csv(p, "1 " * 200_000), "CSV"),
        (lambda p: p.write_bytes(b"emotion,pixels,Usage\n0,\xff\xfe\xfa,Training\n") and p, "not UTF-8"),
        (lambda p: p.mkdir() or p, "is a folder"),
    ],
)
def test_malformed_csv_is_exit_2_naming_the_file(tmp_path, make, why):
    src = make(tmp_path / "fer.csv")
    r = run_cli("data", "fer2013", str(src), "--out", str(tmp_path / "out.npz"))
    line = error_line(r, "fer-data")
    assert r.returncode == 2 and "fer.csv" in line and why in line, line


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path):
    src = _csv(tmp_path / "fer.csv", " ".join(["7"] * 2304), prefix=b"\xef\xbb\xbf")
    r = run_cli("data", "fer2013", str(src), "--out", str(tmp_path / "out.npz"))
    assert r.returncode == 0, r.stderr


def _npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


GOOD = {
    "images": np.zeros((4, 48, 48), np.uint8),
    "labels": np.zeros(4, np.int64),
    "split": np.array(["a"] * 4),
    "ids": np.array(["1", "2", "3", "4"]),
    "class_names": np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]),
}


@pytest.mark.parametrize(
    "arrays, why",
    [
        ({}, "holds no arrays"),
        ({**GOOD, "labels": np.zeros((4, 2), np.int64)}, "labels must be a vector"),
        ({**GOOD, "ids": np.array([object(), 1, 2, 3], dtype=object)}, "holds Python objects"),
        ({**GOOD, "images": np.zeros(4 * 48 * 48, np.uint8)}, "(N, H, W)"),
    ],
)
def test_malformed_archives_are_data_errors_naming_the_file(tmp_path, arrays, why):
    path = tmp_path / "set.npz"
    _npz(path, **arrays)
    with pytest.raises(DataError, match=why) as exc:
        load_npz(path)
    assert "set.npz" in str(exc.value)
    r = run_cli("data", "summary", str(path))
    assert r.returncode == 2 and "set.npz" in error_line(r, "fer-data")


def test_an_archive_with_a_bad_crc_is_exit_2(tmp_path):
    path = _npz(tmp_path / "set.npz", **GOOD)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("images.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside images.npy's data
    path.write_bytes(bytes(data))
    r = run_cli("eval", "--data", str(path))
    assert r.returncode == 2 and "set.npz" in error_line(r, "fer-eval")


def _peak_mb(code: str) -> tuple[subprocess.CompletedProcess, float]:
    # VmHWM: the peak of this process's own memory since it started (ru_maxrss would also count the memory of the
    # parent that forked it: Linux keeps the high-water mark across exec)
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(code)
            + textwrap.dedent("""
        import sys
        hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print("PEAK", hwm / 1024, file=sys.stderr)
    """),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    peak = float(next(line.split()[1] for line in r.stderr.splitlines() if line.startswith("PEAK")))
    return r, peak


@pytest.mark.slow
def test_small_crafted_files_never_allocate_gigabytes(tmp_path):
    # 2,000,000 blank faces compress to a few MB and declare 4.6 GB
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in GOOD.items():
            if k != "images":
                with z.open(f"{k}.npy", "w") as f:
                    np.lib.format.write_array(f, v)
        with z.open("images.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": (2_000_000, 48, 48)}
            )
            for _ in range(2000):
                f.write(bytes(48 * 48 * 1000))
    assert bomb.stat().st_size < 20 << 20
    # a PNG that declares 30000 x 30000 pixels
    big_png = tmp_path / "big.png"
    import cv2

    ok, buf = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    data = bytearray(buf.tobytes())
    data[16:24] = (30000).to_bytes(4, "big") + (30000).to_bytes(4, "big")
    big_png.write_bytes(bytes(data))
    r, peak = _peak_mb(f"""
        from deepemotion.data.datasets import DataError, load_npz
        from deepemotion.data.prepare import summary
        from deepemotion.files import read_image
        cases = (lambda: load_npz({str(bomb)!r}), lambda: summary({str(bomb)!r}),
                 lambda: read_image({str(big_png)!r}))
        for f in cases:
            try:
                f()
                raise SystemExit("accepted")
            except (DataError, ValueError) as exc:
                print("refused:", exc)
    """)
    assert r.returncode == 0 and r.stdout.count("refused:") == 3, (r.stdout, r.stderr)
    assert peak < 400, peak


def test_peak_memory_is_read_from_proc_here():
    # the memory tests above read VmHWM from /proc (Linux); make that assumption visible
    assert sys.platform.startswith("linux") and Path("/proc/self/status").read_text().count("VmHWM:") == 1
