"""Test setup: never the internet, never the user's cache.

- The YuNet detector comes from ../shared/models/yunet/ ($DEEPEMOTION_YUNET), as a user's path override. On a plain
  clone (nothing beside it) there is none: ``Recognizer()`` then falls back to Haar with one RuntimeWarning, as it
  does for an offline user, and that one warning is not turned into an error (pyproject's ``filterwarnings``);
  tests that need YuNet itself skip (``require_yunet``).
- Downloads go to a loopback address where nothing listens, and the cache is a temporary folder.
- Nothing is left in the system's temporary folder: the session (and every tool it starts) gets a private one
  ($TMPDIR); what is still in it at the end fails the session, naming it, and is then removed. pytest's own
  ``tmp_path`` folders stay where pytest keeps them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from _helpers import SHARED, YUNET

if YUNET.is_file():
    os.environ.setdefault("DEEPEMOTION_YUNET", str(YUNET))
os.environ["DEEPEMOTION_YUNET_URL"] = "http://127.0.0.1:9/yunet.onnx"  # discard port: nothing answers
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())  # tmp_path: where pytest keeps it
_TMP = tempfile.mkdtemp(prefix="deepemotion-tests-")
os.environ["TMPDIR"] = tempfile.tempdir = _TMP
_CACHE = tempfile.mkdtemp(prefix="cache-", dir=_TMP)
os.environ["XDG_CACHE_HOME"] = _CACHE
os.environ.setdefault("DEEPEMOTION_DATA", str(SHARED / "data"))

#: the offline fallback's warning (runtime/detect: create_detector), expected wherever the YuNet test model is absent
HAAR_FALLBACK = "ignore:deepemotion. using the haar face detector:RuntimeWarning"


def pytest_configure(config: pytest.Config) -> None:
    if not YUNET.is_file():
        config.addinivalue_line("filterwarnings", HAAR_FALLBACK)


def cuda_missing() -> str | None:
    """Why the `cuda` tests cannot run here (our CUDA kernels and a GPU that both they and PyTorch see), or None."""
    import deepemotion

    if not deepemotion.build_info()["cuda"]:
        return "this build has no CUDA kernels"
    try:
        import torch

        torch_sees_one = bool(torch.cuda.is_available())
    except ImportError:
        torch_sees_one = False
    if not (deepemotion.cuda_available() and torch_sees_one):
        return "no CUDA GPU visible (or PyTorch without CUDA)"
    return None


def tensorrt_missing() -> str | None:
    """Why the `tensorrt` tests cannot run here (our plugin and runner, the tensorrt package, a GPU), or None."""
    import deepemotion

    if not deepemotion.build_info()["tensorrt"]:
        return "this build has no TensorRT plugin/runner (TensorRT not found at build time)"
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt Python package is not installed"
    if not deepemotion.cuda_available():
        return "no CUDA GPU visible"
    return None


def gpu_missing() -> str | None:
    """Why the `gpu` tests cannot run here (a CUDA GPU that PyTorch sees), or None."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to PyTorch (torch.cuda.is_available() is False)"
    return None


def data_missing() -> str | None:
    """Why the `data` tests cannot run here (the real data sets in $DEEPEMOTION_DATA), or None."""
    d = os.environ.get("DEEPEMOTION_DATA")
    if not d or not Path(d).is_dir():
        return "real data not available: set DEEPEMOTION_DATA to the folder holding the .npz data sets"
    return None


#: marker -> why its tests cannot run here (None: they can); the one place the suite decides these skips
READINESS = {"cuda": cuda_missing, "gpu": gpu_missing, "tensorrt": tensorrt_missing, "data": data_missing}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked cuda, gpu, tensorrt or data where that is missing, with the reason; each check runs
    once per session."""
    reasons: dict[str, str | None] = {}
    for item in items:
        for marker, missing in READINESS.items():
            if item.get_closest_marker(marker) is None:
                continue
            if marker not in reasons:
                reasons[marker] = missing()
            if reasons[marker] is not None:
                item.add_marker(pytest.mark.skip(reason=str(reasons[marker])))
                break


#: what third-party libraries keep in $TMPDIR for good (one per user, reused by every later process, not one per run):
#: ONNX Runtime 1.32's session-id file, PyTorch's compile cache (the ONNX exporter)
OTHERS_FILES = (".ses", "torchinductor_")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_CACHE, ignore_errors=True)
    left = sorted(p.name for p in Path(_TMP).glob("*") if not p.name.startswith(OTHERS_FILES))
    shutil.rmtree(_TMP, ignore_errors=True)
    if left:
        print(f"\nthe tests left {len(left)} item(s) in the temporary folder: {', '.join(left[:10])}", file=sys.stderr)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
