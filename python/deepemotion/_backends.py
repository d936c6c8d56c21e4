"""Inference backends: ONNX Runtime (CPU, CUDA provider), PyTorch (reference) and TensorRT.

A backend maps a normalised batch (N, 1, 48, 48) float32 to logits (N, 7). ``create_backend``
holds the policy: ``"auto"`` never raises and picks the best available; naming a backend that is
missing raises :class:`BackendUnavailable` saying what to install.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("onnxruntime", "onnxruntime-tuned", "onnxruntime-cuda", "openvino", "torch", "tensorrt")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says what to install or build."""


class Backend:
    name: str = "?"
    device: str = "cpu"

    def run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.device}>"


def _onnx_bytes(model: str | os.PathLike[str] | bytes | None) -> bytes:
    from .weights import bundled_path

    if model is None:
        return bundled_path("onnx").read_bytes()
    if isinstance(model, bytes):
        return model
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    if path.suffix == ".onnx":
        return path.read_bytes()
    if path.suffix in (".pt", ".pth"):
        try:
            from deepemotion.export.to_onnx import export_portable

            from .train import load_checkpoint
        except ImportError as exc:
            raise BackendUnavailable(f"running a PyTorch checkpoint ({path.name}) needs torch and onnx: "
                                     f"pip install 'deepemotion[export]' ({exc})") from None
        model_, _ = load_checkpoint(path)
        return export_portable(model_)
    raise ValueError(f"{path}: unknown model format (expected .onnx or a .pt checkpoint)")


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session. Session.run is thread-safe, so one backend serves many threads.
    ``spinning=False`` (our default) stops idle intra-op threads from busy-waiting after a run:
    measured here it makes predict() on a 640x480 frame ~20 ms faster (the detector gets the
    cores back) at a few percent of classification throughput; ``True`` is ONNX Runtime's default."""

    def __init__(self, model: str | os.PathLike[str] | bytes | None = None, device: str = "cpu",
                 threads: int | None = None, optimized: bool = True, spinning: bool = False) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a runtime dependency
            raise BackendUnavailable(f"onnxruntime is not installed: pip install onnxruntime ({exc})") from None
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendUnavailable("ONNX Runtime has no CUDA provider here: pip install onnxruntime-gpu "
                                         "(and a matching CUDA/cuDNN), or use backend='onnxruntime'")
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        if not optimized:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if not spinning:
            # ONNX Runtime's idle workers otherwise spin after each run and steal the cores from
            # whatever runs next (in Recognizer.predict: the face detector)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(_onnx_bytes(model), sess_options=opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.name = "onnxruntime-cuda" if device == "cuda" else "onnxruntime"
        self.device = device

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: x})[0]


def fuse_friendly(model: bytes) -> bytes:
    """Rewrite Relu(MaxPool(x)) as MaxPool(Relu(x)) -- exactly equal, since max and ReLU commute --
    so that ONNX Runtime can fuse each Conv with the ReLU that now follows it."""
    import onnx

    proto = onnx.load_from_string(model)
    nodes = list(proto.graph.node)
    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for pool in nodes:
        if pool.op_type != "MaxPool":
            continue
        users = consumers.get(pool.output[0], [])
        if len(users) != 1 or users[0].op_type != "Relu":
            continue
        relu = users[0]
        x, pooled, out = pool.input[0], pool.output[0], relu.output[0]
        relu.input[0], relu.output[0] = x, pooled      # Relu now reads the pool's input
        pool.input[0], pool.output[0] = pooled, out    # and MaxPool reads the Relu's output
        a, b = nodes.index(pool), nodes.index(relu)
        nodes[a], nodes[b] = relu, pool                 # keep topological order
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto.SerializeToString()


class TunedOnnxRuntimeBackend(Backend):
    """ONNX Runtime on the CPU, arranged for this small network (see docs/benchmarks.md):

    - the graph with Conv+ReLU made fusable (:func:`fuse_friendly`, exact);
    - batches of at least ``split_min`` faces are cut into one slice per physical core, each run
      by its own single-threaded session on its own thread (ONNX Runtime releases the GIL): for
      small convolutions this scales better than one session's intra-op threads;
    - smaller batches run in one session with one intra-op thread per physical core.
    Outputs equal plain ONNX Runtime's (same kernels, same per-face arithmetic)."""

    def __init__(self, model: str | os.PathLike[str] | bytes | None = None, threads: int | None = None,
                 split_min: int = 8) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - a runtime dependency
            raise BackendUnavailable(f"onnxruntime is not installed: pip install onnxruntime ({exc})") from None
        from concurrent.futures import ThreadPoolExecutor

        data = fuse_friendly(_onnx_bytes(model))
        self.workers = int(threads or _physical_cores())
        self.split_min = max(2, int(split_min))

        def session(n_threads: int) -> Any:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n_threads
            opts.inter_op_num_threads = 1
            return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])

        self.small = session(self.workers)
        self.slices = [session(1) for _ in range(self.workers)] if self.workers > 1 else []
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="deepemotion-ort") \
            if self.slices else None
        self.input_name = self.small.get_inputs()[0].name
        self.name, self.device = "onnxruntime-tuned", "cpu"

    def run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self.pool is None or n < self.split_min:
            return self.small.run(None, {self.input_name: x})[0]
        bounds = np.linspace(0, n, self.workers + 1).astype(int)
        futures = [self.pool.submit(sess.run, None, {self.input_name: x[a:b]})
                   for sess, a, b in zip(self.slices, bounds[:-1], bounds[1:]) if b > a]
        return np.concatenate([f.result()[0] for f in futures])


def _physical_cores() -> int:
    try:
        with open("/proc/cpuinfo") as f:
            pairs = {(blk.get("physical id"), blk.get("core id"))
                     for blk in (dict(line.split(":", 1) for line in chunk.splitlines() if ":" in line)
                                 for chunk in f.read().split("\n\n"))
                     if blk.get("core id") is not None}
        pairs = {(a.strip() if a else a, b.strip()) for a, b in pairs}
        if pairs:
            return len(pairs)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2))


class OpenVINOBackend(Backend):
    """OpenVINO on the CPU (pip install openvino), FP32 inference precision so that outputs match
    the other backends (its BF16 default on recent Xeons changes logits by ~0.1)."""

    def __init__(self, model: str | os.PathLike[str] | bytes | None = None, threads: int | None = None) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise BackendUnavailable("backend 'openvino' needs OpenVINO: pip install openvino") from None
        import threading

        core = ov.Core()
        cfg: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            cfg["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(core.read_model(_onnx_bytes(model), b""), "CPU", cfg)
        self._local = threading.local()  # one infer request per thread
        self.name, self.device = "openvino", "cpu"

    def run(self, x: np.ndarray) -> np.ndarray:
        req = getattr(self._local, "req", None)
        if req is None:
            req = self._local.req = self.compiled.create_infer_request()
        return np.array(req.infer({0: x})[0], copy=True)


class TorchBackend(Backend):
    """PyTorch eager, the reference. Model from the bundled weights or a checkpoint."""

    def __init__(self, model: Any = None, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError:
            raise BackendUnavailable("backend 'torch' needs PyTorch: pip install 'deepemotion[train]'") from None
        from .weights import load_model

        if model is None or isinstance(model, (str, os.PathLike)):
            spec = "bundled" if model is None else str(model)
            if spec.endswith(".onnx"):
                raise ValueError("backend 'torch' needs a .pt checkpoint or the bundled model, not an .onnx file")
            model, _ = load_model(spec)
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("backend 'torch' on cuda: this PyTorch has no CUDA device")
        self.torch = torch
        self.model = model.eval().to(device)
        self.name, self.device = "torch", device

    def run(self, x: np.ndarray) -> np.ndarray:
        t = self.torch.from_numpy(x).to(self.device)
        with self.torch.inference_mode():
            return self.model(t).float().cpu().numpy()


def tensorrt_status() -> tuple[bool, str]:
    """(available, reason). TensorRT needs the Python package and our plugin/runner build."""
    from ._ext import build_info

    if not build_info()["tensorrt"]:
        return False, ("this build of deepemotion has no TensorRT plugin and runner (build_info()['tensorrt'] is "
                       "False): install TensorRT (libnvinfer + headers, e.g. JetPack on a Jetson or "
                       "'pip install tensorrt') and reinstall deepemotion from source with TensorRT_ROOT set")
    try:
        import tensorrt  # noqa: F401  (only whether it imports)
    except ImportError:
        return False, "the TensorRT Python package is missing: pip install tensorrt (or use JetPack's python3-libnvinfer)"
    return True, ""


def create_backend(name: str = "auto", model: Any = None, device: str | None = None, **kw: Any) -> Backend:
    """Make a backend. ``auto``: ONNX Runtime with the CUDA provider when it has one, else ONNX
    Runtime on the CPU (TensorRT is picked only by name, with an engine built by ``fer-export``)."""
    if name == "auto":
        try:
            return OnnxRuntimeBackend(model, device="cuda", **kw) if device in (None, "cuda") and _ort_has_cuda() \
                else OnnxRuntimeBackend(model, device="cpu", **kw)
        except BackendUnavailable:
            return OnnxRuntimeBackend(model, device="cpu", **kw)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(model, device=device or "cpu", **kw)
    if name == "onnxruntime-cuda":
        return OnnxRuntimeBackend(model, device="cuda", **kw)
    if name == "onnxruntime-tuned":
        return TunedOnnxRuntimeBackend(model, **kw)
    if name == "openvino":
        return OpenVINOBackend(model, **kw)
    if name == "torch":
        return TorchBackend(model, device=device or "cpu")
    if name == "tensorrt":
        ok, why = tensorrt_status()
        if not ok:
            raise BackendUnavailable(f"backend 'tensorrt' is not available: {why}")
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(model, **kw)
    raise ValueError(f"unknown backend {name!r}; choose one of: auto, {', '.join(BACKENDS)}")


def _ort_has_cuda() -> bool:
    try:
        import onnxruntime as ort

        return "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:  # pragma: no cover
        return False
