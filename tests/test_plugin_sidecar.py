"""The engine's JSON sidecar, as the TensorRT backend reads it, without TensorRT or a GPU: the machine's identity
(``runtime_identity``: TensorRT version, GPU, compute capability) is stubbed, everything else is the real check.
The runner's own checks (batch range, dtype, shapes) are in the C++ contract test (tests/cpp/plugin_contract)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deepemotion.runtime.backends import BackendUnavailable
from deepemotion.runtime.backends import tensorrt as trt_backend

HERE = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.setattr(trt_backend, "runtime_identity", lambda: dict(HERE))
    e = tmp_path / "m.engine"
    e.write_bytes(b"plan")
    return e


def _side(engine: Path, content: str) -> None:
    Path(str(engine) + ".json").write_text(content)


def test_matching_sidecar_is_returned(engine):
    side = {
        **HERE,
        "precision": "fp16",
        "batch_profile": {"min": 1, "opt": 8, "max": 32},
        "plugin": "deepemotion::AffineGridSample v1",
    }
    _side(engine, json.dumps(side))
    assert trt_backend.check_sidecar(engine) == side


def test_missing_sidecar_says_how_to_build(engine):
    with pytest.raises(BackendUnavailable, match=r"no sidecar m\.engine\.json.*fer-export engine"):
        trt_backend.check_sidecar(engine)


@pytest.mark.parametrize(
    "other, named",
    [
        ({"tensorrt": "10.16.0"}, "TensorRT 10.16.0 (here 10.3.0)"),
        ({"gpu": "NVIDIA H200", "compute_capability": "9.0"}, "GPU NVIDIA H200 sm_9.0 (here Orin sm_8.7)"),
        ({"compute_capability": "8.6"}, "sm_8.6"),
        ({"tensorrt": None}, "TensorRT None"),
    ],
)
def test_another_machines_engine_says_rebuild(engine, other, named):
    _side(engine, json.dumps({**HERE, **other}))
    with pytest.raises(BackendUnavailable, match="rebuild it here with `fer-export engine") as e:
        trt_backend.check_sidecar(engine)
    assert named in str(e.value)


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "null"])
def test_unreadable_sidecar_says_rebuild(engine, content):
    _side(engine, content)
    with pytest.raises(BackendUnavailable, match="m.engine.json"):
        trt_backend.check_sidecar(engine)


def test_batches_outside_the_profile_are_sliced_or_padded():
    """An engine's profile bounds the batch (fer-export engine --batch MIN OPT MAX): a larger batch runs in slices,
    a smaller one is padded with zero faces whose answers are dropped (the runner refuses a batch below its minimum)."""
    import threading

    seen = []

    class Runner:
        input_dtype = "float32"

        def run(self, x):
            assert 4 <= len(x) <= 8, len(x)
            seen.append(len(x))
            return np.repeat(x.reshape(len(x), -1)[:, :1], 7, axis=1)  # each face's first pixel, 7 times

    backend = object.__new__(trt_backend.TensorRTBackend)
    backend.runner, backend.max_batch, backend.min_batch, backend._lock = Runner(), 8, 4, threading.Lock()
    faces = np.arange(11, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 48, 48), np.float32)
    out = backend.run(faces)
    assert out.shape == (11, 7) and seen == [8, 4]
    np.testing.assert_array_equal(out[:, 0], np.arange(11))
    assert backend.run(faces[:1]).shape == (1, 7) and seen[-1] == 4
