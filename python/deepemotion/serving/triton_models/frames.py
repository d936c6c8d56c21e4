"""Triton python-backend model ``deepemotion_frames``: one encoded frame (JPEG/PNG bytes as a uint8 vector) in,
the faces found in it out -- ``boxes`` (F, 4) int32 x, y, w, h and ``probs`` (F, 7) -- through the full
``Recognizer`` pipeline (detection, framing, classification), for cameras with no compute of their own.

Copied by ``fer-export triton`` / ``fer-serve`` into ``<repository>/deepemotion_frames/1/model.py``. The detector is
the server's ``Recognizer()`` default (YuNet when its model file is there, else Haar).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by Triton's python backend

from deepemotion.files import decode_image
from deepemotion.labels import NUM_CLASSES
from deepemotion.runtime.recognizer import Recognizer


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        onnx_file = config.get("parameters", {}).get("onnx_file", {}).get("string_value", "model.onnx")
        self.rec = Recognizer(model=str(folder / onnx_file), backend="onnxruntime", spinning=False)

    def execute(self, requests: list) -> list:
        out = []
        for r in requests:
            try:
                data = np.from_dlpack(pb_utils.get_input_tensor_by_name(r, "image"))  # not as_numpy(): numpy 2
                frame = decode_image(np.ascontiguousarray(data, np.uint8).reshape(-1), "image")
                faces = self.rec.predict(frame)
                boxes = np.array([f.box for f in faces], np.int32).reshape(-1, 4)
                probs = np.array([f.probs for f in faces], np.float32).reshape(-1, NUM_CLASSES)
                out.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack("boxes", boxes),
                                                       pb_utils.Tensor.from_dlpack("probs", probs)]))
            except Exception as exc:  # noqa: BLE001 - this request fails with the reason, the server lives on
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
        return out
