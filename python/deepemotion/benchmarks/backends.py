"""Every available backend side by side in one run: latency percentiles, faces/s, memory, agreement."""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np

from ..labels import INPUT_SIZE
from ..runtime.backends.base import BackendUnavailable
from .timing import peak_rss_mb, percentiles_ms, time_calls


def candidate_backends(engine: str | None, model: str | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """(label, factory) for every registered backend that runs on this machine's model (a remote one needs a
    server: `fer-bench --serve`), plus the variants Recognizer uses: a spinning CPU backend with spinning off
    (beside the Haar detector: "-nospin"), and the other devices an entry runs on ("-cuda"). Factories raise
    BackendUnavailable when the backend cannot run here."""
    from ..runtime.backends import create_backend, registry

    def no_engine() -> Any:
        raise BackendUnavailable("no engine given (build one with `fer-export engine`, then pass --engine)")

    cands: list[tuple[str, Callable[[], Any]]] = []
    for e in registry().values():
        if e.device == "remote":
            continue
        if e.needs_model_file:
            cands.append((e.name, (lambda n=e.name: create_backend(n, engine)) if engine else no_engine))
            continue
        cands.append((e.name, lambda n=e.name: create_backend(n, model)))
        if e.spins and e.device == "cpu":
            cands.append((f"{e.name}-nospin", lambda n=e.name: create_backend(n, model, spinning=False)))
        cands += [(f"{e.name}-{dev}", lambda n=e.name, d=dev: create_backend(n, model, device=d)) for dev in e.also_on]
    return cands


def bench_backends(
    batches: tuple[int, ...],
    min_time: float,
    min_runs: int,
    engine: str | None,
    only: list[str] | None = None,
    check_against: str = "onnxruntime",
    model: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    rng = np.random.default_rng(0)
    xs = {b: (rng.random((b, 1, INPUT_SIZE, INPUT_SIZE), np.float32) * 2 - 1).astype(np.float32) for b in batches}
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    reference: dict[int, np.ndarray] = {}
    for name, factory in candidate_backends(engine, model):
        if only and name not in only:
            continue
        rss0 = peak_rss_mb()
        try:
            backend = factory()
        except (BackendUnavailable, ImportError, RuntimeError) as exc:  # cannot run here: reported, not fatal
            skipped.append({"backend": name, "reason": str(exc).split("\n")[0]})
            continue
        gpu_mem = None
        for b in batches:
            x = xs[b]
            out = backend.run(x)
            if name == check_against:
                reference[b] = out
            diff = float(np.abs(out - reference[b]).max()) if b in reference else None
            t = time_calls(lambda: backend.run(x), min_time, min_runs)
            if name == "torch-cuda":
                import torch

                gpu_mem = torch.cuda.max_memory_allocated() / 2**20
            p = percentiles_ms(t)
            rows.append(
                {
                    "backend": name,
                    "device": backend.device,
                    "batch": b,
                    "runs": int(len(t)),
                    **p,
                    "faces_per_s": b / (p["p50_ms"] / 1e3),
                    "max_abs_diff_vs_" + check_against: diff,
                    "peak_rss_growth_mb": round(peak_rss_mb() - rss0, 1),
                    "gpu_peak_mb": gpu_mem,
                }
            )
    return rows, skipped


def format_rows(rows: list[dict[str, Any]], skipped: list[dict[str, str]]) -> str:
    lines = [
        f"{'backend':18} {'dev':4} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'faces/s':>9} "
        f"{'max|diff|':>9} {'rss+MB':>7}"
    ]
    lines.append("-" * len(lines[0]))
    for r in rows:
        d = next((v for k, v in r.items() if k.startswith("max_abs_diff")), None)
        lines.append(
            f"{r['backend']:18} {r['device']:4} {r['batch']:5d} {r['p50_ms']:9.3f} {r['p90_ms']:9.3f} "
            f"{r['p99_ms']:9.3f} {r['faces_per_s']:9.0f} {'-' if d is None else f'{d:.1e}':>9} "
            f"{r['peak_rss_growth_mb']:7.1f}"
        )
    for s in skipped:
        lines.append(f"{s['backend']:18} skipped: {s['reason']}")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]], base: str = "onnxruntime") -> list[str]:
    out = []
    by = {(r["backend"], r["batch"]): r for r in rows}
    for (name, b), r in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if name != base and (base, b) in by:
            out.append(f"{name:18} batch {b:4d}: {r['faces_per_s'] / by[(base, b)]['faces_per_s']:.2f}x {base}")
    return out


def compare(a_path: str, b_path: str) -> str:
    for p in (a_path, b_path):
        try:
            open(p).close()
        except OSError as exc:
            raise FileNotFoundError(f"{p}: cannot be read ({exc.strerror})") from None
    with open(a_path) as fa, open(b_path) as fb:
        try:
            a, b = json.load(fa), json.load(fb)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a fer-bench JSON file ({exc})") from None
    if "rows" not in a or "rows" not in b:
        raise ValueError("not a fer-bench JSON file (no 'rows')")
    ia = {(r["backend"], r["batch"]): r for r in a["rows"]}
    lines = [f"speed-up of {b_path} over {a_path} (faces/s ratio, >1 = faster)"]
    for r in b["rows"]:
        k = (r["backend"], r["batch"])
        if k in ia:
            lines.append(
                f"{k[0]:18} batch {k[1]:4d}: {r['faces_per_s'] / ia[k]['faces_per_s']:.2f}x "
                f"(p50 {ia[k]['p50_ms']:.3f} -> {r['p50_ms']:.3f} ms)"
            )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str, title: str) -> None:
    from ..plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(r["backend"] for r in rows):
        rs = sorted((r for r in rows if r["backend"] == name), key=lambda r: r["batch"])
        bs = [r["batch"] for r in rs]
        axes[0].plot(bs, [r["p50_ms"] for r in rs], marker="o", label=name)
        axes[1].plot(bs, [r["faces_per_s"] for r in rs], marker="o", label=name)
    for ax, lab in zip(axes, ("latency per batch, p50 (ms)", "throughput (faces/s)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
