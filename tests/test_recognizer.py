"""Recognizer: crops vs OpenCV, detection on real faces at known positions, JSON, bad input, models refused at load
rather than answering wrongly, memory bounded per call, threads, streams."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from _helpers import assert_one_line_error, linear_onnx, run_cli, run_python

cv2 = pytest.importorskip("cv2")

import deepemotion  # noqa: E402
from _helpers import example_frame, require_data, require_yunet  # noqa: E402
from deepemotion import BackendUnavailable, Face, Recognizer  # noqa: E402
from deepemotion.cli.predict import main as predict_main  # noqa: E402
from deepemotion.data.datasets import load_npz  # noqa: E402
from deepemotion.labels import CLASSES  # noqa: E402
from deepemotion.runtime.backends import create_backend  # noqa: E402


@pytest.fixture(scope="module")
def rec() -> Recognizer:
    require_yunet()
    return Recognizer()


def test_public_api_imports():
    assert Face and BackendUnavailable and Recognizer
    assert issubclass(BackendUnavailable, RuntimeError)
    assert set(deepemotion.BACKENDS) >= {"onnxruntime", "onnxruntime-int8", "onnxruntime-cuda", "torch", "tensorrt"}


def smooth_frame(rng, h=480, w=640, channels=3):
    f = rng.integers(0, 256, (h, w, channels) if channels == 3 else (h, w), np.uint8)
    return cv2.GaussianBlur(f, (9, 9), 3)


# --- Recognizer API ---------------------------------------------------------------------------


def test_example_image_has_a_happy_astronaut(rec):
    assert rec.detector_name == "yunet"
    faces = rec.predict(example_frame())
    assert len(faces) == 1
    f = faces[0]
    x, y, w, h = f.box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 170  # the face, not the shuttle
    assert f.probs.shape == (7,) and abs(float(f.probs.sum()) - 1) < 1e-5
    assert f.label == CLASSES[int(np.argmax(f.probs))] and f.score == pytest.approx(float(f.probs.max()))
    d = f.to_dict()
    assert set(d) == {"box", "label", "score", "probs"} and list(d["probs"]) == list(CLASSES)
    json.dumps(d)


def test_no_face_gives_empty_list(rec, rng):
    assert rec.predict(np.full((240, 320, 3), 127, np.uint8)) == []
    assert rec.predict(np.zeros((240, 320), np.uint8), boxes=np.zeros((0, 4))) == []


def test_boxes_argument_and_gray_frames(rec, rng):
    gray = cv2.cvtColor(smooth_frame(rng), cv2.COLOR_BGR2GRAY)
    frame = cv2.merge([gray, gray, gray])  # B = G = R: the fused BGR->gray conversion is exact
    a = rec.predict(frame, boxes=[[10, 20, 100, 120]])
    b = rec.predict(gray, boxes=np.array([10, 20, 100, 120]))
    assert a[0].box == (10, 20, 100, 120)
    np.testing.assert_allclose(a[0].probs, b[0].probs, atol=1e-4)


def test_predict_faces_forms_agree(rec, rng):
    crops = [rng.integers(0, 255, (60, 50), np.uint8), cv2.cvtColor(smooth_frame(rng, 70, 70), cv2.COLOR_BGR2GRAY)]
    one_by_one = [rec.predict_faces(c)[0] for c in crops]
    listed = rec.predict_faces(crops)
    for a, b in zip(one_by_one, listed):
        np.testing.assert_array_equal(a.probs, b.probs)
    same = np.stack([crops[1], crops[1][::-1]])
    batch = rec.predict_faces(same)  # N x H x W array: one C++ call
    each = rec.predict_faces(list(same))
    for a, b in zip(batch, each):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    assert rec.predict_faces([]) == []


def test_network_sized_gray_crops_reach_the_network_as_training_faces_do(rec, rng):
    """48x48 gray crops skip the resampler: the batch is (v / 255 - MEAN) / STD of the pixels, bit for bit what
    training's to_input makes of them; the crop op, which the same faces as BGR go through, reproduces those pixels
    (to 1e-3 of a grey level) and the answers agree to float rounding; as floats they are rounded to the same uint8
    and agree exactly."""
    torch = pytest.importorskip("torch")
    from deepemotion.model import to_input
    from deepemotion.runtime.inputs import normalise_faces

    faces = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(normalise_faces(faces), to_input(torch.from_numpy(faces)).numpy())
    ((boxes, batch),) = list(rec.finder.whole_crops(faces, 256))
    np.testing.assert_array_equal(batch, normalise_faces(faces))
    assert boxes.tolist() == [[0, 0, 48, 48]] * 5
    whole = np.array([[0, 0, 48, 48]], np.int32)
    resampled = np.concatenate([rec.finder.aligner.crop_boxes(f, whole) for f in faces])
    np.testing.assert_allclose(resampled, batch, atol=1e-3 / 255 / 0.5)  # normalised: (v / 255 - 0.5) / 0.5
    fast = rec.predict_faces(faces)
    bgr = rec.predict_faces(np.repeat(faces[..., None], 3, axis=3))  # B = G = R: through the C++ crop op
    floats = rec.predict_faces(faces.astype(np.float32))  # checked, rounded, then the fast path
    for a, b, c in zip(fast, bgr, floats):
        assert a.box == b.box == (0, 0, 48, 48)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)
        np.testing.assert_array_equal(a.probs, c.probs)


def test_one_chunk_of_network_sized_faces_takes_the_short_path_to_the_same_answers(rng):
    """A uint8 N x 48 x 48 batch of at most max_batch faces skips the chunk loop (finder and classifier); chunked
    (max_batch=2: other batch sizes in the backend, so to float rounding), as a strided view, or as N x 48 x 48 x 1
    (the general path) it gets the same answers, the last two bit for bit."""
    faces = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    short = Recognizer(detector=None).predict_faces(faces)
    chunked = Recognizer(detector=None, max_batch=2).predict_faces(faces)
    wide = np.zeros((5, 48, 96), np.uint8)
    wide[:, :, ::2] = faces
    strided = Recognizer(detector=None).predict_faces(wide[:, :, ::2])
    general = Recognizer(detector=None).predict_faces(faces[..., None])
    assert len(short) == len(chunked) == len(strided) == len(general) == 5
    for a, b, c, d in zip(short, chunked, strided, general):
        assert a.box == b.box == c.box == d.box == (0, 0, 48, 48) and a.label == b.label == c.label == d.label
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
        np.testing.assert_array_equal(a.probs, c.probs)
        np.testing.assert_array_equal(a.probs, d.probs)


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        ("frame", TypeError, "numpy.ndarray"),
        (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
        (np.zeros((10, 10, 4), np.uint8), ValueError, "BGRA"),
        (np.zeros((10, 10, 2), np.uint8), ValueError, "HxW"),
        (np.zeros((2, 10, 10, 3), np.uint8), ValueError, "HxW"),
        (np.zeros((10, 10), np.int16), TypeError, "uint8"),
        (np.full((10, 10), np.nan, np.float32), ValueError, "NaN"),
        (np.full((10, 10), 300.0), ValueError, r"\[0, 255\]"),
    ],
)
def test_bad_frames(rec, bad, exc, match):
    with pytest.raises(exc, match=match):
        rec.predict(bad)


def test_bad_boxes_and_args(rec):
    frame = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="inside the 100x100 frame"):
        rec.predict(frame, boxes=[[50, 50, 60, 10]])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        rec.predict(frame, boxes=[[1, 2, 3]])
    with pytest.raises(ValueError, match="NaN"):
        rec.predict(frame, boxes=[[np.nan, 2, 3, 4]])
    with pytest.raises(ValueError, match="smoothing"):
        Recognizer(smoothing=1.5)
    with pytest.raises(ValueError, match="unknown backend"):
        Recognizer(backend="magic")
    with pytest.raises(ValueError, match="pass boxes="):
        Recognizer(detector=None).predict(frame)


def test_missing_backend_says_what_to_install():
    if not deepemotion.build_info()["tensorrt"]:
        with pytest.raises(BackendUnavailable, match="TensorRT"):
            Recognizer(backend="tensorrt")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
            create_backend("onnxruntime-cuda")
    assert create_backend("auto").name.startswith("onnxruntime")  # auto never raises


def test_torch_backend_matches_onnxruntime(rng):
    pytest.importorskip("torch")
    frame = smooth_frame(rng)
    boxes = [[10, 20, 100, 120], [300, 200, 150, 150]]
    a = Recognizer(backend="onnxruntime").predict(frame, boxes=boxes)
    b = Recognizer(backend="torch").predict(frame, boxes=boxes)
    for fa, fb in zip(a, b):
        np.testing.assert_allclose(fa.probs, fb.probs, atol=1e-4)


def test_smoothing_is_an_ema_over_matched_faces(rng):
    frame1, frame2 = smooth_frame(rng), smooth_frame(rng)
    raw = Recognizer()
    p1 = raw.predict(frame1, boxes=[[100, 100, 120, 120]])[0].probs
    p2 = raw.predict(frame2, boxes=[[104, 98, 120, 120]])[0].probs
    sm = Recognizer(smoothing=0.7)
    sm.predict(frame1, boxes=[[100, 100, 120, 120]])
    got = sm.predict(frame2, boxes=[[104, 98, 120, 120], [400, 300, 100, 100]])
    np.testing.assert_allclose(got[0].probs, 0.7 * p1 + 0.3 * p2, atol=1e-6)
    # a face with no overlapping predecessor is not smoothed
    np.testing.assert_allclose(got[1].probs, raw.predict(frame2, boxes=[[400, 300, 100, 100]])[0].probs, atol=1e-6)


@pytest.mark.parametrize("detector", ["yunet", "haar"])
def test_thread_safe_concurrent_calls(detector, rng):
    """8 threads released together by a barrier, each interleaving the detector path and the given-boxes
    path on one shared Recognizer: every result equals the single-threaded one. Small frames keep it fast;
    what is shared (detector, backend, tracker) is the same as at full size."""
    require_yunet()
    rec = Recognizer(detector=detector)
    face = cv2.resize(example_frame(), (320, 240), interpolation=cv2.INTER_AREA)
    frames = [face, cv2.flip(face, 1), smooth_frame(rng, 240, 320), face[::-1].copy()]
    boxes = [[20, 30, 100, 100], [150, 60, 90, 110]]
    expected = [
        ([f.probs for f in rec.predict(fr, boxes=boxes)], [(f.box, f.probs) for f in rec.predict(fr)]) for fr in frames
    ]
    assert any(e[1] for e in expected)  # the detector path finds faces in some frames
    results: dict[tuple[int, int, int], tuple] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for r in range(3):
                for i, fr in enumerate(frames):
                    given = [f.probs for f in rec.predict(fr, boxes=boxes)]
                    found = [(f.box, f.probs) for f in rec.predict(fr)]
                    results[(t, r, i)] = (given, found)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 8 * 3 * len(frames)
    for (_, _, i), (given, found) in results.items():
        for a, b in zip(given, expected[i][0]):
            np.testing.assert_allclose(a, b, atol=1e-6)
        assert [bx for bx, _ in found] == [bx for bx, _ in expected[i][1]]
        for (_, a), (_, b) in zip(found, expected[i][1]):
            np.testing.assert_allclose(a, b, atol=1e-6)


# --- real faces at known positions ------------------------------------------------------------


@pytest.mark.data
def test_detector_finds_real_faces_at_known_positions(rec, rng):
    """CK+ faces (real photos), upscaled and pasted into a synthetic frame: the default detector finds
    each where it was put."""
    ck = load_npz(require_data("ckplus48.npz"))
    frame = cv2.GaussianBlur(rng.integers(90, 140, (480, 640), np.uint8), (15, 15), 5)
    spots = [(40, 60, 160), (360, 200, 200)]
    picks = [ck.images[i] for i in (0, 500)]
    for (x, y, s), face in zip(spots, picks):
        big = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC)
        frame[y : y + s, x : x + s] = big
    faces = rec.predict(frame)
    assert len(faces) == 2, [f.box for f in faces]
    found = sorted(faces, key=lambda f: f.box[0])
    for f, (x, y, s) in zip(found, spots):
        fx, fy, fw, fh = f.box
        inter = max(0, min(fx + fw, x + s) - max(fx, x)) * max(0, min(fy + fh, y + s) - max(fy, y))
        iou = inter / (fw * fh + s * s - inter)
        assert iou > 0.4, (f.box, (x, y, s))


# --- fer-predict ------------------------------------------------------------------------------


def test_fer_predict_example_writes_annotated_and_json(tmp_path, capsys):
    out = tmp_path / "out"
    assert predict_main(["--example", "--out", str(out), "--json", str(tmp_path / "res.jsonl")]) == 0
    assert (out / "astronaut_annotated.jpg").is_file()
    lines = (tmp_path / "res.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    assert set(rec) >= {"source", "frame", "latency_ms", "faces"}
    assert rec["faces"][0]["label"] in CLASSES
    printed = capsys.readouterr().out
    assert "happy" in printed and "framing: roll" in printed


def test_fer_predict_align_choice(tmp_path, capsys):
    assert predict_main(["--example", "--out", "", "--align", "landmarks"]) == 0
    assert "framing: landmarks" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        predict_main(["--example", "--align", "upright"])
    assert "invalid choice" in capsys.readouterr().err


def test_fer_predict_video(tmp_path, rng):
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(5):
        w.write(smooth_frame(rng, 240, 320))
    w.release()
    assert predict_main([str(path), "--out", str(tmp_path / "o"), "--json", str(tmp_path / "v.jsonl"), "--quiet"]) == 0
    lines = [json.loads(x) for x in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(5))
    assert (tmp_path / "o" / "clip_annotated.avi").is_file()  # the input's container


def test_fer_predict_errors(tmp_path):
    assert predict_main([str(tmp_path / "missing.jpg"), "--quiet"]) == 1
    assert predict_main(["--example", "--backend", "tensorrt", "--quiet"]) == (
        2 if not deepemotion.build_info()["tensorrt"] else 0
    )


@pytest.mark.parametrize("kw", [{"pipelined": False}, {"pipelined": True}, {"pipelined": True, "detect_workers": 3}])
def test_stream_keeps_order_and_equals_track(kw, rng):
    """stream() yields every frame once, in order, with the results of calling track() frame by frame."""
    require_yunet()
    face = example_frame()
    frames = [face if i % 3 else cv2.flip(face, 1) for i in range(10)] + [smooth_frame(rng, 200, 300)]
    ref = Recognizer(smoothing=0.5)
    want = [[(f.box, f.track_id, f.label) for f in ref.track(fr)] for fr in frames]
    rec = Recognizer(smoothing=0.5)
    got = [(r.index, [(f.box, f.track_id, f.label) for f in r.faces]) for r in rec.stream(iter(frames), **kw)]
    assert [i for i, _ in got] == list(range(len(frames)))
    assert [g for _, g in got] == want


def test_stream_stops_cleanly_on_errors_and_early_exit():
    require_yunet()
    rec = Recognizer()
    bad = [example_frame(), "not a frame", example_frame()]
    with pytest.raises(TypeError, match="frame 1"):
        list(rec.stream(iter(bad)))

    def endless():
        while True:
            yield example_frame()

    before = threading.active_count()
    for r in rec.stream(endless(), detect_workers=2):
        if r.index == 5:
            break
    import time

    for _ in range(50):  # the workers notice the stop within their 0.1 s poll
        if threading.active_count() <= before:
            break
        time.sleep(0.1)
    assert threading.active_count() <= before
    with pytest.raises(FileNotFoundError):
        list(rec.stream("missing.mp4"))


def test_annotation_is_legible_on_a_white_background():
    """Every label sits on a dark plate: on a white frame the text area is mostly dark, the text light."""
    from deepemotion.runtime.draw import annotate

    white = np.full((240, 320, 3), 255, np.uint8)
    face = Face((100, 80, 60, 60), "happy", 0.9, np.eye(7, dtype=np.float32)[3], track_id=4)
    out = annotate(white, [face])
    plate = out[60:76, 100:190]  # the label above the box
    dark = (plate.max(axis=2) < 60).mean()
    assert dark > 0.4, dark
    assert (plate.min(axis=2) > 150).any()  # the class-coloured text on it
    bars = out[80:140, 166:262]
    assert (bars.max(axis=2) < 60).mean() > 0.3  # the probability bars' panel is dark too


def test_spinning_follows_the_detector():
    """ONNX Runtime threads spin (faster back-to-back calls) unless the Haar cascade shares the cores; an explicit
    choice wins; backends that take no such option are not given one."""
    assert Recognizer(detector=None, backend="onnxruntime").backend._spinning is True
    assert Recognizer(detector="haar", backend="onnxruntime").backend._spinning is False
    assert Recognizer(detector=None, backend="onnxruntime", spinning=False).backend._spinning is False
    assert Recognizer(detector=None).backend._spinning is True  # "auto"
    pytest.importorskip("torch")
    assert Recognizer(detector=None, backend="torch").backend.name.startswith("torch")


def test_pipeline_twin_is_one_quiet_thread_with_the_same_answers(rng):
    rec = Recognizer(detector=None, backend="onnxruntime-int8")
    twin = rec.backend.pipeline_twin()
    assert twin is not rec.backend and twin is rec.backend.pipeline_twin()  # made once
    assert (twin._threads, twin._spinning, twin.precision, twin.name) == (1, False, "int8", rec.backend.name)
    assert twin.pipeline_twin() is twin
    x = rng.standard_normal((5, 1, 48, 48)).astype(np.float32)
    assert np.array_equal(rec.backend.run(x).argmax(1), twin.run(x).argmax(1))
    np.testing.assert_allclose(rec.backend.run(x), twin.run(x), atol=1e-3)


# --- no silently wrong answers; memory bounded per call ---------------------------------------------------------
def test_predict_faces_shapes_are_not_misread(rec):
    assert len(rec.predict_faces(np.zeros((48, 48, 1), np.uint8))) == 1
    assert len(rec.predict_faces(np.zeros((48, 48, 3), np.uint8))) == 1
    with pytest.raises(ValueError, match="BGRA"):
        rec.predict_faces(np.zeros((100, 100, 4), np.uint8))
    with pytest.raises(ValueError, match="HxW"):
        rec.predict_faces(np.zeros((48, 48, 2), np.uint8))
    assert len(rec.predict_faces(np.zeros((5, 48, 48), np.uint8))) == 5


@pytest.mark.parametrize("n_out", [3, 10])
def test_models_with_the_wrong_number_of_classes_are_refused(tmp_path, n_out):
    path = linear_onnx(tmp_path / f"m{n_out}.onnx", n_out)
    with pytest.raises(ValueError, match=r"expected \(N, 7\)"):
        Recognizer(model=str(path), detector=None)
    r = run_cli("predict", "--example", "--model", str(path), "--detector", "haar")
    assert_one_line_error(r, 2, f"m{n_out}.onnx")


def test_models_with_a_wrong_input_are_refused(tmp_path):
    path = linear_onnx(tmp_path / "rgb.onnx", 7, input_dims=(3, 48, 48))
    with pytest.raises(ValueError, match=r"\(N, 1, 48, 48\)"):
        Recognizer(model=str(path), detector=None)


def test_non_finite_logits_raise_instead_of_nan_labels(tmp_path):
    path = linear_onnx(tmp_path / "inf.onnx", 7, bias=float("inf"))
    rec = Recognizer(model=str(path), detector=None)
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        rec.predict_faces(np.zeros((2, 48, 48), np.uint8))
    r = run_cli(
        "predict",
        "--example",
        "--model",
        str(path),
        "--detector",
        "haar",
        "--json",
        str(tmp_path / "o.jsonl"),
        "--out",
        str(tmp_path / "out"),
    )
    assert_one_line_error(r, 1, "NaN or infinite")
    assert "NaN" not in (tmp_path / "o.jsonl").read_text() if (tmp_path / "o.jsonl").exists() else True


def test_float_frames_in_unit_range_are_refused(rec):
    frame = example_frame().astype(np.float32) / 255.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rec.predict(frame, boxes=[[0, 0, 48, 48]])
    ok = rec.predict(frame * 255.0, boxes=[[0, 0, 48, 48]])  # a 0..255 float frame is fine
    assert len(ok) == 1


def test_memory_does_not_grow_with_the_number_of_faces():
    """Faces go through the backend in chunks of max_batch: 3000 faces in one call peak at about what 512 do."""
    code = """
        import resource, sys, numpy as np
        from deepemotion import Recognizer
        rec = Recognizer(detector=None, max_batch=64)
        crops = np.random.default_rng(0).integers(0, 255, (int(sys.argv[1]), 48, 48), np.uint8)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        faces = rec.predict_faces(crops)
        assert len(faces) == len(crops)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)
    """
    small = run_python(code, "512")
    large = run_python(code, "3000")
    assert small.returncode == 0 and large.returncode == 0, (small.stderr, large.stderr)
    grow_small, grow_large = float(small.stdout.split()[-1]), float(large.stdout.split()[-1])
    # the Face objects and crops themselves are small (~30 KB/face); no per-face activation memory
    assert grow_large < grow_small + 120, (grow_small, grow_large)


# --- streams of a camera index ----------------------------------------------------------------------------------
def test_stream_of_a_negative_camera_is_a_value_error():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
        from deepemotion import Recognizer
        try:
            next(iter(Recognizer(detector="haar").stream(-1)))
        except ValueError as exc:
            print("ValueError", exc)
    """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.startswith("ValueError camera -1"), (r.stdout, r.stderr)


# --- models that only run at another size; streams --------------------------------------------------------------
def test_a_model_that_only_runs_at_another_size_is_refused_at_load(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # input declared (N, 1, H, W); a Reshape to 64*64 makes it run only on 64x64 faces
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, "H", "W"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 4096])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4096, 7], np.zeros(4096 * 7, np.float32).tolist())
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["input", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "g",
        [x],
        [y],
        [shape, w],
    )
    path = tmp_path / "only64.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(ValueError, match="only64.onnx.*does not run on a"):
        Recognizer(model=str(path), detector=None)


def test_stream_takes_exactly_max_frames_from_the_callers_iterator():
    taken = []

    def frames():
        for i in range(10):
            taken.append(i)
            yield example_frame()

    results = list(Recognizer(detector="haar").stream(frames(), max_frames=3))
    assert len(results) == 3 and taken == [0, 1, 2]


def test_leaving_a_stream_whose_source_blocks_is_prompt():
    release = threading.Event()

    def frames():
        yield example_frame()
        release.wait(30)  # a camera that stopped delivering
        yield example_frame()

    s = Recognizer(detector="haar").stream(frames())
    next(s)
    t0 = time.monotonic()
    s.close()
    assert time.monotonic() - t0 < 1.5
    release.set()
