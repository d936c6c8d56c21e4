"""The bundled models: load offline, metadata complete and honest, and fer-eval reproduces the recorded
FER2013 PublicTest accuracy -- as Recognizer.predict_faces delivers it -- when the real data is present."""

from __future__ import annotations

import json

import numpy as np
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
    for key in (
        "config",
        "parameters",
        "flops_per_face",
        "training_data",
        "selection_split",
        "training_command",
        "trained_on",
        "evaluation",
        "onnx_sha256",
    ):
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


@pytest.mark.parametrize("name", AVAILABLE)
def test_bundled_graphs_hold_the_constant_theta_the_weights_prove(name):
    """bundle.py froze both localization nets (no unit fires on any checked face): the bundled weights prove θ
    constant, the metadata records the check and that θ, and no graph computes θ from the face."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from deepemotion.export.stn import constant_theta
    from deepemotion.training.checkpoint import load_model

    b = bundled_model(name)
    stn = b.metadata()["graph"]["stn"]
    assert stn["frozen"] and stn["units_firing"] == 0 and stn["faces_checked"] > 80_000
    assert stn["largest_pre_activation"] < 0
    theta = constant_theta(load_model(name)[0])
    assert theta is not None and theta.flatten().tolist() == pytest.approx(stn["theta"], abs=1e-6)
    for kind in ("onnx", "int8.onnx"):
        g = onnx.load(str(b.path(kind)))
        ops = [n.op_type for n in g.graph.node]
        assert not any("Conv" in op for op in ops[: ops.index("GridSample")]), kind  # no localization net
        assert dict((p.key, p.value) for p in g.metadata_props)["stn"].startswith("constant theta"), kind


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("kind", ["onnx", "int8.onnx"])
def test_bundled_graphs_become_plugin_graphs_with_one_theta_per_face(name, kind):
    """`fer-export engine --onnx` on a shipped graph: its constant grid becomes one AffineGridSample fed the θ the
    metadata records, broadcast per face; a quantization of the folded faces is kept, on the faces."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from deepemotion.export.onnx import PLUGIN_OP, to_plugin_graph

    b = bundled_model(name)
    portable = onnx.load(str(b.path(kind))).graph
    sampler = next(n for n in portable.node if n.op_type == "GridSample")
    quantized = any(n.op_type == "DequantizeLinear" and sampler.input[0] in n.output for n in portable.node)
    g = onnx.load_from_string(to_plugin_graph(b.path(kind).read_bytes())).graph
    ops = [n.op_type for n in g.node]
    assert ops.count(PLUGIN_OP) == 1 and "GridSample" not in ops
    producers = {o: n for n in g.node for o in n.output}
    plugin = next(n for n in g.node if n.op_type == PLUGIN_OP)
    expand = producers[plugin.input[1]]
    assert expand.op_type == "Expand"
    theta = next(numpy_helper.to_array(i) for i in g.initializer if i.name == expand.input[0])
    assert theta.shape == (1, 2, 3)
    np.testing.assert_allclose(theta.ravel(), b.metadata()["graph"]["stn"]["theta"], atol=1e-5)
    x = producers.get(plugin.input[0])
    assert (x is not None and x.op_type == "DequantizeLinear") == quantized


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
    # and the calibration the README quotes: the recorded ECE, below 2% with the score calibration in the graphs
    assert abs(got["calibration"]["ece"] - recorded["ece"]) <= 0.001 and recorded["ece"] < 0.02
    assert "predict_faces" in got["evaluated_with"]
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("name", AVAILABLE)
def test_bundled_models_carry_their_score_calibration_into_every_graph(name):
    """The config holds the fitted scales (at the shipped knots), the record shows the half the fit never saw got
    better, and both CPU graphs end with the calibration's nodes, in float."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from deepemotion.model import ScoreCalibration

    b = bundled_model(name)
    meta = b.metadata()
    assert tuple(meta["config"]["score_knots"]) == ScoreCalibration.KNOTS
    cal = meta["evaluation"]["calibration"]
    assert cal["score_scales"] == meta["config"]["score_scales"]
    assert cal["ece_select_half_after"] < cal["ece_select_half_before"]
    for kind in ("onnx", "int8.onnx"):
        g = onnx.load(str(b.path(kind))).graph
        out = next(n for n in g.node if g.output[0].name in n.output)
        assert "/calibration/" in out.name and out.op_type == "Mul"
        ops = [n.op_type for n in g.node if "/calibration/" in n.name]
        assert "Softmax" in ops and "QuantizeLinear" not in ops and "DequantizeLinear" not in ops


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


@pytest.mark.slow
@pytest.mark.data
def test_fer_eval_fp32_graph_matches_recorded(tmp_path):
    require_data("fer2013.npz")
    from deepemotion.cli.eval import main as eval_main

    assert (
        eval_main(["--data", "fer2013", "--split", "public_test", "--backend", "onnxruntime", "--out", str(tmp_path)])
        == 0
    )
    got = json.loads((tmp_path / "metrics.json").read_text())
    assert abs(got["accuracy"] - bundled_model().metadata()["evaluation"]["accuracy_fp32"]) <= 0.001
