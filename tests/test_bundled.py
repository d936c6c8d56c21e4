"""The bundled model: loads offline, its metadata is complete, and fer-eval reproduces the recorded
FER2013 PublicTest accuracy (within 0.1 points) when the real data is present."""
from __future__ import annotations

import json

import pytest

from deepemotion.weights import bundled_metadata, bundled_path

from _helpers import require_data


def test_bundled_files_and_metadata():
    meta = bundled_metadata()
    for key in ("config", "parameters", "training_data", "selection_split", "training_command", "trained_on",
                "evaluation", "onnx_sha256"):
        assert meta.get(key) is not None, key
    assert meta["selection_split"] == "public_test"  # never PrivateTest
    assert meta["parameters"] < 1_000_000
    assert bundled_path("pt").stat().st_size < 2 * 2**20 and bundled_path("onnx").stat().st_size < 2 * 2**20
    from deepemotion.export.to_onnx import sha256

    assert sha256(bundled_path("onnx").read_bytes()) == meta["onnx_sha256"]


def test_bundled_model_loads_offline(monkeypatch):
    torch = pytest.importorskip("torch")
    # no network: any socket use fails the test
    import socket

    def no_net(*a, **k):
        raise AssertionError("the bundled model must load without a network")

    monkeypatch.setattr(socket.socket, "connect", no_net)
    from deepemotion.weights import load_model

    model, meta = load_model()
    out = model(torch.zeros(2, 1, 48, 48))
    assert out.shape == (2, 7)
    assert model.config.width == meta["config"]["width"]


@pytest.mark.data
def test_fer_eval_reproduces_recorded_public_test_accuracy(tmp_path, capsys):
    pytest.importorskip("torch")
    require_data("fer2013.npz")
    from deepemotion.cli_train import eval_main

    assert eval_main(["--data", "fer2013", "--split", "public_test", "--out", str(tmp_path)]) == 0
    got = json.loads((tmp_path / "metrics.json").read_text())
    recorded = bundled_metadata()["evaluation"]
    assert got["n"] == recorded["n"] == 3589
    assert abs(got["accuracy"] - recorded["accuracy_torch"]) <= 0.001
    assert abs(recorded["accuracy_onnxruntime"] - recorded["accuracy_torch"]) <= 0.001
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert "accuracy" in capsys.readouterr().out
