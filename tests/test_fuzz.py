"""A bounded fuzz test: random shapes, dtypes, values, strides and boxes into Recognizer.predict,
predict_faces, classify and the _C functions. The only outcomes allowed are a correct result or a
TypeError/ValueError; anything else (another exception, a crash, a NaN probability, a wrong count of
faces) fails. Seeded, so a failure reproduces; a few seconds in CI. scripts/ci/sanitize.sh runs it under
AddressSanitizer + UndefinedBehaviorSanitizer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from deepemotion import _C, Recognizer

DTYPES = [
    np.uint8,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
    np.complex64,
    ">f4",
    ">u2",
    "<U3",
    object,
]
N_CASES = 500


def random_array(rng: np.random.Generator, max_dim: int = 70, max_ndim: int = 5) -> object:
    kind = rng.integers(0, 20)
    if kind == 0:
        return [[1, 2], [3]]  # ragged
    if kind == 1:
        return ["frame", None, 3.5, {"a": 1}, (1, 2, 3, 4)][int(rng.integers(0, 5))]
    ndim = int(rng.integers(0, max_ndim + 1))
    shape = tuple(int(rng.choice([0, 1, 2, 3, 4, int(rng.integers(1, max_dim))])) for _ in range(ndim))
    dtype = np.dtype(DTYPES[int(rng.integers(0, len(DTYPES)))])
    size = int(np.prod(shape)) if shape else 1
    if size > 200_000:
        shape, size = (48, 48), 48 * 48
    if dtype.kind in "fc":
        vals = (
            rng.choice([0.0, 1.0, 255.0, 0.5, -1.0, 300.0, np.nan, np.inf, 1e30], size=size)
            if rng.random() < 0.3
            else rng.uniform(0, 255, size)
        )
    elif dtype.kind == "U":
        vals = rng.choice(["a", "12", ""], size=size)
    else:
        vals = rng.integers(0, 256, size)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # casting the random values to the random dtype may overflow
        a = np.asarray(vals).astype(dtype, copy=False).reshape(shape)
    r = rng.random()
    if r < 0.15 and a.ndim >= 2:
        a = a[::2, ::2]  # strided view
    elif r < 0.25 and a.ndim >= 2:
        a = a.swapaxes(0, 1)  # non-contiguous
    elif r < 0.3:
        a.setflags(write=False)
    return a


def random_frame(rng: np.random.Generator, max_side: int = 120) -> object:
    """Half the time a plausible frame (so that the calls get past the checks), else anything."""
    if rng.random() < 0.25:
        return random_array(rng)
    h, w = (int(rng.integers(1, max_side)) for _ in range(2))
    shape = (h, w) if rng.random() < 0.4 else (h, w, int(rng.choice([1, 3, 3, 3, 4])))
    a = rng.integers(0, 256, shape).astype(np.uint8)
    r = rng.random()
    if r < 0.2:
        a = a.astype(np.float32) * rng.choice([1.0, 1 / 255.0])
    elif r < 0.35:
        a = np.ascontiguousarray(np.repeat(np.repeat(a, 2, 0), 2, 1))[::2, ::2]  # strided
    elif r < 0.45:
        a.setflags(write=False)
    return a


def random_boxes(rng: np.random.Generator, frame: object = None) -> object:
    if hasattr(frame, "shape") and len(frame.shape) >= 2 and rng.random() < 0.6:
        h, w = frame.shape[:2]
        n = int(rng.integers(0, 12))
        x, y = rng.integers(0, max(1, w), n), rng.integers(0, max(1, h), n)
        bw = np.minimum(rng.integers(0, max(1, w + 1), n), w - x + rng.integers(0, 2, n))
        bh = np.minimum(rng.integers(0, max(1, h + 1), n), h - y + rng.integers(0, 2, n))
        return np.stack([x, y, bw, bh], 1) if n else np.zeros((0, 4))
    kind = rng.integers(0, 8)
    if kind == 0:
        return [[1, 2, 3]]
    if kind == 1:
        return "boxes"
    if kind == 2:
        return [[0, 0, 10, 10], [1, 2]]  # ragged
    n = int(rng.integers(0, 5))
    types = [np.int32, np.int64, np.float64, np.float32, np.bool_, np.complex64]
    b = rng.integers(-20, 120, (n, 4)).astype(types[int(rng.integers(0, len(types)))])
    if rng.random() < 0.2 and b.dtype.kind == "f" and n:
        b[0, 0] = np.nan
    return b


def check_faces(faces: object, n_expected: int | None = None) -> None:
    assert isinstance(faces, list)
    if n_expected is not None:
        assert len(faces) == n_expected
    for f in faces:
        assert f.probs.shape == (7,) and np.isfinite(f.probs).all()
        assert abs(float(f.probs.sum()) - 1.0) < 1e-4


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    return Recognizer(detector="haar", max_batch=8)


def fuzz(n: int, seed: int, make, call, check) -> None:
    """n cases of call(make(rng)); a TypeError/ValueError is an allowed answer, anything else must pass check."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        arg = make(rng)
        try:
            result = call(arg)
        except (TypeError, ValueError):
            continue
        check(arg, result)


def test_fuzz_predict_with_boxes(rec):
    def make(rng):
        frame = random_frame(rng)
        return frame, random_boxes(rng, frame)

    fuzz(
        N_CASES,
        1,
        make,
        lambda a: rec.predict(a[0], boxes=a[1]),
        lambda a, faces: check_faces(faces, len(np.asarray(a[1]).reshape(-1, 4))),
    )


def test_fuzz_predict_detector(rec):
    fuzz(N_CASES // 5, 2, lambda rng: random_frame(rng, max_side=160), rec.predict, lambda a, faces: check_faces(faces))


def test_fuzz_predict_faces(rec):
    fuzz(
        N_CASES,
        3,
        lambda rng: random_frame(rng) if rng.random() < 0.7 else [random_frame(rng) for _ in range(rng.integers(0, 4))],
        rec.predict_faces,
        lambda a, faces: check_faces(faces),
    )


def test_fuzz_classify(rec):
    def check(batch, probs):
        assert probs.shape == (len(batch), 7) and np.isfinite(probs).all()

    fuzz(
        N_CASES,
        4,
        lambda rng: (
            random_array(rng)
            if rng.random() < 0.5
            else rng.standard_normal((int(rng.integers(0, 20)), 1, 48, 48)).astype(np.float32)
        ),
        rec.classify,
        check,
    )


def test_fuzz_c_functions():
    rng = np.random.default_rng(5)
    for _ in range(N_CASES):
        x = random_frame(rng) if rng.random() < 0.5 else random_array(rng)
        th = random_boxes(rng, x) if rng.random() < 0.3 else random_array(rng)
        if rng.random() < 0.3 and hasattr(th, "shape") and th.dtype.kind in "iu":
            th = (
                np.asarray(th, np.int32)
                if rng.random() < 0.5
                else np.asarray(th, np.float32).reshape(-1, 2, 3)
                if np.asarray(th).size % 6 == 0
                else th
            )
        oh, ow = (int(rng.choice([-1, 0, 1, 7, 48, 2**31, 2**40])) for _ in range(2))
        if oh * ow > 4096 and oh < 2**31 and ow < 2**31:
            oh, ow = 48, 48  # keep the outputs small; the huge sizes are there to be refused
        for call in (
            lambda: _C.affine_grid_sample_cpu(x, th, oh, ow, bool(rng.integers(0, 2))),
            lambda: _C.crop_faces(x, th, 48, 0.5, 0.5, int(rng.integers(-1, 18))),
            lambda: _C.crop_faces_affine(x, th, int(rng.choice([0, 1, 48, 5000])), 0.5, 0.5, 0),
        ):
            try:
                out = call()
            except (TypeError, ValueError, OverflowError):
                continue
            assert out.dtype == np.float32


# --- files: mutated CSV, npz, PNG/JPEG, .pt and YuNet ONNX files into their readers ---------------------------------
FILE_FUZZ = r"""
import io, os, sys, time, zipfile
import numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
kind, tmp = sys.argv[1], sys.argv[3]

def mutate(data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op = rng.integers(0, 4)
        if op == 0 and b:  # flip bytes
            for i in rng.integers(0, len(b), int(rng.integers(1, 16))):
                b[i] ^= int(rng.integers(1, 256))
        elif op == 1:  # truncate
            b = b[: int(rng.integers(0, len(b) + 1))]
        elif op == 2:  # insert junk
            at = int(rng.integers(0, len(b) + 1))
            b[at:at] = rng.bytes(int(rng.integers(1, 64)))
        else:  # duplicate a slice
            a = int(rng.integers(0, max(1, len(b))))
            b[a:a] = b[a:a + int(rng.integers(1, 200))]
    return bytes(b)

def seed_file() -> bytes:
    faces = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    if kind == "csv":
        return ("emotion,pixels,Usage\n" + "".join(f"{i % 7}," + " ".join(map(str, f.ravel())) + ",Training\n"
                                                  for i, f in enumerate(faces))).encode()
    if kind == "npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, images=faces, labels=np.arange(6) % 7, split=np.array(["train"] * 6),
                            ids=np.array([str(i) for i in range(6)]),
                            class_names=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
        return buf.getvalue()
    if kind == "image":
        import cv2
        return cv2.imencode(str(rng.choice([".png", ".jpg", ".bmp", ".webp"])), faces[0])[1].tobytes()
    if kind == "pt":
        import torch
        from deepemotion.runtime.assets import bundled_model
        buf = io.BytesIO()
        state = torch.load(bundled_model("tiny").path("pt"), weights_only=True)
        torch.save({"format": "deepemotion-checkpoint-2", "config": bundled_model("tiny").metadata()["config"],
                    "state_dict": state, "meta": {}}, buf)
        return buf.getvalue()
    return open(os.environ["YUNET"], "rb").read()

def read(path: str) -> None:
    if kind == "csv":
        from deepemotion.data.datasets import load_fer2013_csv
        load_fer2013_csv(path)
    elif kind == "npz":
        from deepemotion.data.datasets import load_npz
        load_npz(path)
    elif kind == "image":
        from deepemotion.files import read_image
        read_image(path)
    elif kind == "pt":
        from deepemotion.training.checkpoint import load_checkpoint
        load_checkpoint(path)
    else:
        from deepemotion import YuNetDetector
        YuNetDetector(path).detect(np.zeros((64, 64, 3), np.uint8))

seed = seed_file()
path = os.path.join(tmp, "case")
ok = refused = 0
end = time.monotonic() + float(sys.argv[4])
while time.monotonic() < end:
    with open(path, "wb") as f:
        f.write(mutate(seed))
    try:
        read(path)
        ok += 1
    except (ValueError, TypeError, FileNotFoundError) as exc:  # DataError, CheckpointError are ValueErrors
        refused += 1
print("OK", ok, refused)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "npz", "image", "pt", "yunet"])
def test_fuzz_file_readers(tmp_path, kind):
    """Mutated files (flipped bytes, truncation, junk, repeats) for a few seconds each: every outcome is a result or
    a ValueError/TypeError naming the problem -- never another exception, a hang or a crash (own process)."""
    import os
    import subprocess
    import sys

    from _helpers import YUNET

    if kind == "pt":
        pytest.importorskip("torch")
    if kind == "yunet" and not YUNET.is_file():
        pytest.skip("no YuNet test model")
    r = subprocess.run(
        [sys.executable, "-c", FILE_FUZZ, kind, "7", str(tmp_path), "3"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        env={**os.environ, "YUNET": str(YUNET)},
    )
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""  # ONNX Runtime prints some errors itself
    assert r.returncode == 0 and last.startswith("OK"), (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    ok, refused = map(int, last.split()[1:])
    assert ok + refused > 5
