"""TensorRT backend: runs an engine built by ``fer-export engine`` through the C++ runner
(deepemotion._trt), with our AffineGridSample plugin library loaded first."""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ._backends import Backend, BackendUnavailable


def plugin_library() -> Path:
    """Path of libdeepemotion_trt.so inside the installed package."""
    path = Path(str(resources.files("deepemotion") / "lib" / "libdeepemotion_trt.so"))
    if not path.is_file():
        raise BackendUnavailable(f"the TensorRT plugin library is missing ({path}): reinstall deepemotion from source "
                                 "on a machine with TensorRT (set TensorRT_ROOT)")
    return path


def runtime_identity() -> dict[str, Any]:
    """What an engine must match: TensorRT version and the GPU (name, compute capability)."""
    import tensorrt as trt

    from ._ext import assert_has_ext

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
    meta = json.loads(side.read_text())
    here = runtime_identity()
    problems = []
    if meta.get("tensorrt") != here["tensorrt"]:
        problems.append(f"TensorRT {meta.get('tensorrt')} (here {here['tensorrt']})")
    if meta.get("compute_capability") != here["compute_capability"] or meta.get("gpu") != here["gpu"]:
        problems.append(f"GPU {meta.get('gpu')} sm_{meta.get('compute_capability')} "
                        f"(here {here['gpu']} sm_{here['compute_capability']})")
    if problems:
        raise BackendUnavailable(f"{engine} was built for " + " and ".join(problems) + ". TensorRT engines only run "
                                 f"where they were built: rebuild it here with `fer-export engine --out {engine}`")
    return meta


class TensorRTBackend(Backend):
    def __init__(self, model: str | os.PathLike[str] | None = None, use_cuda_graph: bool = False) -> None:
        if model is None or not str(model).endswith((".engine", ".plan", ".trt")):
            raise ValueError("backend 'tensorrt' needs an engine file: build one with "
                             "`fer-export engine --out model.engine`, then Recognizer(model='model.engine', "
                             "backend='tensorrt')")
        engine = Path(model)
        if not engine.is_file():
            raise FileNotFoundError(f"{engine}: engine file not found")
        self.meta = check_sidecar(engine)
        from . import _trt  # type: ignore[attr-defined]

        self.runner = _trt.EngineRunner(str(engine), str(plugin_library()), bool(use_cuda_graph))
        self.name, self.device = "tensorrt", "cuda"

    def run(self, x: np.ndarray) -> np.ndarray:
        dt = np.float16 if self.runner.input_dtype == "float16" else np.float32
        outs = []
        # the engine's profile caps the batch: run larger batches in slices
        for i in range(0, len(x), self.runner.max_batch):
            outs.append(self.runner.run(np.ascontiguousarray(x[i:i + self.runner.max_batch], dt)))
        return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, 7), np.float32)
