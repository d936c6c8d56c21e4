"""NVIDIA Triton Inference Server from the ``nvidia-pytriton`` wheel, used only as the carrier of the
``tritonserver`` binary and its python backend (``pip install "deepemotion[serve]"``): found, given the
environment it needs, started in a process group of its own, checked with a real inference, stopped with its
stub processes and shared-memory segments.

What the binary needs here: ``LD_LIBRARY_PATH`` with this interpreter's libpython folder (else the python
backend's stub loads the system's libpython and fails) and the wheel's ``nvidia_pytriton.libs``; ``PYTHONPATH``
with this environment's site-packages (the models import deepemotion); the stub built for this Python version in
the backend folder (a folder of links in the server's workspace).

Known Triton behaviour handled here: when a python-backend stub process dies, the server stays "ready" but every
request fails, so health is a real inference (:meth:`TritonServer.check`), never the readiness endpoint alone.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import INPUT_SIZE
from .repository import FACES_INPUT, FACES_MODEL, PROBS_OUTPUT


class ServerFailed(RuntimeError):
    """The server did not start, or stopped answering; the message has the end of its log."""


@dataclass(frozen=True)
class TritonDistribution:
    binary: Path
    libs: Path
    backend: Path          # the python backend's folder (libtriton_python.so, triton_python_backend_utils.py)
    stub: Path             # triton_python_backend_stub for this Python version


def find_tritonserver() -> TritonDistribution:
    """The tritonserver shipped in the nvidia-pytriton wheel, or ImportError naming the extra to install."""
    spec = importlib.util.find_spec("pytriton")  # located, not imported: only its files are used
    hint = 'fer-serve needs the Triton server: pip install "deepemotion[serve]"'
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(hint)
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stubs = [root / "python_backend_stubs" / version / "triton_python_backend_stub",
             root / "backends" / "python" / "triton_python_backend_stub"]
    stub = next((s for s in stubs if s.is_file()), None)
    dist = TritonDistribution(root / "bin" / "tritonserver", root.parent.parent / "nvidia_pytriton.libs",
                              root / "backends" / "python", stub or stubs[0])
    if not dist.binary.is_file():
        raise ImportError(f"{hint} (no tritonserver binary in {root})")
    if stub is None:
        raise ImportError(f"the installed nvidia-pytriton has no python backend stub for Python {version}")
    return dist


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
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
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in (*paths, env.get("PYTHONPATH", "")) if p))
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    return env


class TritonServer:
    """One tritonserver process serving ``repository``. Use as a context manager, or start()/stop()."""

    def __init__(self, repository: str | Path, host: str = "127.0.0.1", http_port: int = 8000,
                 grpc_port: int = 8001, metrics_port: int = 8002) -> None:
        self.repository = Path(repository)
        if not (self.repository / FACES_MODEL / "config.pbtxt").is_file():
            raise FileNotFoundError(f"{self.repository}: not a deepemotion model repository (no "
                                    f"{FACES_MODEL}/config.pbtxt); write one with fer-export triton")
        self.host, self.ports = host, {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
        self.dist = find_tritonserver()
        self.shm_prefix = f"deepemotion_{uuid.uuid4().hex[:12]}_"
        self.workspace: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.ports['http']}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self.host}:{self.ports['grpc']}"

    def _prepare(self) -> list[str]:
        for name, port in self.ports.items():
            if not port_free(self.host, port):
                raise ValueError(f"{self.host}:{port} ({name}) is in use; choose another --{name}-port")
        self.workspace = Path(tempfile.mkdtemp(prefix="deepemotion-serve-"))
        backend = self.workspace / "backends" / "python"
        backend.mkdir(parents=True)
        for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
            (backend / f).symlink_to(self.dist.backend / f)
        (backend / "triton_python_backend_stub").symlink_to(self.dist.stub)
        return [str(self.dist.binary), f"--model-repository={self.repository.resolve()}",
                f"--backend-directory={self.workspace / 'backends'}", f"--http-address={self.host}",
                f"--http-port={self.ports['http']}", f"--grpc-address={self.host}",
                f"--grpc-port={self.ports['grpc']}", f"--metrics-port={self.ports['metrics']}",
                f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}", "--exit-on-error=true",
                "--strict-readiness=true", "--disable-auto-complete-config", "--log-verbose=0",
                "--exit-timeout-secs=5"]

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until a real inference succeeds; returns the seconds that took."""
        t0 = time.monotonic()
        cmd = self._prepare()
        assert self.workspace is not None
        log = open(self.workspace / "tritonserver.log", "wb")  # noqa: SIM115 - the server writes it while it runs
        try:
            self.process = subprocess.Popen(_dying_with_parent(cmd), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=server_environment(self.dist),
                                            start_new_session=True)
        finally:
            log.close()
        while True:
            if self.process.poll() is not None:
                raise ServerFailed(f"tritonserver exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                self.check(timeout=2.0)
                return time.monotonic() - t0
            except ServerFailed:
                if time.monotonic() - t0 > timeout:
                    self.stop()
                    raise ServerFailed(f"no answer within {timeout:g} s: {self.log_tail()}") from None
                time.sleep(0.1)

    def check(self, timeout: float = 5.0) -> None:
        """One real inference (one blank face) through HTTP; ServerFailed when it does not succeed. The readiness
        endpoint alone is not enough: a server whose stub process died still reports ready."""
        try:
            import tritonclient.http as http

            client = http.InferenceServerClient(f"{self.host}:{self.ports['http']}", connection_timeout=timeout,
                                                network_timeout=timeout)
            face = np.zeros((1, INPUT_SIZE, INPUT_SIZE), np.uint8)
            inp = http.InferInput(FACES_INPUT, list(face.shape), "UINT8")
            inp.set_data_from_numpy(face, binary_data=True)
            probs = client.infer(FACES_MODEL, [inp]).as_numpy(PROBS_OUTPUT)
        except Exception as exc:  # noqa: BLE001 - any failure of the round trip is "not healthy"
            raise ServerFailed(f"the {FACES_MODEL} model does not answer ({str(exc).strip().splitlines()[0][:200]})"
                               if str(exc).strip() else f"the {FACES_MODEL} model does not answer") from None
        if probs is None or probs.shape != (1, 7) or not np.isfinite(probs).all():
            raise ServerFailed(f"the {FACES_MODEL} model answered {None if probs is None else probs.shape}")

    def log_tail(self, lines: int = 12) -> str:
        if self.workspace is None or not (self.workspace / "tritonserver.log").is_file():
            return "(no log)"
        text = (self.workspace / "tritonserver.log").read_text(errors="replace").strip().splitlines()
        keep = [t for t in text if "NVML" not in t and "DCGM" not in t][-lines:]
        return " | ".join(keep) or "(empty log)"

    def stop(self, grace: float = 5.0) -> None:
        """Stop the server and everything it started (its process group: the python-backend stubs), remove its
        shared-memory segments and its workspace. Safe to call twice."""
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
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


#: run in a fresh Python before the server: PR_SET_PDEATHSIG (SIGTERM when the thread that started it ends),
#: then exec the server in the same process (the setting survives exec). Not a ``preexec_fn``: that forces
#: subprocess to fork() rather than vfork(), and fork() runs gRPC's fork handlers, which block forever when the
#: client's channel is reconnecting to a server that was just killed (seen as a hung restart under load).
_DEATH_SIGNAL_LAUNCHER = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("deepemotion: the process that started tritonserver has already exited")
os.execv(sys.argv[2], sys.argv[2:])
"""


def _dying_with_parent(cmd: list[str]) -> list[str]:
    """``cmd`` wrapped so that Linux sends the server SIGTERM when the thread that started it ends: a server is
    never left behind by a client killed with SIGKILL (start the server from a thread that lives as long as it
    should: the main thread, for fer-serve). Elsewhere ``cmd`` as it is."""
    if not sys.platform.startswith("linux"):
        return cmd
    return [sys.executable, "-c", _DEATH_SIGNAL_LAUNCHER, str(os.getpid()), *cmd]


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
