"""Facial-expression data sets as numpy arrays (no PyTorch needed).

Loaders for the FER2013 CSV (`emotion,pixels,Usage`), the project's `.npz` archives
(`fer2013.npz`, `ckplus48.npz`, `jaffe.npz`) and image folders (`root/<class>/*.png`, as
CK+ and JAFFE are usually shared). Every loader returns a `FaceSet` with labels in our class
order (`deepemotion.labels.CLASSES`). Malformed input raises `DataError` naming the
file (and line, for CSV).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import read_image
from ..labels import CLASSES, INPUT_SIZE

SIZE = INPUT_SIZE
CONTEMPT = len(CLASSES)  # label given to CK+'s extra class when it is kept

# Folder/CSV class names seen in the wild -> our class index.
_ALIASES = {
    "angry": 0,
    "anger": 0,
    "an": 0,
    "disgust": 1,
    "disgusted": 1,
    "di": 1,
    "fear": 2,
    "fearful": 2,
    "afraid": 2,
    "fe": 2,
    "happy": 3,
    "happiness": 3,
    "joy": 3,
    "ha": 3,
    "sad": 4,
    "sadness": 4,
    "sa": 4,
    "surprise": 5,
    "surprised": 5,
    "su": 5,
    "neutral": 6,
    "ne": 6,
    "contempt": CONTEMPT,
}
_FER_USAGE = {"Training": "train", "PublicTest": "public_test", "PrivateTest": "private_test"}


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent."""


@dataclass
class FaceSet:
    """Faces with labels. `groups` holds what must not be split across train and test (the
    subject id for CK+ and JAFFE, the split name for FER2013)."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, our class order (7 = contempt if kept)
    groups: np.ndarray  # (N,) str
    ids: np.ndarray  # (N,) str, where each image came from
    class_names: tuple[str, ...] = field(default=CLASSES)
    name: str = ""

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise DataError(
                f"{self.name or 'FaceSet'}: images must be (N, H, W) uint8, got {self.images.shape} {self.images.dtype}"
            )
        for attr in ("labels", "groups", "ids"):
            if len(getattr(self, attr)) != n:
                raise DataError(
                    f"{self.name or 'FaceSet'}: {attr} has {len(getattr(self, attr))} entries for {n} images"
                )

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: np.ndarray | Sequence[int], name: str | None = None) -> FaceSet:
        idx = np.asarray(idx)
        return FaceSet(
            self.images[idx],
            self.labels[idx],
            self.groups[idx],
            self.ids[idx],
            self.class_names,
            name if name is not None else self.name,
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.class_names))


def read_csv_rows(path: Path, need: set[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header holding `need`. UTF-8 with or without a byte-order mark
    (as Excel writes it); every problem -- not a file, not UTF-8 text, a field over the csv module's size limit, a
    wrong header -- is a DataError naming the file (and the line)."""
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give the CSV file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    line = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not need <= set(reader.fieldnames):
                raise DataError(f"{path}:1: header must contain {', '.join(sorted(need))}, got {reader.fieldnames}")
            for row in reader:
                line = reader.line_num
                yield line, row
    except UnicodeDecodeError:
        raise DataError(f"{path}:{line}: not UTF-8 text (is it really the CSV?)") from None
    except csv.Error as exc:
        raise DataError(f"{path}:{line}: not a well-formed CSV ({exc})") from None


def parse_fer_row(path: Path, line: int, row: dict[str, str]) -> tuple[int, np.ndarray]:
    """(label, 48x48 uint8 face) of one FER2013 CSV row, or a DataError naming the file and line."""
    try:
        label = int(row["emotion"])
    except (TypeError, ValueError):
        raise DataError(f"{path}:{line}: emotion must be an integer 0-6, got {row['emotion']!r}") from None
    if not 0 <= label < len(CLASSES):
        raise DataError(f"{path}:{line}: emotion must be 0-6, got {label}")
    values = (row["pixels"] or "").split()
    if len(values) != SIZE * SIZE:
        raise DataError(f"{path}:{line}: expected {SIZE * SIZE} pixels, got {len(values)}")
    try:
        px = np.array([int(v) for v in values], dtype=np.int64)
    except (ValueError, OverflowError):
        raise DataError(f"{path}:{line}: pixels must be space-separated integers 0-255") from None
    if px.min() < 0 or px.max() > 255:
        raise DataError(f"{path}:{line}: pixel values must be 0-255, got {int(px.min())}..{int(px.max())}")
    return label, px.astype(np.uint8).reshape(SIZE, SIZE)


def fer_usage(path: Path, line: int, row: dict[str, str], default: str = "Training") -> str:
    split = _FER_USAGE.get((row.get("Usage") or default).strip())
    if split is None:
        raise DataError(f"{path}:{line}: unknown Usage {row.get('Usage')!r} (Training, PublicTest, PrivateTest)")
    return split


def fer_csv_arrays(
    path: Path, usage: str | None = None, need_usage: bool = False, progress: Any = iter
) -> tuple[list[np.ndarray], list[int], list[str], list[str]]:
    """(faces, labels, splits, ids) of the rows of a FER2013 CSV, only the rows of split `usage` when given
    (rows without a Usage column are Training unless `need_usage`)."""
    images, labels, groups, ids = [], [], [], []
    need = {"emotion", "pixels"} | ({"Usage"} if need_usage else set())
    for line, row in progress(read_csv_rows(path, need)):
        split = fer_usage(path, line, row, default="" if need_usage else "Training")
        if usage is not None and split != usage:
            continue
        label, face = parse_fer_row(path, line, row)
        images.append(face)
        labels.append(label)
        groups.append(split)
        ids.append(f"{path.name}:{line}")
    if not images:
        raise DataError(f"{path}: no rows" + (f" with usage {usage!r}" if usage else ""))
    return images, labels, groups, ids


def load_fer2013_csv(path: str | os.PathLike[str], usage: str | None = None) -> FaceSet:
    """Load the standard FER2013 CSV (`emotion,pixels,Usage`).

    `usage` picks one split: `train`/`Training`, `public_test`/`PublicTest`,
    `private_test`/`PrivateTest`; None keeps all rows (`groups` says which split).
    """
    want = None if usage is None else _FER_USAGE.get(usage, usage)
    if want is not None and want not in _FER_USAGE.values():
        raise DataError(f"unknown FER2013 usage {usage!r}; use one of {sorted(_FER_USAGE)}")
    images, labels, groups, ids = fer_csv_arrays(Path(path), want)
    return FaceSet(
        np.stack(images),
        np.array(labels, np.int64),
        np.array(groups),
        np.array(ids),
        name=f"fer2013-csv:{want or 'all'}",
    )


#: an archive may unpack to at most this many times its own size (or MIN_UNPACK_BUDGET): FER2013's unpacks to 1.04x,
#: while a crafted 5 MB file of zero faces unpacks to gigabytes
MAX_UNPACK_RATIO = 20
MIN_UNPACK_BUDGET = 64 << 20


class NpzArchive:
    """A `.npz` archive opened for reading without trusting it: every array's header (shape, dtype) is read
    before any data, object arrays are refused, and the declared sizes must fit the unpack budget -- so a small
    file cannot make a tool allocate gigabytes. Every problem is a DataError naming the file."""

    def __init__(self, path: Path) -> None:
        import zipfile

        self.path = path
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        try:
            self.zip = zipfile.ZipFile(path)
            self.headers = {n[:-4]: self._header(n) for n in self.zip.namelist() if n.endswith(".npy")}
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - zip, zlib and numpy's header parser raise many types on bad bytes
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DataError(f"{path}: not a readable .npz archive ({first})") from None
        if not self.headers:
            raise DataError(f"{path}: the archive holds no arrays")
        declared = sum(int(np.prod(shape, dtype=np.float64)) * dt.itemsize for shape, dt in self.headers.values())
        budget = max(MIN_UNPACK_BUDGET, MAX_UNPACK_RATIO * path.stat().st_size)
        if declared > budget:
            ratio = declared / max(1, path.stat().st_size)
            raise DataError(
                f"{path}: its arrays declare {declared / 2**20:.0f} MB, {ratio:.0f}x the file's size; "
                f"refused (more than {budget / 2**20:.0f} MB)"
            )

    def _header(self, member: str) -> tuple[tuple[int, ...], np.dtype]:
        with self.zip.open(member) as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = (
                np.lib.format.read_array_header_1_0(f) if version == (1, 0) else np.lib.format.read_array_header_2_0(f)
            )
        if dtype.hasobject:
            raise DataError(
                f"{self.path}: array {member[:-4]!r} holds Python objects; refused (arrays of numbers and strings only)"
            )
        return tuple(int(v) for v in shape), dtype

    @property
    def files(self) -> list[str]:
        return list(self.headers)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._need(key)[0]

    def _need(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        if key not in self.headers:
            raise DataError(f"{self.path}: missing array {key!r} (has {self.files})")
        return self.headers[key]

    def __getitem__(self, key: str) -> np.ndarray:
        import zipfile
        import zlib

        self._need(key)
        try:
            with self.zip.open(key + ".npy") as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DataError(f"{self.path}: array {key!r} cannot be read ({first})") from None

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()


def load_npz(
    path: str | os.PathLike[str], split: str | None = None, *, keep_contempt: bool = False, variant: str = "images"
) -> FaceSet:
    """Load one of the project's `.npz` data sets (see `shared/data/README.md`).

    - `fer2013.npz`: `split` = `train` or `public_test` (None: both); groups = split.
    - `ckplus48.npz`: groups = subject id; contempt (label 7) dropped unless `keep_contempt`.
    - `jaffe.npz`: groups = subject; `variant` = `images` (whole frame) or `images_facecrop`.
    """
    path = Path(path)
    with NpzArchive(path) as d:
        images = d[variant]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"{path}: {variant} must be (N, H, W) uint8, got {images.shape} {images.dtype}")
        labels, groups, ids = d["labels"], d["split"], d["ids"]
        names = tuple(str(s) for s in d["class_names"])
    for key, a in (("labels", labels), ("split", groups), ("ids", ids)):
        if a.shape != (len(images),):
            raise DataError(
                f"{path}: {key} must be a vector with one entry per face ({len(images)}), got shape {a.shape}"
            )
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be integers, got {labels.dtype}")
    labels, groups, ids = labels.astype(np.int64), groups.astype(str), ids.astype(str)
    # map the file's class names onto our order
    try:
        remap = np.array([_ALIASES[n.lower()] for n in names], np.int64)
    except KeyError as exc:
        raise DataError(f"{path}: unknown class name {exc.args[0]!r} in class_names") from None
    if labels.min() < 0 or labels.max() >= len(names):
        raise DataError(f"{path}: labels outside 0..{len(names) - 1}")
    labels = remap[labels]
    keep = np.ones(len(labels), bool)
    if not keep_contempt:
        keep &= labels != CONTEMPT
    if split is not None:
        available = sorted(set(groups.tolist()))
        if split not in available:
            hint = (
                " (PrivateTest is in archives built from the official fer2013.csv: fer-data fer2013 fer2013.csv)"
                if split == "private_test"
                else ""
            )
            raise DataError(f"{path}: no split {split!r}; available: {available[:10]}{hint}")
        keep &= groups == split
    class_names = CLASSES + (("contempt",) if keep_contempt and (labels == CONTEMPT).any() else ())
    name = path.stem + (f":{split}" if split else "")
    return FaceSet(images[keep], labels[keep], groups[keep], ids[keep], class_names, name)


_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm"}


def load_image_folder(
    root: str | os.PathLike[str], *, size: int = SIZE, keep_contempt: bool = False, group_by: str = "none"
) -> FaceSet:
    """Load `root/<class>/<image>` folders; images are read as grayscale and resized to size x size.

    Class folder names are matched case-insensitively with common aliases (anger, happiness,
    surprised, ...). `group_by="prefix"` takes the subject id from the file name up to the first
    `_` or `.` (CK+ `S005_001_...`, JAFFE `KA.AN1...`); otherwise each file is its own group.
    """
    import cv2

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    images, labels, groups, ids = [], [], [], []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"{root}: expected one sub-folder per class (e.g. {root}/happy/*.png), found none")
    for folder in folders:
        label = _ALIASES.get(folder.name.lower())
        if label is None:
            raise DataError(f"{folder}: unknown class folder; expected one of {sorted(set(_ALIASES))}")
        if label == CONTEMPT and not keep_contempt:
            continue
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() not in _IMAGE_EXT:
                continue
            try:
                img = read_image(f, gray=True)
            except (OSError, ValueError) as exc:
                raise DataError(str(exc)) from None
            if img.shape != (size, size):
                interp = cv2.INTER_AREA if min(img.shape) > size else cv2.INTER_LINEAR
                img = cv2.resize(img, (size, size), interpolation=interp)
            images.append(img)
            labels.append(label)
            stem = f.name
            groups.append(stem.replace(".", "_").split("_")[0] if group_by == "prefix" else str(f))
            ids.append(str(f.relative_to(root)))
    if not images:
        raise DataError(f"{root}: no images found")
    labels_arr = np.array(labels, np.int64)
    class_names = CLASSES + (("contempt",) if (labels_arr == CONTEMPT).any() else ())
    return FaceSet(np.stack(images), labels_arr, np.array(groups), np.array(ids), class_names, root.name)


def subject_folds(groups: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds over subjects: every subject's images are in exactly one test fold and never in
    that fold's training part. Subjects are shuffled with `seed` and dealt to folds so that
    fold sizes (in images) stay balanced."""
    subjects, counts = np.unique(groups, return_counts=True)
    if k < 2 or k > len(subjects):
        raise ValueError(f"k must be in 2..{len(subjects)} (number of subjects), got {k}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(subjects))
    # largest subjects first, each to the currently smallest fold
    order = order[np.argsort(-counts[order], kind="stable")]
    fold_of = np.empty(len(subjects), np.int64)
    sizes = np.zeros(k, np.int64)
    for s in order:
        f = int(np.argmin(sizes))
        fold_of[s] = f
        sizes[f] += counts[s]
    subject_fold = dict(zip(subjects.tolist(), fold_of.tolist()))
    fold = np.array([subject_fold[g] for g in groups.tolist()])
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def data_dir() -> Path | None:
    """The folder named by `$DEEPEMOTION_DATA`, or None."""
    d = os.environ.get("DEEPEMOTION_DATA")
    return Path(d) if d and Path(d).is_dir() else None


#: halves of a split, by a stable hash of each face's id: ``public_test:select`` chooses (epochs, candidates),
#: ``public_test:calibrate`` fits the score temperature -- so the temperature is fitted on faces no choice used
HALVES = ("select", "calibrate")


def half(data: FaceSet, which: str) -> FaceSet:
    """The `which` half (one of HALVES) of `data`: faces whose id's CRC-32 is even ("select") or odd."""
    import zlib

    if which not in HALVES:
        raise DataError(f"unknown half {which!r}; use one of {', '.join(HALVES)}")
    odd = np.array([zlib.crc32(str(i).encode()) & 1 for i in data.ids], bool)
    return data.subset(np.flatnonzero(odd if which == "calibrate" else ~odd), f"{data.name}:{which}")


def resolve_dataset(spec: str, split: str | None = None, **kw: object) -> FaceSet:
    """Load a data set from a short name (`fer2013`, `ckplus`, `jaffe`: looked up in
    `$DEEPEMOTION_DATA`) or a path (`.npz`, `.csv` or an image folder). `split` may name a half of a split:
    `public_test:select` / `public_test:calibrate` (`half`)."""
    if split and ":" in split:
        base, which = split.split(":", 1)
        return half(resolve_dataset(spec, base, **kw), which)
    names = {"fer2013": "fer2013.npz", "ckplus": "ckplus48.npz", "ck+": "ckplus48.npz", "jaffe": "jaffe.npz"}
    if spec.lower() in names:
        d = data_dir()
        if d is None:
            raise DataError(
                f"data set {spec!r} is looked up in $DEEPEMOTION_DATA, which is not set to a folder: "
                "build the archives with fer-data (README, 'Data sets') and set DEEPEMOTION_DATA to their "
                "folder"
            )
        path = d / names[spec.lower()]
        if not path.is_file():
            raise DataError(
                f"{path}: no such file; build it from the official distribution with fer-data (README, 'Data sets')"
            )
    else:
        path = Path(spec)
    if path.is_dir():
        return load_image_folder(path, **kw)  # type: ignore[arg-type]
    if path.suffix == ".csv":
        return load_fer2013_csv(path, usage=split)
    return load_npz(path, split, **kw)  # type: ignore[arg-type]
