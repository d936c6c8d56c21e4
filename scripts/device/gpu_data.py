"""FER2013 small enough to travel to a lent GPU machine (whose copy of the tree is capped at 64 MiB), bit-exact.

    python scripts/device/gpu_data.py pack ../shared/data/fer2013.npz .gpu/fer2013.fpk   # here (about 100 s)
    python scripts/device/gpu_data.py unpack .gpu/fer2013.fpk /tmp/data/fer2013.npz      # there (seconds)
    python scripts/device/gpu_data.py pack ../shared/data/fer2013.npz s.fpk --limit 2000  # DRY=1: a subset

The archive is 71.4 MB; packed, the faces a run needs (``train`` and ``public_test:select``: the half that model
selection uses -- ``public_test:calibrate`` is for fitting scores at home) are about 45 MB. Each face is stored as
the residuals of the median edge predictor of LOCO-I / JPEG-LS (each pixel predicted from its left, upper and
upper-left neighbours), folded to small unsigned numbers, then the whole stream goes through xz. Unpacking replays
the predictor row by row, vectorised over all faces, and checks the SHA-256 of every array against the header, so a
run never trains on damaged data. Only numpy and the standard library are needed (the GPU machine has no registry).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

MAGIC = b"FPK1"
KEYS = ("images", "labels", "split", "ids")


def _digest(a: np.ndarray) -> str:
    """SHA-256 of an array's values (strings as their text: the width of a numpy string type is not a value)."""
    if a.dtype.kind in "USO":
        return hashlib.sha256("\n".join(map(str, a.tolist())).encode()).hexdigest()
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _select_half(ids: np.ndarray) -> np.ndarray:
    """True for the faces of ``public_test:select`` (deepemotion.data.datasets.half: the CRC-32 of the id is even).
    Repeated here so that this tool needs only numpy; tests/test_gpu_data.py checks that the two agree."""
    return np.array([zlib.crc32(str(i).encode()) % 2 == 0 for i in ids])


def predict_med(img: np.ndarray) -> np.ndarray:
    """The median edge predictor for every pixel of faces (N, H, W) uint8 (int16 out): from the left neighbour a,
    the upper b and the upper-left c: min(a, b) if c >= max(a, b), max(a, b) if c <= min(a, b), else a + b - c.
    Missing neighbours: the first row predicts from the left, the first column from above, the corner is 0."""
    x = img.astype(np.int16)
    a = np.zeros_like(x)
    b = np.zeros_like(x)
    c = np.zeros_like(x)
    a[:, :, 1:] = x[:, :, :-1]
    b[:, 1:, :] = x[:, :-1, :]
    c[:, 1:, 1:] = x[:, :-1, :-1]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pred = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
    pred[:, 0, 1:] = a[:, 0, 1:]
    pred[:, 1:, 0] = b[:, 1:, 0]
    pred[:, 0, 0] = 0
    return pred


def fold(r: np.ndarray) -> np.ndarray:
    """Residuals mod 256 in -128..127 -> 0, 1, 2, ... by magnitude (0, -1, 1, -2, 2, ...): small values cluster."""
    s = ((r.astype(np.int16) + 128) % 256) - 128
    return np.where(s >= 0, 2 * s, -2 * s - 1).astype(np.uint8)


def unfold(u: np.ndarray) -> np.ndarray:
    v = u.astype(np.int16)
    return np.where(v % 2 == 0, v // 2, -(v + 1) // 2)


def decode(res: np.ndarray) -> np.ndarray:
    """Faces (N, H, W) uint8 from their folded residuals: the predictor replayed pixel by pixel, over all faces."""
    n, h, w = res.shape
    r = unfold(res)
    out = np.zeros((n, h, w), np.int16)
    for i in range(h):
        for j in range(w):
            if i == 0:
                pred = out[:, 0, j - 1] if j else np.zeros(n, np.int16)
            elif j == 0:
                pred = out[:, i - 1, 0]
            else:
                a, b, c = out[:, i, j - 1], out[:, i - 1, j], out[:, i - 1, j - 1]
                lo, hi = np.minimum(a, b), np.maximum(a, b)
                pred = np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))
            out[:, i, j] = (pred + r[:, i, j]) % 256
    return out.astype(np.uint8)


def pack(src: Path, dst: Path, splits: list[str], limit: int = 0, seed: int = 0) -> dict[str, object]:
    d = np.load(src)
    split = d["split"].astype(str)
    ids = d["ids"].astype(str)
    keep = np.zeros(len(split), bool)
    for s in splits:
        name, _, half = s.partition(":")
        m = split == name
        if half:
            if half not in ("select", "calibrate"):
                raise SystemExit(f"gpu_data: unknown half {half!r} in {s!r} (select or calibrate)")
            sel = _select_half(ids)
            m &= sel if half == "select" else ~sel
        keep |= m
    idx = np.flatnonzero(keep)
    if limit:  # a random subset of each split, in proportion (the archive is not in random order)
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(idx, min(limit, len(idx)), replace=False))
    images = np.ascontiguousarray(d["images"][idx])
    labels = d["labels"][idx].astype(np.int64)
    names = sorted(set(split[idx].tolist()))
    codes = np.array([names.index(s) for s in split[idx]], np.uint8)
    id_blob = "\n".join(ids[idx].tolist()).encode()
    arrays = {"images": images, "labels": labels, "split": split[idx], "ids": ids[idx]}
    header = {
        "n": int(len(idx)),
        "shape": list(images.shape),
        "split_names": names,
        "class_names": [str(c) for c in d["class_names"]],
        "splits": splits,
        "limit": limit,
        "sha256": {k: _digest(v) for k, v in arrays.items()},
        "ids_bytes": len(id_blob),
        "source": src.name,
    }
    head = json.dumps(header).encode()
    body = (
        MAGIC
        + struct.pack("<I", len(head))
        + head
        + fold(images.astype(np.int16) - predict_med(images)).tobytes()
        + labels.astype(np.uint8).tobytes()
        + codes.tobytes()
        + id_blob
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(lzma.compress(body, preset=9 | lzma.PRESET_EXTREME))
    tmp.replace(dst)
    return {
        "faces": header["n"],
        "splits": dict(zip(*np.unique(split[idx], return_counts=True))),
        "bytes": dst.stat().st_size,
    }


def unpack(src: Path, dst: Path) -> dict[str, object]:
    body = lzma.decompress(src.read_bytes())
    if body[:4] != MAGIC:
        raise SystemExit(f"gpu_data: {src} is not a packed face set")
    (hl,) = struct.unpack("<I", body[4:8])
    header = json.loads(body[8 : 8 + hl])
    n, h, w = header["shape"]
    pos = 8 + hl
    res = np.frombuffer(body, np.uint8, n * h * w, pos).reshape(n, h, w)
    pos += n * h * w
    labels = np.frombuffer(body, np.uint8, n, pos).astype(np.int64)
    codes = np.frombuffer(body, np.uint8, n, pos + n)
    ids = np.array(body[pos + 2 * n : pos + 2 * n + header["ids_bytes"]].decode().split("\n"))
    arrays = {"images": decode(res), "labels": labels, "split": np.array(header["split_names"])[codes], "ids": ids}
    bad = [k for k, v in arrays.items() if _digest(v) != header["sha256"][k]]
    if bad:
        raise SystemExit(f"gpu_data: {src}: {', '.join(bad)} differ from what was packed (damaged file)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays, class_names=np.array(header["class_names"]))
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(dst)
    return {"faces": n, "splits": dict(zip(*np.unique(arrays["split"], return_counts=True)))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="npz -> packed file")
    a.add_argument("src", type=Path)
    a.add_argument("dst", type=Path)
    a.add_argument("--splits", nargs="+", default=["train", "public_test:select"])
    a.add_argument("--limit", type=int, default=0, help="a random subset of this many faces (0: all)")
    b = sub.add_parser("unpack", help="packed file -> npz (checked)")
    b.add_argument("src", type=Path)
    b.add_argument("dst", type=Path)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.cmd == "pack":
        info = pack(args.src, args.dst, args.splits, args.limit)
    else:
        info = unpack(args.src, args.dst)
    info = {k: ({str(s): int(c) for s, c in v.items()} if isinstance(v, dict) else v) for k, v in info.items()}
    print(f"gpu_data {args.cmd}: {json.dumps(info)} in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
