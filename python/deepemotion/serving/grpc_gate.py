"""The gRPC gate: what clients reach on fer-serve's gRPC port. Triton's own gRPC endpoint listens on 127.0.0.1 on a
private port; the gate passes on only the KServe v2 calls a client of deepemotion needs, with a message size cap.

Why it exists: Triton takes gRPC messages of up to 2 GB, compressed ones included, and the pip-shipped release has
no option to lower that: a 1 MB gzip-compressed request of 1 GB of zeros took the server to 3.1 GB of memory (2 GB
kept). The gate:

- calls: ServerLive, ServerReady, ServerMetadata, and for the served models ModelReady, ModelMetadata, ModelConfig
  and ModelInfer; every other call (shared memory, repository, statistics, trace, logging, streaming) is
  PERMISSION_DENIED;
- size: a message (after decompression) of at most ``max_message`` bytes, enforced by gRPC itself
  (RESOURCE_EXHAUSTED); at most ``max_calls`` calls at once;
- ModelInfer: no shared-memory parameters; every input's raw bytes must match its shape and datatype
  (INVALID_ARGUMENT), so nothing short, long or oversized reaches Triton;
- answers: Triton's, with the python backend's shared-memory names removed from error messages.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from typing import Any

from .gate import ELEMENT_SIZE

SERVICE = "/inference.GRPCInferenceService/"
_GLOBAL = ("ServerLive", "ServerReady", "ServerMetadata")
_PER_MODEL = ("ModelReady", "ModelMetadata", "ModelConfig", "ModelInfer")
_SHM_NAME = re.compile(r"deepemotion_[0-9a-f]{12}_[0-9A-Za-z_-]*")


class GrpcGate:
    """The gate on ``host:port`` in front of Triton's gRPC endpoint at 127.0.0.1:``upstream_port``, serving
    ``models``: grpc's asyncio server on an event loop in a thread of its own. ``start()`` binds at once (OSError
    when the port is taken); ``stop()`` ends every call."""

    def __init__(
        self,
        host: str,
        port: int,
        upstream_port: int,
        models: set[str] | frozenset[str],
        max_message: int = 16 << 20,
        max_calls: int = 512,
        upstream_timeout: float = 120.0,
    ) -> None:
        import grpc
        from tritonclient.grpc import service_pb2

        self.grpc, self.pb = grpc, service_pb2
        self.host, self.port, self.upstream_port = host, port, upstream_port
        self.models, self.max_message = frozenset(models), max_message
        self.max_calls, self.upstream_timeout = max_calls, upstream_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._channel: Any = None
        self._calls: dict[str, Any] = {}
        self._error: BaseException | None = None

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="deepemotion-grpc-gate", daemon=True)
        self._thread.start()
        ready.wait(30)
        if self._error is not None:
            # the thread closes its own loop after a failed open: wait for it (stopping the loop from here raced with
            # that close: "Event loop stopped before Future completed" in the gate's thread)
            error = self._error
            self._thread.join(15)
            self._loop = self._thread = None
            self._server = self._channel = None
            raise OSError(f"cannot listen on {self.host}:{self.port} ({error})")
        if not ready.is_set():
            self.stop()
            raise OSError(f"cannot listen on {self.host}:{self.port} (no answer in 30 s)")

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises OSError
            self._error = exc
            ready.set()
            loop.run_until_complete(self._close())
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._close())
        loop.close()

    async def _open(self) -> None:
        grpc = self.grpc
        limits = [
            ("grpc.max_receive_message_length", self.max_message),
            ("grpc.max_send_message_length", self.max_message),
        ]
        # the port first: a gate that cannot listen must not have opened a channel (whose callbacks could outlive the
        # loop that start() then closes: "Event loop is closed" in grpc's poller thread)
        self._server = grpc.aio.server(
            options=[*limits, ("grpc.so_reuseport", 0)], maximum_concurrent_rpcs=self.max_calls
        )
        self._server.add_generic_rpc_handlers([_Handler(self)])
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        if self._server.add_insecure_port(address) != self.port:
            raise OSError(f"cannot listen on {address}")
        # reconnect quickly: the server comes up after the gate, and comes back after a restart
        self._channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{self.upstream_port}",
            options=[
                *limits,
                ("grpc.initial_reconnect_backoff_ms", 50),
                ("grpc.min_reconnect_backoff_ms", 50),
                ("grpc.max_reconnect_backoff_ms", 500),
            ],
        )
        await self._server.start()

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
        if self._channel is not None:
            await self._channel.close()
        await asyncio.sleep(0.05)  # let grpc's last completions reach the loop before it is closed

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
        self._loop = self._thread = None
        self._server = self._channel = None

    def check(self, method: str, request: bytes) -> str | None:
        """Why the request must not pass (None: it may)."""
        if method in _GLOBAL:
            return None
        kind = {
            "ModelInfer": self.pb.ModelInferRequest,
            "ModelConfig": self.pb.ModelConfigRequest,
            "ModelReady": self.pb.ModelReadyRequest,
            "ModelMetadata": self.pb.ModelMetadataRequest,
        }[method]
        msg = kind.FromString(request)
        name = msg.model_name if method == "ModelInfer" else msg.name
        if name not in self.models:
            return f"no model {name[:64]!r} is served here"
        return check_infer(msg) if method == "ModelInfer" else None

    async def forward(self, method: str, request: bytes, context: Any) -> bytes:
        grpc = self.grpc
        try:
            why = self.check(method, request)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends: a malformed message
            why = "the request does not parse"
        if why is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)
        left = context.time_remaining()
        timeout = min(self.upstream_timeout, left) if left is not None else self.upstream_timeout
        if method not in self._calls:
            self._calls[method] = self._channel.unary_unary(SERVICE + method)
        try:
            return await self._calls[method](request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), _SHM_NAME.sub("<shared memory>", exc.details() or ""))
        raise AssertionError("unreachable")  # pragma: no cover - abort raises


def check_infer(msg: Any) -> str | None:
    """Why a ModelInferRequest must not pass: shared-memory parameters, or inputs whose bytes do not match their
    shapes (None: it may pass)."""

    def shm(params: Any) -> bool:
        return any(str(k).startswith("shared_memory") for k in params)

    if shm(msg.parameters) or any(shm(o.parameters) for o in msg.outputs) or any(shm(i.parameters) for i in msg.inputs):
        return "shared memory is not exposed by this server"
    if len(msg.raw_input_contents) != len(msg.inputs) or not 1 <= len(msg.inputs) <= 8:
        return "send every input (1 to 8) as raw_input_contents, one per input"
    for tensor, raw in zip(msg.inputs, msg.raw_input_contents):
        if tensor.datatype not in ELEMENT_SIZE or len(tensor.shape) > 8 or any(d < 0 for d in tensor.shape):
            return (
                f"input {tensor.name[:64]!r}: datatype {tensor.datatype[:16]!r} shape {list(tensor.shape)[:8]} "
                "is not served"
            )
        want = math.prod(tensor.shape) * ELEMENT_SIZE[tensor.datatype]
        if len(raw) != want:
            return f"input {tensor.name[:64]!r}: {len(raw)} bytes for shape {list(tensor.shape)} ({want} bytes)"
    return None


class _Handler:
    """The gate's one generic handler: raw bytes in and out, the allowed calls forwarded."""

    def __init__(self, gate: GrpcGate) -> None:
        self.gate = gate

    def service(self, details: Any) -> Any:
        grpc = self.gate.grpc
        method = details.method[len(SERVICE) :] if details.method.startswith(SERVICE) else ""
        if method in _GLOBAL or method in _PER_MODEL:

            async def call(request: bytes, context: Any) -> bytes:
                return await self.gate.forward(method, request, context)
        else:
            why = f"{details.method[:80]}: not exposed by this server (inference and health only)"

            async def call(request: bytes, context: Any) -> bytes:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
                raise AssertionError("unreachable")  # pragma: no cover - abort raises

        return grpc.unary_unary_rpc_method_handler(call)
