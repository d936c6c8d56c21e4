"""YuNet engines: our decoding + NMS on ONNX Runtime against OpenCV's FaceDetectorYN, and the GPU engines'
errors where their providers are missing (they run only where onnxruntime-gpu is installed)."""
from __future__ import annotations

import numpy as np
import pytest

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
        f[y:y + size, x:x + int(size * face.shape[1] / face.shape[0])] = cv2.resize(
            face, (int(size * face.shape[1] / face.shape[0]), size), interpolation=cv2.INTER_AREA)
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


@pytest.mark.parametrize("engine,provider", [("onnxruntime-cuda", "CUDAExecutionProvider"),
                                             ("onnxruntime-tensorrt", "TensorrtExecutionProvider")])
def test_gpu_engines_say_what_is_missing(engine, provider):
    path = require_yunet()
    if provider in ort.get_available_providers() and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip(f"{provider} is available here: see test_gpu_engines_match_the_cpu")
    with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
        YuNetDetector(path, engine=engine)


@pytest.mark.parametrize("engine,provider", [("onnxruntime-cuda", "CUDAExecutionProvider"),
                                             ("onnxruntime-tensorrt", "TensorrtExecutionProvider")])
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
