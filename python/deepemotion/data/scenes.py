"""Synthetic scenes with known faces: FER2013 PublicTest faces pasted into photos without people, plus the example
photo. The detector benchmark (`deepemotion.benchmarks.detectors`) grades detectors on them, and
`references/fer2013/make_framed_set.py` draws its picture backgrounds with `background_photo`.

Frames: 640x480 crops of scikit-image's sample photos that show no person (rocket, coffee, a cat, bricks,
grass, gravel, the moon, coins, a clock, the Hubble deep field, micrographs), each with 1-3 PublicTest faces
of 72-220 pixels at random places (not overlapping), each face's brightness scaled by 0.6-1.4 (grey faces in
colour scenes, as FER2013 is grey). Known: every face's box, its label and its original 48x48 crop.
Needs scikit-image (`pip install ".[bench]"` in the clone) and $DEEPEMOTION_DATA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACKGROUNDS = (
    "rocket",
    "coffee",
    "chelsea",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "clock",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)
# the example photo's face, by hand (frame pixels x, y, w, h); its label is not known
EXAMPLE_FACE = (180, 62, 90, 100)


@dataclass
class SceneFrame:
    """One synthetic frame and what is known about its faces."""

    image: np.ndarray
    boxes: np.ndarray  # (K, 4) true face boxes
    labels: np.ndarray  # (K,) true classes (-1: unknown)
    crops: list[np.ndarray] = field(default_factory=list)  # the original 48x48 faces
    gains: list[float] = field(default_factory=list)  # brightness factor applied to each


def background_photo(name: str, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random `size` (h, w) BGR crop of scikit-image's sample picture `name`, scaled by 1-1.6 beyond covering
    the frame."""
    import cv2
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    else:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)
    h, w = size
    s = max(h / img.shape[0], w / img.shape[1]) * rng.uniform(1.0, 1.6)
    img = cv2.resize(
        img,
        (int(np.ceil(img.shape[1] * s)), int(np.ceil(img.shape[0] * s))),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
    )
    y = int(rng.integers(0, img.shape[0] - h + 1))
    x = int(rng.integers(0, img.shape[1] - w + 1))
    return np.ascontiguousarray(img[y : y + h, x : x + w])


def build_frames(
    n_frames: int = 300, seed: int = 0, size: tuple[int, int] = (480, 640), with_example: bool = True
) -> list[SceneFrame]:
    """`n_frames` scenes (the module docstring says how they are made), drawn from `seed`; with
    `with_example`, the example photo last (its face's box known, its label not)."""
    import cv2

    from ..files import read_image
    from ..runtime.assets import example_image
    from .datasets import resolve_dataset

    faces = resolve_dataset("fer2013", "public_test")
    rng = np.random.default_rng(seed)
    frames = []
    for f in range(n_frames):
        img = background_photo(BACKGROUNDS[f % len(BACKGROUNDS)], rng, size)
        k = int(rng.integers(1, 4))
        boxes: list[tuple[int, int, int, int]] = []
        labels, crops, gains = [], [], []
        for _ in range(50):  # place up to k non-overlapping faces
            if len(boxes) == k:
                break
            s = int(rng.integers(72, 221))
            x, y = int(rng.integers(0, size[1] - s)), int(rng.integers(0, size[0] - s))
            if any(
                x < bx + bw + 8 and bx < x + s + 8 and y < by + bh + 8 and by < y + s + 8 for bx, by, bw, bh in boxes
            ):
                continue
            i = int(rng.integers(0, len(faces)))
            face = faces.images[i]
            big = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            gain = float(rng.uniform(0.6, 1.4))
            big = np.clip(big * gain, 0, 255).astype(np.uint8)
            img[y : y + s, x : x + s] = big[..., None]
            boxes.append((x, y, s, s))
            labels.append(int(faces.labels[i]))
            crops.append(face)
            gains.append(gain)
        frames.append(SceneFrame(img, np.array(boxes, np.int32).reshape(-1, 4), np.array(labels), crops, gains))
    if with_example:
        frames.append(SceneFrame(read_image(example_image()), np.array([EXAMPLE_FACE], np.int32), np.array([-1])))
    return frames
