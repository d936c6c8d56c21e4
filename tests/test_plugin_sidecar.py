"""The engine's JSON sidecar, as the TensorRT backend reads it, without TensorRT or a GPU: the machine's identity
(``runtime_identity``: TensorRT version, GPU, compute capability) is stubbed, everything else is the real check.
The runner's own checks (batch range, dtype, shapes) are in the C++ contract test (tests/cpp/plugin_contract)."""
from __future__ import annotations

import json
from pathlib import Path

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
    side = {**HERE, "precision": "fp16", "batch_profile": {"min": 1, "opt": 8, "max": 32},
            "plugin": "deepemotion::AffineGridSample v1"}
    _side(engine, json.dumps(side))
    assert trt_backend.check_sidecar(engine) == side


def test_missing_sidecar_says_how_to_build(engine):
    with pytest.raises(BackendUnavailable, match=r"no sidecar m\.engine\.json.*fer-export engine"):
        trt_backend.check_sidecar(engine)


@pytest.mark.parametrize("other, named", [({"tensorrt": "10.16.0"}, "TensorRT 10.16.0 (here 10.3.0)"),
                                          ({"gpu": "NVIDIA H200", "compute_capability": "9.0"},
                                           "GPU NVIDIA H200 sm_9.0 (here Orin sm_8.7)"),
                                          ({"compute_capability": "8.6"}, "sm_8.6"),
                                          ({"tensorrt": None}, "TensorRT None")])
def test_another_machines_engine_says_rebuild(engine, other, named):
    _side(engine, json.dumps({**HERE, **other}))
    with pytest.raises(BackendUnavailable, match="rebuild it here with `fer-export engine") as e:
        trt_backend.check_sidecar(engine)
    assert named in str(e.value)


@pytest.mark.xfail(strict=True, raises=(ValueError, AttributeError),
                   reason="check_sidecar (runtime/backends/tensorrt.py) lets json's ValueError or an AttributeError "
                          "out for an unreadable sidecar instead of BackendUnavailable naming the file (reported)")
@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", "null"])
def test_unreadable_sidecar_says_rebuild(engine, content):
    _side(engine, content)
    with pytest.raises(BackendUnavailable, match="m.engine.json"):
        trt_backend.check_sidecar(engine)
