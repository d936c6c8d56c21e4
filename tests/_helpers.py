"""Helpers shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest


def data_dir() -> Path | None:
    """The real data sets folder ($DEEPEMOTION_DATA), or None."""
    d = os.environ.get("DEEPEMOTION_DATA")
    return Path(d) if d and Path(d).is_dir() else None


def require_data(name: str) -> Path:
    d = data_dir()
    if d is None:
        pytest.skip("real data not available: set DEEPEMOTION_DATA to the folder holding the .npz data sets")
    p = d / name
    if not p.exists():
        pytest.skip(f"{p} not found")
    return p


def random_theta(rng: np.random.Generator, n: int, large: bool = True) -> np.ndarray:
    """Random affine matrices; with large=True, big rotations, scales and translations that sample
    well outside the image."""
    ang = rng.uniform(-np.pi, np.pi, n) if large else rng.uniform(-0.3, 0.3, n)
    scale = rng.uniform(0.3, 2.5, (n, 2)) if large else rng.uniform(0.8, 1.2, (n, 2))
    shear = rng.uniform(-0.5, 0.5, n) if large else np.zeros(n)
    trans = rng.uniform(-1.8, 1.8, (n, 2)) if large else rng.uniform(-0.2, 0.2, (n, 2))
    c, s = np.cos(ang), np.sin(ang)
    th = np.empty((n, 2, 3), np.float32)
    th[:, 0, 0] = scale[:, 0] * c
    th[:, 0, 1] = -scale[:, 1] * s + shear
    th[:, 1, 0] = scale[:, 0] * s
    th[:, 1, 1] = scale[:, 1] * c
    th[:, :, 2] = trans
    return th


SHARED = Path(__file__).resolve().parents[2] / "shared"
YUNET = SHARED / "models" / "yunet" / "face_detection_yunet_2023mar.onnx"
YUNET_DYNAMIC = SHARED / "models" / "yunet" / "yunet_s_dynamic.onnx"


def require_yunet(dynamic: bool = False) -> Path:
    p = YUNET_DYNAMIC if dynamic else YUNET
    if not p.is_file():
        pytest.skip(f"{p} not found (the YuNet test model lives in ../shared/models/yunet/)")
    return p


def example_frame() -> np.ndarray:
    from deepemotion.files import read_image
    from deepemotion.runtime.assets import example_image

    return read_image(example_image())


def pickle_payload_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    """(evil.pt, marker): a torch file whose unpickling would create ``marker``. Loading it must be refused."""
    import torch

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "deepemotion-checkpoint-2", "config": {}, "state_dict": {}, "x": Payload()}, evil)
    return evil, marker


def huge_network_checkpoint(tmp_path: Path) -> Path:
    """A checkpoint of a few KB whose configuration asks for a network of billions of parameters (no weights)."""
    import torch

    huge = tmp_path / "huge.pt"
    config = {"widths": [4096, 4096], "depths": [1, 1], "hidden": 60000}
    torch.save({"format": "deepemotion-checkpoint-2", "config": config, "state_dict": {}, "meta": {}}, huge)
    return huge


def same_in_threads(work, expected, n_threads: int = 8, repeats: int = 4, atol: float = 1e-6) -> None:
    """Run ``work(k)`` ``repeats`` times in each of ``n_threads`` threads at once; every result must equal
    ``expected[k]`` (the sequential answer) and no thread may raise."""
    import threading

    got: dict[int, list] = {k: [] for k in range(n_threads)}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for _ in range(repeats):
                got[k].append(work(k))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for k in range(n_threads):
        assert len(got[k]) == repeats
        for g in got[k]:
            np.testing.assert_allclose(g, expected[k], atol=atol)


def run_cli(
    tool: str, *args: str, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """``python -m deepemotion.cli.<tool> args`` in a subprocess (a crash there cannot take the test run down)."""
    return subprocess.run(
        [sys.executable, "-m", f"deepemotion.cli.{tool}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_python(
    code: str, *args: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -c code args`` in a subprocess (``code`` dedented)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def error_line(r: subprocess.CompletedProcess, prog: str) -> str:
    """The one line a tool printed on stderr (notes aside), which must be ``<prog>: error: ...``."""
    lines = [line for line in r.stderr.splitlines() if line.strip() and ": note:" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), r.stderr
    return lines[0]


def assert_one_line_error(r: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    """Exit ``code``, no traceback, and exactly one ``error:`` line on stderr holding every one of ``needles``."""
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr
    err_lines = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(err_lines) == 1, r.stderr
    for n in needles:
        assert n in err_lines[0], (n, err_lines[0])


def partial_files(folder: Path) -> list[str]:
    """What a tool's atomic writes would leave behind if they failed to clean up (deepemotion.files.PendingFile's
    temporary names, a download's .part)."""
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith((".part", ".tmp")))


def linear_onnx(path: Path, n_out: int, bias: float = 0.0, input_dims: tuple[int, ...] = (1, 48, 48)) -> Path:
    """A stand-in classifier graph: flatten -> MatMul -> + bias, with ``n_out`` outputs (needs the onnx package)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = int(np.prod(input_dims))
    w = numpy_helper.from_array(np.full((k, n_out), 1e-4, np.float32), "w")
    b = numpy_helper.from_array(np.full((n_out,), bias, np.float32), "b")
    nodes = [
        helper.make_node("Flatten", ["input"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["logits"]),
    ]
    g = helper.make_graph(
        nodes,
        "stand-in",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *input_dims])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", n_out])],
        [w, b],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def tritonserver_missing() -> str | None:
    """Why the serving tests cannot run here (no tritonserver binary from the nvidia-pytriton wheel, or no
    tritonclient), or None when they can."""
    try:
        from deepemotion.serving.server import find_tritonserver

        find_tritonserver()
        import tritonclient.grpc  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


#: the mark of every test that starts a real tritonserver
needs_tritonserver = pytest.mark.skipif(
    tritonserver_missing() is not None, reason=f"no tritonserver: {tritonserver_missing()}"
)
