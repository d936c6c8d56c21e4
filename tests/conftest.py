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
