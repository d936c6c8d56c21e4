"""Plugin-flavour ONNX -> TensorRT engine, with the TensorRT Python API (ONNX is parsed in Python:
TensorRT 10.3's C++ include/ has no NvOnnxParser.h).

The engine gets a JSON sidecar (`<engine>.json`): TensorRT version, GPU name and compute
capability, precision, batch profile, SHA-256 of the ONNX, plugin version. The TensorRT backend
refuses an engine whose sidecar does not match the running GPU and TensorRT.
"""

from __future__ import annotations

import ctypes
import json
import time
from pathlib import Path
from typing import Any

from ..labels import INPUT_NAME
from .onnx import PLUGIN_VERSION, sha256


def load_plugin_library() -> Path:
    from ..runtime.backends.tensorrt import plugin_library

    path = plugin_library()
    ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)  # registers AffineGridSample with TensorRT's registry
    return path


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str = "fp16",
    batch: tuple[int, int, int] = (1, 16, 64),
    workspace_mb: int = 256,
    timing_cache: str | Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Build and write the engine and its sidecar; returns the sidecar."""
    import tensorrt as trt

    from ..runtime.backends.tensorrt import runtime_identity

    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"precision must be fp32, fp16 or int8, got {precision!r}")
    bmin, bopt, bmax = batch
    if not 1 <= bmin <= bopt <= bmax:
        raise ValueError(f"batch profile must satisfy 1 <= min <= opt <= max, got {batch}")
    load_plugin_library()
    onnx_bytes = Path(onnx_path).read_bytes()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # FP16 without the (deprecated, then removed) FP16 builder flag means a strongly typed network
    # whose types come from an FP16 ONNX (fer-export writes one: --precision fp16).
    # INT8 is explicit quantization: the QDQ graph from `fer-export int8` says which tensors are int8; a
    # strongly typed network takes exactly those types (the STN, our plugin included, stays FP32).
    strongly_typed = precision == "int8" or (precision == "fp16" and not hasattr(trt.BuilderFlag, "FP16"))
    network, parser = _parse(trt, builder, logger, onnx_bytes, onnx_path, strongly_typed)
    cache_path = Path(timing_cache) if timing_cache else None
    config = _builder_config(
        trt, builder, network, precision == "fp16" and not strongly_typed, batch, workspace_mb, cache_path
    )
    t0 = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT failed to build the engine (see the messages above)")
    build_s = time.perf_counter() - t0
    del parser  # it owns the weights the network points at: kept until the engine is built
    engine_path = Path(engine_path)
    engine_path.write_bytes(bytes(plan))
    if cache_path is not None:
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    side = {
        **runtime_identity(),
        "precision": precision,
        "strongly_typed": strongly_typed,
        "batch_profile": {"min": bmin, "opt": bopt, "max": bmax},
        "onnx": str(onnx_path),
        "onnx_sha256": sha256(onnx_bytes),
        "plugin": f"deepemotion::AffineGridSample v{PLUGIN_VERSION}",
        "workspace_mb": workspace_mb,
        "build_seconds": round(build_s, 2),
        "built_on": time.strftime("%Y-%m-%d"),
        "command": command,
    }
    Path(str(engine_path) + ".json").write_text(json.dumps(side, indent=2) + "\n")
    return side


def _parse(
    trt: Any, builder: Any, logger: Any, onnx_bytes: bytes, onnx_path: str | Path, strongly_typed: bool
) -> tuple[Any, Any]:
    """The network parsed from the ONNX bytes, and its parser (which must outlive the build)."""
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    return network, parser


def _builder_config(
    trt: Any,
    builder: Any,
    network: Any,
    fp16_flag: bool,
    batch: tuple[int, int, int],
    workspace_mb: int,
    cache_path: Path | None,
) -> Any:
    """The builder configuration: workspace, the FP16 flag, the batch profile and the timing cache (read from
    `cache_path` when it exists)."""
    bmin, bopt, bmax = batch
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    sample = tuple(network.get_input(0).shape)[1:]
    profile.set_shape(INPUT_NAME, (bmin, *sample), (bopt, *sample), (bmax, *sample))
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path and cache_path.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return config
