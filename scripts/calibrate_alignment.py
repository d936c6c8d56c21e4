"""Calibrate how detected faces are mapped onto the framing of the FER2013 training crops (maintainer script).

    python scripts/calibrate_alignment.py [--n 3000] [--out python/deepemotion/assets/alignment.json]

FER2013 Training faces (never the test splits) are upscaled by a random factor and pasted at a random place
into a frame whose background is a blurred noise texture of the face's own mean brightness. Each detector
runs on the frame; since we know where the 48x48 crop lies in the frame, every detection can be expressed
in the crop's unit coordinates (u, v in [0, 1], pixel centres at (i + 0.5) / 48):

- YuNet's five landmarks -> their median positions: the canonical landmarks that alignment maps faces onto;
- each detector's box -> the median box in crop units: the box-to-crop mapping used when there are no
  landmarks (Haar, boxes given by the caller, YuNet with align=False).

Writes the JSON that deepemotion.runtime.align reads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "python" / "deepemotion" / "assets" / "alignment.json"


def paste(face: np.ndarray, rng: np.random.Generator, frame_hw=(360, 480)) -> tuple[np.ndarray, float, int, int]:
    """(BGR frame, scale k, x offset, y offset) with the face upscaled k times at (x, y)."""
    import cv2

    h, w = frame_hw
    k = float(rng.uniform(2.0, 4.5))
    side = int(round(48 * k))
    k = side / 48
    mean = float(face.mean())
    bg = np.clip(cv2.GaussianBlur(rng.normal(mean, 40, (h, w)), (0, 0), 5), 0, 255).astype(np.uint8)
    x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
    bg[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(bg, cv2.COLOR_GRAY2BGR), k, x, y


def to_unit(px: np.ndarray, k: float, x: int, y: int) -> np.ndarray:
    """Frame pixel coordinates (0 = centre of the first pixel) -> unit coordinates of the pasted 48x48 crop."""
    return (px + 0.5 - np.array([x, y])) / (48 * k)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=3000, help="training faces used")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)

    from deepemotion.data.datasets import resolve_dataset
    from deepemotion.runtime.detect import HaarDetector, YuNetDetector

    data = resolve_dataset("fer2013", "train")
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(data), size=min(args.n, len(data)), replace=False)
    yunet = YuNetDetector(engine="onnxruntime", min_face=20, max_side=10_000)
    haar = HaarDetector(min_face=40, max_side=10_000)
    marks, ybox, hbox = [], [], []
    t0 = time.perf_counter()
    for i in idx:
        frame, k, x, y = paste(data.images[i], rng)
        side = 48 * k
        for det, store in ((yunet, ybox), (haar, hbox)):
            d = det.detect(frame)
            if len(d) == 0:
                continue
            # the detection closest to the pasted face's centre
            centres = d.boxes[:, :2] + d.boxes[:, 2:] / 2
            j = int(np.argmin(np.linalg.norm(centres - (np.array([x, y]) + side / 2), axis=1)))
            b = d.boxes[j].astype(np.float64)
            if np.linalg.norm(centres[j] - (np.array([x, y]) + side / 2)) > side / 4:
                continue  # not the pasted face
            store.append(np.concatenate([to_unit(b[:2] - 0.5, k, x, y), b[2:] / side]))
            if det is yunet:
                marks.append(to_unit(d.landmarks[j].astype(np.float64), k, x, y))
    marks_a, ybox_a, hbox_a = np.array(marks), np.array(ybox), np.array(hbox)
    result = {
        "about": "Face framing of the FER2013 training crops, in the crop's unit coordinates (u, v in [0, 1]). "
        "Measured by scripts/calibrate_alignment.py on FER2013 Training faces pasted into frames.",
        "command": "python scripts/calibrate_alignment.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "faces": int(len(idx)),
        "canonical_landmarks": np.median(marks_a, 0).round(5).tolist(),
        "landmark_spread": np.median(np.abs(marks_a - np.median(marks_a, 0)), 0).round(5).tolist(),
        "box_in_crop": {
            "yunet": np.median(ybox_a, 0).round(5).tolist(),
            "haar": np.median(hbox_a, 0).round(5).tolist(),
        },
        "found": {"yunet": int(len(ybox_a)), "haar": int(len(hbox_a))},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
