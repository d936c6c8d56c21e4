"""Static INT8 quantization of a DeepEmotion network to a QDQ ONNX graph.

- Weights: per-channel symmetric int8 **in 7 bits** (-64..64, `reduce_range`); activations: uint8 (ONNX Runtime's
  u8s8 kernels); the QDQ form is also what TensorRT's explicit-quantization builder reads. Why 7 bits: on x86 CPUs
  without VNNI (AVX2 or AVX-512 only: Haswell to Skylake, AMD Zen 1-3) the u8s8 kernels add pairs of
  uint8 x int8 products in 16 bits, which saturate when 255 * 127 * 2 > 32767; with |w| <= 64 they cannot
  (255 * 64 * 2 = 32640). Measured: the 0.3.0 default's full-range INT8 graph, run under ``qemu-x86_64 -cpu
  Haswell``, labelled 256 PublicTest faces at 57.8% (80% of its answers the same as on this VNNI CPU, 68.0%); the
  7-bit graph gives bit-identical probabilities on both (`tests/test_int8_isa.py`).
- The spatial transformer stays in floating point: the localization net, the theta regressor and the
  affine-grid-sample (MatMul base grid -> Reshape -> GridSample) are excluded, so theta and the warp are
  exactly the FP32 ones and the graph keeps its single affine-grid-sample.
- The score calibration at the end of a calibrated model (`/calibration/`: softmax, max, hinges) stays in floating
  point too: it scales the logits and must give the FP32 graph's probabilities.
- Calibration: FER2013 Training faces (never the test splits), preprocessed exactly as Recognizer does.
- The report gives PublicTest accuracy of the FP32 and INT8 graphs, both through Recognizer.predict_faces.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..labels import INPUT_NAME
from ..runtime.inputs import normalise_faces
from .onnx import export_portable

STN_MARKERS = ("/localization/", "/fc_loc/")
#: the score calibration's nodes (DeepEmotion.calibration)
CALIBRATION_MARKER = "/calibration/"


def float_nodes(model_bytes: bytes) -> list[str]:
    """Names of the nodes kept in floating point: the localization net, theta, the sampling and the score
    calibration."""
    import onnx

    g = onnx.load_from_string(model_bytes).graph
    producers = {o: n for n in g.node for o in n.output}
    keep = {n.name for n in g.node if any(m in n.name for m in (*STN_MARKERS, CALIBRATION_MARKER))}
    # everything between theta and the GridSample's grid input (Reshape/Cast/Transpose/MatMul/Reshape/Cast)
    for gs in (n for n in g.node if n.op_type == "GridSample"):
        keep.add(gs.name)
        stack = [gs.input[1]]
        while stack:
            node = producers.get(stack.pop())
            if node is None or node.name in keep:
                continue  # a graph input/initializer, or the STN branch already kept
            keep.add(node.name)
            stack.extend(node.input)
    return sorted(keep)


class _Calibration:
    """onnxruntime.quantization CalibrationDataReader over normalised faces."""

    def __init__(self, faces: np.ndarray, batch: int = 64) -> None:
        # equal batches only: the histogram calibrators stack per-batch outputs
        faces = faces[: max(batch, len(faces) // batch * batch)]
        x = normalise_faces(faces)
        self.batches = [x[i : i + batch] for i in range(0, len(x), batch)]
        self.i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.batches):
            return None
        self.i += 1
        return {INPUT_NAME: self.batches[self.i - 1]}

    def rewind(self) -> None:
        self.i = 0


def quantize_onnx(
    fp32: bytes,
    calibration_faces: np.ndarray,
    method: str = "percentile",
    keep_float: Callable[[bytes], list[str]] = float_nodes,
    reduce_range: bool = True,
) -> bytes:
    """The QDQ INT8 graph of a portable FP32 DeepEmotion graph, calibrated on uint8 faces (N, 48, 48).
    `keep_float` names the nodes left in floating point (default `float_nodes`; other choices are measured by
    `references/fer2013/experiments/int8_float_nodes.py`). `reduce_range=False` gives 8-bit weights: exact only on
    CPUs with VNNI (module docstring)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise ValueError(f"calibration method must be one of {sorted(methods)}, got {method!r}")
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
        if method == "percentile":
            extra["CalibPercentile"] = 99.999
        quantize_static(
            str(pre),
            str(dst),
            _Calibration(calibration_faces),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[method],
            nodes_to_exclude=keep_float(pre.read_bytes()),
            extra_options=extra,
        )
        return dst.read_bytes()


def runtime_accuracy(model_bytes: bytes, faces: np.ndarray, labels: np.ndarray) -> float:
    """PublicTest-style accuracy of a graph as Recognizer.predict_faces delivers it (ONNX Runtime, CPU)."""
    from ..runtime.recognizer import predict_probs

    probs, _ = predict_probs(model_bytes, faces, "onnxruntime")
    return float((probs.argmax(1) == labels).mean())


def calibration_faces(train: Any, n: int = 2000, seed: int = 0) -> np.ndarray:
    """The `n` training faces (uint8, N x 48 x 48) an INT8 graph is calibrated on, drawn without replacement."""
    rng = np.random.default_rng(seed)
    return train.images[rng.choice(len(train), size=min(n, len(train)), replace=False)]


def quantize_model(
    model: Any,
    data: str = "fer2013",
    n_calibration: int = 2000,
    seed: int = 0,
    method: str = "percentile",
    progress: bool = False,
) -> tuple[bytes, dict[str, Any]]:
    """(QDQ INT8 graph, report) for a DeepEmotion model; calibrated on `data`'s train split, checked on
    public_test."""
    from ..data.datasets import resolve_dataset

    train = resolve_dataset(data, "train")
    test = resolve_dataset(data, "public_test")
    calib = calibration_faces(train, n_calibration, seed)
    fp32 = export_portable(model)
    if progress:
        print(f"calibrating on {len(calib)} {train.name} faces ({method})...", flush=True)
    int8 = quantize_onnx(fp32, calib, method)
    if progress:  # the check runs both graphs over the split: the longest step (about 20 s on 2 cores)
        print(f"checking the FP32 and INT8 graphs on {len(test)} {test.name} faces...", flush=True)
    a32 = runtime_accuracy(fp32, test.images, test.labels)
    a8 = runtime_accuracy(int8, test.images, test.labels)
    report = {
        "calibration": {"data": train.name, "faces": int(len(calib)), "method": method, "seed": seed},
        "check": test.name,
        "fp32_accuracy": a32,
        "int8_accuracy": a8,
        "delta_points": 100 * (a8 - a32),
        "float_nodes": float_nodes(fp32),
    }
    return int8, report
