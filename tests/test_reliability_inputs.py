"""Reliability, round 2, inputs: the Haar fallback happens whenever YuNet cannot be used and the download has a
deadline; malformed files are one line naming the file (exit 2); small crafted files cannot make a tool allocate
gigabytes; a custom detector's output is checked; and the smaller breaks (ordering, iterators, tracks, BOM,
environment variables, models that only run at another size)."""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from _helpers import example_frame, require_yunet
from deepemotion import Recognizer
from deepemotion.data.datasets import DataError, load_npz


def cli(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"deepemotion.cli.{module}", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


def error_line(r: subprocess.CompletedProcess, prog: str) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip() and ": note:" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), r.stderr
    return lines[0]


# --- 3. the fallback ------------------------------------------------------------------------------------------
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
    r = cli("predict", "--example", "--detector", "yunet", "--detector-model", str(path), "--out", "")
    assert r.returncode == 2 and str(path) in error_line(r, "fer-predict")


def test_a_cache_that_cannot_be_used_falls_back_to_haar(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    env = {k: v for k, v in os.environ.items() if k != "DEEPEMOTION_YUNET"}
    env["XDG_CACHE_HOME"] = str(blocker)
    r = subprocess.run([sys.executable, "-c", "from deepemotion import Recognizer; print(Recognizer().detector_name)"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "haar", r.stderr
    assert r.stderr.count("RuntimeWarning") == 1


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the handler's name is fixed
        self.send_response(200)
        self.send_header("Content-Length", "232589")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.4)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_download_has_an_overall_deadline_and_leaves_no_part_files(tmp_path):
    from deepemotion.runtime.download import ModelUnavailable, download

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stale = tmp_path / ".face_detection_yunet_2023mar.onnx.abc.part"
    stale.write_bytes(b"left by a killed run")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    t0 = time.monotonic()
    try:
        with pytest.raises(ModelUnavailable, match="not complete after"):
            download(f"http://127.0.0.1:{server.server_address[1]}/y.onnx",
                     tmp_path / "face_detection_yunet_2023mar.onnx", timeout=5, deadline_s=1.5, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - t0 < 4.0
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "face_detection_yunet_2023mar.onnx").exists()


# --- 5. malformed inputs: exit 2, one line naming the file ---------------------------------------------------------
def _csv(path: Path, pixels: str, prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + b"emotion,pixels,Usage\n0," + pixels.encode() + b",Training\n")
    return path


@pytest.mark.parametrize("make, why", [
    (lambda p: _csv(p, " ".join(["99999999999999999999999"] * 2304)), "0-255"),
    (lambda p: _csv(p, " ".join(["-1"] + ["1"] * 2303)), "0-255, got -1"),
    (lambda p: _csv(p, " ".join(["256"] + ["1"] * 2303)), "0-255"),
    (lambda p: _csv(p, "1 " * 200_000), "CSV"),
    (lambda p: p.write_bytes(b"emotion,pixels,Usage\n0,\xff\xfe\xfa,Training\n") and p, "not UTF-8"),
    (lambda p: p.mkdir() or p, "is a folder"),
])
def test_malformed_csv_is_exit_2_naming_the_file(tmp_path, make, why):
    src = make(tmp_path / "fer.csv")
    r = cli("data", "fer2013", str(src), "--out", str(tmp_path / "out.npz"))
    line = error_line(r, "fer-data")
    assert r.returncode == 2 and "fer.csv" in line and why in line, line


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path):
    src = _csv(tmp_path / "fer.csv", " ".join(["7"] * 2304), prefix=b"\xef\xbb\xbf")
    r = cli("data", "fer2013", str(src), "--out", str(tmp_path / "out.npz"))
    assert r.returncode == 0, r.stderr


def _npz(path: Path, **arrays: object) -> Path:
    np.savez(path, **arrays)
    return path


GOOD = {"images": np.zeros((4, 48, 48), np.uint8), "labels": np.zeros(4, np.int64), "split": np.array(["a"] * 4),
        "ids": np.array(["1", "2", "3", "4"]), "class_names": np.array(["angry", "disgust", "fear", "happy", "sad",
                                                                        "surprise", "neutral"])}


@pytest.mark.parametrize("arrays, why", [
    ({}, "holds no arrays"),
    ({**GOOD, "labels": np.zeros((4, 2), np.int64)}, "labels must be a vector"),
    ({**GOOD, "ids": np.array([object(), 1, 2, 3], dtype=object)}, "holds Python objects"),
    ({**GOOD, "images": np.zeros(4 * 48 * 48, np.uint8)}, "(N, H, W)"),
])
def test_malformed_archives_are_data_errors_naming_the_file(tmp_path, arrays, why):
    path = tmp_path / "set.npz"
    _npz(path, **arrays)
    with pytest.raises(DataError, match=why) as exc:
        load_npz(path)
    assert "set.npz" in str(exc.value)
    r = cli("data", "summary", str(path))
    assert r.returncode == 2 and "set.npz" in error_line(r, "fer-data")


def test_an_archive_with_a_bad_crc_is_exit_2(tmp_path):
    path = _npz(tmp_path / "set.npz", **GOOD)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("images.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside images.npy's data
    path.write_bytes(bytes(data))
    r = cli("eval", "--data", str(path))
    assert r.returncode == 2 and "set.npz" in error_line(r, "fer-eval")


def _peak_mb(code: str) -> tuple[subprocess.CompletedProcess, float]:
    # VmHWM: the peak of this process's own memory since it started (ru_maxrss would also count the memory of the
    # parent that forked it: Linux keeps the high-water mark across exec)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + textwrap.dedent("""
        import sys
        hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print("PEAK", hwm / 1024, file=sys.stderr)
    """)], capture_output=True, text=True, timeout=180)
    peak = float(next(line.split()[1] for line in r.stderr.splitlines() if line.startswith("PEAK")))
    return r, peak


@pytest.mark.slow
def test_small_crafted_files_never_allocate_gigabytes(tmp_path):
    # 2,000,000 blank faces compress to a few MB and declare 4.6 GB
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in GOOD.items():
            if k != "images":
                with z.open(f"{k}.npy", "w") as f:
                    np.lib.format.write_array(f, v)
        with z.open("images.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, {"descr": "|u1", "fortran_order": False,
                                                     "shape": (2_000_000, 48, 48)})
            for _ in range(2000):
                f.write(bytes(48 * 48 * 1000))
    assert bomb.stat().st_size < 20 << 20
    # a PNG that declares 30000 x 30000 pixels
    big_png = tmp_path / "big.png"
    import cv2

    ok, buf = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    data = bytearray(buf.tobytes())
    data[16:24] = (30000).to_bytes(4, "big") + (30000).to_bytes(4, "big")
    big_png.write_bytes(bytes(data))
    r, peak = _peak_mb(f"""
        from deepemotion.data.datasets import DataError, load_npz
        from deepemotion.data.prepare import summary
        from deepemotion.files import read_image
        cases = (lambda: load_npz({str(bomb)!r}), lambda: summary({str(bomb)!r}),
                 lambda: read_image({str(big_png)!r}))
        for f in cases:
            try:
                f()
                raise SystemExit("accepted")
            except (DataError, ValueError) as exc:
                print("refused:", exc)
    """)
    assert r.returncode == 0 and r.stdout.count("refused:") == 3, (r.stdout, r.stderr)
    assert peak < 400, peak


def test_a_tiny_checkpoint_asking_for_a_huge_network_is_refused_at_once(tmp_path):
    torch = pytest.importorskip("torch")
    huge = tmp_path / "huge.pt"
    torch.save({"format": "deepemotion-checkpoint-2", "config": {"widths": [4096, 4096], "depths": [1, 1],
                                                                 "hidden": 60000}, "state_dict": {}, "meta": {}}, huge)
    assert huge.stat().st_size < 4000
    t0 = time.monotonic()
    r = cli("eval", "--model", str(huge), "--data", "fer2013", "--split", "public_test")
    assert r.returncode == 2 and "huge.pt" in error_line(r, "fer-eval")
    assert time.monotonic() - t0 < 60


def test_random_bytes_as_a_checkpoint_are_not_called_python_objects(tmp_path):
    pytest.importorskip("torch")
    from deepemotion.training.checkpoint import CheckpointError, read_checkpoint

    bad = tmp_path / "random.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(bad)


def test_a_file_that_is_not_a_haar_cascade_is_exit_2(tmp_path):
    bad = tmp_path / "cascade.xml"
    bad.write_text("<opencv_storage><nonsense/></opencv_storage>")
    r = cli("predict", "--example", "--detector", "haar", "--out", "", env={"DEEPEMOTION_HAAR_CASCADE": str(bad)})
    assert r.returncode == 2 and "not a valid Haar cascade" in error_line(r, "fer-predict")
    r = cli("predict", "--example", "--detector", "haar", "--out", "",
            env={"DEEPEMOTION_HAAR_CASCADE": str(tmp_path / "missing.xml")})
    assert r.returncode == 2 and "missing.xml" in error_line(r, "fer-predict")


def test_damaged_images_give_our_line_and_not_opencvs(tmp_path):
    import cv2

    ok, buf = cv2.imencode(".png", example_frame())
    bad = tmp_path / "damaged.png"
    bad.write_bytes(buf.tobytes()[: len(buf) // 2])
    r = cli("predict", str(bad), "--out", "")
    assert r.returncode == 1
    assert "damaged.png: cannot be decoded" in error_line(r, "fer-predict")
    assert "WARN" not in r.stderr and "libpng" not in r.stderr


def test_a_model_that_only_runs_at_another_size_is_refused_at_load(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # input declared (N, 1, H, W); a Reshape to 64*64 makes it run only on 64x64 faces
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, "H", "W"])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 4096])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4096, 7], np.zeros(4096 * 7, np.float32).tolist())
    graph = helper.make_graph([helper.make_node("Reshape", ["input", "shape"], ["flat"]),
                               helper.make_node("MatMul", ["flat", "w"], ["logits"])], "g", [x], [y], [shape, w])
    path = tmp_path / "only64.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    with pytest.raises(ValueError, match="only64.onnx.*does not run on a"):
        Recognizer(model=str(path), detector=None)


# --- 7. a custom detector's output is checked ---------------------------------------------------------------------
class Custom:
    box_in_crop = "haar"

    def __init__(self, out: object) -> None:
        self.out = out

    def detect(self, frame: np.ndarray) -> object:
        return self.out


@pytest.mark.parametrize("out, why", [
    (np.array([[700, 10, 20, 20]]), "no area inside"),
    (np.array([[10, 10, -5, 20]]), "no area inside"),
    (np.array([[10, 10, 0, 20]]), "no area inside"),
    (np.array([[10, 10, 20]]), "expected \\(N, 4\\)"),
    (None, "no boxes"),
])
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


# --- 8. smaller ---------------------------------------------------------------------------------------------------
def test_haar_returns_faces_in_a_fixed_order():
    from deepemotion import HaarDetector

    frame = np.concatenate([example_frame()] * 2, axis=1)
    det = HaarDetector()
    runs = [det.detect(frame).boxes.tolist() for _ in range(5)]
    assert all(r == runs[0] for r in runs) and runs[0] == sorted(runs[0])


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


def test_each_stream_starts_with_fresh_tracks():
    rec = Recognizer(detector="haar", smoothing=0.5)
    first = [r.faces[0].track_id for r in rec.stream([example_frame()] * 3)]
    second = [r.faces[0].track_id for r in rec.stream([example_frame()] * 3)]
    assert first == second == [first[0]] * 3


def test_peak_memory_is_read_from_proc_here():
    # the memory tests above read VmHWM from /proc (Linux); make that assumption visible
    assert sys.platform.startswith("linux") and Path("/proc/self/status").read_text().count("VmHWM:") == 1
