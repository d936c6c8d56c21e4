"""Drawing results onto frames: box, label, score, track id and a bar per class, legible on any
background (every text sits on a dark plate)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..labels import CLASSES

#: one colour per class (BGR), in CLASSES order
COLOURS = [
    (60, 60, 230),
    (60, 160, 60),
    (160, 60, 160),
    (40, 200, 240),
    (200, 120, 40),
    (230, 200, 60),
    (170, 170, 170),
]
_PLATE = (25, 25, 25)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
    plate: tuple[int, int, int] = _PLATE,
) -> None:
    """Text with its baseline at org, on a filled plate of `plate` colour."""
    import cv2

    thick = 1 if scale < 0.8 else 2
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    x, y = org
    cv2.rectangle(img, (x - 2, y - th - 3), (x + tw + 2, y + base), plate, -1)
    cv2.putText(img, text, (x, y), _FONT, scale, colour, thick, cv2.LINE_AA)


def annotate(frame: np.ndarray, faces: Iterable[Any]) -> np.ndarray:
    """A BGR copy of `frame` with each face drawn."""
    import cv2

    out = frame.copy() if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    H, W = out.shape[:2]
    for f in faces:
        x, y, w, h = f.box
        col = COLOURS[f.class_id]
        thick = max(1, round(min(H, W) / 300))
        cv2.rectangle(out, (x, y), (x + w, y + h), _PLATE, thick + 2)
        cv2.rectangle(out, (x, y), (x + w, y + h), col, thick)
        track = f" #{f.track_id}" if getattr(f, "track_id", None) is not None else ""
        text = f"{f.label} {f.score:.0%}{track}"
        scale = max(0.45, min(1.2, w / 160))
        (_, th), _ = cv2.getTextSize(text, _FONT, scale, 1)
        ty = y - 6 if y - th - 8 >= 0 else min(H - 2, y + h + th + 6)
        _text(out, text, (x + 2, ty), scale, col)
        # probability bars beside the box, on a dark panel
        bx = x + w + 6 if x + w + 100 < W else max(0, x - 100)
        bh = max(7, h // 10)
        panel_h = len(CLASSES) * (bh + 2) + 2
        if y + panel_h < H:
            cv2.rectangle(out, (bx - 2, y - 2), (min(W - 1, bx + 96), y + panel_h), _PLATE, -1)
        for k, (name, p) in enumerate(zip(CLASSES, f.probs)):
            by = y + k * (bh + 2)
            if by + bh >= H:
                break
            cv2.rectangle(out, (bx, by), (bx + 60, by + bh), (70, 70, 70), -1)
            cv2.rectangle(out, (bx, by), (bx + int(60 * float(p)), by + bh), COLOURS[k], -1)
            cv2.putText(out, name[:3], (bx + 63, by + bh - 1), _FONT, bh / 22, (255, 255, 255), 1, cv2.LINE_AA)
    return out
