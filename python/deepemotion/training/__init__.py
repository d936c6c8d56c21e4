"""Training (`fer-train`): the recipe (`config.py`), the loop (`loop.py`: `Trainer`), batched augmentation and the
camera chain (`augment.py`), the weight average (`average.py`), distillation (`distill.py`) and checkpoints
(`checkpoint.py`). Needs PyTorch (the `train` extra); never imported by the runtime (but for the `torch`
backend, which reads checkpoints)."""
