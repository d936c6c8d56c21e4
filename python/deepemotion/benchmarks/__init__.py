"""Timing behind `fer-bench` (its suites: `suites.py`) and the maintainer scripts: timing helpers and the machine
record, backends side by side, per-op profiles, predict() stages, the stream, detectors, kernels and serving."""
