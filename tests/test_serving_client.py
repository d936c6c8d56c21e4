"""The Triton client backend against hostile or broken servers (fakes on 127.0.0.1 that speak just enough KServe v2
over HTTP or gRPC, plus one real tritonserver restart): ``timeout`` bounds every call end to end, short-lived
threads leave no file descriptor behind, what comes back is checked, errors say what happened."""

from __future__ import annotations

import gc
import json
import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import numpy as np
import pytest

from deepemotion import BackendUnavailable, Recognizer
from deepemotion.runtime.backends.triton import ServerError, ServerUnavailable, TritonBackend

CONFIG = {
    "name": "deepemotion",
    "max_batch_size": 8,
    "input": [{"name": "faces", "data_type": "TYPE_UINT8", "dims": [48, 48]}],
    "output": [{"name": "probs", "data_type": "TYPE_FP32", "dims": [7]}],
}
FACES = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)


def http_answer(status: int, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def probs_answer(probs: np.ndarray) -> bytes:
    head = json.dumps(
        {
            "outputs": [
                {
                    "name": "probs",
                    "datatype": "FP32",
                    "shape": list(probs.shape),
                    "parameters": {"binary_data_size": probs.nbytes},
                }
            ]
        }
    ).encode()
    return http_answer(
        200, head + probs.astype(np.float32).tobytes(), f"Inference-Header-Content-Length: {len(head)}\r\n"
    )


class FakeHttp(socketserver.ThreadingTCPServer):
    """Answers ready/config as a deepemotion model does; ``infer(n)`` -> the bytes (or chunks) to send back."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, infer, config: dict | None = None) -> None:
        self.infer, self.config, self.stop_event = infer, config or CONFIG, threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.stop_event.set()
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        srv: FakeHttp = self.server  # type: ignore[assignment]
        buf = b""
        while not srv.stop_event.is_set():
            while b"\r\n\r\n" not in buf:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = next(
                (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
            )
            while len(buf) < length:
                buf += self.request.recv(65536)
            body, buf = buf[:length], buf[length:]
            path = head.split(b" ")[1].decode()
            if path.endswith("/ready"):
                answer: bytes | Iterator[bytes] = http_answer(200, b"")
            elif path.endswith("/config"):
                answer = http_answer(200, json.dumps(srv.config).encode())
            else:
                hlen = int(
                    next(
                        h.split(b":")[1]
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"inference-header-content-length")
                    )
                )
                answer = srv.infer(json.loads(body[:hlen])["inputs"][0]["shape"][0])
            for piece in [answer] if isinstance(answer, bytes) else answer:
                if srv.stop_event.is_set():
                    return
                self.request.sendall(piece)


def good(n: int) -> bytes:
    return probs_answer(np.full((n, 7), 1 / 7, np.float32))


def test_an_answer_sent_one_byte_at_a_time_is_bounded_by_the_timeout():
    def drip(n: int) -> Iterator[bytes]:
        for b in good(n):
            time.sleep(0.2)
            yield bytes([b])

    srv = FakeHttp(drip)
    try:
        rec = Recognizer(detector=None, backend="triton", url=srv.url, timeout=1.5)
        t0 = time.monotonic()
        with pytest.raises(ServerUnavailable, match="no answer within 1.5 s"):
            rec.predict_faces(FACES)
        assert time.monotonic() - t0 < 3.0
    finally:
        srv.close()


def test_short_lived_threads_leave_no_file_descriptors():
    srv = FakeHttp(good)
    try:
        rec = Recognizer(detector=None, backend="triton", url=srv.url, timeout=5)
        rec.predict_faces(FACES)
        gc.collect()
        before = len(os.listdir("/proc/self/fd"))
        errors: list = []
        for _ in range(4):
            threads = [
                threading.Thread(target=lambda: errors.extend([] if len(rec.predict_faces(FACES)) == 2 else ["short"]))
                for _ in range(30)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
        gc.collect()
        assert not errors
        assert len(os.listdir("/proc/self/fd")) - before < 16  # 120 threads: 480 descriptors before
    finally:
        srv.close()


@pytest.mark.parametrize(
    "probs, match",
    [
        (np.full((2, 7), -1 / 7, np.float32), "outside"),
        (np.full((2, 7), np.nan, np.float32), "outside"),
        (np.full((2, 7), 0.5, np.float32), "sum to 1"),
    ],
)
def test_answers_that_cannot_be_probabilities_are_refused(probs, match):
    srv = FakeHttp(lambda n: probs_answer(probs))
    try:
        with pytest.raises(ServerError, match=match):
            Recognizer(detector=None, backend="triton", url=srv.url, timeout=2).predict_faces(FACES)
    finally:
        srv.close()


def test_a_huge_or_misshaped_answer_is_refused_without_reading_it():
    huge = FakeHttp(lambda n: f"HTTP/1.1 200 OK\r\nContent-Length: {300 << 20}\r\n\r\n".encode() + b"x" * 65536)
    shaped = FakeHttp(lambda n: probs_answer(np.full((n + 1, 7), 1 / 7, np.float32)))
    try:
        t0 = time.monotonic()
        with pytest.raises(ServerError, match="Content-Length"):
            Recognizer(detector=None, backend="triton", url=huge.url, timeout=5).predict_faces(FACES)
        assert time.monotonic() - t0 < 2
        with pytest.raises(ServerError, match="holds"):
            Recognizer(detector=None, backend="triton", url=shaped.url, timeout=5).predict_faces(FACES)
    finally:
        huge.close()
        shaped.close()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"max_batch_size": -1}, "max_batch_size"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"input": []}, "inputs"),
        ({"output": [{"name": "probs", "data_type": "TYPE_FP32", "dims": [1000]}]}, "TYPE_FP32"),
    ],
)
def test_a_config_that_is_not_ours_is_backend_unavailable(change, match):
    srv = FakeHttp(good, {**CONFIG, **change})
    try:
        with pytest.raises(BackendUnavailable, match=match):
            TritonBackend(url=srv.url, timeout=2)
    finally:
        srv.close()


def test_a_server_error_is_reported_as_one_not_as_no_answer():
    srv = FakeHttp(lambda n: http_answer(500, b'{"error": "Failed to process the request(s): stub died"}'))
    try:
        with pytest.raises(ServerError, match="answered with an error.*stub died"):
            Recognizer(detector=None, backend="triton", url=srv.url, timeout=1).predict_faces(FACES)
    finally:
        srv.close()


# -- gRPC ----------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_grpc():
    """A gRPC KServe server whose handlers the test sets: {"ModelReady": fn, ...}; fn(request) -> response."""
    grpc = pytest.importorskip("grpc")
    pb = pytest.importorskip("tritonclient.grpc.service_pb2")
    handlers: dict = {}
    types = {
        "ModelReady": (pb.ModelReadyRequest, pb.ModelReadyResponse),
        "ModelConfig": (pb.ModelConfigRequest, pb.ModelConfigResponse),
        "ModelInfer": (pb.ModelInferRequest, pb.ModelInferResponse),
    }

    def method(name: str):
        def call(request, context):
            return handlers[name](request)

        req, resp = types[name]
        return grpc.unary_unary_rpc_method_handler(
            call, request_deserializer=req.FromString, response_serializer=resp.SerializeToString
        )

    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {name: method(name) for name in types})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"grpc://127.0.0.1:{port}", handlers, pb
    server.stop(0).wait(5)


def _grpc_config(pb):
    from google.protobuf import json_format
    from tritonclient.grpc import model_config_pb2

    cfg = json_format.ParseDict(CONFIG, model_config_pb2.ModelConfig())
    return pb.ModelConfigResponse(config=cfg)


def test_grpc_readiness_that_hangs_is_bounded_by_the_timeout(fake_grpc):
    url, handlers, pb = fake_grpc
    stop = threading.Event()
    handlers["ModelReady"] = lambda r: (stop.wait(30), pb.ModelReadyResponse(ready=True))[1]
    t0 = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable, match="no answer within 1 s"):
            TritonBackend(url=url, timeout=1)
        assert time.monotonic() - t0 < 2.5
    finally:
        stop.set()


def test_grpc_answer_larger_than_the_cap_is_refused(fake_grpc):
    url, handlers, pb = fake_grpc
    handlers["ModelReady"] = lambda r: pb.ModelReadyResponse(ready=True)
    handlers["ModelConfig"] = lambda r: _grpc_config(pb)

    def huge(request):
        out = pb.ModelInferResponse(model_name="deepemotion")
        o = out.outputs.add()
        o.name, o.datatype = "probs", "FP32"
        o.shape.extend([2, 7])
        out.raw_output_contents.append(bytes(8 << 20))
        return out

    handlers["ModelInfer"] = huge
    backend = TritonBackend(url=url, timeout=2)
    with pytest.raises(ServerError, match="larger than"):
        Recognizer(detector=None, backend=backend).predict_faces(FACES)
    backend.close()


def test_a_grpc_recognizer_made_right_after_a_restart_connects(tmp_path):
    """Made while the restarted server is still loading its models, it waits (within its timeout) instead of
    failing at once as it did for about half a second."""
    serving = pytest.importorskip("deepemotion.serving.server")
    try:
        serving.find_tritonserver()
    except ImportError as exc:
        pytest.skip(str(exc))
    from deepemotion.serving.repository import RepositoryOptions, write_repository

    repo = tmp_path / "repository"
    write_repository(repo, RepositoryOptions(frames=False))
    ports = {"http_port": serving.free_port(), "grpc_port": serving.free_port(), "metrics_port": serving.free_port()}
    srv = serving.TritonServer(repo, **ports)
    got: list = []

    def client() -> None:  # made as soon as the gRPC port accepts connections: the models are not ready yet
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", ports["grpc_port"])) == 0:
                    break
            time.sleep(0.01)
        try:
            rec = Recognizer(detector=None, backend="triton", url=srv.grpc_url, timeout=30)
            got.append(len(rec.predict_faces(FACES)))
        except Exception as exc:  # noqa: BLE001 - shown by the assertion below
            got.append(exc)

    t = threading.Thread(target=client, daemon=True)
    t.start()
    try:
        srv.start()  # in this thread: the server lives as long as the thread that started it
        t.join(60)
        assert got == [2], got
    finally:
        srv.stop()
