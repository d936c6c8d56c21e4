"""Reliability, round 2 (the hostile-user findings): no tool replaces an input or an existing file without
--overwrite, a failed or interrupted run leaves earlier outputs as they were and no partial files, written files
get a normal file's mode, the camera index is checked before OpenCV sees it, and malformed inputs are exit 2 with
one line naming the file. Crash-prone cases run in subprocesses."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from _helpers import example_frame


def cli(module: str, *args: str, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"deepemotion.cli.{module}", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def one_error_line(r: subprocess.CompletedProcess, prog: str) -> str:
    lines = [line for line in r.stderr.splitlines() if line.strip() and ": note:" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), r.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith((".part", ".tmp")))


# --- 1. the camera index ------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", ["-1", "-7", "2147483648", "100"])
def test_bad_camera_index_is_exit_2_with_one_line(index):
    r = cli("predict", "--camera", index, "--out", "")
    assert r.returncode == 2 and "camera index is 0..99" in one_error_line(r, "fer-predict")


def test_stream_of_a_negative_camera_is_a_value_error():
    r = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from deepemotion import Recognizer
        try:
            next(iter(Recognizer(detector="haar").stream(-1)))
        except ValueError as exc:
            print("ValueError", exc)
    """)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ValueError camera -1"), (r.stdout, r.stderr)


# --- 2. lost files ------------------------------------------------------------------------------------------
def test_saliency_never_replaces_its_input_or_an_existing_summary(tmp_path):
    import cv2

    faces = tmp_path / "faces"
    faces.mkdir()
    photo = faces / "smile.png"
    cv2.imwrite(str(photo), cv2.resize(example_frame()[60:180, 170:280], (96, 96)))
    before = photo.read_bytes()
    r = cli("saliency", str(photo), "--out", str(faces), "--backend", "onnxruntime")
    assert r.returncode == 2 and "is also an input" in one_error_line(r, "fer-saliency")
    assert photo.read_bytes() == before
    out = tmp_path / "maps"
    out.mkdir()
    (out / "saliency.json").write_text("mine")
    r = cli("saliency", str(photo), "--out", str(out))
    assert r.returncode == 2 and "exists; pass --overwrite" in one_error_line(r, "fer-saliency")
    assert (out / "saliency.json").read_text() == "mine" and not (out / "smile.png").exists()


def test_bench_never_writes_its_report_onto_the_model_or_an_existing_file(tmp_path):
    from deepemotion.runtime.assets import bundled_model

    model = tmp_path / "model.onnx"
    model.write_bytes(bundled_model("tiny").path("onnx").read_bytes())
    before = model.read_bytes()
    r = cli("bench", "--model", str(model), "--json", str(model), "--plot", "", "--no-stages", "--backends",
            "onnxruntime", "--batches", "1", "--min-time", "0")
    assert r.returncode == 2 and "is also an input" in one_error_line(r, "fer-bench")
    assert model.read_bytes() == before
    (tmp_path / "old.json").write_text("{}")
    r = cli("bench", "--json", str(tmp_path / "old.json"), "--plot", "", "--no-stages", "--no-backends")
    assert r.returncode == 2 and (tmp_path / "old.json").read_text() == "{}"


@pytest.mark.parametrize("args, why", [
    (["--model", "no-such-model.onnx"], "no such file"),
    (["--backends", "bogus"], "unknown backend"),
])
def test_bench_with_a_missing_model_or_a_bogus_backend_is_exit_2(args, why):
    r = cli("bench", *args, "--json", "", "--plot", "", "--no-stages")
    assert r.returncode == 2 and why in one_error_line(r, "fer-bench")


def test_predict_json_is_replaced_only_by_a_run_that_got_through(tmp_path):
    old = tmp_path / "result.jsonl"
    old.write_text("previous result\n" * 3000)
    r = cli("predict", "--example", "--json", str(old), "--out", "")
    assert r.returncode == 2 and "exists; pass --overwrite" in one_error_line(r, "fer-predict")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    r = cli("predict", str(bad), "--json", str(old), "--out", "", "--overwrite")
    assert r.returncode == 1  # the only input failed: nothing to replace the old result with
    assert old.read_text() == "previous result\n" * 3000 and not leftovers(tmp_path)
    r = cli("predict", "--model", "no-such.onnx", "--example", "--json", str(old), "--out", "", "--overwrite")
    assert r.returncode == 2 and old.read_text().startswith("previous") and not leftovers(tmp_path)
    r = cli("predict", "--example", "--json", str(old), "--out", "", "--overwrite")
    assert r.returncode == 0 and '"happy"' in old.read_text() and not leftovers(tmp_path)


def test_predict_interrupted_mid_video_keeps_earlier_outputs(tmp_path, monkeypatch):
    """Ctrl-C during a video: the old JSON keeps all its lines, no half-written video appears, nothing partial is
    left behind."""
    from deepemotion.benchmarks.stages import synthetic_video
    from deepemotion.cli import predict
    from deepemotion.runtime.recognizer import Recognizer

    video = synthetic_video(str(tmp_path / "clip.avi"), frames=12)
    old = tmp_path / "result.jsonl"
    old.write_text("previous result\n" * 266)
    real_stream = Recognizer.stream

    def interrupted(self, source, **kw):
        for k, r in enumerate(real_stream(self, source, **kw)):
            if k == 5:
                raise KeyboardInterrupt
            yield r

    monkeypatch.setattr(Recognizer, "stream", interrupted)
    rc = predict.main([video, "--json", str(old), "--out", str(tmp_path / "out"), "--overwrite", "--detector", "haar",
                       "--quiet"])
    assert rc == 130
    assert old.read_text() == "previous result\n" * 266
    assert not (tmp_path / "out" / "clip_annotated.avi").exists() and not leftovers(tmp_path)


def test_predict_refuses_existing_annotated_copies_and_colliding_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "astronaut_annotated.jpg").write_bytes(b"mine")
    r = cli("predict", "--example", "--out", str(out))
    assert r.returncode == 2 and (out / "astronaut_annotated.jpg").read_bytes() == b"mine"
    r = cli("predict", "--example", "--out", str(tmp_path / "o2"), "--json",
            str(tmp_path / "o2" / "astronaut_annotated.jpg"))
    assert r.returncode == 2 and "written twice" in one_error_line(r, "fer-predict")


def test_eval_and_data_never_replace_existing_outputs_or_inputs(tmp_path):
    rng = np.random.default_rng(0)
    arc = tmp_path / "faces.npz"
    np.savez(arc, images=rng.integers(0, 256, (20, 48, 48), dtype=np.uint8), labels=rng.integers(0, 7, 20),
             split=np.array(["test"] * 20), ids=np.array([f"f{i}" for i in range(20)]),
             class_names=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
    out = tmp_path / "metrics"
    out.mkdir()
    (out / "metrics.json").write_text("mine")
    r = cli("eval", "--data", str(arc), "--out", str(out))
    assert r.returncode == 2 and (out / "metrics.json").read_text() == "mine"
    csv = tmp_path / "fer.csv"
    csv.write_text("emotion,pixels,Usage\n0," + " ".join(["1"] * 2304) + ",Training\n")
    r = cli("data", "fer2013", str(csv), "--out", str(csv), "--overwrite")
    assert r.returncode == 2 and "is also an input" in one_error_line(r, "fer-data")


# --- 4. a normal file's mode ----------------------------------------------------------------------------------
def test_written_files_get_the_mode_of_a_normal_file(tmp_path):
    from deepemotion.files import atomic_write_bytes

    old = os.umask(0o022)
    try:
        target = tmp_path / "model.onnx"
        atomic_write_bytes(target, b"1")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o644)
        atomic_write_bytes(target, b"2")  # --overwrite keeps it readable by others
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(old)
    r = cli("predict", "--example", "--out", str(tmp_path / "o"), "--json", str(tmp_path / "r.jsonl"))
    assert r.returncode == 0
    for f in (tmp_path / "o" / "astronaut_annotated.jpg", tmp_path / "r.jsonl"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~old, oct(f.stat().st_mode)
