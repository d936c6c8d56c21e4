"""Bandwidth sweep of the two kernels on large inputs that rotate past the cache: ours against what PyTorch
users write, side by side in one process (`scripts/device/kernel_sweep.py`; on a GPU the numbers the README quotes).

- the STN sampler: `deepemotion.ops.affine_grid_sample` against `F.affine_grid` + `F.grid_sample` on
  batches of 1x48x48 faces, float32 and float16 on a GPU;
- face crops: `deepemotion.ops.crop_faces` (gray conversion, bilinear sampling, normalisation in one kernel;
  boxes come from the host, as a detector gives them) against the same in PyTorch (gray weights, one grid for all
  faces of the frame, `grid_sample`, normalisation).

Each timed call takes the next of several input sets whose bytes together are `4 x` the last-level cache (the
H200's L2 is 60 MB): a kernel that reused one buffer would be timed from the cache, not from memory. Calls are timed
in blocks (CUDA events on a GPU, `perf_counter` on a CPU), ours and PyTorch's block by block in turns; the median
block gives the time per call. Bandwidth = bytes read + written once each (input, theta, output) / time, set
against the device's copy rate measured in the same run (a `copy_` of a 2 GiB buffer: 2 x its bytes / time).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

import numpy as np

from ..labels import INPUT_SIZE, MEAN, STD

#: the last-level cache the inputs must rotate past (the H200's L2: 60 MB; the CPUs here have at most 32 MB)
CACHE_BYTES = 60e6
#: the gray weights of a BGR frame (OpenCV's, which the crop kernel uses)
GRAY_BGR = (0.114, 0.587, 0.299)


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _block_seconds(torch: Any, device: str, fn: Callable[[int], Any], reps: int, start: int) -> float:
    """Seconds per call over `reps` calls `fn(start) .. fn(start + reps - 1)`."""
    if device == "cuda":
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for i in range(reps):
            fn(start + i)
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / 1e3 / reps
    t0 = time.perf_counter()
    for i in range(reps):
        fn(start + i)
    return (time.perf_counter() - t0) / reps


def time_in_turns(
    torch: Any, device: str, fns: dict[str, Callable[[int], Any]], sets: int, min_time: float, min_blocks: int = 5
) -> dict[str, float]:
    """Median seconds per call of each function (called with a rotating set index), block by block in turns."""
    for fn in fns.values():  # warm-up: every set once (allocations, lazy loading, autotuning)
        for i in range(sets):
            fn(i)
    _sync(torch, device)
    probe = {k: _block_seconds(torch, device, fn, sets, 0) for k, fn in fns.items()}
    reps = {k: max(sets, int(math.ceil(0.02 / max(t, 1e-7)))) for k, t in probe.items()}  # blocks of >= 20 ms
    times: dict[str, list[float]] = {k: [] for k in fns}
    t0, done = time.perf_counter(), 0
    while done < min_blocks or time.perf_counter() - t0 < min_time:
        order = list(fns) if done % 2 == 0 else list(reversed(fns))
        for k in order:
            times[k].append(_block_seconds(torch, device, fns[k], reps[k], done))
        done += 1
    return {k: statistics.median(v) for k, v in times.items()}


def n_sets(bytes_per_set: float, max_bytes: float, cache_bytes: float = CACHE_BYTES) -> int:
    """Input sets to rotate through: their bytes together >= 4 x the cache, at least 2, within `max_bytes`."""
    want = max(2, int(math.ceil(4 * cache_bytes / max(bytes_per_set, 1.0))))
    return max(1, min(want, int(max_bytes // max(bytes_per_set, 1.0))))


def copy_rate(torch: Any, device: str, nbytes: int, min_time: float) -> float:
    """The device's copy rate in GB/s (2 x the buffer's bytes per `copy_`)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    t = time_in_turns(torch, device, {"copy": lambda i: dst.copy_(src)}, 1, min_time)["copy"]
    return 2 * nbytes / t / 1e9


def _thetas(n: int, rng: np.random.Generator) -> np.ndarray:
    ang, s = rng.uniform(-0.3, 0.3, n), rng.uniform(0.8, 1.2, n)
    th = np.zeros((n, 2, 3), np.float32)
    th[:, 0, 0], th[:, 0, 1] = s * np.cos(ang), -s * np.sin(ang)
    th[:, 1, 0], th[:, 1, 1] = s * np.sin(ang), s * np.cos(ang)
    th[:, :, 2] = rng.uniform(-0.1, 0.1, (n, 2))
    return th


def _sampler_case(
    torch: Any, device: str, n: int, dtype: str, min_time: float, max_bytes: float, rng: np.random.Generator
) -> dict[str, Any]:
    import torch.nn.functional as F

    from ..ops import affine_grid_sample

    tdt = getattr(torch, dtype)
    esize = torch.empty((), dtype=tdt).element_size()
    moved = 2 * n * INPUT_SIZE * INPUT_SIZE * esize + n * 6 * 4  # face in, face out, theta
    k = n_sets(moved, max_bytes / 3)  # PyTorch also writes and reads its (N, 48, 48, 2) float grid: room for it
    xs = [torch.rand(n, 1, INPUT_SIZE, INPUT_SIZE, device=device).to(tdt) for _ in range(k)]
    ths = [torch.from_numpy(_thetas(n, rng)).to(device) for _ in range(k)]

    def ours(i: int) -> Any:
        return affine_grid_sample(xs[i % k], ths[i % k], INPUT_SIZE)

    def reference(i: int) -> Any:
        x, th = xs[i % k], ths[i % k]
        grid = F.affine_grid(th.to(tdt), [n, 1, INPUT_SIZE, INPUT_SIZE], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    with torch.no_grad():
        err = float((ours(0).float() - reference(0).float()).abs().max()) if n else 0.0
        t = time_in_turns(torch, device, {"ours": ours, "torch": reference}, k, min_time)
    return {
        "kernel": "affine_grid_sample",
        "device": device,
        "dtype": dtype,
        "batch": n,
        "input_sets": k,
        "rotated_MB": k * moved / 1e6,
        "ours_ms": t["ours"] * 1e3,
        "torch_ms": t["torch"] * 1e3,
        "speedup_vs_torch": t["torch"] / t["ours"],
        "ours_GBps": moved / t["ours"] / 1e9,
        "torch_GBps": moved / t["torch"] / 1e9,
        "faces_per_s": n / t["ours"],
        "max_abs_diff_vs_torch": err,
    }


def sampler_rows(
    torch: Any, device: str, batches: tuple[int, ...], dtypes: tuple[str, ...], min_time: float, max_bytes: float
) -> list[dict[str, Any]]:
    """The STN sampler, ours against affine_grid + grid_sample, per batch size and dtype."""
    rng = np.random.default_rng(0)
    return [_sampler_case(torch, device, n, dtype, min_time, max_bytes, rng) for dtype in dtypes for n in batches]


def _box_thetas(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """grid_sample's theta (output -> input, normalised coordinates) of each box (x, y, w, h) of an h x w frame."""
    th = np.zeros((len(boxes), 2, 3), np.float32)
    bx, by, bw, bh = (boxes[:, i].astype(np.float64) for i in range(4))
    th[:, 0, 0], th[:, 0, 2] = bw / w, (2 * bx + bw) / w - 1
    th[:, 1, 1], th[:, 1, 2] = bh / h, (2 * by + bh) / h - 1
    return th


def _crop_case(
    torch: Any,
    device: str,
    n: int,
    frame_hw: tuple[int, int],
    min_time: float,
    max_bytes: float,
    rng: np.random.Generator,
) -> dict[str, Any]:
    import torch.nn.functional as F

    from ..ops import crop_faces

    h, w = frame_hw
    if min(h, w) // 3 <= INPUT_SIZE:
        raise ValueError(f"crop_rows: a {w}x{h} frame is too small for faces of {INPUT_SIZE} px to a third of it")
    gray = torch.tensor(GRAY_BGR, device=device).view(1, 1, 3)
    frame_bytes = h * w * 3
    k = n_sets(frame_bytes, max_bytes)
    frames = [torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, device=device) for _ in range(k)]
    frames_np = [f.cpu().numpy() for f in frames] if device == "cpu" else None
    side = rng.integers(INPUT_SIZE, min(h, w) // 3, (k, n))  # shrunk to 48: the PyTorch column's regime
    boxes = [
        np.array([[rng.integers(0, w - s), rng.integers(0, h - s), s, s] for s in side[j]], np.int32) for j in range(k)
    ]

    def ours(i: int) -> Any:
        return crop_faces(frames_np[i % k] if frames_np is not None else frames[i % k], boxes[i % k], supersample=1)

    def reference(i: int) -> Any:
        th = torch.from_numpy(_box_thetas(boxes[i % k], h, w)).to(device)
        g = (frames[i % k].float() * gray).sum(-1).view(1, 1, h, w) / 255.0
        grid = F.affine_grid(th, [n, 1, INPUT_SIZE, INPUT_SIZE], align_corners=False)
        out = F.grid_sample(
            g,
            grid.reshape(1, n * INPUT_SIZE, INPUT_SIZE, 2),
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        return ((out - MEAN) / STD).view(n, 1, INPUT_SIZE, INPUT_SIZE)

    with torch.no_grad():
        err = float((torch.as_tensor(ours(0)).to(device).float() - reference(0)).abs().max())
        t = time_in_turns(torch, device, {"ours": ours, "torch": reference}, k, min_time)
    return {
        "kernel": "crop_faces",
        "device": device,
        "dtype": "uint8 BGR -> float32",
        "batch": n,
        "frame": f"{w}x{h}",
        "input_sets": k,
        "rotated_MB": k * frame_bytes / 1e6,
        "ours_ms": t["ours"] * 1e3,
        "torch_ms": t["torch"] * 1e3,
        "speedup_vs_torch": t["torch"] / t["ours"],
        "faces_per_s": n / t["ours"],
        "max_abs_diff_vs_torch": err,
    }


def crop_rows(
    torch: Any, device: str, faces: tuple[int, ...], frame_hw: tuple[int, int], min_time: float, max_bytes: float
) -> list[dict[str, Any]]:
    """Face crops of BGR frames (faces of 48 px to a third of the frame), ours against PyTorch, per faces/frame."""
    rng = np.random.default_rng(1)
    return [_crop_case(torch, device, n, frame_hw, min_time, max_bytes, rng) for n in faces]


def run(
    device: str = "cuda",
    batches: tuple[int, ...] = (4096, 65536, 262144),
    dtypes: tuple[str, ...] = ("float32", "float16"),
    crop_faces_per_frame: tuple[int, ...] = (16, 256),
    frame_hw: tuple[int, int] = (1080, 1920),
    min_time: float = 1.0,
    max_bytes: float = 24e9,
    copy_bytes: int = 2 << 30,
) -> dict[str, Any]:
    """The whole sweep on `device`; small arguments make it a rehearsal on the CPU."""
    import torch

    info: dict[str, Any] = {"device": device, "torch": torch.__version__, "cache_bytes_rotated_past": CACHE_BYTES}
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        info.update(
            gpu=p.name,
            multiprocessors=p.multi_processor_count,
            l2_bytes=getattr(p, "L2_cache_size", None),
            memory_bytes=p.total_memory,
        )
    info["copy_GBps"] = copy_rate(torch, device, copy_bytes, min_time)
    rows = sampler_rows(torch, device, batches, dtypes if device == "cuda" else ("float32",), min_time, max_bytes)
    for r in rows:
        r["fraction_of_copy_rate"] = r["ours_GBps"] / info["copy_GBps"]
    rows += crop_rows(torch, device, crop_faces_per_frame, frame_hw, min_time, max_bytes)
    return {"info": info, "rows": rows}


def format_table(result: dict[str, Any]) -> str:
    info = result["info"]
    head = (
        f"{'kernel':19} {'dtype':20} {'batch':>7} {'sets':>4} {'ours ms':>9} {'torch ms':>9} {'ratio':>6} "
        f"{'ours GB/s':>9} {'of copy':>7} {'faces/s':>12}"
    )
    lines = [
        f"{info.get('gpu', info['device'])}: copy rate {info['copy_GBps']:.0f} GB/s (read + write)",
        head,
        "-" * len(head),
    ]
    for r in result["rows"]:
        gbps = (
            f"{r['ours_GBps']:9.0f} {100 * r['fraction_of_copy_rate']:6.1f}%"
            if "ours_GBps" in r
            else f"{'-':>9} {'-':>7}"
        )
        lines.append(
            f"{r['kernel']:19} {r['dtype']:20} {r['batch']:7d} {r['input_sets']:4d} {r['ours_ms']:9.4f} "
            f"{r['torch_ms']:9.4f} {r['speedup_vs_torch']:5.2f}x {gbps} {r['faces_per_s']:12.3g}"
        )
    return "\n".join(lines)
