"""The network: Deep-Emotion and its scaled family (`network.py`), and the score calibration its graphs end with
(`calibration.py`). Needs PyTorch (the `train` or `export` extra); the runtime never imports it."""

from __future__ import annotations

from .calibration import ScoreCalibration
from .network import (
    ARCHS,
    PAPER,
    DeepEmotion,
    DeepEmotionConfig,
    arch_config,
    count_flops,
    count_parameters,
    describe,
    to_input,
)

__all__ = [
    "ARCHS",
    "PAPER",
    "DeepEmotion",
    "DeepEmotionConfig",
    "ScoreCalibration",
    "arch_config",
    "count_flops",
    "count_parameters",
    "describe",
    "to_input",
]
