"""Measurements behind `fer-bench` (its suites: ``suites.py``), `fer-eval --perturb` and the scripts in tools/:
timing helpers, the machine record, backends side by side, per-op profiles, predict() stages, the stream,
detectors, kernels, accuracy and robustness as users get them, and serving."""
