"""Triton python-backend model ``deepemotion_frames``: one encoded frame (JPEG/PNG bytes as a uint8 vector) in,
the faces found in it out -- ``boxes`` (F, 4) int32 x, y, w, h and ``probs`` (F, 7) -- through the full
``Recognizer`` pipeline (detection, framing, classification), for cameras with no compute of their own.

Copied by ``fer-export triton`` / ``fer-serve`` into ``<repository>/deepemotion_frames/1/model.py``. The detector is
the config's ``detector`` parameter: ``yunet`` or ``haar`` as fer-serve chose and announced it at start (and as
clients read it in the model's config), or ``auto`` (the server's ``Recognizer()`` default: YuNet when its model
file is there, else Haar). Each request is one frame: a uint8 vector of at most the gate's body size; frames are
decoded with their declared size checked first (``files.decode_image``).
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

from deepemotion.files import decode_image  # noqa: E402
from deepemotion.labels import NUM_CLASSES  # noqa: E402
from deepemotion.runtime.recognizer import Recognizer  # noqa: E402
from deepemotion.serving.python_models import quiet_consumed_capsules  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        quiet_consumed_capsules()
        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        params = config.get("parameters", {})
        onnx_file = params.get("onnx_file", {}).get("string_value", "model.onnx")
        detector = params.get("detector", {}).get("string_value", "auto")
        self.rec = Recognizer(
            model=str(folder / onnx_file),
            backend="onnxruntime",
            spinning=False,
            detector=detector if detector in ("yunet", "haar") else "auto",
        )

    def execute(self, requests: list) -> list:
        out = []
        for r in requests:
            try:
                data = np.from_dlpack(pb_utils.get_input_tensor_by_name(r, "image"))  # not as_numpy(): numpy 2
                if data.dtype != np.uint8 or data.ndim != 1:
                    raise ValueError(f"image must be a uint8 vector of encoded bytes, got {data.dtype} {data.shape}")
                frame = decode_image(np.ascontiguousarray(data), "image")
                faces = self.rec.predict(frame)
                boxes = np.array([f.box for f in faces], np.int32).reshape(-1, 4)
                probs = np.array([f.probs for f in faces], np.float32).reshape(-1, NUM_CLASSES)
                out.append(
                    pb_utils.InferenceResponse(
                        [pb_utils.Tensor.from_dlpack("boxes", boxes), pb_utils.Tensor.from_dlpack("probs", probs)]
                    )
                )
            except Exception as exc:  # noqa: BLE001 - this request fails with the reason, the server lives on
                out.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)[:500])))
        return out
