"""The tools check what they can refuse cheaply before they look anything up, load data or start work: the README's
exit-code policy (one line; exit 2 for usage, 1 for runtime failures) for options that used to run for ever, run the
whole evaluation first, or fail only after the data set was looked up."""
from __future__ import annotations

import http.server
import io
import sys
import threading
import warnings

import pytest

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
    torch.save({"format": "deepemotion-checkpoint-2", "config": recorded["model"], "state_dict": {},
                "train_config": recorded}, run / "last.pt")
    assert _train("--out", str(run), "--resume", "--epochs", "10") == 2
    err = _error(capsys, "fer-train")
    assert "epochs: recorded 7, given 10" in err and "--epochs" in err


@pytest.mark.parametrize("option", [("--time-budget", "inf"), ("--time-budget", "1e308"), ("--time-budget", "nan"),
                                    ("--stop-after", "-1"), ("--stop-after", "0")])
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
    torch = pytest.importorskip("torch")
    from deepemotion.cli.eval import main

    huge = tmp_path / "huge.pt"
    torch.save({"format": "deepemotion-checkpoint-2", "config": {"widths": [4096, 4096], "depths": [1, 1],
                                                                 "hidden": 60000}, "state_dict": {}, "meta": {}}, huge)
    assert main(["--model", str(huge), "--data", "fer2013", "--split", "public_test"]) == 2
    assert "huge.pt" in _error(capsys, "fer-eval")


# --- fer-bench ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", [["--min-time", "inf"], ["--min-time", "nan"], ["--whole-graph"],
                                    ["--batches", "1", "100000"]])
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
    assert any(line.startswith("predict() on a 640x480 frame") for line in out[start + 1:])


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
        return data.FaceSet(rng.integers(0, 256, (n, 48, 48)).astype(np.uint8), np.arange(n) % 7,
                            np.array([split] * n), np.array([str(i) for i in range(n)]), name=f"{name}:{split}")

    monkeypatch.setattr(data, "resolve_dataset", faces)
    model, _ = load_model("tiny")
    _, report = quantize_model(model, n_calibration=16, progress=True)
    out = capsys.readouterr().out
    assert "calibrating on 16" in out and "checking the FP32 and INT8 graphs on 32 fer2013:public_test faces" in out
    assert 0 <= report["int8_accuracy"] <= 1
