"""Serving on a real tritonserver (the nvidia-pytriton wheel's) on 127.0.0.1 free ports: the served answers are the
local ones over gRPC and HTTP, under 32 concurrent clients, across a server killed and restarted under load;
bad requests are typed errors and the server keeps serving; fer-serve's health check catches a killed stub
process, and stopping leaves no process and no shared-memory segment. Skipped where the [serve] extra is
missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _helpers import data_dir, needs_tritonserver

serving = pytest.importorskip("deepemotion.serving.server")
pytest.importorskip("tritonclient.grpc")
from deepemotion import BackendUnavailable, Recognizer  # noqa: E402
from deepemotion.runtime.backends.triton import ServerUnavailable  # noqa: E402
from deepemotion.serving.repository import RepositoryOptions, write_repository  # noqa: E402

pytestmark = needs_tritonserver


def faces(n: int = 512) -> np.ndarray:
    d = data_dir()
    if d is not None and (d / "fer2013.npz").is_file():
        with np.load(d / "fer2013.npz") as z:
            return z["images"][-n:]  # PublicTest faces
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def new_server(repo: Path) -> serving.TritonServer:
    return serving.TritonServer(
        repo, http_port=serving.free_port(), grpc_port=serving.free_port(), metrics_port=serving.free_port()
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("serving") / "repository"
    write_repository(out, RepositoryOptions(max_batch=64))
    return out


@pytest.fixture(scope="module")
def server(repo: Path):
    srv = new_server(repo)
    seconds = srv.start(timeout=60)
    srv.start_seconds = seconds
    yield srv
    srv.stop()


def probs(rec: Recognizer, x: np.ndarray) -> np.ndarray:
    return np.stack([f.probs for f in rec.predict_faces(x)])


def test_starts_to_a_real_inference_within_10_s(server):
    assert server.start_seconds <= 10.0, server.start_seconds


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_served_answers_are_the_local_ones(server, scheme):
    x = faces()
    local = probs(Recognizer(detector=None), x)
    rec = Recognizer(detector=None, backend="triton", url=server.grpc_url if scheme == "grpc" else server.http_url)
    assert rec.backend.max_batch == 64
    remote = probs(rec, x)
    assert np.abs(remote - local).max() <= 1e-5
    assert (remote.argmax(1) == local.argmax(1)).all()


def _frames() -> list[np.ndarray]:
    import cv2

    from deepemotion.files import decode_image
    from deepemotion.runtime.assets import example_image

    frame = decode_image(np.fromfile(example_image(), np.uint8), "example")
    return [
        frame,
        cv2.resize(frame, None, fx=0.7, fy=0.7),
        cv2.resize(frame, None, fx=1.6, fy=1.6),
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY),
    ]


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_one_face_one_answer_served_and_local(server, scheme):
    """Crops of any size, as a list or an array, and whole frames: the served answer is the local one (crops that
    were resampled travel as the network's float input; rounding them to uint8 moved probabilities by up to 7e-2
    and changed 11 of 600 labels)."""
    import cv2

    url = server.grpc_url if scheme == "grpc" else server.http_url
    local, served = Recognizer(detector=None), Recognizer(detector=None, backend="triton", url=url)
    x = faces(64)
    for crops in (
        x,
        np.stack([cv2.resize(f, (96, 96)) for f in x]),
        np.stack([cv2.resize(f, (20, 20)) for f in x]),
        [cv2.resize(f, (30 + k, 40 + k)) for k, f in enumerate(x[:16])],
    ):
        for form in (crops, list(crops)):
            a, b = probs(local, form), probs(served, form)
            assert np.abs(a - b).max() <= 1e-5 and (a.argmax(1) == b.argmax(1)).all()
    local_frames, served_frames = Recognizer(), Recognizer(backend="triton", url=url)
    for frame in _frames():
        a, b = local_frames.predict(frame), served_frames.predict(frame)
        assert [f.box for f in a] == [f.box for f in b] and a
        np.testing.assert_allclose([f.probs for f in a], [f.probs for f in b], atol=1e-5)


def test_the_frames_model_answers_what_local_predict_does(server):
    import cv2
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(server.grpc_url[len("grpc://") :])
    local = Recognizer()
    for frame in _frames():
        data = np.frombuffer(cv2.imencode(".png", frame)[1].tobytes(), np.uint8)
        inp = grpc.InferInput("image", list(data.shape), "UINT8")
        inp.set_data_from_numpy(data)
        r = client.infer("deepemotion_frames", [inp])
        want = local.predict(frame)
        assert r.as_numpy("boxes").tolist() == [list(f.box) for f in want]
        np.testing.assert_allclose(r.as_numpy("probs"), [f.probs for f in want], atol=1e-5)


def test_the_onnx_form_is_within_its_measured_bound_of_local():
    """The onnx form (NVIDIA's container) runs the INT8 graph's own GridSample in ONNX Runtime; locally the warp head
    (our C++ sampler, ~1e-6 from it) runs: a few values cross the input quantization's rounding boundary. Measured
    on all 3,589 PublicTest faces: at most 1.37e-2, no label changed (docs/serving.md)."""
    pytest.importorskip("onnx")
    import onnxruntime as ort

    from deepemotion.export.serving_graph import uint8_softmax_graph
    from deepemotion.serving.repository import model_graph

    x = faces(512)
    sess = ort.InferenceSession(uint8_softmax_graph(model_graph("default")[0]), providers=["CPUExecutionProvider"])
    served, local = sess.run(None, {"faces": x})[0], probs(Recognizer(detector=None), x)
    assert np.abs(served - local).max() <= 1.5e-2
    # no answer whose margin over the runner-up exceeds twice the bound can change; on real faces none changed at
    # all (the random faces of a plain clone, without the data, are mostly near-ties: 50 of the 512 have a clear
    # margin, and some of the others may flip)
    top2 = np.sort(local, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 3e-2
    assert clear.sum() >= 32 and (served.argmax(1) == local.argmax(1))[clear].all()
    if data_dir() is not None and (data_dir() / "fer2013.npz").is_file():
        assert (served.argmax(1) == local.argmax(1)).all()


def _load(
    rec: Recognizer,
    x: np.ndarray,
    expected: np.ndarray,
    seconds: float,
    rng_seed: int,
    results: list,
    stop: threading.Event | None = None,
) -> None:
    """One client: random slices of ``x`` until time is up; each answer checked against its own local result."""
    rng = np.random.default_rng(rng_seed)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stop is not None and stop.is_set()):
        a = int(rng.integers(0, len(x) - 8))
        n = int(rng.integers(1, 9))
        t0 = time.monotonic()
        try:
            got = probs(rec, x[a : a + n])
        except Exception as exc:  # noqa: BLE001 - recorded: the test decides which errors are allowed
            results.append(("error", type(exc), time.monotonic() - t0))
            continue
        ok = got.shape == (n, 7) and np.abs(got - expected[a : a + n]).max() <= 1e-5
        results.append(("ok" if ok else "mismatch", None, time.monotonic() - t0))


def test_32_concurrent_clients_get_their_own_answers(server):
    x = faces(256)
    expected = probs(Recognizer(detector=None), x)
    rec = Recognizer(detector=None, backend="triton", url=server.grpc_url)
    results: list = []
    threads = [threading.Thread(target=_load, args=(rec, x, expected, 3.0, k, results)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    kinds = [r[0] for r in results]
    assert kinds.count("ok") > 100, kinds.count("ok")
    assert kinds.count("mismatch") == 0 and kinds.count("error") == 0, set(results)


def test_bad_requests_are_typed_errors_and_the_server_keeps_serving(server):
    import tritonclient.grpc as grpc

    from deepemotion.runtime.backends.triton import TritonBackend

    backend = TritonBackend(url=server.grpc_url)
    with pytest.raises(ValueError, match="refused"):
        backend.run(np.zeros((backend.max_batch + 1, 1, 48, 48), np.float32))  # over max_batch_size
    client = grpc.InferenceServerClient(server.grpc_url[len("grpc://") :])
    for data, dtype in ((np.zeros((2, 40, 40), np.uint8), "UINT8"), (np.zeros((2, 48, 48), np.float32), "FP32")):
        inp = grpc.InferInput("faces", list(data.shape), dtype)
        inp.set_data_from_numpy(data)
        with pytest.raises(Exception, match="(?i)shape|data-?type"):
            client.infer("deepemotion", [inp])
    rec = Recognizer(detector=None, backend="triton", url=server.grpc_url)
    with pytest.raises(ValueError, match="NaN"):
        rec.classify(np.full((1, 1, 48, 48), np.nan, np.float32))
    bad = grpc.InferInput("image", [10], "UINT8")
    bad.set_data_from_numpy(np.zeros(10, np.uint8))
    with pytest.raises(Exception, match="cannot be decoded"):
        client.infer("deepemotion_frames", [bad])
    assert len(rec.predict_faces(faces(4))) == 4  # still serving
    server.check()


def test_frames_model_finds_the_face(server):
    import tritonclient.grpc as grpc

    from deepemotion.runtime.assets import example_image

    data = np.fromfile(example_image(), np.uint8)
    inp = grpc.InferInput("image", list(data.shape), "UINT8")
    inp.set_data_from_numpy(data)
    r = grpc.InferenceServerClient(server.grpc_url[len("grpc://") :]).infer("deepemotion_frames", [inp])
    boxes, p = r.as_numpy("boxes"), r.as_numpy("probs")
    assert boxes.shape == (1, 4) and p.shape == (1, 7)
    assert int(p[0].argmax()) == 3  # happy


def test_unreachable_server_is_backend_unavailable_naming_the_url():
    url = f"grpc://127.0.0.1:{serving.free_port()}"
    with pytest.raises(BackendUnavailable, match=url.replace("/", "/")):
        Recognizer(detector=None, backend="triton", url=url, timeout=1.0)
    with pytest.raises(ValueError, match="grpc://HOST:PORT"):
        Recognizer(detector=None, backend="triton", url="127.0.0.1:8001")


def test_server_killed_under_load_then_restarted(repo):
    """Every call either answers correctly or raises within the timeout; after a restart on the same ports the same
    Recognizer object answers again."""
    srv = new_server(repo)
    srv.start()
    x = faces(128)
    expected = probs(Recognizer(detector=None), x)
    rec = Recognizer(detector=None, backend="triton", url=srv.grpc_url, timeout=1.5)
    results: list = []
    stop = threading.Event()
    threads = [threading.Thread(target=_load, args=(rec, x, expected, 4.0, k, results, stop)) for k in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        os.killpg(srv.process.pid, signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        kinds = [r[0] for r in results]
        assert kinds.count("mismatch") == 0
        errors = [r for r in results if r[0] == "error"]
        assert errors and all(issubclass(e[1], ServerUnavailable) for e in errors), set(e[1] for e in errors)
        assert max(e[2] for e in errors) <= 2.0 + 0.5  # the 1.5 s timeout, plus one connection attempt
        ports = dict(srv.ports)
        srv.stop()
        srv = serving.TritonServer(
            repo, http_port=ports["http"], grpc_port=ports["grpc"], metrics_port=ports["metrics"]
        )
        srv.start()
        np.testing.assert_allclose(probs(rec, x[:16]), expected[:16], atol=1e-5)
    finally:
        stop.set()
        srv.stop()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_server_dies_with_the_process_that_started_it(repo):
    """A client killed with SIGKILL leaves no server behind (the server is started through an exec launcher, not a
    preexec_fn: see the next test)."""
    code = (
        f"import time\nfrom deepemotion.serving import server\n"
        f"srv = server.TritonServer({str(repo)!r}, http_port=server.free_port(), grpc_port=server.free_port(), "
        f"metrics_port=server.free_port())\nsrv.start()\nprint(srv.process.pid, flush=True)\ntime.sleep(300)\n"
    )
    client = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(client.stdout.readline())
        assert _running(pid)
        client.kill()
        client.wait(10)
        deadline = time.monotonic() + 20
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(pid), "tritonserver outlived the process that started it"
    finally:
        client.kill()
        client.stdout.close()
        client.wait(10)


def test_restart_while_a_grpc_client_is_reconnecting_does_not_hang(repo):
    """Starting a server while this process's gRPC channel is reconnecting to a killed one. A CI run hung at this
    point inside the restart: the stack was fork() -> gRPC's pthread_atfork handler (a preexec_fn makes subprocess
    fork() instead of vfork()). The hang depends on timing -- this test passed against the old code in a rerun --
    so it is a guard with a deadline, not a reproduction; the launcher removes the fork() itself."""
    srv = new_server(repo)
    srv.start()
    rec = Recognizer(detector=None, backend="triton", url=srv.grpc_url, timeout=1.0)
    x = faces(8)
    rec.predict_faces(list(x))
    os.killpg(srv.process.pid, signal.SIGKILL)
    with pytest.raises(ServerUnavailable):
        rec.predict_faces(list(x))  # the channel now reconnects in the background
    done = threading.Event()
    other = new_server(repo)

    def start() -> None:
        other.start()
        done.set()

    t = threading.Thread(target=start, daemon=True)
    try:
        t.start()
        assert done.wait(60), "starting a server hung"
    finally:
        other.stop()
        srv.stop()


def _processes() -> list[tuple[int, int, str]]:
    out = subprocess.run(["ps", "-eww", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    return [
        (int(p), int(pp), a)
        for p, pp, a in (line.strip().split(None, 2) for line in out.splitlines() if len(line.split(None, 2)) == 3)
    ]


def test_fer_serve_health_check_restarts_a_killed_stub_and_stops_clean(tmp_path):
    ports = [str(serving.free_port()) for _ in range(3)]
    cmd = [
        sys.executable,
        "-m",
        "deepemotion.cli.serve",
        "--no-frames",
        "--health-interval",
        "0.5",
        "--http-port",
        ports[0],
        "--grpc-port",
        ports[1],
        "--metrics-port",
        ports[2],
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 30
        while not any(text in line for line in lines) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert any(text in line for line in lines), lines

    try:
        wait_for("answering after")
        server = [
            p
            for p, _, a in _processes()
            if a.split()[0].endswith("bin/tritonserver") and f"--metrics-port={ports[2]}" in a
        ]
        stubs = [(p, a) for p, pp, a in _processes() if pp in server and "triton_python_backend_stub" in a]
        assert len(server) == 1 and stubs, (server, stubs)
        key = stubs[0][1].split()[2]  # the stub's shared-memory key: <the server's prefix><uuid>
        prefix = key[: key.index("_", len("deepemotion_")) + 1]
        for pid, _ in stubs:
            os.kill(pid, signal.SIGKILL)
        wait_for("restarted")
        assert any("stopped answering" in line for line in lines), lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    reader.join(5)
    proc.stdout.close()
    left = [a for _, _, a in _processes() if f"--metrics-port={ports[2]}" in a or prefix in a]
    assert not left, left
    assert not list(Path("/dev/shm").glob(f"{prefix}*"))
