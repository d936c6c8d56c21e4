"""fer-bench in a tiny configuration: table, JSON (schema checked), plot, --compare."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepemotion._backends import create_backend, fuse_friendly
from deepemotion.bench import main as bench_main
from deepemotion.weights import bundled_path


def test_fer_bench_tiny_run(tmp_path, capsys):
    js, png = tmp_path / "b.json", tmp_path / "b.png"
    rc = bench_main(["--batches", "1", "4", "--min-time", "0.02", "--min-runs", "2", "--backends", "onnxruntime",
                     "onnxruntime-tuned", "tensorrt", "--json", str(js), "--plot", str(png), "--kernels"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "p50 ms" in out and "predict() on a 640x480 frame" in out
    res = json.loads(js.read_text())
    assert set(res) >= {"machine", "command", "rows", "skipped", "ratios", "stages", "kernels"}
    assert set(res["machine"]) >= {"cpu", "cores", "onnxruntime", "build_info", "python"}
    rows = res["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} == {(b, n) for b in ("onnxruntime", "onnxruntime-tuned")
                                                         for n in (1, 4)}
    for r in rows:
        assert r["p50_ms"] > 0 and r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["runs"] >= 2
        assert r["faces_per_s"] == pytest.approx(r["batch"] / (r["p50_ms"] / 1e3))
        assert r["max_abs_diff_vs_onnxruntime"] <= 1e-4
    assert [s["backend"] for s in res["skipped"]] == ["tensorrt"] and "engine" in res["skipped"][0]["reason"]
    st = res["stages"]
    assert st["faces"] == 1 and st["detect_ms_p50"] > 0 and st["crop_ms_p50"] > 0 and st["classify_ms_p50"] > 0
    assert {k["device"] for k in res["kernels"]} >= {"cpu"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench_main(["--compare", str(js), str(js)]) == 0
    assert "1.00x" in capsys.readouterr().out


def test_fuse_friendly_rewrite_is_exact():
    import onnx

    data = bundled_path("onnx").read_bytes()
    fused = fuse_friendly(data)
    g = onnx.load_from_string(fused)
    onnx.checker.check_model(g)
    ops = [n.op_type for n in g.graph.node]
    # every MaxPool now follows a Relu instead of preceding one
    for i, n in enumerate(g.graph.node):
        if n.op_type == "MaxPool":
            prod = next(m for m in g.graph.node if n.input[0] in m.output)
            assert prod.op_type == "Relu"
    assert ops.count("Relu") == [n.op_type for n in onnx.load_from_string(data).graph.node].count("Relu")
    x = (np.random.default_rng(0).random((16, 1, 48, 48), np.float32) * 2 - 1).astype(np.float32)
    a = create_backend("onnxruntime").run(x)
    b = create_backend("onnxruntime-tuned").run(x)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_kernel_bench_cli_json(tmp_path):
    from deepemotion.kernel_bench import main as kernel_main

    out = tmp_path / "k.json"
    assert kernel_main(["--device", "cpu", "--batches", "1", "2", "--min-time", "0.01", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"cpu", "cores", "build_info"} <= set(res["machine"])
    cases = {r["case"] for r in res["rows"]}
    assert {"batch 1 of 1x48x48", "batch 2 of 1x48x48"} <= cases
    for r in res["rows"]:
        assert r["ours_ms"] > 0 and r["torch_ms"] > 0 and r["speedup_vs_torch"] == pytest.approx(
            r["torch_ms"] / r["ours_ms"])
