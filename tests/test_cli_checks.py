"""The command-line tools: what they refuse cheaply before they look anything up, load data or start work (options
that used to run for ever, run the whole evaluation first, or fail only after the data set was looked up); the
exit-code policy (one line; exit 2 for usage, 1 for runtime failures) for every tool; the output policy (no tool
writes onto an input or an existing file without --overwrite, a failed or interrupted run leaves earlier outputs as
they were and nothing partial); file names OpenCV cannot take; checkpoints that carry code. Crash-prone cases run
in subprocesses."""

from __future__ import annotations

import http.server
import io
import json
import os
import sys
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from _helpers import (
    assert_one_line_error,
    error_line,
    example_frame,
    huge_network_checkpoint,
    partial_files,
    pickle_payload_checkpoint,
    run_cli,
)
from deepemotion.runtime import download


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """$DEEPEMOTION_DATA is an empty folder: a tool that looks the data set up first fails on that, not on the
    refusal under test."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("DEEPEMOTION_DATA", str(empty))
    return empty


def _error(capsys, prog: str) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip() and ": note:" not in ln]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    return lines[0]


# --- fer-train ---------------------------------------------------------------------------------------------------
def _train(*args: str) -> int:
    from deepemotion.cli.train import main

    return main(["--data", "fer2013", "--train-split", "train", *args])


def test_fer_train_refuses_a_run_folder_before_looking_the_data_up(tmp_path, no_data, capsys):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"precious")
    assert _train("--out", str(run), "--epochs", "1") == 2
    assert "--resume" in _error(capsys, "fer-train")
    (run / "last.pt").write_bytes(b"\x80\x02garbage")
    assert _train("--out", str(run), "--resume") == 2
    assert "last.pt" in _error(capsys, "fer-train")
    assert (run / "best.pt").read_bytes() == b"precious"


def test_fer_train_resume_names_the_options_the_run_recorded(tmp_path, no_data, capsys):
    """A --time-budget run records the epochs it chose; resumed with the original --epochs, the refusal says
    which --epochs it recorded (and comes before the data set is looked up)."""
    torch = pytest.importorskip("torch")
    from deepemotion.cli.train import build_parser, make_config

    run = tmp_path / "run"
    run.mkdir()
    args = build_parser().parse_args(["--data", "fer2013", "--out", str(run), "--epochs", "7"])
    recorded = make_config(args).to_dict()
    torch.save(
        {"format": "deepemotion-checkpoint-2", "config": recorded["model"], "state_dict": {}, "train_config": recorded},
        run / "last.pt",
    )
    assert _train("--out", str(run), "--resume", "--epochs", "10") == 2
    err = _error(capsys, "fer-train")
    assert "epochs: recorded 7, given 10" in err and "--epochs" in err


@pytest.mark.parametrize(
    "option",
    [
        ("--time-budget", "inf"),
        ("--time-budget", "1e308"),
        ("--time-budget", "nan"),
        ("--stop-after", "-1"),
        ("--stop-after", "0"),
    ],
)
def test_fer_train_numbers_that_cannot_run_are_usage_errors(tmp_path, no_data, capsys, option):
    pytest.importorskip("torch")
    assert _train("--out", str(tmp_path / "run"), *option) == 2
    assert option[0] in _error(capsys, "fer-train")
    assert not (tmp_path / "run").exists()


# --- fer-eval ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", [["--perturb", "bogus"], ["--perturb", "blur1.2", "--seed", "-1"]])
def test_fer_eval_checks_its_options_before_evaluating(tmp_path, no_data, capsys, option):
    from deepemotion.cli.eval import main

    out = tmp_path / "d"
    assert main(["--data", "fer2013", "--split", "public_test", "--out", str(out), *option]) == 2
    assert option[-2] in _error(capsys, "fer-eval")
    assert not out.exists()


def test_fer_eval_refuses_a_huge_network_before_the_data(tmp_path, no_data, capsys):
    pytest.importorskip("torch")
    from deepemotion.cli.eval import main

    huge = huge_network_checkpoint(tmp_path)
    assert main(["--model", str(huge), "--data", "fer2013", "--split", "public_test"]) == 2
    assert "huge.pt" in _error(capsys, "fer-eval")


# --- fer-bench ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "option", [["--min-time", "inf"], ["--min-time", "nan"], ["--whole-graph"], ["--batches", "1", "100000"]]
)
def test_fer_bench_options_that_cannot_end_or_do_nothing_are_usage_errors(tmp_path, capsys, option):
    from deepemotion.cli.bench import main

    assert main([*option, "--json", str(tmp_path / "b.json"), "--plot", ""]) == 2
    assert option[0] in _error(capsys, "fer-bench")
    assert not (tmp_path / "b.json").exists()


def test_fer_bench_profile_of_a_bad_model_prints_only_our_line(tmp_path, capfd):
    from deepemotion.cli.bench import main

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk\n")
    assert main(["--profile", "--no-backends", "--no-stages", "--model", str(junk), "--json", "", "--plot", ""]) == 2
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("fer-bench: error: ") and "junk.onnx" in err[0], err


def test_fer_bench_says_which_suite_runs_before_it_runs(capsys):
    """fer-bench --serve printed nothing for the 51 s its servers took: each suite is named as it starts."""
    from deepemotion.cli.bench import main

    assert main(["--no-backends", "--min-time", "0", "--min-runs", "2", "--json", "", "--plot", ""]) == 0
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("[1/1] stages: the stages of predict()"))
    assert any(line.startswith("predict() on a 640x480 frame") for line in out[start + 1 :])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_fer_bench_faces_shows_progress_on_a_terminal(monkeypatch):
    """--faces at a large batch runs for minutes: on a terminal a bar says which batch and round it is at."""
    from deepemotion.benchmarks.faces import time_recognizers

    class Quick:
        def predict_faces(self, x):
            return []

    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    times = time_recognizers({"a": Quick(), "b": Quick()}, (1, 3), rounds=2, min_time=0.0, progress=True)
    assert set(times) == {(m, b) for m in "ab" for b in (1, 3)} and all(len(t) == 2 for t in times.values())
    assert "0/4" in term.getvalue() and "batch 3" in term.getvalue()


# --- fer-predict -------------------------------------------------------------------------------------------------
def test_fer_predict_json_inside_the_out_folder_it_makes(tmp_path):
    from deepemotion.cli.predict import main

    out = tmp_path / "o"
    assert main(["--example", "--out", str(out), "--json", str(out / "x.jsonl"), "--quiet", "--detector", "haar"]) == 0
    assert (out / "x.jsonl").read_text().count("\n") == 1 and (out / "astronaut_annotated.jpg").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_annotated.jpg", "x.jsonl"]  # no .partial left


class _Counting(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).requests += 1
        body = b"not the model"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def bad_server(tmp_path, monkeypatch):
    """A server that sends a wrong file, counting requests; an empty cache; no $DEEPEMOTION_YUNET."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Counting.requests = 0
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DEEPEMOTION_YUNET", raising=False)
    monkeypatch.setenv("DEEPEMOTION_YUNET_URL", f"http://127.0.0.1:{srv.server_address[1]}/yunet.onnx")
    yield _Counting
    srv.shutdown()
    srv.server_close()


def test_offline_recognizers_try_the_download_once_and_say_so_once(bad_server):
    from deepemotion import Recognizer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = Recognizer(), Recognizer()
    assert first.detector_name == second.detector_name == "haar"
    assert bad_server.requests == 1
    said = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == 1 and "the transfer ended" in str(said[0].message)
    with pytest.raises(download.DownloadFailed, match="the transfer ended"):  # remembered: no second request
        download.yunet_model_path()
    assert bad_server.requests == 1


def test_prefetch_that_cannot_download_is_a_runtime_failure_in_one_whole_line(bad_server, capsys):
    from deepemotion.cli.predict import main

    assert main(["--prefetch"]) == 1
    err = _error(capsys, "fer-predict")
    assert "the transfer ended" in err and err.endswith(str(download.cache_dir() / download.YUNET_FILE)), err


def test_fer_export_int8_says_what_it_is_doing(monkeypatch, capsys):
    """fer-export int8 ran 32 s with one line: the check on PublicTest, its longest step, is announced too."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import numpy as np

    from deepemotion.data import datasets as data
    from deepemotion.export.quantize import quantize_model
    from deepemotion.training.checkpoint import load_model

    rng = np.random.default_rng(0)

    def faces(name, split):
        n = 32
        return data.FaceSet(
            rng.integers(0, 256, (n, 48, 48)).astype(np.uint8),
            np.arange(n) % 7,
            np.array([split] * n),
            np.array([str(i) for i in range(n)]),
            name=f"{name}:{split}",
        )

    monkeypatch.setattr(data, "resolve_dataset", faces)
    model, _ = load_model("tiny")
    _, report = quantize_model(model, n_calibration=16, progress=True)
    out = capsys.readouterr().out
    assert "calibrating on 16" in out and "checking the FP32 and INT8 graphs on 32 fer2013:public_test faces" in out
    assert 0 <= report["int8_accuracy"] <= 1


# --- the output policy, one-line errors, names OpenCV cannot take, checkpoints are data -------------------------
def test_non_utf8_file_names_do_not_crash(tmp_path):
    """OpenCV's imread segfaults on such names; we decode the bytes ourselves. Every file after it is processed."""
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), example_frame())
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/x\xff.jpg")
    Path(bad).write_bytes(good.read_bytes())
    out = tmp_path / "out"
    r = run_cli("predict", bad, str(good), "--out", str(out), "--detector", "haar", "--json", str(tmp_path / "r.jsonl"))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["source"].endswith("x\\xff.jpg")
    assert sorted(p.name for p in out.iterdir()) == ["good_annotated.jpg", "x\\xff_annotated.jpg"]
    # a video with such a name: a clear error, not a crash, and the rest still runs
    badvid = os.fsdecode(os.fsencode(str(tmp_path)) + b"/v\xfe.avi")
    Path(badvid).write_bytes(b"not a video")
    r = run_cli("predict", badvid, str(good), "--out", "", "--detector", "haar")
    assert r.returncode == 1 and "not valid UTF-8" in r.stderr and "good.jpg: 1 face" in r.stdout, r.stderr
    # the data loader too
    from deepemotion.data.datasets import load_image_folder

    (tmp_path / "data" / "happy").mkdir(parents=True)
    Path(os.fsdecode(os.fsencode(str(tmp_path / "data" / "happy")) + b"/f\xff.png")).write_bytes(
        cv2.imencode(".png", np.zeros((48, 48), np.uint8))[1].tobytes()
    )
    assert len(load_image_folder(tmp_path / "data")) == 1


def test_pickle_payload_is_never_run(tmp_path):
    pytest.importorskip("torch")
    evil, marker = pickle_payload_checkpoint(tmp_path)
    face = tmp_path / "face.jpg"
    cv2.imwrite(str(face), example_frame())
    for backend in ("auto", "torch"):
        r = run_cli("predict", str(face), "--model", str(evil), "--backend", backend, "--detector", "haar")
        assert_one_line_error(r, 2, "evil.pt")
    assert not marker.exists()


def test_json_onto_an_input_is_refused(tmp_path):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), example_frame())
    before = photo.read_bytes()
    r = run_cli("predict", str(photo), "--json", str(photo), "--detector", "haar")
    assert_one_line_error(r, 2, "also an input")
    assert photo.read_bytes() == before


def test_outputs_of_same_named_inputs_are_all_kept(tmp_path):
    for sub, name in (("a", "same.jpg"), ("b", "same.jpg"), ("a", "same.png")):
        (tmp_path / sub).mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / sub / name), example_frame())
    out = tmp_path / "out"
    r = run_cli(
        "predict",
        str(tmp_path / "a" / "same.jpg"),
        str(tmp_path / "b" / "same.jpg"),
        str(tmp_path / "a" / "same.png"),
        "--out",
        str(out),
        "--detector",
        "haar",
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "same_annotated.jpg",
        "same_annotated_2.jpg",
        "same_annotated_3.jpg",
    ]


def test_fer_train_refuses_an_existing_run_folder(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"precious")
    (run / "metrics.json").write_text("[]")
    r = run_cli("train", "--data", "fer2013", "--train-split", "train", "--out", str(run), "--epochs", "1")
    assert_one_line_error(r, 2, "--resume", "--overwrite")
    assert (run / "best.pt").read_bytes() == b"precious"


def _corrupt_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "empty.onnx": b"",
        "corrupt.onnx": b"\x08\x01garbage",
        "corrupt.npz": b"PK\x03\x04garbage",
        "corrupt.pt": b"\x80\x02garbage",
    }
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    np.savez(
        tmp_path / "shape.npz",
        images=np.zeros((3, 48), np.uint8),
        labels=np.zeros(3, np.int64),
        split=np.array(["a"] * 3),
        ids=np.array(["x"] * 3),
        class_names=np.array(["angry"]),
    )
    out["shape.npz"] = tmp_path / "shape.npz"
    return out


@pytest.mark.parametrize(
    "case",
    [
        ("predict", ["--example", "--model", "{empty.onnx}"], 2, "empty.onnx"),
        ("predict", ["--example", "--model", "{corrupt.onnx}"], 2, "corrupt.onnx"),
        (
            "predict",
            ["--example", "--out", "{tmp}/missing/dir/x", "--json", "{tmp}/missing/r.jsonl"],
            2,
            "no such folder",
        ),
        ("predict", ["--example", "--json", "{tmp}"], 2, "is a folder"),
        ("eval", ["--data", "{corrupt.npz}"], 2, "corrupt.npz"),
        ("eval", ["--data", "{shape.npz}"], 2, "shape.npz"),
        ("train", ["--data", "{corrupt.npz}", "--out", "{tmp}/r1"], 2, "corrupt.npz"),
        ("train", ["--data", "fer2013", "--out", "{tmp}/r2", "--batch-size", "0"], 2, "batch size"),
        ("train", ["--data", "fer2013", "--out", "{tmp}/r3", "--lr", "nan"], 2, "learning rate"),
        ("train", ["--data", "fer2013", "--out", "{tmp}/r4", "--dropout", "1"], 2, "dropout"),
        ("train", ["--data", "ckplus", "--out", "{tmp}/r5", "--cv-folds", "1"], 2, "--cv-folds"),
        ("train", ["--data", "fer2013", "--out", "{tmp}/r6", "--init", "{corrupt.pt}"], 2, "corrupt.pt"),
        ("saliency", ["--example", "--patch", "0"], 2, "patch"),
        ("saliency", ["--example", "--stride", "0"], 2, "stride"),
        ("bench", ["--compare", "{tmp}/a.json", "{tmp}/b.json"], 2, "a.json"),
        ("export", ["onnx", "--model", "{corrupt.pt}", "--out", "{tmp}/x.onnx"], 2, "corrupt.pt"),
    ],
    ids=lambda c: f"{c[0]}-{c[3]}",
)
def test_cli_errors_are_one_line(tmp_path, case):
    tool, args, code, needle = case
    if tool in ("train", "export") or (tool == "eval" and False):
        pytest.importorskip("torch")
    files = _corrupt_files(tmp_path)
    subst = {"tmp": str(tmp_path), **{k: str(v) for k, v in files.items()}}
    for k, v in subst.items():
        args = [a.replace("{" + k + "}", v) for a in args]
    r = run_cli(tool, *args)
    assert_one_line_error(r, code, needle)


def test_resume_with_a_corrupt_checkpoint_is_one_line(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"\x80\x02garbage")
    r = run_cli("train", "--data", "fer2013", "--train-split", "train", "--out", str(run), "--resume")
    assert_one_line_error(r, 2, "last.pt")


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "e.onnx").write_bytes(b"")
    r = run_cli("predict", "--example", "--model", str(tmp_path / "e.onnx"), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


# --- the camera index; no tool replaces an input or an existing file without --overwrite ------------------------
@pytest.mark.parametrize("index", ["-1", "-7", "2147483648", "100"])
def test_bad_camera_index_is_exit_2_with_one_line(index):
    r = run_cli("predict", "--camera", index, "--out", "")
    assert r.returncode == 2 and "camera index is 0..99" in error_line(r, "fer-predict")


def test_saliency_never_replaces_its_input_or_an_existing_summary(tmp_path):
    import cv2

    faces = tmp_path / "faces"
    faces.mkdir()
    photo = faces / "smile.png"
    cv2.imwrite(str(photo), cv2.resize(example_frame()[60:180, 170:280], (96, 96)))
    before = photo.read_bytes()
    r = run_cli("saliency", str(photo), "--out", str(faces), "--backend", "onnxruntime")
    assert r.returncode == 2 and "is also an input" in error_line(r, "fer-saliency")
    assert photo.read_bytes() == before
    out = tmp_path / "maps"
    out.mkdir()
    (out / "saliency.json").write_text("mine")
    r = run_cli("saliency", str(photo), "--out", str(out))
    assert r.returncode == 2 and "exists; pass --overwrite" in error_line(r, "fer-saliency")
    assert (out / "saliency.json").read_text() == "mine" and not (out / "smile.png").exists()


def test_bench_never_writes_its_report_onto_the_model_or_an_existing_file(tmp_path):
    from deepemotion.runtime.assets import bundled_model

    model = tmp_path / "model.onnx"
    model.write_bytes(bundled_model("tiny").path("onnx").read_bytes())
    before = model.read_bytes()
    r = run_cli(
        "bench",
        "--model",
        str(model),
        "--json",
        str(model),
        "--plot",
        "",
        "--no-stages",
        "--backends",
        "onnxruntime",
        "--batches",
        "1",
        "--min-time",
        "0",
    )
    assert r.returncode == 2 and "is also an input" in error_line(r, "fer-bench")
    assert model.read_bytes() == before
    (tmp_path / "old.json").write_text("{}")
    r = run_cli("bench", "--json", str(tmp_path / "old.json"), "--plot", "", "--no-stages", "--no-backends")
    assert r.returncode == 2 and (tmp_path / "old.json").read_text() == "{}"


@pytest.mark.parametrize(
    "args, why",
    [
        (["--model", "no-such-model.onnx"], "no such file"),
        (["--backends", "bogus"], "unknown backend"),
    ],
)
def test_bench_with_a_missing_model_or_a_bogus_backend_is_exit_2(args, why):
    r = run_cli("bench", *args, "--json", "", "--plot", "", "--no-stages")
    assert r.returncode == 2 and why in error_line(r, "fer-bench")


def test_predict_json_is_replaced_only_by_a_run_that_got_through(tmp_path):
    old = tmp_path / "result.jsonl"
    old.write_text("previous result\n" * 3000)
    r = run_cli("predict", "--example", "--json", str(old), "--out", "")
    assert r.returncode == 2 and "exists; pass --overwrite" in error_line(r, "fer-predict")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    r = run_cli("predict", str(bad), "--json", str(old), "--out", "", "--overwrite")
    assert r.returncode == 1  # the only input failed: nothing to replace the old result with
    assert old.read_text() == "previous result\n" * 3000 and not partial_files(tmp_path)
    r = run_cli("predict", "--model", "no-such.onnx", "--example", "--json", str(old), "--out", "", "--overwrite")
    assert r.returncode == 2 and old.read_text().startswith("previous") and not partial_files(tmp_path)
    r = run_cli("predict", "--example", "--json", str(old), "--out", "", "--overwrite")
    assert r.returncode == 0 and '"happy"' in old.read_text() and not partial_files(tmp_path)


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
    rc = predict.main(
        [video, "--json", str(old), "--out", str(tmp_path / "out"), "--overwrite", "--detector", "haar", "--quiet"]
    )
    assert rc == 130
    assert old.read_text() == "previous result\n" * 266
    assert not (tmp_path / "out" / "clip_annotated.avi").exists() and not partial_files(tmp_path)


def test_predict_refuses_existing_annotated_copies_and_colliding_outputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "astronaut_annotated.jpg").write_bytes(b"mine")
    r = run_cli("predict", "--example", "--out", str(out))
    assert r.returncode == 2 and (out / "astronaut_annotated.jpg").read_bytes() == b"mine"
    r = run_cli(
        "predict",
        "--example",
        "--out",
        str(tmp_path / "o2"),
        "--json",
        str(tmp_path / "o2" / "astronaut_annotated.jpg"),
    )
    assert r.returncode == 2 and "written twice" in error_line(r, "fer-predict")


def test_eval_and_data_never_replace_existing_outputs_or_inputs(tmp_path):
    rng = np.random.default_rng(0)
    arc = tmp_path / "faces.npz"
    np.savez(
        arc,
        images=rng.integers(0, 256, (20, 48, 48), dtype=np.uint8),
        labels=rng.integers(0, 7, 20),
        split=np.array(["test"] * 20),
        ids=np.array([f"f{i}" for i in range(20)]),
        class_names=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]),
    )
    out = tmp_path / "metrics"
    out.mkdir()
    (out / "metrics.json").write_text("mine")
    r = run_cli("eval", "--data", str(arc), "--out", str(out))
    assert r.returncode == 2 and (out / "metrics.json").read_text() == "mine"
    csv = tmp_path / "fer.csv"
    csv.write_text("emotion,pixels,Usage\n0," + " ".join(["1"] * 2304) + ",Training\n")
    r = run_cli("data", "fer2013", str(csv), "--out", str(csv), "--overwrite")
    assert r.returncode == 2 and "is also an input" in error_line(r, "fer-data")
