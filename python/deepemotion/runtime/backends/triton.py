"""A Triton Inference Server as a backend: detection, framing and tracking stay on this machine, the faces of each
call go to the server (``fer-serve``, or NVIDIA's Triton container serving a repository from
``fer-export triton``) over gRPC or HTTP (``pip install "deepemotion[client]"``).

    rec = Recognizer(backend="triton", url="grpc://gpu-box:8001")     # or "http://gpu-box:8000"

Faces travel as uint8 48x48 (the crop's intensities rounded to 0..255: 4x smaller than float32), the server
normalises them and answers probabilities, which ``run`` returns as log-probabilities (the Recognizer's softmax
gives them back exactly).

Failures are typed, never a hang: a server that cannot be reached when the backend is made raises
:class:`BackendUnavailable` naming the URL; one that goes away later is retried with backoff until ``timeout``
seconds have passed, then :class:`ServerUnavailable` is raised; a request the server refuses (shape, type,
batch size) raises ValueError. Each thread talks over its own connection, so one backend may be shared by threads.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ...labels import INPUT_SIZE, NUM_CLASSES
from ..inputs import to_uint8
from .base import Backend, BackendUnavailable, register

#: the served model's tensors (every form of ``fer-export triton`` has them)
FACES, PROBS = "faces", "probs"
DEFAULT_MODEL = "deepemotion"


class ServerUnavailable(BackendUnavailable, ConnectionError):
    """The server did not answer within the backend's timeout (it is down, restarting or unreachable)."""


def parse_url(url: Any) -> tuple[str, str]:
    """("grpc" | "http", "host:port") from "grpc://host:port" or "http://host:port"; ValueError otherwise."""
    if not isinstance(url, str):
        raise ValueError(f"backend 'triton' needs url='grpc://HOST:PORT' or 'http://HOST:PORT', got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("grpc", "http") or not parts.hostname or parts.port is None or parts.path not in ("", "/"):
        raise ValueError(f"url must be 'grpc://HOST:PORT' or 'http://HOST:PORT', got {url!r}")
    return parts.scheme, parts.netloc


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "grpc":
            import tritonclient.grpc as mod
        else:
            import tritonclient.http as mod
    except ImportError:
        raise BackendUnavailable(f"backend 'triton' over {protocol} needs tritonclient: "
                                 "pip install \"deepemotion[client]\"") from None
    return mod


@register("triton", "a Triton Inference Server over gRPC or HTTP (fer-serve, or NVIDIA's container)", device="remote",
          precision="model", needs='deepemotion[client] and a server: fer-serve')
class TritonBackend(Backend):
    """``url``: "grpc://HOST:PORT" or "http://HOST:PORT"; ``timeout``: seconds a call may take in all, retries of a
    server that went away included; ``model_name``: the served model. ``model`` must be None or "default" (the
    server decides what it serves)."""

    def __init__(self, model: Any = None, device: str | None = None, url: str | None = None, timeout: float = 10.0,
                 model_name: str = DEFAULT_MODEL) -> None:
        if model not in (None, "default"):
            raise ValueError("with backend='triton' the server decides the model (fer-serve --model ...); leave "
                             f"model unset, or name the served model with model_name= (got model={model!r})")
        if device not in (None, "remote"):
            raise ValueError("backend 'triton' runs where the server is; device= does not apply")
        if not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise ValueError(f"timeout must be a number of seconds in (0, 3600], got {timeout!r}")
        self.protocol, self.address = parse_url(url)
        self.url, self.timeout, self.model_name = url, float(timeout), model_name
        self._mod = _client_module(self.protocol)
        self._local = threading.local()
        self.name, self.device = "triton", "remote"
        self.config = self._connect()
        self.max_batch = int(self.config.get("max_batch_size", 0)) or 1

    # -- connection ----------------------------------------------------------------------------------
    def _client(self, fresh: bool = False) -> Any:
        c = getattr(self._local, "client", None)
        if c is None or fresh:
            kw = {"network_timeout": self.timeout, "connection_timeout": self.timeout} \
                if self.protocol == "http" else {}
            c = self._local.client = self._mod.InferenceServerClient(self.address, **kw)
        return c

    def _connect(self) -> dict[str, Any]:
        """The served model's configuration, checked against what this backend sends and expects."""
        try:
            c = self._client()
            if not c.is_model_ready(self.model_name):
                raise BackendUnavailable(f"{self.url}: the server answers but model {self.model_name!r} is not "
                                         "ready (is it in the repository?)")
            cfg = c.get_model_config(self.model_name, **({"as_json": True} if self.protocol == "grpc" else {}))
        except BackendUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - tritonclient and its transports raise many types
            raise BackendUnavailable(f"{self.url}: cannot reach a Triton server ({_first_line(exc)})") from None
        cfg = cfg.get("config", cfg)
        names = ([i["name"] for i in cfg.get("input", [])], [o["name"] for o in cfg.get("output", [])])
        if FACES not in names[0] or PROBS not in names[1]:
            raise BackendUnavailable(f"{self.url}: model {self.model_name!r} has inputs {names[0]} and outputs "
                                     f"{names[1]}; a deepemotion model has {FACES!r} and {PROBS!r} "
                                     "(fer-export triton / fer-serve)")
        return cfg

    # -- inference -----------------------------------------------------------------------------------
    def _infer(self, faces: np.ndarray) -> np.ndarray:
        mod = self._mod
        inp = mod.InferInput(FACES, list(faces.shape), "UINT8")
        kw = {"binary_data": True} if self.protocol == "http" else {}
        inp.set_data_from_numpy(faces, **kw)
        out = [mod.InferRequestedOutput(PROBS, **kw)]
        extra = {"client_timeout": self.timeout} if self.protocol == "grpc" else {}
        return self._client().infer(self.model_name, [inp], outputs=out, **extra).as_numpy(PROBS)

    def run(self, x: np.ndarray) -> np.ndarray:
        faces = to_uint8(np.asarray(x, np.float32).reshape(-1, 1, INPUT_SIZE, INPUT_SIZE))
        deadline = time.monotonic() + self.timeout
        delay, attempt = 0.05, 0
        while True:
            attempt += 1
            try:
                probs = self._infer(faces)
                break
            except Exception as exc:  # noqa: BLE001 - sorted below into refused requests and a missing server
                if _refused(exc):
                    raise ValueError(f"{self.url}: the server refused the request ({_first_line(exc)})") from None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerUnavailable(f"{self.url}: no answer within {self.timeout:g} s ({attempt} attempts; "
                                            f"last: {_first_line(exc)})") from None
                time.sleep(min(left, delay * (0.5 + random.random())))
                delay = min(delay * 2, 1.0)
                self._client(fresh=True)  # a new connection: the server may have restarted
        probs = np.asarray(probs, np.float32)
        if probs.shape != (len(faces), NUM_CLASSES):
            raise ValueError(f"{self.url}: the server answered shape {probs.shape} for {len(faces)} faces")
        return np.log(np.maximum(probs, 1e-30))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _refused(exc: BaseException) -> bool:
    """True when the server answered and refused the request (a bad request: no use retrying)."""
    status = str(getattr(exc, "status", lambda: "")() if callable(getattr(exc, "status", None)) else "")
    text = str(exc)
    if status in ("StatusCode.INVALID_ARGUMENT", "400"):
        return True
    return any(s in text for s in ("unexpected shape", "unexpected datatype", "exceeds maximum batch size",
                                   "inference input data-type", "unexpected inference input"))
