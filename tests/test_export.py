"""ONNX export: portable flavour (ONNX Runtime) and plugin flavour (onnx.reference + our C++
kernel) both equal PyTorch; the graphs have the ops TensorRT needs."""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import assert_one_line_error, run_cli

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from dataclasses import replace  # noqa: E402

from onnx import helper  # noqa: E402

from _helpers import pickle_payload_checkpoint
from deepemotion.cli.export import main as export_main  # noqa: E402
from deepemotion.export.onnx import (  # noqa: E402
    OPSET,
    PLUGIN_DOMAIN,
    PLUGIN_OP,
    drop_dead_units,
    export_portable,
    reference_session,
    to_plugin_graph,
)
from deepemotion.export.stn import constant_theta  # noqa: E402
from deepemotion.model import ARCHS, PAPER, DeepEmotion  # noqa: E402
from deepemotion.ops.affine_grid_sample import base_grid, fit_affine_grid  # noqa: E402
from deepemotion.runtime.backends.torch import load_torch_model  # noqa: E402


def tilted_model(config=PAPER) -> DeepEmotion:
    """Random weights with a localization net that regresses a non-identity theta."""
    torch.manual_seed(0)
    m = DeepEmotion(config).eval()
    with torch.no_grad():
        m.fc_loc[2].weight.normal_(0, 0.05)
        m.fc_loc[2].bias.copy_(torch.tensor([0.9, 0.2, 0.05, -0.15, 1.1, -0.1]))
    return m


def constant_stn_model(config=PAPER) -> DeepEmotion:
    """A tilted model whose localization units can never fire: θ is provably its constant bias."""
    m = tilted_model(config)
    with torch.no_grad():
        m.fc_loc[0].bias.fill_(-1e4)
    return m


MODELS = {
    "random-tilted": lambda: tilted_model(),
    "random-small": lambda: tilted_model(ARCHS["small"]),
    "random-constant-stn": lambda: constant_stn_model(),
    "random-tiny-tta-constant-stn": lambda: constant_stn_model(replace(ARCHS["tiny"], tta_flip=True)),
    "random-tiny-tta": lambda: tilted_model(replace(ARCHS["tiny"], tta_flip=True)),
    "random-tiny-fast": lambda: tilted_model(ARCHS["tiny-fast"]),
    # a score calibration at the end (tests/test_calibration.py): steep scales, so that it moves every logit
    "random-tiny-tta-constant-stn-calibrated": lambda: constant_stn_model(
        replace(ARCHS["tiny"], tta_flip=True, score_knots=(1 / 7, 0.3, 1.0), score_scales=(4.0, 0.5, 2.0))
    ),
    "bundled": lambda: load_torch_model()[0],
}


@pytest.fixture(scope="module", params=list(MODELS))
def model_and_graphs(request):
    m = MODELS[request.param]()
    portable = export_portable(m)
    return m, portable, to_plugin_graph(portable)


def _x(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_portable_graph_ops(model_and_graphs):
    m, portable, _ = model_and_graphs
    g = onnx.load_from_string(portable)
    onnx.checker.check_model(g, full_check=True)
    ops = [n.op_type for n in g.graph.node]
    assert "AffineGrid" not in ops and "ReduceSum" not in ops
    assert ops.count("GridSample") == 1  # exactly one affine-grid-sample, also with TTA
    # the grid: base_grid @ θ^T per face, or (θ provably constant) one constant grid and no MatMul before the warp
    assert ("MatMul" in ops[: ops.index("GridSample")]) == (constant_theta(m) is None)
    gs = next(n for n in g.graph.node if n.op_type == "GridSample")
    attrs = {a.name: helper.get_attribute_value(a) for a in gs.attribute}
    assert attrs["mode"] == b"bilinear"  # opset-16 spelling; "linear" (opset 20) is what TensorRT misreads
    assert attrs.get("padding_mode", b"zeros") == b"zeros"
    assert {o.domain: o.version for o in g.opset_import}[""] == OPSET <= 18
    assert g.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch


@pytest.mark.parametrize("n", [1, 3, 64])
def test_portable_equals_torch_in_onnxruntime(model_and_graphs, n):
    m, portable, _ = model_and_graphs
    x = _x(n, seed=n)
    sess = ort.InferenceSession(portable, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = m(x).numpy()
    # 1e-5, relative to the logits' scale (the trained model's logits reach ~10)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_plugin_graph_node(model_and_graphs):
    m, _, plugin = model_and_graphs
    g = onnx.load_from_string(plugin)
    onnx.checker.check_model(g)
    ops = [n.op_type for n in g.graph.node if "/calibration/" not in n.name]  # the score calibration has a MatMul
    assert ops.count(PLUGIN_OP) == 1
    assert "GridSample" not in ops and "MatMul" not in ops and "Transpose" not in ops
    node = next(n for n in g.graph.node if n.op_type == PLUGIN_OP)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert node.domain == PLUGIN_DOMAIN == "deepemotion"
    side = m.config.sample_size  # 48, or 24 for tiny-fast
    assert attrs == {
        "out_h": side,
        "out_w": side,
        "align_corners": 0,
        "plugin_version": b"1",
        "plugin_namespace": b"deepemotion",
    }
    assert {o.domain for o in g.opset_import} >= {"", "deepemotion"}
    assert not any(i.name.endswith("grid") for i in g.graph.initializer)  # base grid constant removed


@pytest.mark.parametrize("n", [1, 5])
def test_plugin_graph_equals_torch_with_reference_evaluator(model_and_graphs, n):
    m, _, plugin = model_and_graphs
    x = _x(n, seed=10 + n)
    got = reference_session(plugin).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = m(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_fp16_graphs_keep_theta_fp32():
    m = tilted_model()
    portable = export_portable(m, half=True)
    g = onnx.load_from_string(to_plugin_graph(portable))
    assert g.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    node = next(n for n in g.graph.node if n.op_type == PLUGIN_OP)
    # theta reaches the plugin through a Cast to FP32
    cast = next(n for n in g.graph.node if node.input[1] in n.output)
    assert cast.op_type == "Cast" and helper.get_attribute_value(cast.attribute[0]) == onnx.TensorProto.FLOAT
    sess = ort.InferenceSession(portable, providers=["CPUExecutionProvider"])
    x = _x(4)
    got = sess.run(None, {"input": x.half().numpy()})[0].astype(np.float32)
    with torch.no_grad():
        want = m(x).numpy()
    assert np.abs(got - want).max() < 2e-2  # FP16 weights and activations


def _fc1_rows(graph: bytes) -> int:
    g = onnx.load_from_string(graph).graph
    gemm = next(n for n in g.node if n.op_type == "Gemm" and "fc1" in n.name)
    return next(onnx.numpy_helper.to_array(i) for i in g.initializer if i.name == gemm.input[1]).shape[0]


def test_dead_hidden_units_are_left_out_with_the_same_logits():
    m = tilted_model()
    hidden = m.fc1.out_features
    with torch.no_grad():  # units 0, 5, 6, ... feed no logit; unit 3 has a large positive bias but no fc2 weight either
        dead = torch.arange(0, hidden, 5).tolist() + [3]
        m.fc2.weight[:, dead] = 0
        m.fc1.bias[3] = 5.0
    assert drop_dead_units(m).fc1.out_features == hidden - len(set(dead))
    portable = export_portable(m)
    assert _fc1_rows(portable) == hidden - len(set(dead))
    props = {p.key: p.value for p in onnx.load_from_string(portable).metadata_props}
    assert props["hidden_units"].startswith(f"{hidden - len(set(dead))} of {hidden} ")
    x = _x(16, seed=3)
    got = ort.InferenceSession(portable, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = m(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert m.fc1.out_features == hidden  # the model itself is not changed


def test_a_model_without_dead_units_is_exported_whole_and_one_with_only_dead_units_keeps_one():
    m = tilted_model()
    assert drop_dead_units(m) is m
    with torch.no_grad():
        m.fc2.weight.zero_()
    pruned = drop_dead_units(m)
    assert pruned.fc1.out_features == 1
    x = _x(4)
    with torch.no_grad():
        np.testing.assert_array_equal(pruned(x).numpy(), m.fc2.bias.expand(4, -1).numpy())


def test_rewrite_rejects_foreign_graphs():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    gr = helper.make_tensor_value_info("g", onnx.TensorProto.FLOAT, [1, 4, 4, 2])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    g = helper.make_graph([helper.make_node("GridSample", ["x", "g"], ["y"])], "t", [x, gr], [y])
    with pytest.raises(ValueError, match="does not come from"):
        to_plugin_graph(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())


def test_base_grid_is_torchs_and_fit_affine_grid_inverts_it(rng):
    """One base grid for the exported STN, the kernel benchmark and the warp-head pass: PyTorch's (to float32 rounding);
    and fit_affine_grid recovers θ from the grid affine_grid makes of it."""
    for ac in (False, True):
        th = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
        want = torch.nn.functional.affine_grid(th, [1, 1, 5, 7], align_corners=ac).reshape(-1, 2)
        assert base_grid(5, 7, ac).dtype == np.float32
        torch.testing.assert_close(torch.from_numpy(base_grid(5, 7, ac)[:, :2]), want)
        theta = torch.from_numpy(rng.uniform(-0.5, 0.5, (1, 2, 3)).astype(np.float32)) + th
        grid = torch.nn.functional.affine_grid(theta, [1, 1, 6, 4], align_corners=ac).numpy()
        fitted, residual = fit_affine_grid(grid, ac)
        np.testing.assert_allclose(fitted, theta[0].numpy(), atol=1e-6)
        assert residual < 1e-6


def test_fer_export_onnx_cli(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert export_main(["onnx", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "m.plugin.onnx").is_file()
    text = capsys.readouterr().out
    assert "ONNX Runtime vs PyTorch" in text and "reference evaluator vs PyTorch" in text
    assert export_main(["formats"]) == 0
    assert "engine" in capsys.readouterr().out


def test_fer_export_never_overwrites_without_asking(tmp_path, capsys):
    out = tmp_path / "existing.jpg"
    out.write_bytes(b"precious")
    assert export_main(["onnx", "--flavour", "portable", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert export_main(["onnx", "--flavour", "portable", "--out", str(out), "--overwrite"]) == 0
    assert onnx.load(str(out)).graph.node
    assert export_main(["onnx", "--out", str(tmp_path / "missing" / "m.onnx")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_fer_export_refuses_a_pickle_payload(tmp_path, capsys):
    evil, marker = pickle_payload_checkpoint(tmp_path)
    assert export_main(["onnx", "--model", str(evil), "--out", str(tmp_path / "e.onnx")]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists()


def test_fer_export_engine_without_tensorrt(tmp_path, capsys):
    import deepemotion

    if deepemotion.build_info()["tensorrt"]:
        pytest.skip("TensorRT is available here; tests/test_plugin_trt.py covers engines")
    assert export_main(["engine", "--out", str(tmp_path / "m.engine")]) == 2
    assert "TensorRT" in capsys.readouterr().err


def test_int8_qdq_graph_keeps_the_stn_in_float(tmp_path):
    from deepemotion.export.quantize import float_nodes, quantize_onnx

    m = tilted_model(ARCHS["tiny"])
    fp32 = export_portable(m)
    faces = np.random.default_rng(0).integers(0, 256, (128, 48, 48)).astype(np.uint8)
    int8 = quantize_onnx(fp32, faces)
    g = onnx.load_from_string(int8)
    ops = [n.op_type for n in g.graph.node]
    assert ops.count("GridSample") == 1 and ops.count("QuantizeLinear") > 5 and ops.count("DequantizeLinear") > 5
    keep = set(float_nodes(fp32))
    assert any("localization" in k for k in keep) and any("fc_loc" in k for k in keep)
    # nothing feeding theta or the grid is quantized
    producers = {o: n for n in g.graph.node for o in n.output}
    gs = next(n for n in g.graph.node if n.op_type == "GridSample")
    stack, seen = [gs.input[1]], set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        assert node.op_type not in ("QuantizeLinear", "DequantizeLinear"), node.name
        stack.extend(node.input)
    x = (faces[:32].astype(np.float32) / 255 - 0.5) / 0.5
    a = ort.InferenceSession(fp32, providers=["CPUExecutionProvider"]).run(None, {"input": x[:, None]})[0]
    b = ort.InferenceSession(int8, providers=["CPUExecutionProvider"]).run(None, {"input": x[:, None]})[0]
    assert np.abs(a - b).max() < 0.25 * max(1.0, float(np.abs(a).max()))


# --- fer-predict on what fer-export writes ----------------------------------------------------------------------
def test_fer_predict_runs_the_graphs_fer_export_writes(tmp_path):
    pytest.importorskip("torch")
    from deepemotion.cli.export import main as export_main

    assert export_main(["onnx", "--fp16", "--out", str(tmp_path / "h.onnx")]) == 0
    r = run_cli("predict", "--example", "--model", str(tmp_path / "h.onnx"), "--detector", "haar", "--out", "")
    assert r.returncode == 0 and "face(s)" in r.stdout, r.stderr
    r = run_cli("predict", "--example", "--model", str(tmp_path / "h.plugin.onnx"), "--detector", "haar")
    assert_one_line_error(r, 2, "TensorRT")
