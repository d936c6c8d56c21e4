"""The export tool chain behind `fer-export`: checkpoint -> ONNX (portable, plugin, INT8) -> TensorRT.
Needs the `export` extra (torch, onnx); never imported by the runtime."""
