"""Test setup: never the internet, never the user's cache.

- The YuNet detector comes from ../shared/models/yunet/ ($DEEPEMOTION_YUNET), as a user's path override.
- Downloads go to a loopback address where nothing listens, and the cache is a temporary folder.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from _helpers import SHARED, YUNET

if YUNET.is_file():
    os.environ.setdefault("DEEPEMOTION_YUNET", str(YUNET))
os.environ["DEEPEMOTION_YUNET_URL"] = "http://127.0.0.1:9/yunet.onnx"  # discard port: nothing answers
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="deepemotion-test-cache-")
os.environ.setdefault("DEEPEMOTION_DATA", str(SHARED / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
