"""Building the project's .npz archives from the official distributions (`fer-data`). Numpy + OpenCV only.

- FER2013: the challenge's `fer2013.csv` (`emotion,pixels,Usage`); all three splits are kept
  (Training -> train, PublicTest -> public_test, PrivateTest -> private_test).
- CK+: either the original release (`cohn-kanade-images/S###/###/*.png` + `Emotion/S###/###/*_emotion.txt`;
  the last three frames of every labelled sequence, the face found and framed by a cropper the caller passes --
  `fer-data` passes the runtime's detector and alignment) or the common CK+48 folders (`<class>/S###_###_*.png`).
- JAFFE: the image folder (`KA.AN1.39.tiff`: subject, expression code + repeat, index); the whole frame
  shrunk to 48x48 (`images`) and a detected face crop (`images_facecrop`).

Every archive holds `images` (N, 48, 48) uint8, `labels`, `split` (FER2013: the split; CK+/JAFFE: the
subject), `ids` (where each face came from) and `class_names`; `summary` counts them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..files import read_image
from ..labels import CLASSES, INPUT_SIZE
from .datasets import DataError, fer_csv_arrays

# CK+ Emotion codes (the release's README): 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy,
# 6 sadness, 7 surprise -> our class names (contempt kept as an 8th class; the loaders drop it by default)
CKPLUS_CODES = {0: "neutral", 1: "angry", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad", 7: "surprise"}
CKPLUS_CLASSES = CLASSES + ("contempt",)
# JAFFE file-name codes
JAFFE_CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "SA": "sad",
    "SU": "surprise",
    "NE": "neutral",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm"}


def _save(out: str | Path, **arrays: Any) -> Path:
    from ..files import atomic_write

    path = Path(out)
    if path.suffix != ".npz":
        raise DataError(f"{path}: the output must be a .npz file")
    if not path.parent.exists():
        raise DataError(f"{path.parent}: no such folder for the output")
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))
    return path


def fer2013_from_csv(csv_path: str | Path, out: str | Path, progress: Callable[[Iterable], Iterable] = iter) -> Path:
    """fer2013.csv -> an archive with all three splits."""
    images, labels, splits, ids = fer_csv_arrays(Path(csv_path), need_usage=True, progress=progress)
    return _save(
        out,
        images=np.stack(images),
        labels=np.array(labels, np.int64),
        split=np.array(splits),
        ids=np.array(ids),
        class_names=np.array(CLASSES),
    )


Cropper = Callable[[np.ndarray], "np.ndarray | None"]  # image -> a 48x48 uint8 face, or None when there is none


def detector_cropper(detector: Any = "auto") -> Cropper:
    """image -> the largest face as a 48x48 uint8 crop framed like the FER2013 crops (the runtime's detector and
    alignment, so that prepared data looks like what Recognizer feeds the network), or None."""
    from ..runtime.inputs import to_uint8
    from ..runtime.recognizer import Recognizer

    rec = Recognizer(detector=detector, min_face=40)

    def crop(img: np.ndarray) -> np.ndarray | None:
        d = rec.detect(img)
        if len(d) == 0:
            return None
        big = int(np.argmax(d.boxes[:, 2] * d.boxes[:, 3]))
        return to_uint8(rec.crops(img, d.take(slice(big, big + 1))))[0]

    return crop


Row = tuple[np.ndarray, int, str, str, str]  # face, label, subject, sequence, id


def ckplus_from_folder(
    root: str | Path,
    out: str | Path,
    crop: Cropper | None = None,
    frames_per_sequence: int = 3,
    progress: Callable[[Iterable], Iterable] = iter,
) -> Path:
    """CK+ (original release or CK+48 folders) -> an archive; split = subject, sequence kept. `crop` finds and
    frames the face in a release frame (`fer-data` passes the runtime's detector + alignment)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    emotion_dir = next((p for p in (root / "Emotion", root / "Emotion_labels" / "Emotion") if p.is_dir()), None)
    image_dir = root / "cohn-kanade-images"
    if emotion_dir is not None and image_dir.is_dir():
        if crop is None:
            raise DataError(f"{root}: the CK+ release needs a face cropper (fer-data ckplus passes one)")
        rows = _ckplus_release(root, emotion_dir, image_dir, crop, frames_per_sequence, progress)
    else:
        rows = _ckplus48(root)
    if not rows:
        raise DataError(f"{root}: no faces found")
    images, labels, subjects, sequences, ids = zip(*rows)
    return _save(
        out,
        images=np.stack(images),
        labels=np.array(labels, np.int64),
        split=np.array(subjects),
        sequence=np.array(sequences),
        ids=np.array(ids),
        class_names=np.array(CKPLUS_CLASSES),
    )


def _ckplus_code(label_file: Path) -> int:
    try:
        value = float(label_file.read_text().split()[0])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise DataError(f"{label_file}: expected one emotion code 0-7") from None
    if not np.isfinite(value) or value != int(value) or int(value) not in CKPLUS_CODES:
        raise DataError(f"{label_file}: emotion code {value:g} is not 0-7")
    return int(value)


def _ckplus_release(
    root: Path,
    emotion_dir: Path,
    image_dir: Path,
    crop: Cropper,
    frames_per_sequence: int,
    progress: Callable[[Iterable], Iterable],
) -> list[Row]:
    label_files = sorted(emotion_dir.rglob("*_emotion.txt"))
    if not label_files:
        raise DataError(f"{emotion_dir}: no *_emotion.txt files")
    rows: list[Row] = []
    for lf in progress(label_files):
        code = _ckplus_code(lf)
        subject, seq = lf.parent.parent.name, lf.parent.name
        frames = sorted(p for p in (image_dir / subject / seq).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not frames:
            raise DataError(f"{image_dir / subject / seq}: no frames for {lf.name}")
        for fr in frames[-frames_per_sequence:]:
            face = crop(read_image(fr))
            if face is not None:  # a frame without a face is counted in the summary as missing
                rows.append(
                    (
                        face,
                        CKPLUS_CLASSES.index(CKPLUS_CODES[code]),
                        subject,
                        f"{subject}_{seq}",
                        str(fr.relative_to(root)),
                    )
                )
    return rows


def _ckplus48(root: Path) -> list[Row]:
    folders = [p for p in sorted(root.iterdir()) if p.is_dir()]
    names = {"anger": "angry", "sadness": "sad", "happiness": "happy", **{c: c for c in CKPLUS_CLASSES}}
    if not folders or any(p.name.lower() not in names for p in folders):
        raise DataError(
            f"{root}: expected the CK+ release (cohn-kanade-images/ and Emotion/) or CK+48 class "
            f"folders ({', '.join(sorted(names))}), found {[p.name for p in folders][:8]}"
        )
    rows: list[Row] = []
    for folder in folders:
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            m = re.match(r"(S\d+)_(\d+)_", f.name)
            if m is None:
                raise DataError(f"{f}: CK+48 file names start with S###_###_ (subject, sequence)")
            img = read_image(f, gray=True)
            if img.shape != (INPUT_SIZE, INPUT_SIZE):
                import cv2

                img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
            rows.append(
                (
                    img,
                    CKPLUS_CLASSES.index(names[folder.name.lower()]),
                    m.group(1),
                    f"{m.group(1)}_{m.group(2)}",
                    str(f.relative_to(root)),
                )
            )
    return rows


def jaffe_from_folder(
    root: str | Path, out: str | Path, crop: Cropper, progress: Callable[[Iterable], Iterable] = iter
) -> Path:
    """JAFFE image folder -> an archive with the whole frame and a face crop (by `crop`); split = subject."""
    import cv2

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{root}: no images")
    whole, faces, labels, subjects, ids = [], [], [], [], []
    for f in progress(files):
        m = re.match(r"([A-Z]{2})\.([A-Z]{2})\d*\.", f.name)
        if m is None or m.group(2) not in JAFFE_CODES:
            raise DataError(
                f"{f}: JAFFE file names look like KA.AN1.39.tiff (subject.expression code), codes {sorted(JAFFE_CODES)}"
            )
        img = read_image(f)
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        face = crop(img)
        if face is None:
            raise DataError(f"{f}: no face found for images_facecrop")
        whole.append(cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA))
        faces.append(face)
        labels.append(CLASSES.index(JAFFE_CODES[m.group(2)]))
        subjects.append(m.group(1))
        ids.append(f.name)
    return _save(
        out,
        images=np.stack(whole),
        images_facecrop=np.stack(faces),
        labels=np.array(labels, np.int64),
        split=np.array(subjects),
        ids=np.array(ids),
        class_names=np.array(CLASSES),
    )


def summary(path: str | Path) -> str:
    """Counts per split (or subject count) and class of an archive (the faces themselves are not loaded)."""
    from .datasets import NpzArchive

    path = Path(path)
    with NpzArchive(path) as d:
        shape = d.shape("images")
        if len(shape) != 3:
            raise DataError(f"{path}: images must be (N, H, W), got shape {shape}")
        labels, split, names = d["labels"], d["split"].astype(str), [str(n) for n in d["class_names"]]
    if labels.shape != (shape[0],) or split.shape != (shape[0],):
        raise DataError(
            f"{path}: labels and split must have one entry per face ({shape[0]}), got {labels.shape} and {split.shape}"
        )
    lines = [f"{path.name}: {shape[0]} faces of {shape[1]}x{shape[2]}, {len(names)} classes"]
    groups = sorted(set(split.tolist()))
    per_subject = len(groups) > 6
    keys = ["all"] if per_subject else groups
    width = max(9, *(len(n) for n in names))
    lines.append(f"{'':14}" + "".join(f"{n:>{width}}" for n in names) + f"{'total':>8}")
    for g in keys:
        sel = np.ones(len(labels), bool) if g == "all" else split == g
        c = Counter(labels[sel].tolist())
        lines.append(f"{g:14}" + "".join(f"{c.get(i, 0):>{width}}" for i in range(len(names))) + f"{int(sel.sum()):>8}")
    if per_subject:
        lines.append(f"{len(groups)} subjects (the 'split' array): evaluate subject-independently")
    return "\n".join(lines)
