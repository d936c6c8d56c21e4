"""Triton python-backend model ``deepemotion``: uint8 faces (N, 48, 48) in, probabilities (N, 7) out.

Copied by ``fer-export triton --format python`` / ``fer-serve`` into ``<repository>/deepemotion/1/model.py``; Triton's
python backend runs it with the server's Python, where deepemotion is installed. The ONNX graph beside it runs on
deepemotion's own ONNX Runtime backend, so the server's answers are the local backend's. Inputs arrive through
DLPack (the python backend's own ``as_numpy`` reads wrong data under numpy 2; DLPack works under numpy 1.x and
2.x), and so do outputs (``Tensor(name, array)`` sends an empty tensor under numpy 2; the harmless error
``Tensor.from_dlpack`` leaves behind is kept out of the log: ``serving/python_models.py``).
Every request is checked before it joins a batch: exactly one of
``faces``, uint8 (n, 48, 48), or ``normalised``, the network's float32 input (n, 1, 48, 48) (what the client sends
for crops that were resampled: the served answer is then the local one bit for bit), with 1 <= n <= the config's
max_batch_size; a request that fails gets its own error, the others their answers.
The byte length of an input is not visible here (the python backend gives the
declared shape only): inputs shorter than their shape are refused before they get here, by Triton >= 2.51 (gRPC)
and by fer-serve's HTTP gate (serving/gate.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's python backend

if os.environ.get("DEEPEMOTION_PYTHONPATH") and os.environ["DEEPEMOTION_PYTHONPATH"] not in sys.path[:1]:
    sys.path.insert(0, os.environ["DEEPEMOTION_PYTHONPATH"])  # fer-serve's deepemotion (serving/server.py)

from deepemotion.labels import INPUT_SIZE, NUM_CLASSES  # noqa: E402
from deepemotion.runtime.backends import create_backend  # noqa: E402
from deepemotion.runtime.classify import softmax  # noqa: E402
from deepemotion.runtime.inputs import normalise_faces  # noqa: E402
from deepemotion.serving.python_models import quiet_consumed_capsules  # noqa: E402


def whole_faces(faces: np.ndarray) -> np.ndarray:
    """uint8 faces (N, 48, 48) -> the network input, normalised by the same function as ``predict_faces`` on the
    client (so that even the INT8 graph, which rounds its input, gives the local answer bit for bit)."""
    return normalise_faces(faces.reshape(-1, INPUT_SIZE, INPUT_SIZE))  # (0, 1, 48, 48) for no faces


def check_faces(faces: np.ndarray, max_batch: int) -> np.ndarray:
    """One request's uint8 faces as the network input, or ValueError saying what is wrong with them."""
    if faces.dtype != np.uint8 or faces.ndim != 3 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"faces must be uint8 (N, {INPUT_SIZE}, {INPUT_SIZE}), got {faces.dtype} {faces.shape}")
    if not 1 <= len(faces) <= max_batch:
        raise ValueError(f"a request carries 1 to {max_batch} faces, got {len(faces)}")
    return whole_faces(np.ascontiguousarray(faces))


def check_normalised(x: np.ndarray, max_batch: int) -> np.ndarray:
    """One request's float network input (N, 1, 48, 48) as it is, or ValueError (shape, type, NaN, range)."""
    if x.dtype != np.float32 or x.ndim != 4 or x.shape[1:] != (1, INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"normalised must be float32 (N, 1, {INPUT_SIZE}, {INPUT_SIZE}), got {x.dtype} {x.shape}")
    if not 1 <= len(x) <= max_batch:
        raise ValueError(f"a request carries 1 to {max_batch} faces, got {len(x)}")
    if not np.isfinite(x).all() or np.abs(x).max() > 100:
        raise ValueError("normalised holds NaN, infinite or out-of-range values")
    return np.ascontiguousarray(x)


def request_input(request: object, max_batch: int) -> np.ndarray:
    """The network input of one request: its uint8 ``faces`` or its float ``normalised`` (exactly one)."""
    faces = pb_utils.get_input_tensor_by_name(request, "faces")
    normalised = pb_utils.get_input_tensor_by_name(request, "normalised")
    if (faces is None) == (normalised is None):
        raise ValueError("send exactly one of 'faces' (uint8) and 'normalised' (float32)")
    if faces is not None:
        return check_faces(np.from_dlpack(faces), max_batch)
    return check_normalised(np.from_dlpack(normalised), max_batch)


def parameter(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        quiet_consumed_capsules()
        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        onnx_file = folder / parameter(config, "onnx_file", "model.onnx")
        instances = sum(int(g.get("count", 1)) for g in config.get("instance_group", [])) or 1
        threads = max(1, (os.cpu_count() or 1) // instances)
        # spinning off: between requests the server's other threads (and other instances) need the cores
        self.backend = create_backend("onnxruntime", str(onnx_file), threads=threads, spinning=False)
        self.max_batch = max(1, int(config.get("max_batch_size", 1)))

    def execute(self, requests: list) -> list:
        checked: list = []
        for r in requests:
            try:
                checked.append(request_input(r, self.max_batch))
            except Exception as exc:  # noqa: BLE001 - this request fails with the reason, the others go on
                checked.append(exc)
        good = [f for f in checked if isinstance(f, np.ndarray)]
        try:
            x = np.concatenate(good) if good else np.zeros((0, 1, INPUT_SIZE, INPUT_SIZE), np.float32)
            probs = (
                softmax(self.backend.run(x)).astype(np.float32) if len(x) else np.zeros((0, NUM_CLASSES), np.float32)
            )
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the error, the server lives on
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)[:500])) for _ in requests]
        out: list = []
        start = 0
        for f in checked:
            if not isinstance(f, np.ndarray):
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(f)[:500])))
                continue
            part = np.ascontiguousarray(probs[start : start + len(f)])
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack("probs", part)]))
            start += len(f)
        return out
