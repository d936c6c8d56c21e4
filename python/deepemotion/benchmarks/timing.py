"""Timing helpers and the machine record every benchmark JSON carries."""

from __future__ import annotations

import os
import platform
import resource
import time
from typing import Any, Callable

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_calls(fn: Callable[[], Any], min_time: float, min_runs: int, warmup: int = 3) -> np.ndarray:
    """Seconds per call: `warmup` untimed calls, then timed calls until both `min_time` s and `min_runs`."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.array(times)


def time_in_turns(
    fns: dict[str, Callable[[], Any]], min_time: float, min_runs: int, warmup: int = 3, reverse: bool = False
) -> dict[str, np.ndarray]:
    """Seconds per call of several functions, each in its turn (`time_calls`: its warm-up calls, then a block
    of timed calls), in the order given or `reverse`d. For functions that each bring a thread pool of their own
    (ONNX Runtime sessions, whose idle threads spin after a run): alternated call by call, every call would run
    while the previous function's pool still spins -- measured on the 2-core AMD EPYC, 35-45% more time per
    `predict_faces` call for both bundled models, with three sessions 2x -- which a program running one of them
    never sees. The warm-up calls of a turn outlast the previous pool's spinning; callers alternate the order over
    rounds so that slower and faster phases of the machine hit every function alike."""
    order = list(fns)[::-1] if reverse else list(fns)
    times = {k: time_calls(fns[k], min_time, min_runs, warmup) for k in order}
    return {k: times[k] for k in fns}


def percentiles_ms(t: np.ndarray) -> dict[str, float]:
    return {f"p{q}_ms": float(np.percentile(t, q)) * 1e3 for q in (50, 90, 99)}


def machine_info() -> dict[str, Any]:
    import onnxruntime

    from .._ext import __version__, build_info, cuda_available
    from ..runtime.system import cpu_model, physical_cores

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "deepemotion": __version__,
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "build_info": build_info(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for mod in ("torch", "openvino", "tensorrt", "cv2"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            pass
    if cuda_available():
        from .._ext import assert_has_ext

        info["gpu"] = assert_has_ext().cuda_device_info(0)
    return info
