"""TensorRT: engines with the AffineGridSample plugin, the C++ runner and the tensorrt backend.

Runs where TensorRT and a GPU exist and deepemotion was built with TensorRT; skips with a reason
elsewhere (our CPU machines and CI have no TensorRT).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import deepemotion

#: tests/conftest.py skips the module, with the reason, where TensorRT or a GPU is missing
pytestmark = pytest.mark.tensorrt


@pytest.fixture(scope="module", params=["fp32", "fp16"])
def engine(request, tmp_path_factory):
    from deepemotion.cli.export import main as export_main

    out = tmp_path_factory.mktemp("trt") / f"m_{request.param}.engine"
    assert export_main(["engine", "--out", str(out), "--precision", request.param, "--batch", "1", "8", "32"]) == 0
    return out, request.param


def _batch(n: int) -> np.ndarray:
    return (np.random.default_rng(n).random((n, 1, 48, 48), np.float32) * 2 - 1).astype(np.float32)


def test_engine_matches_onnxruntime(engine):
    from deepemotion.runtime.backends import create_backend

    path, precision = engine
    trt_b = create_backend("tensorrt", str(path))
    ort_b = create_backend("onnxruntime")
    for n in (1, 7, 32, 40):  # 40 > max batch: run in slices
        got, want = trt_b.run(_batch(n)), ort_b.run(_batch(n))
        tol = 1e-3 if precision == "fp32" else 5e-2
        np.testing.assert_allclose(got, want, atol=tol, rtol=0)
        assert (got.argmax(1) == want.argmax(1)).mean() >= (1.0 if precision == "fp32" else 0.9)


def test_sidecar_and_recognizer(engine):
    path, precision = engine
    side = json.loads(Path(str(path) + ".json").read_text())
    assert side["precision"] == precision and side["batch_profile"] == {"min": 1, "opt": 8, "max": 32}
    assert side["plugin"].startswith("deepemotion::AffineGridSample")
    rec = deepemotion.Recognizer(model=str(path), backend="tensorrt")
    import cv2

    from deepemotion.runtime.assets import example_image

    faces = rec.predict(cv2.imread(str(example_image())))
    ref = deepemotion.Recognizer().predict(cv2.imread(str(example_image())))
    assert [f.label for f in faces] == [f.label for f in ref]


def test_cuda_graph_runner(engine):
    from deepemotion import _trt
    from deepemotion.runtime.backends.tensorrt import plugin_library

    path, _ = engine
    r = _trt.EngineRunner(str(path), str(plugin_library()), True)
    dt = np.float16 if r.input_dtype == "float16" else np.float32
    x = _batch(8).astype(dt)
    a, b = r.run(x), r.run(x)  # second call replays the captured graph
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="exceeds"):
        r.run(_batch(33).astype(dt))


def test_mismatched_sidecar_says_rebuild(engine, tmp_path):
    import shutil

    from deepemotion.runtime.backends import BackendUnavailable, create_backend

    path, _ = engine
    copy = tmp_path / "other.engine"
    shutil.copy(path, copy)
    side = json.loads(Path(str(path) + ".json").read_text())
    side["gpu"], side["compute_capability"] = "Some Other GPU", "5.3"
    (tmp_path / "other.engine.json").write_text(json.dumps(side))
    with pytest.raises(BackendUnavailable, match="rebuild"):
        create_backend("tensorrt", str(copy))


def test_one_backend_shared_by_threads(engine):
    """The runner's stream, buffers and CUDA graphs are used under the backend's lock: 8 threads calling
    one backend get exactly the single-threaded results."""
    import threading

    from deepemotion.runtime.backends import create_backend

    path, _ = engine
    b = create_backend("tensorrt", str(path), use_cuda_graph=True)
    xs = [_batch(n) for n in (1, 5, 8, 13, 32)]
    want = [b.run(x) for x in xs]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                for x, w in zip(xs, want):
                    np.testing.assert_array_equal(b.run(x), w)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:1]


@pytest.mark.data
def test_int8_engine_from_the_qdq_graph(tmp_path):
    """fer-export int8 -> fer-export engine --precision int8 (explicit quantization, plugin in FP32)."""
    from _helpers import require_data
    from deepemotion.cli.export import main as export_main
    from deepemotion.runtime.backends import create_backend

    require_data("fer2013.npz")
    q = tmp_path / "m.int8.onnx"
    assert export_main(["int8", "--out", str(q), "--calibration", "512"]) == 0
    eng = tmp_path / "m_int8.engine"
    assert (
        export_main(["engine", "--onnx", str(q), "--out", str(eng), "--precision", "int8", "--batch", "1", "8", "32"])
        == 0
    )
    side = json.loads(Path(str(eng) + ".json").read_text())
    assert side["precision"] == "int8" and side["strongly_typed"]
    got = create_backend("tensorrt", str(eng)).run(_batch(32))
    want = create_backend("onnxruntime", str(q)).run(_batch(32))
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
