"""One contract for every registered backend (the role of torchvision's RoIOpTester for ops): registering a backend
is how it gets tested. Each case skips with the backend's own BackendUnavailable reason where it cannot run here.

- output: (N, 7) finite logits for N = 1 and 3;
- agreement with the FP32 ONNX Runtime reference on real faces, within what its declared precision allows;
- one answer per face whether the crops come as a list or an array, 48 x 48 or resampled;
- the Recognizer never hands it more than max_batch faces, and chunked results equal unchunked ones;
- 8 threads sharing one Recognizer get exactly the sequential results;
- bad input is a TypeError/ValueError before it reaches the backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from _helpers import data_dir, same_in_threads
from deepemotion import BACKENDS, BackendUnavailable, Recognizer
from deepemotion.runtime.backends import create_backend, registry


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    d = data_dir()
    if d is not None and (d / "fer2013.npz").is_file():
        with np.load(d / "fer2013.npz") as z:
            return np.ascontiguousarray(z["images"][-96:])  # PublicTest faces
    import cv2

    from _helpers import example_frame

    gray = cv2.cvtColor(example_frame(), cv2.COLOR_BGR2GRAY)
    rng = np.random.default_rng(0)
    shifts = rng.integers(-20, 20, (96, 2))
    return np.stack([cv2.resize(gray[60 + dy : 170 + dy, 170 + dx : 280 + dx], (48, 48)) for dy, dx in shifts])


@pytest.fixture(scope="module")
def triton_url(tmp_path_factory: pytest.TempPathFactory):
    """A served repository of the bundled default model, for the remote backend (skips without the [serve] extra)."""
    try:
        from deepemotion.serving.repository import RepositoryOptions, write_repository
        from deepemotion.serving.server import TritonServer, find_tritonserver, free_port

        find_tritonserver()
        import tritonclient.grpc  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"backend 'triton' needs a server here: {exc}")
    repo = tmp_path_factory.mktemp("contract") / "repository"
    write_repository(repo, RepositoryOptions(frames=False))
    server = TritonServer(repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port())
    server.start()
    yield server.grpc_url
    server.stop()


def make_backend(name: str, request: pytest.FixtureRequest):
    entry = registry()[name]
    try:
        if entry.device == "remote":
            return create_backend(name, url=request.getfixturevalue("triton_url"))
        return create_backend(name, None if entry.needs_model_file else "default")
    except BackendUnavailable as exc:
        pytest.skip(f"{name}: {exc}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest):
    return make_backend(request.param, request)


@pytest.fixture(scope="module")
def reference(faces: np.ndarray) -> np.ndarray:
    return np.stack([f.probs for f in Recognizer(backend="onnxruntime", detector=None).predict_faces(faces)])


def test_output_shape_and_type(backend, faces):
    x = Recognizer(backend=backend, detector=None).finder.aligner.crop_boxes(
        faces[:3].reshape(3 * 48, 48), np.array([[0, 48 * i, 48, 48] for i in range(3)], np.int32)
    )
    for n in (1, 3):
        out = np.asarray(backend.run(np.ascontiguousarray(x[:n])))
        assert out.shape == (n, 7) and np.isfinite(out).all()


def test_agrees_with_the_fp32_reference(backend, faces, reference):
    entry = registry()[backend.name] if backend.name in registry() else None
    probs = np.stack([f.probs for f in Recognizer(backend=backend, detector=None).predict_faces(faces)])
    precision = entry.precision if entry else "fp32"
    if precision == "fp32":
        assert np.abs(probs - reference).max() <= 1e-4
    elif precision == "fp16":
        assert np.abs(probs - reference).max() <= 2e-2
    else:  # int8, or whatever graph the model file (an engine, a served repository) holds
        assert (probs.argmax(1) == reference.argmax(1)).mean() >= 0.9
        assert np.abs(probs - reference).mean() <= 0.03


@pytest.mark.parametrize("size", [48, 96, 20])
def test_one_face_one_answer_as_a_list_or_an_array(backend, faces, size):
    """The same crops as one array and as a list give the same answers, at the network's size and at sizes that are
    resampled (the list route resampled even 48 x 48 faces: up to 2.2e-2 apart through the INT8 graph)."""
    import cv2

    crops = faces if size == 48 else np.stack([cv2.resize(f, (size, size)) for f in faces])
    rec = Recognizer(backend=backend, detector=None)
    as_array = np.stack([f.probs for f in rec.predict_faces(crops)])
    as_list = np.stack([f.probs for f in rec.predict_faces(list(crops))])
    np.testing.assert_allclose(as_list, as_array, atol=1e-6)


def test_chunks_at_max_batch(backend, faces):
    sizes: list[int] = []
    run = backend.run

    def spy(x):
        sizes.append(len(x))
        return run(x)

    whole = np.stack([f.probs for f in Recognizer(backend=backend, detector=None).predict_faces(faces[:10])])
    backend.run = spy
    try:
        chunked = np.stack(
            [f.probs for f in Recognizer(backend=backend, detector=None, max_batch=3).predict_faces(faces[:10])]
        )
    finally:
        del backend.run
    assert sizes and max(sizes) <= 3 and sum(sizes) == 10
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_eight_threads_get_the_sequential_results(backend, faces):
    rec = Recognizer(backend=backend, detector=None)
    batches = [faces[k * 8 : (k + 1) * 8] for k in range(8)]
    expected = [np.stack([f.probs for f in rec.predict_faces(b)]) for b in batches]
    same_in_threads(lambda k: np.stack([f.probs for f in rec.predict_faces(batches[k])]), expected)


def test_bad_input_is_a_typed_error(backend):
    rec = Recognizer(backend=backend, detector=None)
    with pytest.raises(ValueError):
        rec.classify(np.zeros((2, 1, 48, 48), np.float64))
    with pytest.raises(ValueError, match="NaN"):
        rec.classify(np.full((1, 1, 48, 48), np.nan, np.float32))
    with pytest.raises(ValueError):
        rec.classify(np.zeros((2, 1, 40, 40), np.float32))
    with pytest.raises(TypeError):
        rec.predict_faces("faces")


def test_every_backend_declares_what_it_can_do():
    from deepemotion.runtime.backends.base import DEVICES, PRECISIONS

    for name, e in registry().items():
        assert e.device in DEVICES and e.precision in PRECISIONS and e.needs and e.description, name
        assert not (e.auto and e.device == "remote"), name  # "auto" never needs a server
