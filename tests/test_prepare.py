"""fer-data on small generated fixtures in each official format: FER2013 CSV, CK+ (release and CK+48
folders), JAFFE; counts, splits, labels, the archives load, and malformed input gives one clear error."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from _helpers import example_frame, require_yunet  # noqa: E402
from deepemotion.cli.data import main as data_main  # noqa: E402
from deepemotion.data.datasets import DataError, load_npz  # noqa: E402
from deepemotion.data.prepare import ckplus_from_folder, detector_cropper, fer2013_from_csv, jaffe_from_folder  # noqa: E402


def write_csv(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


def pixels(v: int) -> str:
    return " ".join([str(v)] * 2304)


def test_fer2013_csv_keeps_all_three_splits(tmp_path, capsys):
    rows = [
        (3, pixels(10), "Training"),
        (0, pixels(20), "Training"),
        (6, pixels(30), "PublicTest"),
        (5, pixels(40), "PrivateTest"),
        (4, pixels(50), "PrivateTest"),
    ]
    src = write_csv(tmp_path / "fer2013.csv", rows)
    assert data_main(["fer2013", str(src), "--out", str(tmp_path / "f.npz"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "private_test" in out and "5 faces" in out
    priv = load_npz(tmp_path / "f.npz", "private_test")
    assert len(priv) == 2 and priv.labels.tolist() == [5, 4] and priv.images[0, 0, 0] == 40
    assert len(load_npz(tmp_path / "f.npz", "train")) == 2
    # the output is never replaced without asking
    assert data_main(["fer2013", str(src), "--out", str(tmp_path / "f.npz")]) == 2


@pytest.mark.parametrize(
    "rows, match",
    [
        ([(9, pixels(1), "Training")], "emotion must be 0-6"),
        ([(1, "1 2 3", "Training")], "2304 pixels, got 3"),
        ([(1, pixels(1), "Validation")], "unknown Usage"),
        ([(1, pixels(300), "Training")], "0-255"),
    ],
)
def test_fer2013_csv_errors_name_the_line(tmp_path, rows, match):
    src = write_csv(tmp_path / "bad.csv", [(3, pixels(1), "Training")] + rows)
    with pytest.raises(DataError, match=match) as e:
        fer2013_from_csv(src, tmp_path / "x.npz")
    assert "bad.csv:3" in str(e.value)
    assert not (tmp_path / "x.npz").exists()


def test_ckplus48_folders(tmp_path):
    root = tmp_path / "CK+48"
    for cls, files in (
        ("anger", ["S010_004_00000017.png", "S010_004_00000018.png"]),
        ("contempt", ["S138_008_00000007.png"]),
        ("happy", ["S011_006_00000013.png"]),
    ):
        (root / cls).mkdir(parents=True)
        for f in files:
            cv2.imwrite(str(root / cls / f), np.full((48, 48), 100, np.uint8))
    ckplus_from_folder(root, tmp_path / "ck.npz")
    d = load_npz(tmp_path / "ck.npz")  # contempt dropped by default
    assert sorted(d.labels.tolist()) == [0, 0, 3] and set(d.groups.tolist()) == {"S010", "S011"}
    assert len(load_npz(tmp_path / "ck.npz", keep_contempt=True)) == 4
    with np.load(tmp_path / "ck.npz") as z:
        assert sorted(set(z["sequence"].tolist())) == ["S010_004", "S011_006", "S138_008"]


def test_ckplus_release_layout(tmp_path):
    """cohn-kanade-images + Emotion: the last 3 frames of each labelled sequence, faces found and framed."""
    require_yunet()
    root = tmp_path / "CK+"
    face = cv2.resize(example_frame(), (320, 256))
    for subj, seq, code, n in (("S005", "001", 3.0, 5), ("S010", "002", 7.0, 2)):
        (root / "cohn-kanade-images" / subj / seq).mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(root / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{k + 1:08d}.png"), face)
        (root / "Emotion" / subj / seq).mkdir(parents=True)
        (root / "Emotion" / subj / seq / f"{subj}_{seq}_{n:08d}_emotion.txt").write_text(f"   {code:e}\n")
    ckplus_from_folder(root, tmp_path / "ck.npz", detector_cropper(), progress=list)
    d = load_npz(tmp_path / "ck.npz")
    assert len(d) == 3 + 2 and d.labels.tolist() == [1] * 3 + [5] * 2  # disgust, surprise
    assert d.images.shape == (5, 48, 48) and d.images.std() > 5  # real crops, not blank


def test_jaffe_folder(tmp_path):
    require_yunet()
    root = tmp_path / "jaffe"
    root.mkdir()
    img = cv2.resize(example_frame(), (256, 256))
    for name in ("KA.AN1.39.tiff", "KA.HA2.30.tiff", "YM.SU3.60.tiff"):
        cv2.imwrite(str(root / name), img)
    crop = detector_cropper()
    jaffe_from_folder(root, tmp_path / "j.npz", crop)
    d = load_npz(tmp_path / "j.npz")
    assert d.labels.tolist() == [0, 3, 5] and d.groups.tolist() == ["KA", "KA", "YM"]
    facecrops = load_npz(tmp_path / "j.npz", variant="images_facecrop")
    assert not np.array_equal(facecrops.images, d.images)
    (root / "KA.XX1.1.tiff").write_bytes(cv2.imencode(".tiff", img)[1].tobytes())
    with pytest.raises(DataError, match="KA.XX1.1.tiff"):
        jaffe_from_folder(root, tmp_path / "j2.npz", crop)


def test_summary_and_errors(tmp_path, capsys):
    assert data_main(["summary", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    assert data_main(["ckplus", str(tmp_path), "--out", str(tmp_path / "c.npz")]) == 2
    assert "CK+" in capsys.readouterr().err
