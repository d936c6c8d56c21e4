"""TensorRT backend: runs an engine built by ``fer-export engine`` through the C++ runner
(deepemotion._trt), with our AffineGridSample plugin library loaded first.

Thread safety: the runner owns one execution context, one CUDA stream, one pair of device buffers and
its captured CUDA graphs; ``run`` holds a lock around them, so one backend may be shared by threads
and calls are served one at a time. A lock rather than a context per thread: the GPU serialises
this small network's kernels anyway, and per-thread contexts would multiply device memory and
graph captures for no throughput (for parallel streams, create one Recognizer per stream)."""

from __future__ import annotations

import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..._ext import assert_has_ext, build_info, load_trt
from ...labels import NUM_CLASSES
from .base import Backend, BackendUnavailable, chunks, register


def plugin_library() -> Path:
    """Path of libdeepemotion_trt.so inside the installed package."""
    path = Path(str(resources.files("deepemotion") / "lib" / "libdeepemotion_trt.so"))
    if not path.is_file():
        raise BackendUnavailable(
            f"the TensorRT plugin library is missing ({path}): reinstall deepemotion from source "
            "on a machine with TensorRT (set TensorRT_ROOT)"
        )
    return path


def runtime_identity() -> dict[str, Any]:
    """What an engine must match: TensorRT version and the GPU (name, compute capability)."""
    import tensorrt as trt

    ext = assert_has_ext()
    if not ext.build_info()["cuda"] or ext.cuda_device_count() == 0:
        raise BackendUnavailable("TensorRT needs a CUDA GPU, and none is visible")
    dev = ext.cuda_device_info(0)
    return {"tensorrt": trt.__version__, "gpu": dev["name"], "compute_capability": dev["compute_capability"]}


def check_sidecar(engine: Path) -> dict[str, Any]:
    """Compare the engine's JSON sidecar with this machine; raise a clear error on mismatch."""
    side = Path(str(engine) + ".json")
    if not side.is_file():
        raise BackendUnavailable(f"{engine}: no sidecar {side.name}; build engines with `fer-export engine`")
    try:
        meta = json.loads(side.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BackendUnavailable(
            f"{side}: not a readable sidecar ({type(exc).__name__}); rebuild the engine with "
            f"`fer-export engine --out {engine}`"
        ) from None
    if not isinstance(meta, dict):
        raise BackendUnavailable(
            f"{side}: not a sidecar (a JSON object is expected); rebuild the engine with "
            f"`fer-export engine --out {engine}`"
        )
    here = runtime_identity()
    problems = []
    if meta.get("tensorrt") != here["tensorrt"]:
        problems.append(f"TensorRT {meta.get('tensorrt')} (here {here['tensorrt']})")
    if meta.get("compute_capability") != here["compute_capability"] or meta.get("gpu") != here["gpu"]:
        problems.append(
            f"GPU {meta.get('gpu')} sm_{meta.get('compute_capability')} "
            f"(here {here['gpu']} sm_{here['compute_capability']})"
        )
    if problems:
        raise BackendUnavailable(
            f"{engine} was built for " + " and ".join(problems) + ". TensorRT engines only run "
            f"where they were built: rebuild it here with `fer-export engine --out {engine}`"
        )
    return meta


def tensorrt_status() -> tuple[bool, str]:
    """(available, reason). TensorRT needs the Python package and our plugin/runner build."""
    if not build_info()["tensorrt"]:
        return False, (
            "this build of deepemotion has no TensorRT plugin and runner (build_info()['tensorrt'] is "
            "False): install TensorRT (libnvinfer + headers, e.g. JetPack on a Jetson or "
            "'pip install tensorrt') and reinstall deepemotion from source with TensorRT_ROOT set"
        )
    try:
        import tensorrt  # noqa: F401  (only whether it imports)
    except ImportError:
        return False, (
            "the TensorRT Python package is missing: pip install tensorrt (or use JetPack's python3-libnvinfer)"
        )
    return True, ""


@register(
    "tensorrt",
    "TensorRT engine from `fer-export engine`, with our AffineGridSample plugin",
    device="cuda",
    precision="model",
    needs="TensorRT (JetPack, or pip install tensorrt) and a GPU",
    needs_model_file=True,
)
class TensorRTBackend(Backend):
    def __init__(
        self, model: str | os.PathLike[str] | None = None, device: str | None = None, use_cuda_graph: bool = False
    ) -> None:
        ok, why = tensorrt_status()
        if not ok:
            raise BackendUnavailable(f"backend 'tensorrt' is not available: {why}")
        if device not in (None, "cuda"):
            raise ValueError("backend 'tensorrt' runs on the GPU (device='cuda') only")
        if model is None or not str(model).endswith((".engine", ".plan", ".trt")):
            raise ValueError(
                "backend 'tensorrt' needs an engine file: build one with "
                "`fer-export engine --out model.engine`, then Recognizer(model='model.engine', "
                "backend='tensorrt')"
            )
        engine = Path(model)
        if not engine.is_file():
            raise FileNotFoundError(f"{engine}: engine file not found")
        self.meta = check_sidecar(engine)
        self.runner = load_trt().EngineRunner(str(engine), str(plugin_library()), bool(use_cuda_graph))
        self.max_batch = int(self.runner.max_batch)
        self.min_batch = max(1, int(getattr(self.runner, "min_batch", 1)))
        self._lock = threading.Lock()
        self.name, self.device = "tensorrt", "cuda"

    def run(self, x: np.ndarray) -> np.ndarray:
        dt = np.float16 if self.runner.input_dtype == "float16" else np.float32
        outs = []
        with self._lock:
            # the engine's profile bounds the batch: larger batches run in slices, smaller ones (below the profile's
            # minimum) are padded with zero faces whose answers are dropped
            for part in chunks(len(x), self.max_batch):
                faces = np.ascontiguousarray(x[part], dt)
                n = len(faces)
                if n < self.min_batch:
                    faces = np.concatenate([faces, np.zeros((self.min_batch - n,) + faces.shape[1:], dt)])
                outs.append(self.runner.run(faces)[:n])
        return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, NUM_CLASSES), np.float32)
