"""`fer-serve`: serve deepemotion to many cameras and robots on NVIDIA Triton Inference Server (the tritonserver of
the nvidia-pytriton wheel: `pip install ".[serve]"` in a checkout, then ``pip install --no-deps
"nvidia-pytriton==0.7.0"``; see docs/serving.md).

    fer-serve                                   # the bundled default model, python form, on 127.0.0.1
    fer-serve --model tiny --instances 2 --host 0.0.0.0
    fer-serve --repository my_repo/             # a python-form repository from `fer-export triton`

Clients: `Recognizer(backend="triton", url="grpc://HOST:8001")` (faces), or any Triton client sending an encoded
frame to the `deepemotion_frames` model. Exposed: inference and health over gRPC and over HTTP (through a gate
that checks every request); not exposed: shared memory, model control, statistics, trace, logging; metrics on
127.0.0.1 only (docs/serving.md, "Security"). The server counts as up only when a real inference succeeds; while
it runs, one is made every --health-interval seconds (a python-backend stub that died leaves Triton "ready" but
answering nothing) and a server that stops answering is restarted (at most --restarts times within
--restart-window seconds). Ctrl-C, SIGTERM or SIGHUP stops the server with its stub processes and shared-memory
segments. Exit codes: 0 stopped by SIGTERM or SIGHUP, 130 by Ctrl-C, 2 bad options or repository, 1 the server
failed.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import UsageError, cli_main, parser, require

PROG = "fer-serve"


def build_parser() -> argparse.ArgumentParser:
    from ..runtime.assets import BUNDLED_MODELS

    p = parser(PROG, __doc__ or "")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--repository", default=None, help="serve this model repository (python form)")
    src.add_argument(
        "--model",
        default="default",
        help=f"make a repository of this model: bundled ({' | '.join(BUNDLED_MODELS)}) or an .onnx file",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--max-batch", type=int, default=64, help="largest batch of faces the server runs at once")
    p.add_argument("--instances", type=int, default=1, help="model instances (processes) serving at once")
    p.add_argument("--no-frames", action="store_true", help="do not serve the deepemotion_frames model")
    p.add_argument("--start-timeout", type=float, default=60.0, help="seconds to wait for the first real inference")
    p.add_argument("--health-interval", type=float, default=5.0, help="seconds between health inferences")
    p.add_argument(
        "--restarts",
        type=int,
        default=3,
        help="restarts of a server that stopped answering, at most, within --restart-window seconds",
    )
    p.add_argument("--restart-window", type=float, default=600.0, help="seconds over which --restarts are counted")
    p.add_argument(
        "--max-request-mb",
        type=float,
        default=16.0,
        help="largest HTTP request body accepted (an encoded frame for deepemotion_frames)",
    )
    return p


class Stop(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _on_signal(signum: int, frame: Any) -> None:
    raise Stop(130 if signum == signal.SIGINT else 0)


def frames_detector() -> tuple[str, str]:
    """(detector name, why) for the deepemotion_frames model: what `Recognizer()` would pick here -- YuNet where
    its model file is (or can be fetched), else Haar, with the reason."""
    from ..runtime.detect import create_detector, entry_of

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det = create_detector("auto")
    entry = entry_of(det)
    why = "; ".join(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    return (entry.name if entry is not None else "auto"), why


def make_server(args: argparse.Namespace, workdir: Path) -> Any:
    from ..serving.gate import GateLimits
    from ..serving.repository import RepositoryOptions, write_repository
    from ..serving.server import TritonServer

    repo = Path(args.repository) if args.repository else workdir / "repository"
    if not args.repository:
        detector, why = frames_detector() if not args.no_frames else ("auto", "")
        if why:
            print(
                f"{PROG}: deepemotion_frames detects faces with {detector}: {why.removeprefix('deepemotion: ')} "
                "(its boxes and scores differ from YuNet's; the model's config says which detector runs)",
                file=sys.stderr,
                flush=True,
            )
        write_repository(
            repo,
            RepositoryOptions(
                form="python",
                model=args.model,
                max_batch=args.max_batch,
                instances=args.instances,
                frames=not args.no_frames,
                detector=detector,
            ),
        )
    limits = GateLimits(max_body=int(args.max_request_mb * 1024 * 1024))
    return TritonServer(
        repo, args.host, args.http_port, args.grpc_port, args.metrics_port, limits=limits, orphan_cleanup=(workdir,)
    )


def supervise(server: Any, args: argparse.Namespace) -> int:
    """Health inferences every --health-interval s; restart a server that stops answering, at most --restarts times
    within any --restart-window seconds. Returns an exit code."""
    from ..serving.server import ServerFailed

    restarts: list[float] = []
    while True:
        time.sleep(args.health_interval)
        try:
            server.check()
            continue
        except ServerFailed as exc:
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < args.restart_window]
            if len(restarts) >= args.restarts:
                print(
                    f"{PROG}: error: the server stopped answering {len(restarts) + 1} times within "
                    f"{args.restart_window:g} s: {exc}",
                    file=sys.stderr,
                )
                return 1
            print(f"{PROG}: the server stopped answering ({exc}); restarting it", file=sys.stderr, flush=True)
        restarts.append(time.monotonic())
        server.stop()
        seconds = server.start(args.start_timeout)
        print(f"{PROG}: restarted, answering again after {seconds:.1f} s", flush=True)


def run(args: argparse.Namespace) -> int:
    from ..serving.server import find_tritonserver

    require("tritonclient.http", "serve", PROG)
    try:
        find_tritonserver()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    for name, top in (
        ("health_interval", 86400),
        ("start_timeout", 86400),
        ("restart_window", 10**7),
        ("max_request_mb", 1024),
    ):
        value = getattr(args, name)
        if not (math.isfinite(value) and 0 < value <= top):
            raise UsageError(f"--{name.replace('_', '-')} must be a number in (0, {top}], got {value}")
    if args.restarts < 0:
        raise UsageError("--restarts must be >= 0")
    check_ports(args)
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with tempfile.TemporaryDirectory(prefix="fer-serve-") as tmp:
        server = None
        try:
            server = make_server(args, Path(tmp))
            seconds = server.start(args.start_timeout)
            print(
                f"{PROG}: serving {', '.join(sorted(m.name for m in server.repository.iterdir() if m.is_dir()))} "
                f"from {server.repository}; answering after {seconds:.1f} s",
                flush=True,
            )
            print(
                f"  gRPC {server.grpc_url}   HTTP {server.http_url}   metrics "
                f"http://127.0.0.1:{args.metrics_port}/metrics (this machine only); tritonserver "
                f"{server.version}",
                flush=True,
            )
            print(f'  clients: Recognizer(backend="triton", url="{server.grpc_url}"); Ctrl-C stops', flush=True)
            return supervise(server, args)
        except Stop as stop:
            print(f"{PROG}: stopping", file=sys.stderr, flush=True)
            return stop.code
        finally:
            for s in old:  # a second Ctrl-C must not cut the clean-up short
                signal.signal(s, signal.SIG_IGN)
            if server is not None:
                server.stop()
            for s, h in old.items():
                signal.signal(s, h)


def check_ports(args: argparse.Namespace) -> None:
    import ipaddress

    ports = [args.http_port, args.grpc_port, args.metrics_port]
    for name, port in zip(("http", "grpc", "metrics"), ports):
        if not 1 <= port <= 65535:
            raise UsageError(f"--{name}-port must be in 1..65535")
    if len(set(ports)) != 3:
        raise UsageError(f"--http-port, --grpc-port and --metrics-port must differ, got {ports}")
    try:
        ipaddress.ip_address(args.host)
    except ValueError:
        raise UsageError(f"--host must be an IP address (127.0.0.1, 0.0.0.0, ::1, ::), got {args.host!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main(PROG, build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
