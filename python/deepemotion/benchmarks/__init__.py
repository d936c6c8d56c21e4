"""Measurements behind `fer-bench` and the scripts in tools/: timing helpers, the machine record,
backends side by side, predict() stages, the stream, detectors, kernels, training throughput."""
