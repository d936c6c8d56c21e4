"""Detectors: YuNet's engines (our decoding + NMS on ONNX Runtime against OpenCV's FaceDetectorYN; the GPU engines'
errors where their providers are missing, since they run only where onnxruntime-gpu is installed), the fall back to
Haar whenever YuNet cannot be used, damaged model and cascade files, Haar's order, and custom detectors' output,
which is checked."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from _helpers import error_line, run_cli
from deepemotion import Recognizer

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")

from _helpers import example_frame, require_yunet  # noqa: E402
from deepemotion.runtime.backends import BackendUnavailable  # noqa: E402
from deepemotion.runtime.detect import YuNetDetector  # noqa: E402
from deepemotion.runtime.detect.yunet import ENGINES  # noqa: E402


def frames() -> list[np.ndarray]:
    """The example photo, and the example face pasted at three sizes into a textured 640x480 frame."""
    face = example_frame()[40:260, 150:300]
    rng = np.random.default_rng(7)
    out = [example_frame()]
    for k, size in enumerate((90, 150, 230)):
        f = cv2.GaussianBlur(rng.integers(30, 220, (480, 640, 3), dtype=np.uint8), (0, 0), 5)
        y, x = 30 + 60 * k, 40 + 170 * k
        f[y : y + size, x : x + int(size * face.shape[1] / face.shape[0])] = cv2.resize(
            face, (int(size * face.shape[1] / face.shape[0]), size), interpolation=cv2.INTER_AREA
        )
        out.append(f)
    return out


def in_box_order(d):  # type: ignore[no-untyped-def]
    """Detections sorted by box, so that two detectors' lists can be compared row by row."""
    return d.take(np.lexsort(d.boxes.T[::-1]))


def test_our_decoding_gives_opencvs_detections():
    path = require_yunet()
    ours = YuNetDetector(path, engine="onnxruntime", min_face=20)
    ref = YuNetDetector(path, engine="opencv", min_face=20)
    found = 0
    for frame in frames():
        a, b = in_box_order(ours.detect(frame)), in_box_order(ref.detect(frame))
        assert len(a) == len(b)
        assert np.abs(a.boxes - b.boxes).max(initial=0) <= 1
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1.0)
        np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)
        found += len(a)
    assert found >= 4  # one face per frame at least: the comparison is not vacuous


def test_engine_names_are_checked():
    path = require_yunet()
    assert ENGINES == ("opencv", "onnxruntime", "onnxruntime-cuda", "onnxruntime-tensorrt")
    with pytest.raises(ValueError, match="onnxruntime-tensorrt"):
        YuNetDetector(path, engine="tensorrt")


@pytest.mark.parametrize(
    "engine,provider",
    [("onnxruntime-cuda", "CUDAExecutionProvider"), ("onnxruntime-tensorrt", "TensorrtExecutionProvider")],
)
def test_gpu_engines_say_what_is_missing(engine, provider):
    path = require_yunet()
    if provider in ort.get_available_providers() and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip(f"{provider} is available here: see test_gpu_engines_match_the_cpu")
    with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
        YuNetDetector(path, engine=engine)


@pytest.mark.parametrize(
    "engine,provider",
    [("onnxruntime-cuda", "CUDAExecutionProvider"), ("onnxruntime-tensorrt", "TensorrtExecutionProvider")],
)
def test_gpu_engines_match_the_cpu(engine, provider):
    """Where onnxruntime-gpu (with TensorRT) is installed: the same faces as on the CPU (FP16 on TensorRT)."""
    path = require_yunet()
    if provider not in ort.get_available_providers():
        pytest.skip(f"ONNX Runtime has no {provider} here")
    gpu, cpu = YuNetDetector(path, engine=engine, min_face=20), YuNetDetector(path, min_face=20)
    for frame in frames():
        a, b = in_box_order(gpu.detect(frame)), in_box_order(cpu.detect(frame))
        assert len(a) == len(b)
        assert np.abs(a.boxes - b.boxes).max(initial=0) <= 3


# --- YuNet in use, and damaged YuNet files ----------------------------------------------------------------------
def test_yunet_is_used_when_available():
    require_yunet()
    assert Recognizer().detector_name == "yunet"


def test_yunet_model_that_loads_but_cannot_run_is_a_value_error(tmp_path):
    """A damaged YuNet file that ONNX Runtime loads but cannot run (a Conv's kernel_shape bytes flipped: found by
    the file fuzzer) is a ValueError naming the file, not ONNX Runtime's own exception."""
    from _helpers import YUNET
    from deepemotion import YuNetDetector

    onnx = pytest.importorskip("onnx")
    require_yunet()
    model = onnx.load(str(YUNET))
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    next(a for a in conv.attribute if a.name == "kernel_shape").ints[:] = [64, 3]
    path = tmp_path / "damaged_yunet.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match="damaged_yunet.onnx: ONNX Runtime cannot run this YuNet model"):
        YuNetDetector(path).detect(np.zeros((64, 64, 3), np.uint8))


# --- the Haar fallback whenever YuNet cannot be used; Haar's own files and order; custom detectors --------------
@pytest.mark.parametrize("content", [b"", b"\x08\x07" + os.urandom(300), None, "classifier"])
def test_unusable_yunet_files_fall_back_to_haar_or_name_the_file(tmp_path, content):
    from deepemotion.runtime.assets import bundled_model

    path = tmp_path / "yunet.onnx"
    if content is None:  # truncated
        path.write_bytes(require_yunet().read_bytes()[:50_000])
    elif content == "classifier":  # the project's own classifier is not a detector
        path.write_bytes(bundled_model("default").path("onnx").read_bytes())
    else:
        path.write_bytes(content)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        rec = Recognizer(detector_model=path, detector="auto")
    assert rec.detector_name == "haar" and len(w) == 1 and str(path) in str(w[0].message)
    with pytest.raises(ValueError, match=str(path)):
        Recognizer(detector_model=path, detector="yunet")
    r = run_cli("predict", "--example", "--detector", "yunet", "--detector-model", str(path), "--out", "")
    assert r.returncode == 2 and str(path) in error_line(r, "fer-predict")


def test_a_cache_that_cannot_be_used_falls_back_to_haar(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    env = {k: v for k, v in os.environ.items() if k != "DEEPEMOTION_YUNET"}
    env["XDG_CACHE_HOME"] = str(blocker)
    r = subprocess.run(
        [sys.executable, "-c", "from deepemotion import Recognizer; print(Recognizer().detector_name)"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0 and r.stdout.strip() == "haar", r.stderr
    assert r.stderr.count("RuntimeWarning") == 1


def test_a_file_that_is_not_a_haar_cascade_is_exit_2(tmp_path):
    bad = tmp_path / "cascade.xml"
    bad.write_text("<opencv_storage><nonsense/></opencv_storage>")
    r = run_cli("predict", "--example", "--detector", "haar", "--out", "", env={"DEEPEMOTION_HAAR_CASCADE": str(bad)})
    assert r.returncode == 2 and "not a valid Haar cascade" in error_line(r, "fer-predict")
    r = run_cli(
        "predict",
        "--example",
        "--detector",
        "haar",
        "--out",
        "",
        env={"DEEPEMOTION_HAAR_CASCADE": str(tmp_path / "missing.xml")},
    )
    assert r.returncode == 2 and "missing.xml" in error_line(r, "fer-predict")


def test_haar_returns_faces_in_a_fixed_order():
    from deepemotion import HaarDetector

    frame = np.concatenate([example_frame()] * 2, axis=1)
    det = HaarDetector()
    runs = [det.detect(frame).boxes.tolist() for _ in range(5)]
    assert all(r == runs[0] for r in runs) and runs[0] == sorted(runs[0])


class Custom:
    box_in_crop = "haar"

    def __init__(self, out: object) -> None:
        self.out = out

    def detect(self, frame: np.ndarray) -> object:
        return self.out


@pytest.mark.parametrize(
    "out, why",
    [
        (np.array([[700, 10, 20, 20]]), "no area inside"),
        (np.array([[10, 10, -5, 20]]), "no area inside"),
        (np.array([[10, 10, 0, 20]]), "no area inside"),
        (np.array([[10, 10, 20]]), "expected \\(N, 4\\)"),
        (None, "no boxes"),
    ],
)
def test_bad_custom_detector_output_is_a_value_error(out, why):
    with pytest.raises(ValueError, match=why):
        Recognizer(detector=Custom(out)).predict(example_frame())


def test_custom_detector_output_is_made_safe():
    from deepemotion.runtime.detect import Detections

    frame = example_frame()
    faces = Recognizer(detector=Custom([[170.4, 60.6, 100.2, 120.0]])).predict(frame)  # a list of floats
    assert faces[0].box == (170, 61, 100, 120) and all(isinstance(v, int) for v in faces[0].box)
    faces = Recognizer(detector=Custom(np.array([[-20, -20, 100, 100]]))).predict(frame)  # clipped to the frame
    assert faces[0].box == (0, 0, 80, 80)
    bad = Detections(np.array([[10, 10, 50, 50]], np.int32), landmarks=np.zeros((2, 5, 2), np.float32))
    with pytest.raises(ValueError, match="landmarks"):
        Recognizer(detector=Custom(bad)).predict(frame)
    with pytest.raises(TypeError, match="box_in_crop"):
        Recognizer(detector=type("NoFraming", (), {"detect": lambda self, f: []})())
