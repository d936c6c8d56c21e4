"""The bundled models: load offline, metadata complete and honest, and fer-eval reproduces the recorded
FER2013 PublicTest accuracy -- as Recognizer.predict_faces delivers it -- when the real data is present."""
from __future__ import annotations

import json

import pytest

from _helpers import require_data
from deepemotion.runtime.assets import BUNDLED_MODELS, bundled_model

AVAILABLE = [n for n in BUNDLED_MODELS if bundled_model(n).has("json")]


def test_both_models_are_bundled():
    assert AVAILABLE == ["default", "tiny"]


@pytest.mark.parametrize("name", AVAILABLE)
def test_bundled_files_and_metadata(name):
    b = bundled_model(name)
    meta = b.metadata()
    for key in ("config", "parameters", "flops_per_face", "training_data", "selection_split", "training_command",
                "trained_on", "evaluation", "onnx_sha256"):
        assert meta.get(key) is not None, key
    assert meta["selection_split"] in ("public_test", "public_test:select")  # never PrivateTest
    assert "/work/" not in json.dumps(meta) and "/home/" not in json.dumps(meta)  # no machine paths
    ev = meta["evaluation"]
    assert ev["split"] == "public_test" and ev["n"] == 3589 and "Recognizer" in ev["how"]
    assert set(ev["per_class_recall"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    import hashlib

    assert hashlib.sha256(b.path("onnx").read_bytes()).hexdigest() == meta["onnx_sha256"]
    if name == "tiny":
        assert meta["parameters"] <= 100_000
    else:
        assert meta["parameters"] <= 2_500_000 and meta["flops_per_face"] <= 200e6


@pytest.mark.parametrize("name", AVAILABLE)
def test_bundled_graphs_leave_out_exactly_the_dead_hidden_units(name):
    """The graphs' fc1 has the units whose fc2 weights in the bundled .pt are not all zero, as the metadata says."""
    onnx = pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    b = bundled_model(name)
    state = torch.load(b.path("pt"), map_location="cpu", weights_only=True)
    live = int((state["fc2.weight"] != 0).any(0).sum())
    assert live < state["fc2.weight"].shape[1]  # both bundles have dead units: the graphs are smaller
    assert b.metadata()["graph"]["hidden_units"] == live
    for kind in ("onnx", "int8.onnx"):
        g = onnx.load(str(b.path(kind))).graph
        gemm = next(n for n in g.node if n.op_type == "Gemm" and "fc1" in n.name)
        producers = {o: n for n in g.node for o in n.output}
        w = gemm.input[1]
        if w in producers:  # the INT8 graph: DequantizeLinear of the quantized weights
            w = producers[w].input[0]
        rows = next(onnx.numpy_helper.to_array(i) for i in g.initializer if i.name == w).shape[0]
        assert rows == live, kind


def test_bundled_model_loads_offline(monkeypatch):
    torch = pytest.importorskip("torch")
    import socket

    def no_net(*a, **k):
        raise AssertionError("the bundled model must load without a network")

    monkeypatch.setattr(socket.socket, "connect", no_net)
    from deepemotion.runtime.backends.torch import load_torch_model

    model, meta = load_torch_model()
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    assert model.config.to_dict() == {**model.config.to_dict(), **meta["config"]}


@pytest.mark.data
@pytest.mark.parametrize("name", AVAILABLE)
def test_fer_eval_reproduces_recorded_public_test_accuracy(name, tmp_path, capsys):
    require_data("fer2013.npz")
    from deepemotion.cli.eval import main as eval_main

    assert eval_main(["--model", name, "--data", "fer2013", "--split", "public_test", "--out", str(tmp_path)]) == 0
    got = json.loads((tmp_path / "metrics.json").read_text())
    recorded = bundled_model(name).metadata()["evaluation"]
    assert got["n"] == recorded["n"] == 3589
    # what fer-eval reports is what Recognizer returns, and what the metadata says (to 0.1 point)
    assert abs(got["accuracy"] - recorded["accuracy"]) <= 0.001
    assert "predict_faces" in got["evaluated_with"]
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.data
def test_fer_eval_torch_checkpoint_matches_runtime(tmp_path):
    """The PyTorch path (a .pt) and the runtime path agree on the bundled weights to 0.1 point."""
    pytest.importorskip("torch")
    require_data("fer2013.npz")
    recorded = bundled_model("default").metadata()["evaluation"]
    assert abs(recorded["accuracy_torch_fp32"] - recorded["accuracy_fp32"]) <= 0.001


@pytest.mark.parametrize("name", AVAILABLE)
def test_default_cpu_backend_is_the_recorded_one(name):
    """Recognizer() on a CPU runs the graph the metadata's accuracy was measured with."""
    import onnxruntime as ort

    from deepemotion import Recognizer

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA provider is present: auto picks the GPU (FP32)")
    ev = bundled_model(name).metadata()["evaluation"]
    rec = Recognizer(model=name, detector=None)
    assert rec.backend.name == ev["default_backend_cpu"]
    if ev["default_backend_cpu"] == "onnxruntime-int8":
        assert ev["int8"]["delta_points"] >= -0.5 and ev["int8"]["default_on_cpu"]


@pytest.mark.data
def test_fer_eval_fp32_graph_matches_recorded(tmp_path):
    require_data("fer2013.npz")
    from deepemotion.cli.eval import main as eval_main

    assert eval_main(["--data", "fer2013", "--split", "public_test", "--backend", "onnxruntime",
                      "--out", str(tmp_path)]) == 0
    got = json.loads((tmp_path / "metrics.json").read_text())
    assert abs(got["accuracy"] - bundled_model().metadata()["evaluation"]["accuracy_fp32"]) <= 0.001
