"""Local in-process classification against the same model served by Triton (gRPC and HTTP, dynamic batching on
and off), at 1, 8 and 32 concurrent clients, alternated round after round in one run (`fer-bench --serve`).

Each client is a thread calling `Recognizer.predict_faces` with `faces_per_call` faces (a robot sends the faces
of one frame); the local setup is one Recognizer shared by the threads, the served ones one Recognizer with the
triton backend shared by the threads (each thread has its own connection). Faces/s and p50/p99 latency per call.
The server runs on this machine, so it competes with the clients for the same cores: on one machine, serving can
at best match local classification; its point is many machines.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import INPUT_SIZE


def _clients(rec: Any, faces: np.ndarray, n_clients: int, seconds: float, per_call: int) -> dict[str, float]:
    lat: list[list[float]] = [[] for _ in range(n_clients)]
    errors = [0]
    start = threading.Barrier(n_clients + 1)

    def client(k: int) -> None:
        rng = np.random.default_rng(k)
        start.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            a = int(rng.integers(0, len(faces) - per_call))
            t0 = time.perf_counter()
            try:
                rec.predict_faces(faces[a : a + per_call])
            except Exception:  # noqa: BLE001 - counted, reported
                errors[0] += 1
                continue
            lat[k].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n_clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_lat = np.concatenate([np.array(x) for x in lat if x]) if any(lat) else np.zeros(1)
    return {
        "faces_per_s": len(all_lat) * per_call / wall,
        "p50_ms": float(np.percentile(all_lat, 50) * 1e3),
        "p99_ms": float(np.percentile(all_lat, 99) * 1e3),
        "calls": int(len(all_lat)),
        "errors": errors[0],
    }


def bench_serving(
    model: str = "default",
    clients: tuple[int, ...] = (1, 8, 32),
    seconds: float = 2.0,
    rounds: int = 2,
    faces_per_call: int = 1,
    instances: int = 1,
    queue_delay_us: int = 2000,
) -> dict[str, Any]:
    """See the module docstring. Needs the [serve] extra."""
    from ..runtime.recognizer import Recognizer
    from ..serving.repository import RepositoryOptions, write_repository
    from ..serving.server import TritonServer, free_port

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (1024, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    servers: dict[str, TritonServer] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for dyn in (True, False):
                repo = Path(tmp) / f"repo_{dyn}"
                write_repository(
                    repo,
                    RepositoryOptions(
                        model=model,
                        dynamic_batching=dyn,
                        frames=False,
                        instances=instances,
                        queue_delay_us=queue_delay_us,
                    ),
                )
                s = servers["dynamic batching" if dyn else "no batching"] = TritonServer(
                    repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port()
                )
                s.start()
            setups = {"local": Recognizer(model=model, detector=None)}
            for label, s in servers.items():
                for proto, url in (("gRPC", s.grpc_url), ("HTTP", s.http_url)):
                    setups[f"served {proto}, {label}"] = Recognizer(detector=None, backend="triton", url=url)
            runs: dict[str, dict[int, list[dict[str, float]]]] = {k: {c: [] for c in clients} for k in setups}
            for _ in range(rounds):
                for c in clients:
                    for name, rec in setups.items():
                        runs[name][c].append(_clients(rec, faces, c, seconds, faces_per_call))
        finally:
            for s in servers.values():
                s.stop()
    return {
        "model": model,
        "faces_per_call": faces_per_call,
        "seconds": seconds,
        "rounds": rounds,
        "instances": instances,
        "queue_delay_us": queue_delay_us,
        "rows": _rows_vs_local(runs),
    }


def _rows_vs_local(runs: dict[str, dict[int, list[dict[str, float]]]]) -> list[dict[str, Any]]:
    """One row per setup and client count: its best round, its rounds, and its ratios to the local setup's."""
    rows = []
    for name, by_c in runs.items():
        for c, rs in by_c.items():
            best = max(rs, key=lambda r: r["faces_per_s"])
            rows.append({"setup": name, "clients": c, **best, "rounds": rs})
    local = {r["clients"]: r for r in rows if r["setup"] == "local"}
    for r in rows:
        r["vs_local_faces_per_s"] = r["faces_per_s"] / local[r["clients"]]["faces_per_s"]
        r["vs_local_p99"] = r["p99_ms"] / local[r["clients"]]["p99_ms"]
    return rows


def format_serving(res: dict[str, Any]) -> str:
    lines = [f"{'setup':38} {'clients':>7} {'faces/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs local':>8} {'errors':>6}"]
    for r in res["rows"]:
        lines.append(
            f"{r['setup']:38} {r['clients']:7d} {r['faces_per_s']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} "
            f"{r['vs_local_faces_per_s']:7.2f}x {r['errors']:6d}"
        )
    return "\n".join(lines)
