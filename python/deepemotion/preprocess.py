"""Input normalisation shared by training, export and every inference backend."""
from __future__ import annotations

SIZE = 48          # the model's input is SIZE x SIZE grayscale
MEAN = 0.5         # x = (pixel / 255 - MEAN) / STD
STD = 0.5
