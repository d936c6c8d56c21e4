"""How good a model is: metrics and calibration (`metrics.py`), a PyTorch model's logits and metrics on a data set
(`validate.py`), accuracy as users get it through `Recognizer` (`accuracy.py`), under a robot camera's conditions
(`robustness.py`, behind `fer-eval --perturb`) and what the network looks at (`saliency.py`, behind
`fer-saliency`). Never imported by the runtime."""
