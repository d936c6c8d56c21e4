"""ONNX Runtime backends: the CPU default (FP32 or the calibrated INT8 graph), the CUDA provider, and a
CPU arrangement tuned for this small network."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...labels import INPUT_SIZE, NUM_CLASSES
from ..assets import bundled_model, is_bundled_name
from ..system import physical_cores
from .base import Backend, BackendUnavailable, check_model_io, register


def onnx_bytes(model: str | os.PathLike[str] | bytes | None, kind: str = "onnx") -> tuple[bytes, str]:
    """(serialized ONNX, a name for messages) from a bundled model name, a path or bytes."""
    if is_bundled_name(model):
        b = bundled_model(model)  # type: ignore[arg-type]
        path = b.path(kind)
        return path.read_bytes(), f"bundled model {b.name!r}"
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "model bytes"
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be None, a bundled model name, a path or bytes, got {type(model).__name__}")
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    if path.suffix == ".onnx":
        return path.read_bytes(), str(path)
    if path.suffix in (".pt", ".pth"):
        raise ValueError(
            f"{path}: a PyTorch checkpoint runs on backend='torch'; for ONNX Runtime export it first: "
            f"fer-export onnx --model {path} --out {path.with_suffix('.onnx').name}"
        )
    raise ValueError(f"{path}: unknown model format (expected .onnx, or a .pt checkpoint with backend='torch')")


def _ort() -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise BackendUnavailable(f"onnxruntime is not installed: pip install onnxruntime ({exc})") from None
    return ort


#: where ONNX Runtime runs a graph: the CPU, its CUDA provider, or its TensorRT provider (which falls back to CUDA)
ORT_DEVICES = ("cpu", "cuda", "tensorrt")


def execution_providers(device: str, what: str, engine_cache: Path | None = None) -> list[Any]:
    """ONNX Runtime's providers for ``device`` (one of ORT_DEVICES), in order, with the CPU last; raises
    `BackendUnavailable` naming what to install for ``what`` when the provider is missing. The one
    provider picker: the classifier backends and the YuNet detector both use it. ``engine_cache``: the
    folder where the TensorRT provider keeps its FP16 engines (one per input shape, built on first use)."""
    if device not in ORT_DEVICES:
        raise ValueError(f"{what}: device must be one of {', '.join(ORT_DEVICES)}, got {device!r}")
    available = _ort().get_available_providers()
    providers: list[Any] = ["CPUExecutionProvider"]
    if device in ("cuda", "tensorrt"):
        if "CUDAExecutionProvider" not in available:
            raise BackendUnavailable(
                f"{what} needs ONNX Runtime's CUDA provider: pip install onnxruntime-gpu (and a "
                "matching CUDA/cuDNN; on a Jetson NVIDIA's build for JetPack)"
            )
        providers.insert(0, "CUDAExecutionProvider")
    if device == "tensorrt":
        if "TensorrtExecutionProvider" not in available:
            raise BackendUnavailable(
                f"{what} needs an onnxruntime-gpu with the TensorRT provider and TensorRT's "
                "libraries (JetPack has them)"
            )
        opts: dict[str, Any] = {"trt_fp16_enable": True}
        if engine_cache is not None:
            engine_cache.mkdir(parents=True, exist_ok=True)
            opts.update({"trt_engine_cache_enable": True, "trt_engine_cache_path": str(engine_cache)})
        providers.insert(0, ("TensorrtExecutionProvider", opts))
    return providers


def _session(ort: Any, data: bytes, where: str, opts: Any, providers: list[str], head: Any = None) -> Any:
    """A checked session of ``data``; ``head``: the graph's constant warp head (`ConstantWarpHead`), cut off:
    ``data`` is then the rest, fed what the head gives."""
    try:
        sess = ort.InferenceSession(data, sess_options=opts, providers=providers)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "AffineGridSample" in first or "deepemotion" in first:
            raise ValueError(
                f"{where}: a plugin-flavour graph (deepemotion::AffineGridSample) runs only on "
                "TensorRT; give ONNX Runtime the portable .onnx that fer-export writes beside it"
            ) from None
        raise ValueError(f"{where}: ONNX Runtime cannot load this model ({first})") from None
    ins, outs = sess.get_inputs(), sess.get_outputs()
    if len(ins) != 1 or len(outs) != 1:
        raise ValueError(f"{where}: expected one input and one output, got {len(ins)} and {len(outs)}")
    if head is None:
        check_model_io(ins[0].shape, outs[0].shape, where)
        if ins[0].type not in ("tensor(float)", "tensor(float16)"):
            raise ValueError(f"{where}: model input type {ins[0].type}; expected float or float16")
    # declared shapes can be symbolic: one blank face proves the graph runs at our input size
    probe = np.zeros((1, 1, INPUT_SIZE, INPUT_SIZE), np.float16 if ins[0].type == "tensor(float16)" else np.float32)
    try:
        out = sess.run(None, {ins[0].name: probe if head is None else head(probe)})[0]
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ValueError(
            f"{where}: the model does not run on a (1, 1, {INPUT_SIZE}, {INPUT_SIZE}) face ({first})"
        ) from None
    check_model_io(ins[0].shape if head is None else probe.shape, np.shape(out), where)
    return sess


class ConstantWarpHead:
    """A graph's constant warp (a constant STN: ``onnx_graph.constant_warp_head``) run by our C++ sampler instead
    of ONNX Runtime's Reshape + GridSample + Reshape (+ QuantizeLinear in an INT8 graph): the same float samples
    (``deepemotion.ops.constant_warp``; within ~1e-6 of ``GridSample``'s), quantized as ``QuantizeLinear`` does,
    with the taps computed once instead of per call; and where the first convolution has one input channel, it is
    given the samples as 3 x 3 patches and runs as a 1 x 1 convolution (``WarpHead.patch_pad``; the same sums, and
    ONNX Runtime's kernels are faster at it). What the graph does before its warp -- quantize its input (INT8) and
    add the faces' mirror images to the batch (tiny's flip averaging) -- is done here first, with the same float32
    operations. ``head(x)``: normalised faces -> what the rest of the graph takes."""

    def __init__(self, head: Any, in_size: tuple[int, int]) -> None:
        from ...ops.affine_grid_sample import constant_warp

        self.info = head
        self.warp = constant_warp(head.theta, in_size, head.out_size)
        self.input_name = head.input_name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # one thread: threads of its own would start while ONNX Runtime's pool still spins from the last run
        # (measured: batch 64 slower with them for the plain samples, no faster for the patches)
        h = self.info
        if h.input_quant is not None:  # the graph's QuantizeLinear -> DequantizeLinear of its input
            scale, zp = np.float32(h.input_quant[0]), h.input_quant[1]
            q = np.rint(x / scale)
            q += zp
            np.clip(q, 0, 255, out=q)
            q -= zp
            q *= scale
            x = q
        if h.flip:  # the faces, then their mirror images (the model averages the two)
            x = np.concatenate([x, x[..., ::-1]])
        if h.patch_pad:  # the rest starts with a 1 x 1 convolution of k x k patches
            if h.scale is None:
                return self.warp.sample_patches(x, h.patch_pad, False, 1)
            return self.warp.sample_patches_quantized(x, h.patch_pad, h.scale, h.zero_point, h.channels_last, 1)
        if h.scale is None:
            return self.warp.sample(x, 1)
        return self.warp.sample_quantized(x, h.scale, h.zero_point, 1)

    @classmethod
    def of(cls, data: bytes) -> ConstantWarpHead | None:
        """The head of the graph ``data``, or None where it has none (or the C++ core is missing)."""
        from ..onnx_graph import constant_warp_head, interface

        try:
            head = constant_warp_head(data)
            if head is None:
                return None
            x = interface(data)[0][0]
            check_model_io(x.shape, [None, NUM_CLASSES], "graph")
            return cls(head, (INPUT_SIZE, INPUT_SIZE))
        except (ValueError, ImportError):  # not a graph we can read, a shape not ours, or no compiled core
            return None


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session. ``Session.run`` is thread-safe, so one backend serves many threads.
    ``spinning=True`` (ONNX Runtime's default) lets idle intra-op threads busy-wait after a run, which makes
    back-to-back calls faster; ``False`` gives the cores back at once to whatever runs next. ``Recognizer``
    turns it off when its detector is OpenCV's Haar cascade.
    ``precision``: ``fp32`` (the bundled FP32 graph) or ``int8`` (the bundled calibrated INT8 graph);
    a model file is run as it is. FP16 graphs are fed FP16 and return FP32 logits. ``profile_prefix``: turn on
    ONNX Runtime's profiler, writing to files with that prefix (``fer-bench --profile``). ``split_warp``: on the
    CPU, a graph that starts with a constant warp (the bundled default's constant STN) has that head run by
    `ConstantWarpHead` and ONNX Runtime runs the rest (``warp_head`` says which ran)."""

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes | None = None,
        device: str = "cpu",
        threads: int | None = None,
        optimized: bool = True,
        spinning: bool = True,
        precision: str = "fp32",
        profile_prefix: str | None = None,
        split_warp: bool = True,
    ) -> None:
        ort = _ort()
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision must be fp32 or int8, got {precision!r}")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        providers = execution_providers(device, f"backend 'onnxruntime{'-cuda' if device == 'cuda' else ''}'")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        if not optimized:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if not spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if profile_prefix:  # ONNX Runtime's profiler (fer-bench --profile): session.end_profiling() writes it
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
        data, self.source = onnx_bytes(model, "int8.onnx" if precision == "int8" else "onnx")
        self.warp_head = ConstantWarpHead.of(data) if split_warp and device == "cpu" else None
        if self.warp_head is not None:
            try:
                self.session = _session(ort, self.warp_head.info.graph, self.source, opts, providers, self.warp_head)
            except ValueError:  # the rest does not load or run: the whole graph does, or says what is wrong
                self.warp_head = None
        if self.warp_head is None:
            self.session = _session(ort, data, self.source, opts, providers)
        self._model_bytes, self._threads, self._spinning, self._optimized = data, threads, spinning, optimized
        self._split_warp = split_warp
        self._twin: OnnxRuntimeBackend | None = None
        self._twin_lock = threading.Lock()
        self.input_name = self.session.get_inputs()[0].name
        self.input_dtype = np.float16 if self.session.get_inputs()[0].type == "tensor(float16)" else np.float32
        self.precision = precision
        self.name = ("onnxruntime-cuda" if device == "cuda" else "onnxruntime") + (
            "-int8" if precision == "int8" else ""
        )
        self.device = device

    def pipeline_twin(self) -> Backend:
        """On the CPU: one more session of the same graph with one thread that never spins, made once. In a
        pipeline the parallelism comes from the stages' threads, and a thread pool (spinning or not) would
        compete with the detection workers: on the 2-core CPU, 283 vs 258 (no spinning) and 198 (spinning)
        frames/s with two detection workers (``fer-bench --stream``)."""
        if self.device != "cpu" or (self._threads == 1 and not self._spinning):
            return self
        with self._twin_lock:
            if self._twin is None:
                self._twin = OnnxRuntimeBackend(
                    self._model_bytes,
                    threads=1,
                    spinning=False,
                    optimized=self._optimized,
                    precision=self.precision,
                    split_warp=self._split_warp,
                )
                self._twin.source, self._twin.name = self.source, self.name
        return self._twin

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.warp_head is not None:
            return self.session.run(None, {self.input_name: self.warp_head(x)})[0]
        if self.input_dtype is not np.float32:
            x = x.astype(self.input_dtype)
        return self.session.run(None, {self.input_name: x})[0]


register(
    "onnxruntime",
    "ONNX Runtime on the CPU, FP32 graph",
    device="cpu",
    precision="fp32",
    needs="onnxruntime",
    spins=True,
    auto=True,
)(lambda model=None, device=None, **kw: OnnxRuntimeBackend(model, device=device or "cpu", **kw))
register(
    "onnxruntime-int8",
    "ONNX Runtime on the CPU, the calibrated INT8 (QDQ) graph",
    device="cpu",
    precision="int8",
    needs="onnxruntime",
    spins=True,
    auto=True,
)(lambda model=None, device=None, **kw: OnnxRuntimeBackend(model, device=device or "cpu", precision="int8", **kw))
register(
    "onnxruntime-cuda",
    "ONNX Runtime with the CUDA provider",
    device="cuda",
    precision="fp32",
    needs="onnxruntime-gpu",
    spins=True,
    auto=True,
)(lambda model=None, device=None, **kw: OnnxRuntimeBackend(model, device="cuda", **kw))


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
        relu.input[0], relu.output[0] = x, pooled  # Relu now reads the pool's input
        pool.input[0], pool.output[0] = pooled, out  # and MaxPool reads the Relu's output
        a, b = nodes.index(pool), nodes.index(relu)
        nodes[a], nodes[b] = relu, pool  # keep topological order
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto.SerializeToString()


@register(
    "onnxruntime-tuned",
    "ONNX Runtime on the CPU, batch split over one single-threaded session per core",
    device="cpu",
    precision="fp32",
    needs="onnxruntime",
)
class TunedOnnxRuntimeBackend(Backend):
    """ONNX Runtime on the CPU, arranged for this small network (see docs/benchmarks.md):

    - the graph with Conv+ReLU made fusable (`fuse_friendly`, exact; needs the ``onnx`` package,
      else the graph runs as it is);
    - batches of at least ``split_min`` faces are cut into one slice per physical core, each run
      by its own single-threaded session on its own thread (ONNX Runtime releases the GIL);
    - smaller batches run in one session with one intra-op thread per physical core."""

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes | None = None,
        device: str | None = None,
        threads: int | None = None,
        split_min: int = 8,
        precision: str = "fp32",
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        ort = _ort()
        if device not in (None, "cpu"):
            raise ValueError("backend 'onnxruntime-tuned' runs on the CPU only")
        data, self.source = onnx_bytes(model, "int8.onnx" if precision == "int8" else "onnx")
        try:
            data = fuse_friendly(data)
        except ImportError:
            pass
        self.workers = int(threads or physical_cores())
        self.split_min = max(2, int(split_min))

        def session(n_threads: int) -> Any:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n_threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return _session(ort, data, self.source, opts, ["CPUExecutionProvider"])

        self.small = session(self.workers)
        self.slices = [session(1) for _ in range(self.workers)] if self.workers > 1 else []
        self.pool = (
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="deepemotion-ort") if self.slices else None
        )
        self.input_name = self.small.get_inputs()[0].name
        self.name, self.device = "onnxruntime-tuned", "cpu"

    def run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self.pool is None or n < self.split_min:
            return self.small.run(None, {self.input_name: x})[0]
        bounds = np.linspace(0, n, self.workers + 1).astype(int)
        futures = [
            self.pool.submit(sess.run, None, {self.input_name: x[a:b]})
            for sess, a, b in zip(self.slices, bounds[:-1], bounds[1:])
            if b > a
        ]
        return np.concatenate([f.result()[0] for f in futures])
