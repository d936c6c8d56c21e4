"""Micro-benchmark of affine_grid_sample: ours against PyTorch's affine_grid + grid_sample, side by
side in one process, on the CPU and (where present) the GPU (`fer-bench --kernels`). On the CPU a third column
times what the portable ONNX graph does in ONNX Runtime (`MatMul` of the base grid with theta^T, `Reshape`,
`GridSample`; needs the `onnx` package).

GPU times come from CUDA events around the launches (median over repeats), CPU times from
perf_counter, each implementation in its turn (twice, the order reversed). Bandwidth = (bytes read + bytes
written) / time, counting each input and output element once.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np

from .timing import time_in_turns

DEFAULT_BATCHES = (1, 64, 4096)


def _theta(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    th = np.zeros((n, 2, 3), np.float32)
    ang = rng.uniform(-0.3, 0.3, n)
    s = rng.uniform(0.8, 1.2, n)
    th[:, 0, 0] = s * np.cos(ang)
    th[:, 0, 1] = -s * np.sin(ang)
    th[:, 1, 0] = s * np.sin(ang)
    th[:, 1, 1] = s * np.cos(ang)
    th[:, :, 2] = rng.uniform(-0.1, 0.1, (n, 2))
    return th


def _cases(batches: tuple[int, ...]) -> list[tuple[str, tuple[int, int, int, int], tuple[int, int]]]:
    cases = [(f"batch {n} of 1x48x48", (n, 1, 48, 48), (48, 48)) for n in batches]
    cases.append(("8 full frames 1x480x640 -> 48x48 crops", (8, 1, 480, 640), (48, 48)))
    return cases


def ort_sampler(out_h: int, out_w: int) -> Any:
    """`f(x, theta)`: the portable graph's STN sampling (base grid MatMul theta^T, Reshape, GridSample) as an ONNX
    Runtime session on the CPU; None without the `onnx` package."""
    try:
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    import onnxruntime as ort

    from ..export.onnx import OPSET
    from ..ops.affine_grid_sample import base_grid

    grid = base_grid(out_h, out_w, False)
    nodes = [
        helper.make_node("Transpose", ["theta"], ["theta_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["grid", "theta_t"], ["points"]),
        helper.make_node("Reshape", ["points", "shape"], ["grid_nhw2"]),
        helper.make_node(
            "GridSample", ["x", "grid_nhw2"], ["y"], mode="bilinear", padding_mode="zeros", align_corners=0
        ),
    ]
    f = TensorProto.FLOAT
    g = helper.make_graph(
        nodes,
        "stn_sampling",
        [
            helper.make_tensor_value_info("x", f, ["N", "C", "H", "W"]),
            helper.make_tensor_value_info("theta", f, ["N", 2, 3]),
        ],
        [helper.make_tensor_value_info("y", f, ["N", "C", out_h, out_w])],
        [
            numpy_helper.from_array(grid, "grid"),
            numpy_helper.from_array(np.array([-1, out_h, out_w, 2], np.int64), "shape"),
        ],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda x, theta: sess.run(None, {"x": x, "theta": theta})[0]


def _median_in_turns(calls: dict[str, Callable[[], Any]], min_time: float) -> dict[str, float]:
    """Median seconds per call of each implementation, each in its turn, twice (the order reversed the second time):
    each brings a thread pool of its own (ours, PyTorch's OpenMP, ONNX Runtime's), and called one by one every call
    ran while another pool still spun (measured: ours at batch 64 twice as slow)."""
    times: dict[str, list[float]] = {k: [] for k in calls}
    for reverse in (False, True):
        for k, v in time_in_turns(calls, min_time / 2, 5, reverse=reverse).items():
            times[k].extend(v.tolist())
    return {k: statistics.median(v) for k, v in times.items()}


def _time_cuda(torch: Any, fn: Callable[[], Any], min_time: float) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times: list[float] = []
    wall = time.perf_counter()
    while time.perf_counter() - wall < min_time or len(times) < 10:
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def _time_cpu(
    _C: Any, x_np: np.ndarray, th_np: np.ndarray, oh: int, ow: int, min_time: float
) -> tuple[float, float, dict[str, float]]:
    """Seconds per call of ours and PyTorch's on the CPU, and ONNX Runtime's `GridSample` where it runs."""
    import torch

    from ..export.reference import affine_grid_sample_reference

    xt, tt = torch.from_numpy(x_np), torch.from_numpy(th_np)
    calls = {
        "ours": lambda: _C.affine_grid_sample_cpu(x_np, th_np, oh, ow, False),
        "torch": lambda: affine_grid_sample_reference(xt, tt, oh, ow),
    }
    ort_run = ort_sampler(oh, ow)
    if ort_run is not None:
        calls["onnxruntime"] = lambda: ort_run(x_np, th_np)
    with torch.no_grad():
        t = _median_in_turns(calls, min_time)
    extra = (
        {"onnxruntime_ms": t["onnxruntime"] * 1e3, "speedup_vs_onnxruntime": t["onnxruntime"] / t["ours"]}
        if "onnxruntime" in t
        else {}
    )
    return t["ours"], t["torch"], extra


def _time_on_cuda(
    _C: Any, x_np: np.ndarray, th_np: np.ndarray, tdt: Any, oh: int, ow: int, min_time: float
) -> tuple[float, float]:
    """Seconds per call of ours and PyTorch's on the GPU, CUDA events around each call."""
    import torch

    from ..export.reference import affine_grid_sample_reference

    n, c = x_np.shape[:2]
    xt = torch.from_numpy(x_np).cuda().to(tdt)
    tt = torch.from_numpy(th_np).cuda()
    out = torch.empty(n, c, oh, ow, device="cuda", dtype=tdt)
    stream = torch.cuda.current_stream().cuda_stream
    t_ours = _time_cuda(torch, lambda: _C.affine_grid_sample_cuda(xt, tt, out, False, stream), min_time)
    with torch.no_grad():
        t_torch = _time_cuda(torch, lambda: affine_grid_sample_reference(xt, tt, oh, ow), min_time)
    return t_ours, t_torch


def run(
    device: str = "cpu",
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    min_time: float = 0.3,
    dtypes: tuple[str, ...] = ("float32", "float16"),
) -> list[dict[str, Any]]:
    import torch

    from .._ext import assert_has_ext

    _C = assert_has_ext()

    rows: list[dict[str, Any]] = []
    for label, (n, c, h, w), (oh, ow) in _cases(batches):
        x_np = np.random.default_rng(1).uniform(0, 1, (n, c, h, w)).astype(np.float32)
        th_np = _theta(n)
        for dtype in dtypes if device == "cuda" else ("float32",):
            tdt = getattr(torch, dtype)
            esize = 2 if dtype == "float16" else 4
            nbytes = (x_np.size + n * c * oh * ow) * esize + th_np.nbytes
            if device == "cpu":
                t_ours, t_torch, extra = _time_cpu(_C, x_np, th_np, oh, ow, min_time)
            else:
                t_ours, t_torch = _time_on_cuda(_C, x_np, th_np, tdt, oh, ow, min_time)
                extra = {}
            rows.append(
                {
                    "case": label,
                    "device": device,
                    "dtype": dtype,
                    "batch": n,
                    "ours_ms": t_ours * 1e3,
                    "torch_ms": t_torch * 1e3,
                    "speedup_vs_torch": t_torch / t_ours,
                    "ours_GBps": nbytes / t_ours / 1e9,
                    "torch_GBps": nbytes / t_torch / 1e9,
                    **extra,
                }
            )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'case':46} {'device':6} {'dtype':8} {'ours ms':>10} {'torch ms':>10} {'ratio':>7} {'ORT ms':>10} "
        f"{'ratio':>7} {'ours GB/s':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ort_cols = (
            f"{r['onnxruntime_ms']:10.4f} {r['speedup_vs_onnxruntime']:6.2f}x"
            if "onnxruntime_ms" in r
            else f"{'-':>10} {'-':>7}"
        )
        lines.append(
            f"{r['case']:46} {r['device']:6} {r['dtype']:8} {r['ours_ms']:10.4f} {r['torch_ms']:10.4f} "
            f"{r['speedup_vs_torch']:6.2f}x {ort_cols} {r['ours_GBps']:10.2f}"
        )
    return "\n".join(lines)
