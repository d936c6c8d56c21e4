"""Triton python-backend model ``deepemotion``: uint8 faces (N, 48, 48) in, probabilities (N, 7) out.

Copied by ``fer-export triton --format python`` / ``fer-serve`` into ``<repository>/deepemotion/1/model.py``; Triton's
python backend runs it with the server's Python, where deepemotion is installed. The ONNX graph beside it runs on
deepemotion's own ONNX Runtime backend, so the server's answers are the local backend's. Outputs leave through
DLPack, in both directions (the python backend's own numpy conversion reads and writes wrong data under numpy 2;
DLPack works under numpy 1.x and 2.x).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's python backend

from deepemotion.labels import INPUT_SIZE, NUM_CLASSES
from deepemotion.runtime.backends import create_backend
from deepemotion.runtime.classify import softmax
from deepemotion.runtime.inputs import normalise_faces


def whole_faces(faces: np.ndarray) -> np.ndarray:
    """uint8 faces (N, 48, 48) -> the network input, normalised by the same function as ``predict_faces`` on the
    client (so that even the INT8 graph, which rounds its input, gives the local answer bit for bit)."""
    return normalise_faces(faces.reshape(-1, INPUT_SIZE, INPUT_SIZE))  # (0, 1, 48, 48) for no faces


def parameter(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        onnx_file = folder / parameter(config, "onnx_file", "model.onnx")
        instances = sum(int(g.get("count", 1)) for g in config.get("instance_group", [])) or 1
        threads = max(1, (os.cpu_count() or 1) // instances)
        # spinning off: between requests the server's other threads (and other instances) need the cores
        self.backend = create_backend("onnxruntime", str(onnx_file), threads=threads, spinning=False)

    def execute(self, requests: list) -> list:
        faces = [np.from_dlpack(pb_utils.get_input_tensor_by_name(r, "faces")) for r in requests]
        sizes = [len(f) for f in faces]
        out: list = []
        try:
            batch = np.concatenate(faces) if faces else np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
            if batch.dtype != np.uint8 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
                raise ValueError(f"faces must be uint8 (N, {INPUT_SIZE}, {INPUT_SIZE}), got {batch.dtype} "
                                 f"{batch.shape}")
            x = whole_faces(batch)
            probs = softmax(self.backend.run(x)).astype(np.float32) if len(x) else \
                np.zeros((0, NUM_CLASSES), np.float32)
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the error, the server lives on
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))) for _ in requests]
        start = 0
        for n in sizes:
            part = np.ascontiguousarray(probs[start:start + n])
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack("probs", part)]))
            start += n
        return out
