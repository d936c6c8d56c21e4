"""fer-bench in a tiny configuration: table, JSON (schema checked), plot, --compare, stream, kernels."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from _helpers import YUNET
from deepemotion.benchmarks.cpp import ROUNDS
from deepemotion.cli.bench import main as bench_main
from deepemotion.runtime.assets import bundled_model
from deepemotion.runtime.backends import create_backend
from deepemotion.runtime.backends.onnxruntime import fuse_friendly


def test_fer_bench_tiny_run(tmp_path, capsys):
    js, png = tmp_path / "b.json", tmp_path / "b.png"
    rc = bench_main(
        [
            "--batches",
            "1",
            "4",
            "--min-time",
            "0.02",
            "--min-runs",
            "2",
            "--backends",
            "onnxruntime",
            "onnxruntime-tuned",
            "tensorrt",
            "--json",
            str(js),
            "--plot",
            str(png),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    detector = "yunet" if YUNET.is_file() else "haar"  # a plain clone has no YuNet test model: the offline fallback
    assert "p50 ms" in out and "predict() on a 640x480 frame" in out and f"detector {detector}" in out
    res = json.loads(js.read_text())
    assert set(res) >= {"machine", "command", "rows", "skipped", "ratios", "stages"}
    assert set(res["machine"]) >= {"cpu", "cores", "onnxruntime", "build_info", "python"}
    rows = res["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} == {
        (b, n) for b in ("onnxruntime", "onnxruntime-tuned") for n in (1, 4)
    }
    for r in rows:
        assert r["p50_ms"] > 0 and r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["runs"] >= 2
        assert r["faces_per_s"] == pytest.approx(r["batch"] / (r["p50_ms"] / 1e3))
        assert r["max_abs_diff_vs_onnxruntime"] <= 1e-4
    assert [s["backend"] for s in res["skipped"]] == ["tensorrt"] and "engine" in res["skipped"][0]["reason"]
    st = res["stages"]
    assert st["faces"] == 1 and st["detect_ms_p50"] > 0 and st["crop_ms_p50"] > 0 and st["classify_ms_p50"] > 0
    assert st["detector"] == detector
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench_main(["--compare", str(js), str(js)]) == 0
    assert "1.00x" in capsys.readouterr().out


def test_fer_bench_errors(tmp_path, capsys):
    assert bench_main(["--compare", str(tmp_path / "missing.json"), str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert bench_main(["--batches", "0"]) == 2


def test_kernel_bench_rows():
    pytest.importorskip("torch")
    from deepemotion.benchmarks.kernels import run

    rows = run("cpu", (1, 2), 0.01)
    cases = {r["case"] for r in rows}
    assert {"batch 1 of 1x48x48", "batch 2 of 1x48x48"} <= cases
    for r in rows:
        assert r["ours_ms"] > 0 and r["torch_ms"] > 0
        assert r["speedup_vs_torch"] == pytest.approx(r["torch_ms"] / r["ours_ms"])
        if importlib.util.find_spec("onnx") is not None:  # the ONNX Runtime column needs onnx to build its graph
            assert r["onnxruntime_ms"] > 0
            assert r["speedup_vs_onnxruntime"] == pytest.approx(r["onnxruntime_ms"] / r["ours_ms"])
        else:
            assert "onnxruntime_ms" not in r


def test_kernel_bench_onnxruntime_column_samples_what_our_op_samples():
    """The ONNX Runtime column times the portable graph's sampling: it must compute what our op computes."""
    pytest.importorskip("onnx")
    from deepemotion.benchmarks.kernels import _theta, ort_sampler
    from deepemotion.ops import affine_grid_sample

    x = np.random.default_rng(3).uniform(0, 1, (5, 2, 61, 47)).astype(np.float32)
    th = _theta(5, seed=3)
    np.testing.assert_allclose(ort_sampler(48, 48)(x, th), affine_grid_sample(x, th, 48), atol=2e-5)


def test_fuse_friendly_rewrite_is_exact():
    onnx = pytest.importorskip("onnx")
    data = bundled_model().path("onnx").read_bytes()
    fused = fuse_friendly(data)
    g = onnx.load_from_string(fused)
    onnx.checker.check_model(g)
    ops = [n.op_type for n in g.graph.node]
    for n in g.graph.node:
        if n.op_type == "MaxPool":  # every MaxPool after a ReLU now reads the ReLU's output
            prod = next(m for m in g.graph.node if n.input[0] in m.output)
            assert prod.op_type in ("Relu", "BatchNormalization", "Conv")
    assert ops.count("Relu") == [n.op_type for n in onnx.load_from_string(data).graph.node].count("Relu")
    x = (np.random.default_rng(0).random((16, 1, 48, 48), np.float32) * 2 - 1).astype(np.float32)
    a = create_backend("onnxruntime").run(x)
    b = create_backend("onnxruntime-tuned").run(x)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.data
def test_detector_benchmark_small(tmp_path):
    pytest.importorskip("skimage")
    from _helpers import require_data, require_yunet

    require_data("fer2013.npz")
    require_yunet()
    from deepemotion.benchmarks.detectors import default_setups, evaluate_setup, format_table
    from deepemotion.data.scenes import build_frames

    frames = build_frames(4, seed=3)
    assert len(frames) == 5 and all(f.image.shape == (480, 640, 3) for f in frames[:4])
    for f in frames[:4]:
        assert 1 <= len(f.boxes) <= 3 and len(f.crops) == len(f.boxes) == len(f.labels)
        assert ((f.boxes[:, 2] >= 72) & (f.boxes[:, 2] <= 220)).all()
    setups = default_setups()
    r = evaluate_setup(setups["default Recognizer() (YuNet, box + roll)"], frames)
    assert r["detector"] == "yunet" and r["faces"] == sum(len(f.boxes) for f in frames)
    assert 0.5 <= r["recall"] <= 1 and r["false_per_frame"] >= 0 and r["ms_per_frame"] > 0
    assert r["recall_iou_only"] <= r["recall"]
    table = format_table(
        {"frames": 5, "faces": r["faces"], "haar_alone_full_resolution_ms": 1.0, "setups": {"default": r}}
    )
    assert "recall" in table and "default" in table


@pytest.mark.slow
def test_recognizer_and_stream_benchmarks(tmp_path, capsys):
    from _helpers import require_yunet

    require_yunet()
    js = tmp_path / "b.json"
    assert (
        bench_main(
            [
                "--no-backends",
                "--no-stages",
                "--recognizer",
                "--stream",
                "--stream-frames",
                "30",
                "--batches",
                "1",
                "4",
                "--json",
                str(js),
                "--plot",
                "",
            ]
        )
        == 0
    )
    res = json.loads(js.read_text())
    rows = res["recognizer"]["rows"]
    assert [r["batch"] for r in rows] == [1, 4] and all(r["speedup"] > 0 for r in rows)
    assert res["recognizer"]["batch1_overhead_us"] > 0
    s = res["stream"]
    assert s["frames"] == 30 and s["faces"] >= 25 and s["fps_pipelined"] > 0 and s["fps_sequential"] > 0
    out = capsys.readouterr().out
    assert "plain ONNX Runtime" in out and "pipelined" in out


@pytest.mark.data
def test_fer_bench_detectors_default_setup_only(tmp_path, capsys):
    pytest.importorskip("skimage")
    from _helpers import require_data, require_yunet

    require_data("fer2013.npz")
    require_yunet()
    js = tmp_path / "d.json"
    assert (
        bench_main(
            [
                "--no-backends",
                "--no-stages",
                "--detectors",
                "--detector-frames",
                "3",
                "--detector-seed",
                "5",
                "--detector-setups",
                "default",
                "--json",
                str(js),
                "--plot",
                "",
            ]
        )
        == 0
    )
    d = json.loads(js.read_text())["detectors"]
    assert list(d["setups"]) == ["default Recognizer() (YuNet, box + roll)"] and d["seed"] == 5
    assert d["frames"] == 4 and "box + roll" in capsys.readouterr().out


def test_detector_benchmark_matching_rule():
    from deepemotion.benchmarks.detectors import match_boxes

    truth = np.array([[100, 100, 200, 200], [400, 100, 60, 60]])
    found = np.array(
        [
            [150, 150, 110, 110],  # inside face 0, covers 30% of it, IoU 0.30: found (not by IoU alone)
            [400, 100, 60, 60],  # face 1 exactly
            [10, 10, 40, 40],  # background: false
            [120, 120, 40, 40],  # inside face 0 but only 4% of it: not a face box for it
        ]
    )
    assert match_boxes(truth, found).tolist() == [0, 1]
    assert match_boxes(truth, found, inside=False).tolist() == [-1, 1]
    # a big detection that contains a small face is judged by IoU only
    assert match_boxes(np.array([[0, 0, 50, 50]]), np.array([[0, 0, 120, 120]])).tolist() == [-1]
    assert match_boxes(truth, np.zeros((0, 4))).tolist() == [-1, -1]
    assert match_boxes(np.zeros((0, 4)), found).tolist() == []


def test_faces_benchmark_has_a_floor_row_below_every_model():
    pytest.importorskip("onnx")
    from deepemotion.benchmarks.faces import FLOOR, bench_faces, floor_graph, format_faces
    from deepemotion.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from deepemotion.runtime.recognizer import Recognizer

    # the floor graph is a valid classifier for predict_faces: 7 probabilities per face, summing to 1
    rec = Recognizer(detector=None)
    rec.backend = rec.classifier.backend = OnnxRuntimeBackend(floor_graph())
    faces = rec.predict_faces(np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8))
    assert len(faces) == 3 and all(abs(float(f.probs.sum()) - 1) < 1e-5 for f in faces)
    res = bench_faces(["default"], batches=(1, 16), rounds=3, min_time=0.05)
    assert res["models"] == ["default", FLOOR]
    for b in (1, 16):
        row = {r["model"]: r for r in res["rows"] if r["batch"] == b}
        # the whole network (196 MFLOP per face) against three small nodes: far apart on any machine
        assert row[FLOOR]["faces_per_s"] > 1.5 * row["default"]["faces_per_s"]
    assert FLOOR in format_faces(res)


def _sleeper(order, name, secs):
    """A function that records its name in ``order`` and keeps the CPU busy for ``secs``: a call of known length.
    Busy, not ``time.sleep``: a sleep may last the kernel's timer slack instead (a 0.5 ms sleep took 4.8 ms on a CI
    machine), a busy wait lasts ``secs`` unless the thread is preempted, which the median of a block outvotes."""
    import time as _time

    def fn():
        order.append(name)
        end = _time.perf_counter() + secs
        while _time.perf_counter() < end:
            pass

    return fn


def test_time_in_turns_gives_each_function_its_warm_up_and_block_in_the_order_asked():
    from deepemotion.benchmarks.timing import time_in_turns

    order = []
    fns = {"a": _sleeper(order, "a", 0.0005), "b": _sleeper(order, "b", 0.003)}
    times = time_in_turns(fns, min_time=0.015, min_runs=4, warmup=2)
    n_a = 2 + len(times["a"])
    assert order == ["a"] * n_a + ["b"] * (len(order) - n_a)  # a's turn (warm-up + block), then b's
    # each block lasted min_time (its calls fill nearly all of it), not just min_runs calls (4 x 0.5 ms for a)
    assert len(times["a"]) >= 4 and times["a"].sum() >= 0.9 * 0.015 and times["b"].sum() >= 0.9 * 0.015
    assert np.median(times["b"]) > 3 * np.median(times["a"])
    order.clear()
    back = time_in_turns(fns, min_time=0.0, min_runs=1, warmup=0, reverse=True)
    assert order == ["b", "a"] and list(back) == ["a", "b"]  # reversed turns, results keyed in the given order


@pytest.mark.slow
def test_fer_bench_cpp_times_the_sdk_beside_python(tmp_path, capsys):
    """--cpp: the C++ SDK's predict(frame) and predict_faces timed beside Python's, with the same faces found; without
    the YuNet test model (a plain clone) the frame part says why it was not timed."""
    from deepemotion._ext import build_info

    if not build_info()["sdk"]:
        pytest.skip("this build has no C++ SDK (OpenCV's C++ development files were absent)")
    js = tmp_path / "cpp.json"
    args = ["--cpp", "--no-backends", "--no-stages", "--batches", "1", "3", "--min-time", "0.03"]
    assert bench_main([*args, "--json", str(js), "--plot", ""]) == 0
    out = capsys.readouterr().out
    r = json.loads(js.read_text())["cpp"]
    assert r["cpp_backend"] == "opencv" and set(r["python_backends"]) == {"python auto", "python onnxruntime"}
    assert [row["batch"] for row in r["predict_faces"]] == [1, 3]
    for row in r["predict_faces"]:
        assert set(row["faces_per_s"]) == {"C++", "python auto", "python onnxruntime"}
        assert all(v > 0 for v in row["faces_per_s"].values())
    f = r["predict_frame"]
    if YUNET.is_file():
        assert f["faces"] == 1 and set(f["ms"]) == {"C++", "python auto", "python onnxruntime"}
        for k in ("python auto", "python onnxruntime"):  # the ratio is taken within each round
            per_round = [c / p for c, p in zip(f["rounds_ms"]["C++"], f["rounds_ms"][k])]
            assert len(per_round) == r["rounds"] == ROUNDS
            assert f["cpp_time_vs"][k] == pytest.approx(float(np.median(per_round)))
            assert f["cpp_time_vs_range"][k] == pytest.approx([min(per_round), max(per_round)])
        assert "predict(frame), 640x480 BGR with 1 face(s)" in out
    else:
        assert "haar" in f["skipped"] and "not timed" in out
    assert "predict_faces, 48x48 crops, faces/s" in out
