"""deepemotion.export: the export tool chain behind `fer-export` (checkpoint -> ONNX -> TensorRT).

Installed as the subpackage ``deepemotion.export``; needs the ``export`` extra (torch, onnx).
"""
