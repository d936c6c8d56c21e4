"""fer-serve and its server management, each finding of the hostile-client probe that was not a request: restarts
counted per time window, a capped log, start failures that say why, a second server on the same port caught, a
SIGKILL or SIGHUP of fer-serve that leaves no process, shared-memory segment or temporary folder, options that are
refused before anything starts, IPv6 hosts, and the frames model's detector said at start and in its config.
The real-server tests use tritonserver on 127.0.0.1 (or ::1) free ports, a few seconds each."""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _helpers import needs_tritonserver, tritonserver_missing
from deepemotion.cli import serve as cli
from deepemotion.serving import server as serving
from deepemotion.serving.repository import RepositoryOptions, write_repository

needs_server = needs_tritonserver


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "repository"
    write_repository(out, RepositoryOptions(frames=False, max_batch=8))
    return out


def ports() -> dict[str, int]:
    return {"http_port": serving.free_port(), "grpc_port": serving.free_port(), "metrics_port": serving.free_port()}


# -- no server needed ----------------------------------------------------------------------------------------
class FlakyServer:
    """check() fails at the given calls; stop()/start() count; a Stop after ``calls`` checks ends supervise()."""

    def __init__(self, failing: set[int], calls: int) -> None:
        self.failing, self.calls, self.n, self.starts = failing, calls, 0, 0

    def check(self) -> None:
        self.n += 1
        if self.n > self.calls:
            raise cli.Stop(0)
        if self.n in self.failing:
            raise serving.ServerFailed("stub died")

    def stop(self) -> None:
        pass

    def start(self, timeout: float) -> float:
        self.starts += 1
        return 0.0


def test_restarts_are_counted_per_window(capsys):
    """Four failures far apart (more than --restarts 3 in all) are four restarts; four within a window end it."""
    args = argparse.Namespace(health_interval=0.06, restarts=3, restart_window=0.05, start_timeout=5)
    far = FlakyServer({2, 4, 6, 8}, calls=10)
    with pytest.raises(cli.Stop):
        cli.supervise(far, args)
    assert far.starts == 4
    args.restart_window = 60.0
    near = FlakyServer({2, 3, 4, 5}, calls=10)
    assert cli.supervise(near, args) == 1
    assert near.starts == 3
    assert "4 times within 60 s" in capsys.readouterr().err


def test_the_log_is_capped_and_rotated(tmp_path, monkeypatch):
    monkeypatch.setattr(serving, "LOG_CAP", 10_000)
    line = b"I1204 12:00:00.000000 1 model.py:1] " + b"x" * 100 + b"\n"
    pump = serving.LogPump(io.BytesIO(line * 1000), tmp_path / "tritonserver.log")  # 137 KB written
    pump.join()
    sizes = [p.stat().st_size for p in tmp_path.iterdir()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tritonserver.log", "tritonserver.log.1"]
    assert max(sizes) <= 10_000 and len(pump.lines) == 200


def test_a_server_wheel_older_than_2_51_is_refused(monkeypatch):
    """nvidia-pytriton 0.5.7 carries Triton 2.45.0, which answers inputs shorter than their shape from stale memory
    (gRPC 1 byte for a 2,304-byte face: answered); fer-serve asks for the wheel that carries 2.51.0."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("pytriton") is None:
        pytest.skip("no nvidia-pytriton here")
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "0.5.7" if name == "nvidia-pytriton" else real(name)
    )
    with pytest.raises(ImportError, match=r"older than 2\.51\.0.*--no-deps \"nvidia-pytriton==0\.7\.0\""):
        serving.find_tritonserver()


def test_failure_summary_names_the_error_not_the_option_table():
    lines = [
        "+------+------+",
        "| model_repository_path[0] | /x |",
        "I1204 server.cc:1] started",
        "E1204 16:47:59.712848 1 model_lifecycle.cc:642] \"failed to load 'deepemotion' version 1: Internal: "
        'ModuleNotFoundError"',
        "error: creating server: Internal - failed to load all models",
        'E1204 server.cc:241] "CudaDriverHelper has not been initialized."',
    ]
    text = serving.failure_summary(lines)
    assert "failed to load 'deepemotion'" in text and "|" not in text.replace(" | ", "") and "Cuda" not in text


@pytest.mark.parametrize(
    "option, says",
    [
        (["--health-interval", "nan"], "--health-interval must be a number"),
        (["--health-interval", "inf"], "--health-interval must be a number"),
        (["--start-timeout", "nan"], "--start-timeout must be a number"),
        (["--restart-window", "-1"], "--restart-window must be a number"),
        (["--http-port", "SAME", "--grpc-port", "SAME"], "must differ"),
        (["--host", "localhost"], "--host must be an IP address"),
    ],
)
def test_bad_options_are_one_line_exit_2_before_anything_starts(option, says):
    if tritonserver_missing() is not None:
        pytest.skip("fer-serve checks the server install before its options")
    same = str(serving.free_port())  # one free port for both: refused before Triton is started on it
    out = subprocess.run(
        [sys.executable, "-m", "deepemotion.cli.serve", *[same if o == "SAME" else o for o in option]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("fer-serve: error: ") and says in out.stderr, out
    assert "serving" not in out.stdout


# -- a real server --------------------------------------------------------------------------------------------
@needs_server
def test_an_onnx_form_repository_is_one_line_exit_2(tmp_path):
    pytest.importorskip("onnx")
    repo = tmp_path / "onnx_repo"
    write_repository(repo, RepositoryOptions(form="onnx"))
    out = subprocess.run(
        [sys.executable, "-m", "deepemotion.cli.serve", "--repository", str(repo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and str(repo) in out.stderr and "python form" in out.stderr, out.stderr


@needs_server
def test_a_model_that_fails_to_load_is_named_in_the_error(tmp_path):
    repo = tmp_path / "broken"
    write_repository(repo, RepositoryOptions(frames=False))
    (repo / "deepemotion" / "1" / "model.onnx").write_bytes(b"not a graph")
    srv = serving.TritonServer(repo, **ports())
    with pytest.raises(serving.ServerFailed) as info:
        srv.start(timeout=30)
    msg = str(info.value)
    assert "failed to load" in msg and "(no log)" not in msg and "+----" not in msg, msg
    assert srv.workspace is None and srv.process is None


@needs_server
def test_a_second_server_on_the_same_grpc_port_is_caught(repo, monkeypatch):
    """Started together, both saw the ports free: the second one's Triton cannot bind gRPC, and its health check
    must not pass against the first one (it did: both printed 'serving')."""
    first = serving.TritonServer(repo, **ports())
    first.start()
    try:
        monkeypatch.setattr(serving, "port_free", lambda host, port: True)
        second = serving.TritonServer(
            repo, http_port=serving.free_port(), grpc_port=first.ports["grpc"], metrics_port=serving.free_port()
        )
        with pytest.raises((serving.ServerFailed, ValueError)):
            second.start(timeout=15)
        assert second.process is None
        first.check()
    finally:
        first.stop()


@needs_server
def test_ipv6_loopback(repo):
    from deepemotion import Recognizer

    if not serving.port_free("::1", 0):
        pytest.skip("no IPv6 loopback here")
    with serving.TritonServer(repo, host="::1", **ports()) as srv:
        assert srv.grpc_url.startswith("grpc://[::1]:")
        for url in (srv.grpc_url, srv.http_url):
            rec = Recognizer(detector=None, backend="triton", url=url)
            assert len(rec.predict_faces(np.zeros((2, 48, 48), np.uint8))) == 2


def _processes() -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True).stdout
    return [
        (int(p), a)
        for p, a in (line.strip().split(None, 1) for line in out.splitlines() if len(line.split(None, 1)) == 2)
    ]


def _fer_serve(tmp: Path, p: dict[str, int]) -> tuple[subprocess.Popen, list[str]]:
    cmd = [
        sys.executable,
        "-m",
        "deepemotion.cli.serve",
        "--no-frames",
        "--http-port",
        str(p["http_port"]),
        "--grpc-port",
        str(p["grpc_port"]),
        "--metrics-port",
        str(p["metrics_port"]),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "TMPDIR": str(tmp)}
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    return proc, lines


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@needs_server
@pytest.mark.parametrize("how", ["SIGKILL while loading", "SIGHUP"])
def test_fer_serve_killed_or_hung_up_leaves_nothing(tmp_path, how):
    p = ports()
    grpc = f"--metrics-port={p['metrics_port']}"  # the server's own gRPC port is private
    proc, lines = _fer_serve(tmp_path, p)
    try:
        if how == "SIGHUP":
            assert _wait(lambda: any("answering after" in x for x in lines), 60), lines
        else:  # as soon as the python backend's stub exists: the models are loading
            assert _wait(
                lambda: (
                    any("triton_python_backend_stub" in a and "deepemotion_" in a for _, a in _processes())
                    and any(grpc in a for _, a in _processes())
                ),
                60,
            )
        stubs = [a for _, a in _processes() if "triton_python_backend_stub" in a and "deepemotion_" in a]
        prefix = next(w for w in stubs[0].split() if w.startswith("deepemotion_"))[: len("deepemotion_") + 13]
        proc.send_signal(signal.SIGKILL if how.startswith("SIGKILL") else signal.SIGHUP)
        code = proc.wait(30)
        assert code == (-signal.SIGKILL if how.startswith("SIGKILL") else 0)
        assert _wait(lambda: not [a for _, a in _processes() if grpc in a or prefix in a], 30), [
            a for _, a in _processes() if grpc in a or prefix in a
        ]
        assert _wait(lambda: not list(Path("/dev/shm").glob(f"{prefix}*")), 10)
        ours = lambda: [q for q in tmp_path.iterdir() if q.name != ".ses"]  # noqa: E731 - ONNX Runtime's session id
        assert _wait(lambda: not ours(), 10), ours()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


@needs_server
def test_the_frames_detector_is_said_at_start_and_in_the_config(tmp_path, monkeypatch, capsys):
    import tritonclient.grpc as grpc

    monkeypatch.setattr(cli, "frames_detector", lambda: ("haar", "deepemotion: YuNet is not available here"))
    args = cli.build_parser().parse_args(["--max-batch", "4"])
    for k, v in ports().items():
        setattr(args, k, v)
    srv = cli.make_server(args, tmp_path)
    assert "deepemotion_frames detects faces with haar: YuNet is not available here" in capsys.readouterr().err
    srv.start()
    try:
        client = grpc.InferenceServerClient(srv.grpc_url[len("grpc://") :])
        config = client.get_model_config("deepemotion_frames", as_json=True)["config"]
        assert config["parameters"]["detector"]["string_value"] == "haar"
        client.close()
    finally:
        srv.stop()
