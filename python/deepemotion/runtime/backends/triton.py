"""A Triton Inference Server as a backend: detection, framing and tracking stay on this machine, the faces of each
call go to the server (``fer-serve``, or NVIDIA's Triton container serving a repository from
``fer-export triton``) over gRPC or HTTP (``pip install ".[client]"`` in a checkout; docs/serving.md).

    rec = Recognizer(backend="triton", url="grpc://gpu-box:8001")     # or "http://gpu-box:8000"

Faces travel as uint8 48x48 where that is exact (48x48 gray uint8 crops: 4x smaller than float32), and the server
normalises them; crops that were resampled to 48x48 (any other size, or colour) have values uint8 would round, so
to a server that takes it (the python form: fer-serve) they travel as the network's float input itself, and the
served answer is the local one bit for bit. The onnx and tensorrt forms take uint8 only: there such crops are
rounded (docs/serving.md gives the measured difference). The server answers probabilities, which ``run`` returns
as log-probabilities (the Recognizer's softmax gives them back exactly).

``timeout`` bounds every call end to end: making the backend (readiness and configuration), and each ``run``,
retries included -- a server that hangs, or answers one byte a second, costs at most ``timeout`` seconds. Failures
are typed, never a hang: a server that cannot be reached within ``timeout`` when the backend is made raises
`BackendUnavailable` naming the URL; one that goes away later is retried with backoff until ``timeout``
seconds have passed, then `ServerUnavailable` is raised; a server that answers with an error (HTTP 5xx, a
failing model) past the timeout, or answers something that cannot be probabilities of these faces (wrong shape or
type, negative, not finite, rows not summing to 1, an answer larger than `MAX_ANSWER`), raises
`ServerError`; a request the server refuses (shape, type, batch size) raises ValueError.

Connections: gRPC uses one channel for the backend (thread-safe; its answers capped at `MAX_ANSWER` bytes);
HTTP one keep-alive connection per thread, closed when the thread ends (no descriptor is left behind by
short-lived threads). So one backend may be shared by threads.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import numpy as np

from ...labels import INPUT_SIZE, NUM_CLASSES
from ..inputs import normalise_faces, to_uint8
from .base import Backend, BackendUnavailable, register

#: the served model's tensors (every form of ``fer-export triton`` has them)
FACES, PROBS = "faces", "probs"
#: the python form's alternative input, the network's float input: sent for faces that uint8 would round
NORMALISED = "normalised"
DEFAULT_MODEL = "deepemotion"
#: the largest answer (headers and body) taken from a server: 4,096 faces' probabilities are 115 KB
MAX_ANSWER = 4 << 20


class ServerUnavailable(BackendUnavailable, ConnectionError):
    """The server did not answer within the backend's timeout (it is down, restarting or unreachable)."""


class ServerError(RuntimeError):
    """The server answered, but with an error, or with something that cannot be the probabilities asked for."""


class _Refused(Exception):
    """The server refused the request (a bad request: no use retrying)."""


class _Transient(Exception):
    """No answer, or an error answer, that a retry may fix; ``answered``: the server did answer (with an error)."""

    def __init__(self, message: str, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


def parse_url(url: Any) -> tuple[str, str]:
    """("grpc" | "http", "host:port") from "grpc://host:port" or "http://host:port"; ValueError otherwise."""
    if not isinstance(url, str):
        raise ValueError(f"backend 'triton' needs url='grpc://HOST:PORT' or 'http://HOST:PORT', got {url!r}")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("grpc", "http") or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"url must be 'grpc://HOST:PORT' or 'http://HOST:PORT', got {url!r}")
    return parts.scheme, parts.netloc


def check_probs(probs: Any, n: int, where: str) -> np.ndarray:
    """A server's answer as (n, 7) float32 probabilities, or `ServerError` saying what is wrong with it."""
    probs = np.asarray(probs)
    if probs.dtype != np.float32 or probs.shape != (n, NUM_CLASSES):
        raise ServerError(
            f"{where}: the server answered {probs.dtype} {probs.shape} for {n} faces; expected float32 "
            f"({n}, {NUM_CLASSES}) probabilities"
        )
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1 + 1e-6:
        raise ServerError(f"{where}: the server answered values outside [0, 1] (or not finite)")
    if n and np.abs(probs.sum(axis=1, dtype=np.float64) - 1).max() > 1e-3:
        raise ServerError(f"{where}: the server answered rows that do not sum to 1 (not probabilities)")
    return probs


@register(
    "triton",
    "a Triton Inference Server over gRPC or HTTP (fer-serve, or NVIDIA's container)",
    device="remote",
    precision="model",
    needs='the client extra (pip install ".[client]") and a server: fer-serve',
)
class TritonBackend(Backend):
    """``url``: "grpc://HOST:PORT" or "http://HOST:PORT"; ``timeout``: seconds a call may take in all, retries of a
    server that went away included; ``model_name``: the served model. ``model`` must be None or "default" (the
    server decides what it serves)."""

    def __init__(
        self,
        model: Any = None,
        device: str | None = None,
        url: str | None = None,
        timeout: float = 10.0,
        model_name: str = DEFAULT_MODEL,
    ) -> None:
        if model not in (None, "default"):
            raise ValueError(
                "with backend='triton' the server decides the model (fer-serve --model ...); leave "
                f"model unset, or name the served model with model_name= (got model={model!r})"
            )
        if device not in (None, "remote"):
            raise ValueError("backend 'triton' runs where the server is; device= does not apply")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise ValueError(f"timeout must be a number of seconds in (0, 3600], got {timeout!r}")
        if not isinstance(model_name, str) or not model_name or "/" in model_name or len(model_name) > 200:
            raise ValueError(f"model_name must be a model's name, got {model_name!r}")
        self.protocol, self.address = parse_url(url)
        self.url, self.timeout, self.model_name = url, float(timeout), model_name
        self.name, self.device = "triton", "remote"
        self._wire: _Grpc | _Http = (
            _Grpc(self.address, model_name) if self.protocol == "grpc" else _Http(self.address, model_name)
        )
        try:
            self.config = self._retrying(self._wire.config, "cannot reach a Triton server")
        except (ServerUnavailable, ServerError, ValueError) as exc:
            self.close()
            raise BackendUnavailable(
                f"{exc} (is {model_name!r} in the server's repository?)" if isinstance(exc, ValueError) else str(exc)
            ) from None
        except BaseException:
            self.close()
            raise
        self.max_batch = check_config(self.config, f"{self.url}: model {self.model_name!r}")
        self.takes_float = any(
            isinstance(i, dict)
            and i.get("name") == NORMALISED
            and i.get("data_type") == "TYPE_FP32"
            and _dims(i) == [1, INPUT_SIZE, INPUT_SIZE]
            for i in self.config.get("input", [])
        )

    def close(self) -> None:
        self._wire.close()

    def _retrying(self, call: Callable[[float], Any], what: str) -> Any:
        """``call(deadline)`` until it succeeds or ``timeout`` s have passed; refused requests are not retried."""
        deadline = time.monotonic() + self.timeout
        delay, attempt, error = 0.05, 0, None
        while True:
            attempt += 1
            try:
                return call(deadline)
            except _Refused as exc:
                raise ValueError(f"{self.url}: the server refused the request ({exc})") from None
            except _Transient as exc:
                error = exc if exc.answered else error
                left = deadline - time.monotonic()
                if left <= 0:
                    if error is not None:
                        raise ServerError(
                            f"{self.url}: the server answered with an error ({attempt} attempts "
                            f"within {self.timeout:g} s; last: {error})"
                        ) from None
                    raise ServerUnavailable(
                        f"{self.url}: {what}: no answer within {self.timeout:g} s ({attempt} attempts; last: {exc})"
                    ) from None
                time.sleep(min(left, delay * (0.5 + random.random())))
                delay = min(delay * 2, 1.0)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, np.float32).reshape(-1, 1, INPUT_SIZE, INPUT_SIZE))
        faces = to_uint8(x)
        if self.takes_float and not np.array_equal(normalise_faces(faces), x):  # uint8 would round these faces
            name, tensor, dtype = NORMALISED, x, "FP32"
        else:
            name, tensor, dtype = FACES, faces, "UINT8"
        probs = self._retrying(lambda deadline: self._wire.infer(name, tensor, dtype, deadline), "inference")
        probs = check_probs(probs, len(faces), self.url or "")
        return np.log(np.maximum(probs, 1e-30))


def check_config(cfg: Any, where: str) -> int:
    """The served model's max_batch_size, once its configuration is checked against what this backend sends and
    expects; BackendUnavailable saying what does not fit."""
    if not isinstance(cfg, dict):
        raise BackendUnavailable(f"{where}: the server's model configuration is not an object")
    ins = {i.get("name"): i for i in cfg.get("input", []) if isinstance(i, dict)}
    outs = {o.get("name"): o for o in cfg.get("output", []) if isinstance(o, dict)}
    if FACES not in ins or PROBS not in outs:
        raise BackendUnavailable(
            f"{where} has inputs {list(ins)[:8]} and outputs {list(outs)[:8]}; a deepemotion "
            f"model has {FACES!r} and {PROBS!r} (fer-export triton / fer-serve)"
        )
    mb = cfg.get("max_batch_size", 0)
    try:
        mb = int(mb)
    except (TypeError, ValueError):
        mb = -1
    if not 1 <= mb <= 65536:
        raise BackendUnavailable(
            f"{where} has max_batch_size {str(cfg.get('max_batch_size'))[:20]}; a deepemotion "
            "model batches faces (1..65536)"
        )
    if (
        ins[FACES].get("data_type") != "TYPE_UINT8"
        or _dims(ins[FACES]) != [INPUT_SIZE, INPUT_SIZE]
        or outs[PROBS].get("data_type") != "TYPE_FP32"
        or _dims(outs[PROBS]) != [NUM_CLASSES]
    ):
        raise BackendUnavailable(
            f"{where}: {FACES!r} must be TYPE_UINT8 [{INPUT_SIZE}, {INPUT_SIZE}] and {PROBS!r} "
            f"TYPE_FP32 [{NUM_CLASSES}]"
        )
    return mb


def _dims(tensor: dict[str, Any]) -> list[int] | None:
    """A config tensor's dims (strings over gRPC's JSON, numbers over HTTP), None when they are not integers."""
    try:
        return [int(d) for d in tensor.get("dims", [])]
    except (TypeError, ValueError):
        return None


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Transient("the time ran out", answered=False)
    return left


class _Grpc:
    """KServe v2 over gRPC: one channel (thread-safe, reconnecting quickly after a restart), every call with the
    time left as its deadline, answers capped at MAX_ANSWER bytes."""

    def __init__(self, address: str, model: str) -> None:
        try:
            import grpc
            from tritonclient.grpc import service_pb2, service_pb2_grpc
        except ImportError:
            raise BackendUnavailable(
                "backend 'triton' over grpc needs tritonclient: pip install the client extra (docs/serving.md)"
            ) from None
        self.grpc, self.pb, self.model = grpc, service_pb2, model
        self.channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", MAX_ANSWER),
                ("grpc.max_send_message_length", 64 << 20),
                ("grpc.initial_reconnect_backoff_ms", 50),
                ("grpc.min_reconnect_backoff_ms", 50),
                ("grpc.max_reconnect_backoff_ms", 500),
            ],
        )
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: str, request: Any, deadline: float) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=_remaining(deadline))
        except self.grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            text = (exc.details() if callable(getattr(exc, "details", None)) else "") or str(code)
            text = text.strip().splitlines()[0][:300] if text.strip() else str(code)
            if code == self.grpc.StatusCode.INVALID_ARGUMENT:
                raise _Refused(text) from None
            if code == self.grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise ServerError(
                    f"the server's answer is larger than {MAX_ANSWER} bytes or refused ({text})"
                ) from None
            answered = code not in (self.grpc.StatusCode.UNAVAILABLE, self.grpc.StatusCode.DEADLINE_EXCEEDED)
            raise _Transient(text, answered) from None

    def config(self, deadline: float) -> dict[str, Any]:
        ready = self._call("ModelReady", self.pb.ModelReadyRequest(name=self.model), deadline)
        if not ready.ready:
            raise _Transient(f"model {self.model!r} is not ready (is it in the repository?)", answered=True)
        from google.protobuf import json_format

        cfg = self._call("ModelConfig", self.pb.ModelConfigRequest(name=self.model), deadline).config
        return json_format.MessageToDict(cfg, preserving_proto_field_name=True)

    def infer(self, name: str, faces: np.ndarray, dtype: str, deadline: float) -> np.ndarray:
        req = self.pb.ModelInferRequest(model_name=self.model)
        t = req.inputs.add()
        t.name, t.datatype = name, dtype
        t.shape.extend(faces.shape)
        req.outputs.add().name = PROBS
        req.raw_input_contents.append(faces.tobytes())
        r = self._call("ModelInfer", req, deadline)
        for k, out in enumerate(r.outputs):
            if out.name == PROBS and out.datatype == "FP32" and k < len(r.raw_output_contents):
                raw = r.raw_output_contents[k]
                shape = tuple(out.shape)
                if len(raw) != 4 * int(np.prod(shape)) or len(shape) != 2:
                    raise ServerError(f"the server's {PROBS!r} holds {len(raw)} bytes for shape {shape[:4]}")
                return np.frombuffer(raw, np.float32).reshape(shape)
        raise ServerError(f"the server's answer has no FP32 {PROBS!r} output in binary form")


class _Connection:
    """One keep-alive HTTP/1.1 connection, closed when it is dropped (the thread that owned it ended)."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=_remaining(deadline))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()

    def __del__(self) -> None:
        self.close()

    def _recv(self, deadline: float) -> None:
        self.sock.settimeout(_remaining(deadline))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk
        if len(self.buf) > MAX_ANSWER:
            raise ServerError(f"the server's answer is larger than {MAX_ANSWER} bytes")

    def exchange(self, request: bytes, deadline: float) -> tuple[int, dict[str, str], bytes]:
        self.sock.settimeout(_remaining(deadline))
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buf:
            self._recv(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ")[1])
        except (IndexError, ValueError):
            raise ServerError(f"the server answered {lines[0][:80]!r}, not HTTP") from None
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_ANSWER:
            raise ServerError(f"the server's answer has Content-Length {length[:20]!r} (at most {MAX_ANSWER})")
        while len(self.buf) < int(length):
            self._recv(deadline)
        body, self.buf = self.buf[: int(length)], self.buf[int(length) :]
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


class _Http:
    """KServe v2 over HTTP/1.1 with binary tensors: a deadline on every byte read, answers capped at MAX_ANSWER,
    one connection per thread."""

    def __init__(self, address: str, model: str) -> None:
        parts = urlsplit(f"http://{address}")
        self.host, self.port, self.model = parts.hostname or "", int(parts.port or 80), model
        self.local = threading.local()

    def close(self) -> None:
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
            self.local.conn = None

    def _request(
        self, method: str, path: str, body: bytes, headers: str, deadline: float
    ) -> tuple[dict[str, str], bytes]:
        req = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{headers}\r\n").encode(
            "latin-1"
        ) + body
        try:
            conn = getattr(self.local, "conn", None)
            if conn is None or conn.sock.fileno() < 0:
                conn = self.local.conn = _Connection(self.host, self.port, deadline)
            status, hdrs, answer = conn.exchange(req, deadline)
        except (OSError, ServerError) as exc:
            self.close()
            if isinstance(exc, ServerError):
                raise
            raise _Transient(str(exc)[:300] or type(exc).__name__, answered=False) from None
        if status == 200:
            return hdrs, answer
        message = _error_text(answer)
        if status in (400, 404):
            raise _Refused(message)
        raise _Transient(f"HTTP {status}: {message}", answered=True)

    def config(self, deadline: float) -> dict[str, Any]:
        base = f"/v2/models/{self.model}"
        self._request("GET", f"{base}/ready", b"", "", deadline)
        try:
            return json.loads(self._request("GET", f"{base}/config", b"", "", deadline)[1])
        except ValueError:
            raise ServerError("the server's model configuration is not JSON") from None

    def infer(self, name: str, faces: np.ndarray, dtype: str, deadline: float) -> np.ndarray:
        n = len(faces)
        head = json.dumps(
            {
                "inputs": [
                    {
                        "name": name,
                        "shape": list(faces.shape),
                        "datatype": dtype,
                        "parameters": {"binary_data_size": faces.nbytes},
                    }
                ],
                "outputs": [{"name": PROBS, "parameters": {"binary_data": True}}],
            }
        ).encode()
        hdrs, body = self._request(
            "POST",
            f"/v2/models/{self.model}/infer",
            head + faces.tobytes(),
            f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {len(head)}\r\n",
            deadline,
        )
        hlen = hdrs.get("inference-header-content-length", str(len(body)))
        if not hlen.isdigit() or int(hlen) > len(body):
            raise ServerError("the server's answer has a bad Inference-Header-Content-Length")
        try:
            meta = json.loads(body[: int(hlen)])
            outs = meta["outputs"]
            out = next(o for o in outs if isinstance(o, dict) and o.get("name") == PROBS)
        except (ValueError, KeyError, TypeError, StopIteration):
            raise ServerError(f"the server's answer has no {PROBS!r} output") from None
        if out.get("datatype") != "FP32":
            raise ServerError(f"the server's {PROBS!r} is {str(out.get('datatype'))[:20]}, not FP32")
        size = (out.get("parameters") or {}).get("binary_data_size")
        if not isinstance(size, int) or size != n * NUM_CLASSES * 4 or int(hlen) + size > len(body):
            raise ServerError(f"the server's {PROBS!r} holds {size} bytes for {n} faces")
        return np.frombuffer(body[int(hlen) : int(hlen) + size], np.float32).reshape(n, NUM_CLASSES)


def _error_text(body: bytes) -> str:
    try:
        text = str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        text = body[:300].decode("utf-8", "replace")
    return text.strip().splitlines()[0][:300] if text.strip() else "(no message)"
