"""NVIDIA Triton Inference Server from the ``nvidia-pytriton`` wheel, used only as the carrier of the
``tritonserver`` binary and its python backend: found, given the environment it needs, started in a process group
of its own behind the HTTP gate (``serving/gate.py``), checked with a real inference, stopped with its stub
processes and shared-memory segments.

Which server: no wheel on PyPI carries a Triton with the 2025 security fixes (Triton 25.07). ``nvidia-pytriton``
0.5.13 to 0.7.0 carry Triton 2.51.0 (October 2024), which refuses inputs shorter than their shape (2.45.0, in
0.5.7, the last release that allows numpy 2, answers them from stale memory); those releases declare numpy<2, but
only their Python client needs it -- fer-serve runs the binary alone -- so the wheel is installed without its
dependencies: ``pip install --no-deps "nvidia-pytriton==0.7.0"``. A server older than `MIN_TRITON` is
refused at start.

What is exposed (the security model, docs/serving.md): on ``host`` only the two gates -- HTTP
(``serving/gate.py``) and gRPC (``serving/grpc_gate.py``): inference and health, every request checked and size-
capped; Triton's own HTTP and gRPC endpoints listen on 127.0.0.1 on private ports, with its shared-memory,
model-repository, statistics, trace and logging APIs restricted to a random key nobody is told; metrics on
127.0.0.1. Triton's log is kept in memory (its last lines) and in a file capped at
1 MiB, rotated once.

What the binary needs here: ``LD_LIBRARY_PATH`` with this interpreter's libpython folder (else the python
backend's stub loads the system's libpython and fails) and the wheel's ``nvidia_pytriton.libs``; ``PYTHONPATH``
with this environment's site-packages (the models import deepemotion); the stub built for this Python version in
the backend folder (a folder of links in the server's workspace).

Known Triton behaviour handled here: when a python-backend stub process dies, the server stays "ready" but every
request fails, so health is a real inference (`TritonServer.check`), never the readiness endpoint alone.
"""

from __future__ import annotations

import collections
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..labels import INPUT_SIZE
from .gate import GateLimits, HttpGate
from .grpc_gate import GrpcGate
from .repository import FACES_INPUT, FACES_MODEL, PROBS_OUTPUT, repository_form

#: the oldest tritonserver fer-serve runs: 2.51.0 refuses inputs shorter than their shape (2.45.0 did not)
MIN_TRITON = (2, 51, 0)
#: the wheel that carries it, installed without its dependencies (it declares numpy<2 for its client alone);
#: 0.5.13 is the first release with Triton 2.51.0
SERVER_WHEEL = "nvidia-pytriton==0.7.0"
MIN_WHEEL = (0, 5, 13)
INSTALL_HINT = (
    f'fer-serve needs the Triton server: pip install --no-deps "{SERVER_WHEEL}" (and deepemotion\'s '
    '[serve] extra: pip install ".[serve]" in a checkout)'
)
#: Triton APIs nobody outside needs; restricted to a random key that is never shown
RESTRICTED = "shared-memory,model-repository,statistics,trace,logging"
LOG_CAP = 1 << 20  # bytes of tritonserver.log before it is rotated (once: .1)


class ServerFailed(RuntimeError):
    """The server did not start, or stopped answering; the message has the end of its log."""


@dataclass(frozen=True)
class TritonDistribution:
    binary: Path
    libs: Path
    backend: Path  # the python backend's folder (libtriton_python.so, triton_python_backend_utils.py)
    stub: Path  # triton_python_backend_stub for this Python version


def find_tritonserver() -> TritonDistribution:
    """The tritonserver shipped in the nvidia-pytriton wheel, or ImportError saying what to install."""
    spec = importlib.util.find_spec("pytriton")  # located, not imported: only its files are used
    hint = INSTALL_HINT
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(hint)
    try:
        wheel = importlib.metadata.version("nvidia-pytriton")
    except importlib.metadata.PackageNotFoundError:
        wheel = None
    if wheel is not None and _version(wheel) < MIN_WHEEL:
        raise ImportError(
            f"nvidia-pytriton {wheel} carries a tritonserver older than {'.'.join(map(str, MIN_TRITON))}; {hint}"
        )
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stubs = [
        root / "python_backend_stubs" / version / "triton_python_backend_stub",
        root / "backends" / "python" / "triton_python_backend_stub",
    ]
    stub = next((s for s in stubs if s.is_file()), None)
    dist = TritonDistribution(
        root / "bin" / "tritonserver",
        root.parent.parent / "nvidia_pytriton.libs",
        root / "backends" / "python",
        stub or stubs[0],
    )
    if not dist.binary.is_file():
        raise ImportError(f"{hint} (no tritonserver binary in {root})")
    if stub is None:
        raise ImportError(f"the installed nvidia-pytriton has no python backend stub for Python {version}")
    return dist


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_environment(dist: TritonDistribution) -> dict[str, str]:
    env = dict(os.environ)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, str(dist.libs), env.get("LD_LIBRARY_PATH", "")) if p)
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    # the stub's interpreter puts site-packages before PYTHONPATH: the models put this folder first themselves, so
    # that they run the deepemotion fer-serve runs, not another copy installed in the environment
    env["DEEPEMOTION_PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in (*paths, env.get("PYTHONPATH", "")) if p))
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    return env


class LogPump:
    """Reads the server's output in a thread of its own: the last lines in memory (for errors, even after the
    workspace is gone) and a file capped at `LOG_CAP` bytes, rotated once (``.1``)."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.stream, self.path = stream, path
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self._thread = threading.Thread(target=self._pump, name="deepemotion-triton-log", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        written = 0
        out = open(self.path, "ab")  # noqa: SIM115 - rotated below
        try:
            for raw in iter(lambda: self.stream.readline(8192), b""):
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
                if written + len(raw) > LOG_CAP:
                    out.close()
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    out, written = open(self.path, "ab"), 0  # noqa: SIM115
                out.write(raw)
                out.flush()
                written += len(raw)
        except (OSError, ValueError):  # the workspace was removed, or the stream closed under us
            pass
        finally:
            out.close()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


def failure_summary(lines: list[str], keep: int = 3) -> str:
    """The lines of a server log that say why it failed: its errors, without the option tables and noise."""
    noise = ("NVML", "DCGM", "CudaDriverHelper", "CUDA driver")
    useful = [t.strip() for t in lines if t.strip() and t.strip()[0] not in "|+" and not any(n in t for n in noise)]
    errors = [t for t in useful if t[:1] == "E" and t[1:5].isdigit() or "error" in t.lower() or "failed" in t.lower()]
    chosen = (errors or useful)[-keep:]
    return " | ".join(t[:300] for t in chosen) or "(the server wrote nothing)"


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(".")[:3])
    except ValueError:
        return (0,)


class TritonServer:
    """One tritonserver process serving ``repository`` (a python-form repository), its gRPC endpoint on
    ``host:grpc_port``, the HTTP gate on ``host:http_port``, metrics on 127.0.0.1:``metrics_port``. Use as a
    context manager, or start()/stop(). ``orphan_cleanup``: folders to remove too if the process that started the
    server dies without stopping it (fer-serve's temporary repository)."""

    def __init__(
        self,
        repository: str | Path,
        host: str = "127.0.0.1",
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        limits: GateLimits | None = None,
        orphan_cleanup: tuple[str | Path, ...] = (),
    ) -> None:
        self.repository = Path(repository)
        form = repository_form(self.repository)
        if form != "python":
            raise ValueError(
                f"{self.repository}: this repository is in the {form} form, which runs on NVIDIA's "
                "Triton container (export/triton/); fer-serve serves the python form (fer-export triton "
                "--format python, or fer-serve --model ...)"
            )
        ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
        if len(set(ports.values())) != 3:
            raise ValueError(f"the HTTP, gRPC and metrics ports must differ, got {ports}")
        self.host, self.ports = host, ports
        self.dist = find_tritonserver()
        self.models = frozenset(m.name for m in self.repository.iterdir() if (m / "config.pbtxt").is_file())
        self.limits = limits or GateLimits()
        self.orphan_cleanup = tuple(str(p) for p in orphan_cleanup)
        self.shm_prefix = f"deepemotion_{uuid.uuid4().hex[:12]}_"
        self.server_id = f"deepemotion-{uuid.uuid4().hex[:12]}"
        self.version = ""
        self.workspace: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.gate: HttpGate | None = None
        self.grpc_gate: GrpcGate | None = None
        self._log: LogPump | None = None
        self._last_lines: list[str] = []

    @property
    def http_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.ports['http']}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{_url_host(self.host)}:{self.ports['grpc']}"

    def _prepare(self) -> list[str]:
        for name, port in self.ports.items():
            if not port_free(self.host if name != "metrics" else "127.0.0.1", port):
                raise ValueError(f"{self.host}:{port} ({name}) is in use; choose another --{name}-port")
        self.workspace = Path(tempfile.mkdtemp(prefix="deepemotion-serve-"))
        backend = self.workspace / "backends" / "python"
        backend.mkdir(parents=True)
        for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
            (backend / f).symlink_to(self.dist.backend / f)
        (backend / "triton_python_backend_stub").symlink_to(self.dist.stub)
        self._upstream, self._upstream_grpc = free_port(), free_port()
        key = f"deepemotion-admin={secrets.token_hex(16)}"  # never shown: these APIs are closed to everyone
        return [
            str(self.dist.binary),
            f"--model-repository={self.repository.resolve()}",
            f"--backend-directory={self.workspace / 'backends'}",
            f"--id={self.server_id}",
            "--http-address=127.0.0.1",
            f"--http-port={self._upstream}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self._upstream_grpc}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.ports['metrics']}",
            f"--http-restricted-api={RESTRICTED}:{key}",
            f"--grpc-restricted-protocol={RESTRICTED}:{key}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--disable-auto-complete-config",
            "--log-verbose=0",
            "--exit-timeout-secs=5",
        ]

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until a real inference succeeds; returns the seconds that took."""
        if not 0 < timeout < 1e6:  # also refuses nan
            raise ValueError(f"timeout must be a number of seconds in (0, 1e6), got {timeout!r}")
        t0 = time.monotonic()
        cmd = self._prepare()
        assert self.workspace is not None
        self.gate = HttpGate(self.host, self.ports["http"], self._upstream, self.models, self.limits)
        self.grpc_gate = GrpcGate(
            self.host,
            self.ports["grpc"],
            self._upstream_grpc,
            self.models,
            max_message=self.limits.max_body + (64 << 10),
        )
        for name, gate in (("http", self.gate), ("grpc", self.grpc_gate)):
            try:
                gate.start()  # binds the public port now: a second server on it fails here
            except OSError as exc:
                self.stop()
                raise ValueError(
                    f"{self.host}:{self.ports[name]} ({name}) cannot be used ({exc.strerror or exc}); "
                    f"choose another --{name}-port"
                ) from None
        self.process = subprocess.Popen(
            _supervised(cmd, self.shm_prefix, (str(self.workspace), *self.orphan_cleanup)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_environment(self.dist),
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self._log = LogPump(self.process.stdout, self.workspace / "tritonserver.log")
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise ServerFailed(f"tritonserver exited with code {code}: {self.log_tail()}")
            try:
                self.check(timeout=2.0)
                break
            except ServerFailed:
                if time.monotonic() - t0 > timeout:
                    self.stop()
                    raise ServerFailed(f"no answer within {timeout:g} s: {self.log_tail()}") from None
                time.sleep(0.1)
        if _version(self.version) < MIN_TRITON:
            found = self.version
            self.stop()
            raise ValueError(
                f"tritonserver {found} is older than {'.'.join(map(str, MIN_TRITON))} (it answers "
                f"inputs shorter than their shape from stale memory): {INSTALL_HINT}"
            )
        return time.monotonic() - t0

    def check(self, timeout: float = 5.0) -> None:
        """One real inference (one blank face) through the HTTP gate, and the gRPC endpoint's metadata naming this
        server (not another one that holds the port); ServerFailed when either fails. The readiness endpoint alone
        is not enough: a server whose stub process died still reports ready."""
        if self.process is None or self.process.poll() is not None:
            raise ServerFailed("tritonserver is not running")
        try:
            import tritonclient.grpc as grpc
            import tritonclient.http as http

            client = http.InferenceServerClient(
                f"{_url_host(self.host)}:{self.ports['http']}", connection_timeout=timeout, network_timeout=timeout
            )
            try:
                face = np.zeros((1, INPUT_SIZE, INPUT_SIZE), np.uint8)
                inp = http.InferInput(FACES_INPUT, list(face.shape), "UINT8")
                inp.set_data_from_numpy(face, binary_data=True)
                probs = client.infer(FACES_MODEL, [inp]).as_numpy(PROBS_OUTPUT)
            finally:
                client.close()
            g = grpc.InferenceServerClient(f"{_url_host(self.host)}:{self.ports['grpc']}")
            try:
                meta = g.get_server_metadata(as_json=True, client_timeout=timeout)
            finally:
                g.close()
        except Exception as exc:  # noqa: BLE001 - any failure of the round trip is "not healthy"
            raise ServerFailed(
                f"the {FACES_MODEL} model does not answer ({str(exc).strip().splitlines()[0][:200]})"
                if str(exc).strip()
                else f"the {FACES_MODEL} model does not answer"
            ) from None
        if probs is None or probs.shape != (1, 7) or not np.isfinite(probs).all():
            raise ServerFailed(f"the {FACES_MODEL} model answered {None if probs is None else probs.shape}")
        if meta.get("name") != self.server_id:
            raise ServerFailed(
                f"{self.grpc_url} is served by another server ({str(meta.get('name'))[:40]!r}), not "
                "this one: is another fer-serve using that port?"
            )
        self.version = str(meta.get("version", ""))

    def log_tail(self) -> str:
        lines = list(self._log.lines) if self._log is not None else self._last_lines
        return failure_summary(lines) if lines else "(the server wrote nothing)"

    def stop(self, grace: float = 5.0) -> None:
        """Stop the gate, the server and everything it started (its process group: the python-backend stubs),
        remove its shared-memory segments and its workspace. Safe to call twice."""
        for gate in (self.gate, self.grpc_gate):
            if gate is not None:
                gate.stop()
        self.gate = self.grpc_gate = None
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace + 2.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if p is not None:
            _kill_group(p.pid)  # stubs that outlived the server
        if self._log is not None:
            self._log.join()
            self._last_lines = list(self._log.lines)
            self._log = None
        if p is not None and p.stdout is not None:
            p.stdout.close()
        for seg in Path("/dev/shm").glob(f"{self.shm_prefix}*") if Path("/dev/shm").is_dir() else []:
            seg.unlink(missing_ok=True)
        if self.workspace is not None:
            shutil.rmtree(self.workspace, ignore_errors=True)
            self.workspace = None

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


#: the supervisor: a fresh Python that runs tritonserver as its child and cleans up after it. It asks Linux for
#: SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG; the server gets the same from it), and on
#: SIGTERM/SIGINT/SIGHUP, or when the server exits, stops the server (SIGTERM, then SIGKILL after the grace) and
#: kills what is left of its process group (python-backend stubs, which outlive a server killed while loading).
#: When the process that started it is gone (killed with SIGKILL), nobody else will clean up: it then also removes
#: the server's shared-memory segments and the folders it was given. Not a ``preexec_fn`` in this process: that
#: forces subprocess to fork() rather than vfork(), and fork() runs gRPC's fork handlers, which block forever when
#: the client's channel is reconnecting to a server that was just killed (seen as a hung restart under load).
_SUPERVISOR = """
import ctypes, glob, os, shutil, signal, subprocess, sys, time
parent, prefix, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
folders, cmd = sys.argv[4:4 + n], sys.argv[4 + n:]
def deathsig(sig):
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
deathsig(signal.SIGTERM)
if os.getppid() != parent:
    sys.exit("deepemotion: the process that started tritonserver has already exited")
stop = []
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda *a: stop.append(1))
child = subprocess.Popen(cmd, preexec_fn=lambda: deathsig(signal.SIGKILL))
while child.poll() is None and not stop:
    time.sleep(0.05)
if child.poll() is None:
    child.terminate()
    try:
        child.wait(5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
me, group = os.getpid(), os.getpgid(0)
for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
    try:
        if entry.isdigit() and int(entry) != me and os.getpgid(int(entry)) == group:
            os.kill(int(entry), signal.SIGKILL)
    except OSError:
        pass
if os.getppid() != parent:
    for seg in glob.glob("/dev/shm/" + prefix + "*"):
        try:
            os.unlink(seg)
        except OSError:
            pass
    for f in folders:
        shutil.rmtree(f, ignore_errors=True)
sys.exit(child.returncode if child.returncode >= 0 else 128 - child.returncode)
"""


def _supervised(cmd: list[str], shm_prefix: str, folders: tuple[str, ...]) -> list[str]:
    """``cmd`` run by `_SUPERVISOR`: a server is never left behind, with its stubs, shared memory and
    folders, by a client killed with SIGKILL (start the server from a thread that lives as long as it should: the
    main thread, for fer-serve)."""
    return [sys.executable, "-c", _SUPERVISOR, str(os.getpid()), shm_prefix, str(len(folders)), *folders, *cmd]


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
