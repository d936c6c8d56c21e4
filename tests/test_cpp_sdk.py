"""The C++ SDK (include/deepemotion, libdeepemotion) against Python's answers, through deepemotion._sdk (the C++
Recognizer bound thinly; built only where OpenCV's C++ development files were found: build_info()["sdk"]).

Parity is with the same backend family: Python's FP32 graph on ONNX Runtime's CPU backend (warp head in our C++,
the rest in ONNX Runtime) against C++'s FP32 graph on OpenCV's DNN module (warp head and calibration in our C++).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _helpers import example_frame, require_data, require_yunet, same_in_threads
from deepemotion import Recognizer, build_info
from deepemotion.labels import CLASSES

if not build_info().get("sdk"):
    pytest.skip(
        "the C++ SDK was not built (no OpenCV C++ development files: apt-get install libopencv-dev)",
        allow_module_level=True,
    )
from deepemotion import _sdk  # noqa: E402

#: probabilities of the C++ and Python recognizers on the same faces (measured: at most ~2e-6)
PROB_ATOL = 1e-4


@pytest.fixture(scope="module")
def yunet() -> str:
    return str(require_yunet())


@pytest.fixture(scope="module")
def cpp(yunet):
    return _sdk.Recognizer(detector_model=yunet)


@pytest.fixture(scope="module")
def python(yunet):
    return Recognizer(backend="onnxruntime", detector_model=yunet)


def _public_test(n: int) -> tuple[np.ndarray, np.ndarray]:
    require_data("fer2013.npz")
    from deepemotion.data.datasets import resolve_dataset

    faces = resolve_dataset("fer2013", "public_test")
    return np.ascontiguousarray(faces.images[:n]), np.asarray(faces.labels[:n])


def test_shared_facts_match_python():
    assert _sdk.class_names() == list(CLASSES)
    assert _sdk.version() == build_info()["version"]


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("model", ["default", "tiny"])
def test_predict_faces_matches_python_on_1000_public_test_faces(model):
    faces, _ = _public_test(1000)
    assert len(faces) == 1000
    py = np.stack([f.probs for f in Recognizer(model=model, backend="onnxruntime", detector=None).predict_faces(faces)])
    _, cpp, _ = _sdk.Recognizer(model=model, detector="none").predict_faces(list(faces))
    np.testing.assert_array_equal(cpp.argmax(1), py.argmax(1))
    np.testing.assert_allclose(cpp, py, rtol=0, atol=PROB_ATOL)
    np.testing.assert_allclose(cpp.sum(1), 1.0, atol=1e-5)


def test_predict_faces_resizes_and_converts_like_python(cpp, python):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (h, w) + c, np.uint8) for h, w, c in ((64, 50, (3,)), (48, 48, (3,)), (31, 40, ()))]
    py = np.stack([f.probs for f in python.predict_faces(crops)])
    boxes, probs, _ = cpp.predict_faces(crops)
    np.testing.assert_allclose(probs, py, rtol=0, atol=PROB_ATOL)
    np.testing.assert_array_equal(boxes, [[0, 0, 50, 64], [0, 0, 48, 48], [0, 0, 40, 31]])


@pytest.fixture(scope="module")
def bench_frames():
    pytest.importorskip("skimage")
    require_data("fer2013.npz")
    from deepemotion.data.scenes import build_frames

    return build_frames(100, seed=0)


@pytest.mark.data
@pytest.mark.slow
def test_predict_matches_python_on_the_detector_benchmark(bench_frames, cpp, python):
    """fer-bench --detectors' frames (100 + the example photo): the same faces, boxes within 1 px, the same crops
    given the same detections, the same labels and probabilities within PROB_ATOL."""
    n_faces = 0
    for k, fr in enumerate(bench_frames):
        faces = python.predict(fr.image)
        boxes, probs, marks = cpp.predict(fr.image)
        assert len(boxes) == len(faces), f"frame {k}: Python found {len(faces)} faces, C++ {len(boxes)}"
        if not faces:
            continue
        n_faces += len(faces)
        np.testing.assert_allclose(boxes, [f.box for f in faces], rtol=0, atol=1, err_msg=f"frame {k}")
        np.testing.assert_allclose(marks, np.stack([f.landmarks for f in faces]), rtol=0, atol=1.0)
        assert [CLASSES[i] for i in probs.argmax(1)] == [f.label for f in faces], f"frame {k}"
        np.testing.assert_allclose(probs, np.stack([f.probs for f in faces]), rtol=0, atol=PROB_ATOL)
        det = python.detect(fr.image)
        np.testing.assert_allclose(
            cpp.crops(fr.image, det.boxes, det.landmarks),
            python.crops(fr.image, det),
            rtol=0,
            atol=1e-5,
            err_msg=f"frame {k}: crops of the same detections",
        )
    assert n_faces >= 150  # the benchmark's frames hold 1-3 faces each; YuNet finds about 90% of them


@pytest.mark.parametrize("framing", ["roll", "box", "landmarks"])
def test_caller_boxes_and_framings_match_python(framing, yunet):
    frame = example_frame()
    boxes = np.array([[140, 40, 170, 180], [0, 0, 100, 90]], np.int32)
    py = Recognizer(backend="onnxruntime", detector_model=yunet, align=framing)
    cpp = _sdk.Recognizer(detector_model=yunet, framing=framing)
    got_boxes, probs, _ = cpp.predict(frame, boxes)
    np.testing.assert_array_equal(got_boxes, boxes)
    np.testing.assert_allclose(probs, np.stack([f.probs for f in py.predict(frame, boxes=boxes)]), atol=PROB_ATOL)
    det = py.detect(frame)
    np.testing.assert_allclose(cpp.crops(frame, det.boxes, det.landmarks), py.crops(frame, det), atol=1e-5)


def test_gray_frames_and_the_example_photo(cpp, python):
    frame = example_frame()
    for img in (frame, np.ascontiguousarray(frame[..., 1])):
        faces = python.predict(img)
        boxes, probs, _ = cpp.predict(img)
        assert [f.label for f in faces] == [CLASSES[i] for i in probs.argmax(1)] and len(faces) == 1
        np.testing.assert_array_equal(boxes[0], faces[0].box)
    assert CLASSES[int(cpp.predict(frame)[1][0].argmax())] == "happy"


def test_eight_threads_get_the_same_answers(cpp):
    """One C++ Recognizer shared by 8 threads (the GIL is released while C++ runs): every call gives the
    sequential answer."""
    rng = np.random.default_rng(3)
    frame = example_frame()
    frames = [np.ascontiguousarray(np.roll(frame, int(s), axis=1)) for s in rng.integers(-60, 60, 8)]
    expected = [cpp.predict(f) for f in frames]

    def work(k):
        return cpp.predict(frames[k])

    import threading

    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def run(k):
        try:
            results[k] = [work(k) for _ in range(4)]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for k in range(8):
        for got in results[k]:
            for a, b in zip(got, expected[k]):
                np.testing.assert_array_equal(a, b)


def test_classify_in_threads_matches_sequential(cpp):
    faces, _ = (
        _public_test(64) if _has_data() else (np.random.default_rng(0).integers(0, 256, (64, 48, 48), np.uint8), None)
    )
    from deepemotion.runtime.inputs import normalise_faces

    batches = [normalise_faces(faces[8 * k : 8 * k + 8]) for k in range(8)]
    expected = [cpp.classify(b) for b in batches]
    same_in_threads(lambda k: cpp.classify(batches[k]), expected, atol=0)


def _has_data() -> bool:
    from _helpers import data_dir

    d = data_dir()
    return d is not None and (d / "fer2013.npz").is_file()


def test_bad_input_raises_clear_errors(cpp, tmp_path, yunet):
    frame = example_frame()
    with pytest.raises(ValueError, match=r"box 0 \(500, 10, 100, 50\) must have w, h >= 1 and lie inside the 512x512"):
        cpp.predict(frame, np.array([[500, 10, 100, 50]]))
    with pytest.raises(ValueError, match="box 1 .* must have w, h >= 1"):
        cpp.predict(frame, np.array([[0, 0, 10, 10], [5, 5, 0, 10]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        cpp.classify(np.full((1, 1, 48, 48), np.nan, np.float32))
    with pytest.raises(ValueError, match="normalised crops"):
        cpp.classify(np.full((1, 1, 48, 48), 3e38, np.float32))
    with pytest.raises(ValueError, match="no detector"):
        _sdk.Recognizer(detector="none").predict(frame)
    with pytest.raises(ValueError, match="is empty"):
        cpp.predict(np.zeros((0, 10, 3), np.uint8))


def test_bad_models_and_options_raise_clear_errors(tmp_path, yunet):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="junk.onnx: not a deepemotion graph"):
        _sdk.Recognizer(model=str(junk), detector="none")
    with pytest.raises(ValueError, match="not a deepemotion graph that this build can split"):
        _sdk.Recognizer(model=yunet, detector="none")  # an ONNX file, but not ours
    with pytest.raises(FileNotFoundError, match="missing.onnx: model file not found"):
        _sdk.Recognizer(model=str(tmp_path / "missing.onnx"), detector="none")
    from deepemotion.runtime.assets import bundled_model

    with pytest.raises(ValueError, match="not a YuNet face-detector model"):
        _sdk.Recognizer(detector_model=str(bundled_model("tiny").path("onnx")))
    with pytest.raises(RuntimeError, match="no TensorRT backend"):
        _sdk.Recognizer(backend="tensorrt", detector="none")
    with pytest.raises(ValueError, match="backend must be 'auto' or 'opencv'"):
        _sdk.Recognizer(backend="cuda", detector="none")
    with pytest.raises(ValueError, match="min_face must be >= 1"):
        _sdk.Recognizer(detector="none", min_face=0)


def _grid(g):
    gs = next(n for n in g.node if n.op_type == "GridSample")
    return next(t for t in g.initializer if t.name == gs.input[1])


def _grid_nan(g):
    from onnx import numpy_helper

    t = _grid(g)
    a = numpy_helper.to_array(t).copy()
    a.flat[7] = np.nan
    t.CopyFrom(numpy_helper.from_array(a, t.name))


def _grid_shape_lies(g):
    t = _grid(g)
    del t.dims[:]
    t.dims.extend([1, 2000, 2000, 2])  # the data stays 48 x 48 x 2


def _input_64(g):
    dims = g.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = 64


def _gemm_without_outputs(g):
    gemm = [n for n in g.node if n.op_type == "Gemm"][-1]
    del gemm.output[:]


def _calibration_nan(g):
    from onnx import numpy_helper

    add = next(n for n in g.node if n.op_type == "Add" and n.name.startswith("/calibration"))
    const = next(n for n in g.node if n.op_type == "Constant" and n.output[0] in add.input)
    value = next(a for a in const.attribute if a.name == "value")
    value.t.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(value.t).shape, np.nan, np.float32)))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_grid_nan, "grid holds NaN or infinite values"),
        (_grid_shape_lies, "grid holds 4608 values, not the 8000000 of its shape"),
        (_input_64, "the model's input is 64x64 but this library crops faces to 48x48"),
        (_gemm_without_outputs, "a Gemm node without outputs"),
        (_calibration_nan, "the score calibration holds NaN or infinite constants"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_malformed_models_are_refused_when_loaded(tmp_path, edit, message):
    """Graphs that are ours but damaged (a crafted or corrupted file) are refused with the reason: before, they
    read past buffers (a grid whose shape lies, a 64x64 input), answered the same for every face (a NaN in the
    grid), gave NaN probabilities (a NaN calibration) or escaped as another exception type."""
    import onnx

    from deepemotion.runtime.assets import bundled_model

    m = onnx.load(str(bundled_model("tiny").path("onnx")))
    edit(m.graph)
    path = tmp_path / "damaged.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ValueError, match=message):
        _sdk.Recognizer(model=str(path), detector="none")


@pytest.mark.slow
def test_cpp_api_edges_end_in_clear_errors(tmp_path):
    """tests/cpp/sdk_edges, built against the installed package as a user's CMake project is: a moved-from
    Recognizer (it crashed), Framing and PixelFormat values outside the enums (taken as Roll and BGR), a batch
    size whose bytes overflow size_t (std::length_error), a batch of 3e38 (blamed on the model) all end in
    deepemotion::Error(InvalidArgument)."""
    import re
    import shutil
    import subprocess
    import sys

    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not on PATH")
    where = subprocess.run([sys.executable, "-m", "deepemotion", "--cmake-dir"], capture_output=True, text=True)
    if where.returncode != 0:
        pytest.skip(f"no CMake package in this installation: {where.stdout.strip() or where.stderr.strip()}")
    src = Path(__file__).parent / "cpp" / "sdk_edges"
    build = tmp_path / "build"
    for cmd in (
        [cmake, "-S", str(src), "-B", str(build), f"-Ddeepemotion_DIR={where.stdout.strip()}"],
        [cmake, "--build", str(build), "-j2"],
    ):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([str(build / "sdk_edges")], capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    m = re.search(r"sdk_edges: (\d+)/(\d+) passed", out)
    assert r.returncode == 0 and m and m.group(1) == m.group(2) and int(m.group(2)) >= 17, out[-4000:]


def test_yunet_is_found_as_python_finds_it_and_never_downloaded(tmp_path, monkeypatch, yunet):
    monkeypatch.delenv("DEEPEMOTION_YUNET", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        _sdk.Recognizer()
    (tmp_path / "deepemotion").mkdir()
    (tmp_path / "deepemotion" / "face_detection_yunet_2023mar.onnx").write_bytes(Path(yunet).read_bytes())
    assert _sdk.Recognizer().detector_name == "yunet"  # the cache Python's download fills
    monkeypatch.setenv("DEEPEMOTION_YUNET", yunet)
    assert _sdk.Recognizer().detector_name == "yunet"


def test_bundled_models_are_found_beside_the_library_or_where_told(tmp_path, monkeypatch):
    rec = _sdk.Recognizer(model="tiny", detector="none")
    assert rec.model_path.endswith("deepemotion_fer2013_tiny.onnx") and rec.backend_name == "opencv"
    monkeypatch.setenv("DEEPEMOTION_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="DEEPEMOTION_WEIGHTS_DIR"):
        _sdk.Recognizer(detector="none")
