"""The HTTP gate: what clients reach on fer-serve's HTTP port. Triton's own HTTP endpoint listens on 127.0.0.1 on a
private port; the gate is a small bounded HTTP/1.1 front that passes on only what a client of deepemotion needs,
checked, and refuses the rest with a 4xx, so that no single request reaches the parser that crashes.

Why it exists: the tritonserver the pip wheels carry (2.51.0 at most; the 2025 fixes came in Triton 25.07 and no
wheel carries them) aborts on single HTTP requests -- a JSON shape of 10^9 faces (``std::bad_alloc``), ``data``
nested a million levels deep, a body sent in 500,000 one-byte chunks (CVE-2025-23310/23311) -- and answers memory
bombs (a 1 MB gzip body of 1 GB) with gigabytes of RSS. The gate:

- routes: health (``/v2/health/live|ready``), server metadata (``/v2``), and for the served models only their
  metadata, readiness, config and ``infer``; everything else (shared memory, repository, statistics, trace,
  logging) is 403;
- bodies: ``Content-Length`` only (no chunked transfer: 411), no ``Content-Encoding`` (415), at most
  ``max_body`` bytes (413), the inference header at most 64 KB and a JSON-only body at most 4 MB; all bodies in
  flight together at most ``budget`` bytes;
- infer requests: the header parsed here (depth and sizes bounded); every input's shape must fit the body
  (``binary_data_size`` equal to shape x element size, the JSON ``data`` holding exactly that many values), no
  shared-memory parameters;
- time: a request's head must arrive within ``header_timeout`` s, its body within ``body_timeout`` s; at most
  ``max_connections`` connections at once;
- answers: Triton's error messages have the python backend's shared-memory names removed.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any

#: element sizes of the KServe v2 datatypes the gate lets through (BYTES is not used by deepemotion's models)
ELEMENT_SIZE = {
    "BOOL": 1,
    "UINT8": 1,
    "INT8": 1,
    "UINT16": 2,
    "INT16": 2,
    "FP16": 2,
    "BF16": 2,
    "UINT32": 4,
    "INT32": 4,
    "FP32": 4,
    "UINT64": 8,
    "INT64": 8,
    "FP64": 8,
}
MAX_HEAD = 16 * 1024  # request line + headers
MAX_INFER_HEADER = 64 * 1024  # the JSON inference header of a binary request
MAX_JSON_BODY = 4 * 1024 * 1024  # a request whose tensors travel as JSON
_SHM_NAME = re.compile(r"deepemotion_[0-9a-f]{12}_[0-9A-Za-z_-]*")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Refused(Exception):
    def __init__(self, status: int, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.close = status, close


@dataclass(frozen=True)
class GateLimits:
    max_body: int = 16 * 1024 * 1024  # one request's body (an encoded frame for deepemotion_frames)
    budget: int = 256 * 1024 * 1024  # bodies of all requests in flight together
    max_connections: int = 512
    header_timeout: float = 30.0
    body_timeout: float = 60.0
    upstream_timeout: float = 120.0


def route(method: str, path: str, models: frozenset[str]) -> str:
    """ "infer", "get" (pass on) or raise `Refused`."""
    if path in ("/v2/health/live", "/v2/health/ready", "/v2"):
        if method != "GET":
            raise Refused(405, f"{method} {path}: only GET")
        return "get"
    parts = path.split("/")
    if len(parts) < 4 or parts[:3] != ["", "v2", "models"]:
        raise Refused(403, f"{path}: not exposed by this server (inference and health only)")
    rest = parts[4:]
    if len(rest) >= 2 and rest[0] == "versions" and rest[1].isdigit():
        rest = rest[2:]
    if parts[3] not in models or rest not in ([], ["ready"], ["config"], ["infer"]):
        raise Refused(404 if parts[3] not in models else 403, f"{path}: no such model or not exposed")
    want = "POST" if rest == ["infer"] else "GET"
    if method != want:
        raise Refused(405, f"{method} {path}: only {want}")
    return "infer" if want == "POST" else "get"


def _count(data: Any, limit: int) -> int:
    """Number of scalars in a (possibly nested) JSON list, iteratively; Refused past ``limit``."""
    n, stack = 0, [data]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, (dict, str)) or v is None:
            raise Refused(400, "tensor data must hold numbers or booleans")
        else:
            n += 1
        if n > limit or len(stack) > limit + 1:
            raise Refused(400, "tensor data holds more values than its shape")
    return n


def _no_shared_memory(params: Any, where: str) -> None:
    if params is None:
        return
    if not isinstance(params, dict):
        raise Refused(400, f"{where}: parameters must be an object")
    if any(str(k).startswith("shared_memory") for k in params):
        raise Refused(403, f"{where}: shared memory is not exposed by this server")


def check_infer(head: Any, binary: int, max_body: int) -> None:
    """An inference request's JSON header against the bytes that came with it (``binary`` of them after it)."""
    if not isinstance(head, dict) or not isinstance(head.get("inputs"), list) or not 1 <= len(head["inputs"]) <= 8:
        raise Refused(400, "an inference request needs 'inputs': a list of 1 to 8 tensors")
    _no_shared_memory(head.get("parameters"), "request")
    outputs = head.get("outputs", [])
    if not isinstance(outputs, list) or len(outputs) > 8 or not all(isinstance(o, dict) for o in outputs):
        raise Refused(400, "'outputs' must be a list of at most 8 objects")
    for o in outputs:
        _no_shared_memory(o.get("parameters"), f"output {o.get('name')!r}")
    total = 0
    for t in head["inputs"]:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise Refused(400, "each input needs a 'name'")
        name, shape, dtype = t["name"][:64], t.get("shape"), t.get("datatype")
        if dtype not in ELEMENT_SIZE:
            raise Refused(400, f"input {name!r}: datatype {str(dtype)[:16]!r} is not served")
        if (
            not isinstance(shape, list)
            or len(shape) > 8
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise Refused(400, f"input {name!r}: shape must be a list of at most 8 non-negative integers")
        params = t.get("parameters") or {}
        _no_shared_memory(params, f"input {name!r}")
        count = math.prod(shape)
        nbytes = count * ELEMENT_SIZE[dtype]
        if nbytes > max_body:
            raise Refused(413, f"input {name!r}: shape {shape[:8]} is {nbytes} bytes; at most {max_body}")
        if "binary_data_size" in params:
            size = params["binary_data_size"]
            if "data" in t or not isinstance(size, int) or size != nbytes:
                raise Refused(
                    400,
                    f"input {name!r}: binary_data_size {str(size)[:20]} does not match shape "
                    f"{shape} ({nbytes} bytes of {dtype})",
                )
            total += size
        elif "data" in t:
            if _count(t["data"], count) != count:
                raise Refused(400, f"input {name!r}: data holds fewer values than shape {shape}")
        else:
            raise Refused(400, f"input {name!r}: no data")
    if total != binary:
        raise Refused(400, f"the binary inputs declare {total} bytes; the body carries {binary}")


def parse_head(raw: bytes) -> tuple[str, str, str, dict[str, str]]:
    """(method, path, version, lower-cased headers) of a request head; Refused when malformed."""
    try:
        text = raw.decode("latin-1")
    except UnicodeError:  # pragma: no cover - latin-1 decodes every byte
        raise Refused(400, "undecodable request head", close=True) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise Refused(400, "malformed request line", close=True)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or len(headers) >= 64:
            raise Refused(400, "malformed or too many headers", close=True)
        key = name.lower()
        if key in headers and key in ("content-length", "transfer-encoding", "inference-header-content-length"):
            raise Refused(400, f"repeated {name} header", close=True)
        headers[key] = value.strip()
    return parts[0], parts[1].split("?", 1)[0], parts[2], headers


def body_length(headers: dict[str, str], max_body: int) -> int:
    if "transfer-encoding" in headers:
        raise Refused(411, "chunked bodies are not accepted; send Content-Length", close=True)
    if headers.get("content-encoding", "identity").lower() != "identity":
        raise Refused(415, "compressed request bodies are not accepted", close=True)
    value = headers.get("content-length", "0")
    if not value.isdigit() or len(value) > 12:
        raise Refused(400, "bad Content-Length", close=True)
    n = int(value)
    if n > max_body:
        raise Refused(413, f"the body is {n} bytes; at most {max_body} are accepted", close=True)
    return n


def split_infer_body(headers: dict[str, str], body: bytes, max_body: int) -> None:
    """Check an infer request's body (JSON header and binary tensors); Refused when it does not hold together."""
    hlen = headers.get("inference-header-content-length")
    if hlen is not None:
        if not hlen.isdigit() or not 0 < int(hlen) <= min(len(body), MAX_INFER_HEADER):
            raise Refused(400, f"Inference-Header-Content-Length must be in 1..{MAX_INFER_HEADER} and within the body")
        head, binary = body[: int(hlen)], len(body) - int(hlen)
    else:
        if len(body) > MAX_JSON_BODY:
            raise Refused(413, f"a JSON request is at most {MAX_JSON_BODY} bytes; send tensors as binary data")
        head, binary = body, 0
    try:
        parsed = json.loads(head)
    except (ValueError, RecursionError):
        raise Refused(400, "the inference header is not valid JSON (or nests too deeply)") from None
    check_infer(parsed, binary, max_body)


def reply(
    status: int, body: bytes, content_type: str = "application/json", close: bool = False, extra: str = ""
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}{'Connection: close' if close else 'Connection: keep-alive'}"
        "\r\n\r\n"
    )
    return head.encode("latin-1") + body


def error_reply(status: int, message: str, close: bool = False) -> bytes:
    return reply(status, json.dumps({"error": message}).encode(), close=close)


class _Budget:
    """Bytes of request bodies in flight, bounded: a request waits for room (at most ``timeout`` s)."""

    def __init__(self, total: int) -> None:
        self.total, self.used = total, 0
        self.cond = asyncio.Condition()

    async def take(self, n: int, timeout: float) -> None:
        async with self.cond:
            await asyncio.wait_for(self.cond.wait_for(lambda: self.used + n <= self.total), timeout)
            self.used += n

    async def give(self, n: int) -> None:
        async with self.cond:
            self.used -= n
            self.cond.notify_all()


class HttpGate:
    """The gate on ``host:port`` in front of Triton's HTTP endpoint at 127.0.0.1:``upstream_port``, serving
    ``models``. ``start()`` binds at once (a port in use raises OSError there) and serves from a thread of its
    own; ``stop()`` closes every connection."""

    def __init__(
        self,
        host: str,
        port: int,
        upstream_port: int,
        models: set[str] | frozenset[str],
        limits: GateLimits | None = None,
    ) -> None:
        self.host, self.port, self.upstream_port = host, port, upstream_port
        self.models = frozenset(models)
        self.limits = limits or GateLimits()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._connections = 0
        self._sock: socket.socket | None = None

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(256)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="deepemotion-http-gate", daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        self._budget = _Budget(self.limits.budget)
        self._server = loop.run_until_complete(asyncio.start_server(self._serve, sock=self._sock, limit=MAX_HEAD))
        ready.set()
        loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(loop)
        for t in tasks:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(self._server.wait_closed())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections += 1
        upstream: list[Any] = [None, None]
        try:
            if self._connections > self.limits.max_connections:
                writer.write(error_reply(503, "too many connections", close=True))
                await writer.drain()
                return
            while await self._one(reader, writer, upstream):
                pass
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            asyncio.CancelledError,
            OSError,
        ):
            pass
        finally:
            self._connections -= 1
            for w in (writer, upstream[1]):
                if w is not None:
                    w.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: list[Any]) -> bool:
        """One request and its answer; False when the connection is to be closed."""
        lim = self.limits
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), lim.header_timeout)
        except asyncio.LimitOverrunError:
            writer.write(error_reply(400, f"the request head exceeds {MAX_HEAD} bytes", close=True))
            await writer.drain()
            return False
        except asyncio.IncompleteReadError:
            return False
        try:
            method, path, version, headers = parse_head(raw[:-4])
            kind = route(method, path, self.models)
            n = body_length(headers, lim.max_body)
            if kind == "get" and n:
                raise Refused(400, "a GET request has no body", close=True)
        except Refused as r:
            writer.write(error_reply(r.status, str(r), close=True))
            await writer.drain()
            return False
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if kind == "get":
            answer = await self._forward(method, path, {}, b"", upstream)
        else:
            answer = await self._infer(path, headers, n, reader, writer, upstream)
        writer.write(answer[0] + answer[1] if keep else _closing(answer))
        await writer.drain()
        return keep

    async def _infer(
        self,
        path: str,
        headers: dict[str, str],
        n: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: list[Any],
    ) -> tuple[bytes, bytes]:
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        await self._budget.take(n, self.limits.body_timeout)
        try:
            body = await asyncio.wait_for(reader.readexactly(n), self.limits.body_timeout)
            try:
                split_infer_body(headers, body, self.limits.max_body)
            except Refused as r:
                return _split(error_reply(r.status, str(r)))
            keep = {k: headers[k] for k in ("content-type", "inference-header-content-length") if k in headers}
            return await self._forward("POST", path, keep, body, upstream)
        finally:
            await self._budget.give(n)

    async def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes, upstream: list[Any]
    ) -> tuple[bytes, bytes]:
        """Triton's answer (head, body), over this connection's own upstream connection."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n"
        )
        for attempt in (0, 1):
            try:
                if upstream[0] is None:
                    upstream[0], upstream[1] = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                upstream[1].write(head.encode("latin-1") + body)
                await upstream[1].drain()
                return await asyncio.wait_for(_read_answer(upstream[0]), self.limits.upstream_timeout)
            except asyncio.TimeoutError:
                upstream[1].close()
                upstream[0] = upstream[1] = None
                return _split(error_reply(504, "the model did not answer in time"))
            except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
                if upstream[1] is not None:
                    upstream[1].close()
                upstream[0] = upstream[1] = None
                if attempt:
                    return _split(error_reply(502, "the inference server is not answering"))
        raise AssertionError("unreachable")  # pragma: no cover


async def _read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Triton's response: its head rewritten to the headers a client needs, and its body (errors scrubbed)."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    if status >= 400:
        body = _SHM_NAME.sub("<shared memory>", body.decode("utf-8", "replace")).encode()
    extra = "".join(
        f"{k.title()}: {headers[k]}\r\n"
        for k in ("inference-header-content-length", "content-encoding")
        if k in headers
    )
    return _split(reply(status, body, headers.get("content-type", "application/json"), extra=extra))


def _split(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


def _closing(answer: tuple[bytes, bytes]) -> bytes:
    return answer[0].replace(b"Connection: keep-alive", b"Connection: close") + answer[1]
