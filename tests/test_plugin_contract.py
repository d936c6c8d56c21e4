"""The AffineGridSample TensorRT plugin exercised through its own interfaces, without TensorRT's libraries.

tests/cpp/plugin_contract is built once per TensorRT header release in ../shared/third_party/tensorrt (10.3, 10.16,
11.1) under AddressSanitizer + UndefinedBehaviorSanitizer, and run here: registration, the creator against the node
``fer-export onnx --flavour plugin`` writes, createPlugin with good and bad fields, output types and shapes, the
format matrix, configurePlugin/onShapeChange, workspace, clone, serialization, attachToContext, enqueue's refusals,
and the engine runner's checks. enqueue itself is compared with PyTorch (reference data from
tests/_plugin_contract.py) twice: without a GPU in the host build, whose CUDA launchers are the CPU kernel on host
memory (so all of enqueue but the device launch runs, under the sanitizers), and where a CUDA GPU is visible in the
plain build, on the GPU; elsewhere the GPU part says it skipped.

Skips with the reason when CMake, a C++ compiler, nvcc or the headers are missing.
"""

from __future__ import annotations

import pytest
import yaml

import _plugin_contract as pc

_WHY_NOT = pc.toolchain_problem()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=f"plugin contract test not built: {_WHY_NOT}")
HEADERS = pc.header_dirs() if _WHY_NOT is None else []


def _gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{"10.3_asan": exe, "10.3_host": exe, ...} (+ the plain builds when a GPU is visible, for enqueue)."""
    variants = ("asan", "host", "plain") if _gpu() else ("asan", "host")
    return pc.build(tmp_path_factory.mktemp("plugin_contract_build"), variants, HEADERS)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """The plugin node of the graph the exporter writes, as the C++ test reads it."""
    d = tmp_path_factory.mktemp("plugin_node")
    how = pc.export_plugin_graph(d / "m.plugin.onnx")
    assert how.startswith("fer-export"), how
    n = pc.plugin_node(d / "m.plugin.onnx")
    return n, pc.write_node_file(n, d / "node.txt")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """Reference data for 256 samples: read and checked by the C++ test everywhere, run where a GPU is."""
    d = tmp_path_factory.mktemp("plugin_enqueue_small")
    return d, pc.write_enqueue_data(d, n=256)


def _result(out: str) -> str:
    m = pc.RESULT.search(out)
    return m.group(0) if m else "(no result line)"


@pytest.mark.slow
@pytest.mark.parametrize("include", HEADERS, ids=[pc.label(h) for h in HEADERS])
def test_plugin_contract(built, node, small_data, include):
    """Every check passes under ASan + UBSan (leaks included), and the output says what happened to enqueue."""
    exe = built[pc.label(include) + "_asan"]
    r = pc.run(exe, node[1], small_data[0])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    line = _result(out)
    assert line.startswith("plugin_contract: PASS"), out[-6000:]
    assert f"TensorRT {pc.label(include)}" in line, line
    # every section ran
    for section in (
        "registration",
        "exporter",
        "createPlugin: bad fields",
        "getOutputShapes",
        "getOutputDataTypes",
        "supportsFormatCombination",
        "configurePlugin / onShapeChange",
        "getWorkspaceSize",
        "clone and serialization",
        "attachToContext",
        "enqueue: refused",
        "engine runner",
        "enqueue reference data",
    ):
        assert f"  ok    {section}" in out, f"section {section!r} did not pass:\n{out[-4000:]}"
    if _gpu():  # the ASan build on a GPU: enqueue is the plain build's (test_enqueue_matches_pytorch)
        assert "enqueue vs PyTorch: " in line, line
    else:
        assert "enqueue vs PyTorch: SKIPPED: no CUDA GPU visible" in line, line
    print(line)


@pytest.mark.slow
@pytest.mark.parametrize("include", HEADERS, ids=[pc.label(h) for h in HEADERS])
def test_enqueue_on_host_memory_matches_pytorch(built, node, small_data, include):
    """The host build: enqueue hands the launcher the shape, type, addresses and stream it was given (checked per
    call), and its output matches PyTorch for FP32 and FP16, both align_corners, batch 1, 64 and 256, under ASan +
    UBSan. The device launch is the one thing this does not run."""
    r = pc.run(built[pc.label(include) + "_host"], node[1], small_data[0])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    line = _result(out)
    assert line.startswith("plugin_contract: PASS") and "enqueue vs PyTorch: HOST: matched on the host" in line, line
    assert "  ok    enqueue vs PyTorch on the host" in out, out[-4000:]
    assert "  ok    enqueue: refused" in out, out[-4000:]
    compared = [ln for ln in out.splitlines() if "max |Y - PyTorch|" in ln]
    want = {f"{t} align_corners={ac} batch {n}:" for t in ("FP32", "FP16") for ac in (0, 1) for n in (1, 64, 256)}
    assert {ln.split(" max")[0].strip() for ln in compared} == want, compared
    print(line)


def test_enqueue_reference_data_is_reachable(small_data):
    """The reference and tolerances the GPU run is held to are met by our CPU kernel (same math header), in FP32
    and with the output rounded to FP16: a failure on the GPU then means the plugin's enqueue, not the data."""
    import numpy as np

    from deepemotion._ext import assert_has_ext

    _C = assert_has_ext()
    d, meta = small_data
    n, c, h, w, oh, ow = (meta[k] for k in ("n", "c", "in_h", "in_w", "out_h", "out_w"))
    x = np.fromfile(d / "x_f32.bin", np.float32).reshape(n, c, h, w)
    th = np.fromfile(d / "theta.bin", np.float32).reshape(n, 2, 3)
    assert np.array_equal(np.fromfile(d / "x_f16.bin", np.float16).reshape(x.shape).astype(np.float32), x)
    for ac in (0, 1):
        ref = np.fromfile(d / f"ref_ac{ac}.bin", np.float32).reshape(n, c, oh, ow)
        ours = _C.affine_grid_sample_cpu(x, th, oh, ow, bool(ac))
        assert np.abs(ours - ref).max() <= meta["atol_fp32"]
        assert np.abs(ours.astype(np.float16).astype(np.float32) - ref).max() <= meta["atol_fp16"]
        assert (ref == 0).mean() > 0.05, "some theta must sample outside the image"


@pytest.mark.slow
@pytest.mark.gpu  # enqueue vs PyTorch: a GPU PyTorch sees (the plugin is built here; no CUDA build of ours needed)
@pytest.mark.parametrize("include", HEADERS, ids=[pc.label(h) for h in HEADERS])
def test_enqueue_matches_pytorch(built, node, include, tmp_path_factory):
    data = tmp_path_factory.getbasetemp() / "plugin_enqueue_data"
    if not (data / "meta.txt").is_file():
        pc.write_enqueue_data(data)
    r = pc.run(built[pc.label(include)], node[1], data, require_enqueue=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "enqueue vs PyTorch: ran on" in _result(out), out[-6000:]
    print(out)


def test_exporter_node_is_the_creators(node):
    """The Python half of the drift check: the exporter's node names what the plugin's README and yaml declare
    (the C++ test checks the same node against the compiled creator)."""
    n, _ = node
    assert (n["op_type"], n["domain"], n["inputs"], n["outputs"]) == ("AffineGridSample", "deepemotion", 2, 1)
    attrs = n["attrs"]
    assert attrs["plugin_version"] == ("STRING", "1") and attrs["plugin_namespace"] == ("STRING", "deepemotion")
    fields = {k: v for k, v in attrs.items() if not k.startswith("plugin_")}
    spec = yaml.safe_load(pc.PLUGIN_YAML.read_text())["versions"][n["attrs"]["plugin_version"][1]]
    assert sorted(fields) == sorted(spec["attributes"]), fields
    assert all(t == "INT" and spec["attribute_types"][k] == "int32" for k, (t, _) in fields.items()), fields
    assert fields["align_corners"][1] in spec["attribute_options"]["align_corners"]
    assert fields["out_h"][1] > 0 and fields["out_w"][1] > 0


def test_driver_reports_missing_headers(tmp_path, monkeypatch):
    """A headers folder without NvInfer.h is named in the reason (what a CI without ../shared would print)."""
    monkeypatch.setenv("DEEPEMOTION_TRT_HEADERS", str(tmp_path))
    assert pc.header_dirs() == [tmp_path.resolve()]
    assert f"no NvInfer.h in {tmp_path.resolve()}" in (pc.toolchain_problem() or "")


def test_tolerances_are_the_yaml_ones():
    spec = yaml.safe_load(pc.PLUGIN_YAML.read_text())["versions"]["1"]["abs_tol"]
    assert pc.tolerances() == (float(spec["float32"]), float(spec["float16"]))
