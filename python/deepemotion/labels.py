"""Facts every part of deepemotion agrees on, defined once: the classes and their order, the
model's input (size, normalisation) and the names of the tensors of every exported graph.

Nothing here imports anything: the runtime, training, export and the C++ bindings read these.
"""

from __future__ import annotations

#: Class order everywhere (the FER2013 order): index i of every probability vector is CLASSES[i].
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASSES)

#: The model's input is INPUT_SIZE x INPUT_SIZE grayscale, one channel.
INPUT_SIZE = 48
#: Normalisation applied to a uint8 face before the network: x = (pixel / 255 - MEAN) / STD.
MEAN = 0.5
STD = 0.5

#: Tensor names of every exported ONNX graph (and TensorRT engine built from it).
INPUT_NAME = "input"
OUTPUT_NAME = "logits"

#: How a detected face is framed for the network (``Recognizer(align=...)``, ``runtime.align``); first: default.
FRAMINGS = ("roll", "box", "landmarks")
