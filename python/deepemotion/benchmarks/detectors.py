"""The detector benchmark: FER2013 PublicTest faces pasted into photos without people, plus the example photo.

Frames: 640x480 crops of scikit-image's sample photos that show no person (rocket, coffee, a cat, bricks,
grass, gravel, the moon, coins, a clock, the Hubble deep field, micrographs), each with 1-3 PublicTest faces
of 72-220 pixels at random places (not overlapping), each face's brightness scaled by 0.6-1.4 (grey faces in
colour scenes, as FER2013 is grey). Known: every face's box, its label and its original 48x48 crop.

Per detector setup: recall (a face counts as found when a detection overlaps its box with IoU >= 0.4, or lies
inside it and covers at least 15% of it: see MIN_INSIDE; the IoU-only recall is reported beside), false faces
per frame (detections matching no face), label accuracy on the found faces, and the accuracy of
``predict_faces`` on the original crops of the same faces; two references that separate the detector's framing
from what pasting did to the faces (upscaling, brightness): those crops with the face's brightness factor, and
``predict`` on the frame given each face's true box; milliseconds per ``predict()``; and OpenCV's Haar cascade
alone at full resolution, the speed reference.
Needs scikit-image (``pip install ".[bench]"`` in the clone) and $DEEPEMOTION_DATA.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..labels import CLASSES
from .timing import time_calls

BACKGROUNDS = ("rocket", "coffee", "chelsea", "brick", "grass", "gravel", "moon", "coins", "clock",
               "hubble_deep_field", "immunohistochemistry", "retina")
# the example photo's face, by hand (frame pixels x, y, w, h); its label is not known
EXAMPLE_FACE = (180, 62, 90, 100)


@dataclass
class BenchFrame:
    image: np.ndarray
    boxes: np.ndarray                       # (K, 4) true face boxes
    labels: np.ndarray                      # (K,) true classes (-1: unknown)
    crops: list[np.ndarray] = field(default_factory=list)  # the original 48x48 faces
    gains: list[float] = field(default_factory=list)        # brightness factor applied to each


def _background(name: str, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
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
    img = cv2.resize(img, (int(np.ceil(img.shape[1] * s)), int(np.ceil(img.shape[0] * s))),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, img.shape[0] - h + 1))
    x = int(rng.integers(0, img.shape[1] - w + 1))
    return np.ascontiguousarray(img[y:y + h, x:x + w])


def build_frames(n_frames: int = 300, seed: int = 0, size: tuple[int, int] = (480, 640),
                 with_example: bool = True) -> list[BenchFrame]:
    import cv2

    from ..files import read_image
    from ..runtime.assets import example_image
    from ..training.data import resolve_dataset

    faces = resolve_dataset("fer2013", "public_test")
    rng = np.random.default_rng(seed)
    frames = []
    for f in range(n_frames):
        img = _background(BACKGROUNDS[f % len(BACKGROUNDS)], rng, size)
        k = int(rng.integers(1, 4))
        boxes: list[tuple[int, int, int, int]] = []
        labels, crops, gains = [], [], []
        for _ in range(50):  # place up to k non-overlapping faces
            if len(boxes) == k:
                break
            s = int(rng.integers(72, 221))
            x, y = int(rng.integers(0, size[1] - s)), int(rng.integers(0, size[0] - s))
            if any(x < bx + bw + 8 and bx < x + s + 8 and y < by + bh + 8 and by < y + s + 8
                   for bx, by, bw, bh in boxes):
                continue
            i = int(rng.integers(0, len(faces)))
            face = faces.images[i]
            big = cv2.resize(face, (s, s), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            gain = float(rng.uniform(0.6, 1.4))
            big = np.clip(big * gain, 0, 255).astype(np.uint8)
            img[y:y + s, x:x + s] = big[..., None]
            boxes.append((x, y, s, s))
            labels.append(int(faces.labels[i]))
            crops.append(face)
            gains.append(gain)
        frames.append(BenchFrame(img, np.array(boxes, np.int32).reshape(-1, 4), np.array(labels), crops, gains))
    if with_example:
        frames.append(BenchFrame(read_image(example_image()), np.array([EXAMPLE_FACE], np.int32), np.array([-1])))
    return frames


#: a detection lying inside a pasted face's square (this share of its area) that covers at least MIN_COVER of
#: the square also finds that face: the square holds nothing but the face, and FER2013 crops frame many faces
#: loosely, so a tight face box in such a crop has an IoU of only 0.2-0.4 with the square
MIN_INSIDE, MIN_COVER = 0.9, 0.15


def match_boxes(truth: np.ndarray, found: np.ndarray, min_iou: float = 0.4, inside: bool = True) -> np.ndarray:
    """For each true box, the index of the detection matched to it, or -1: greedy by IoU over the pairs with
    IoU >= ``min_iou`` or (with ``inside``) a detection inside the true box (MIN_INSIDE, MIN_COVER)."""
    from ..runtime.tracking import greedy_match

    if len(truth) == 0 or len(found) == 0:
        return np.full(len(truth), -1, np.int64)
    a = truth.astype(np.float64)[:, None]
    b = found.astype(np.float64)[None]
    iw = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    area_a, area_b = a[..., 2] * a[..., 3], b[..., 2] * b[..., 3]
    iou = inter / (area_a + area_b - inter)
    ok = (inter > 0) & (iou >= min_iou)
    if inside:
        ok |= (inter >= MIN_INSIDE * area_b) & (area_b >= MIN_COVER * area_a)
    i, j = np.nonzero(ok)
    return greedy_match(len(truth), len(found), i, j, iou[i, j])


def evaluate_setup(make: Callable[[], Any], frames: list[BenchFrame], timing_runs: int = 1) -> dict[str, Any]:
    """Recall, false faces per frame, label accuracy on found faces vs their crops' accuracy, ms per predict()."""
    rec = make()
    n_true = n_found = n_strict = n_false = n_lab = correct_frame = correct_crop = correct_gain = correct_box = 0
    times = []
    for fr in frames:
        t0 = time.perf_counter()
        faces = rec.predict(fr.image)
        times.append(time.perf_counter() - t0)
        boxes = np.array([f.box for f in faces], np.int32).reshape(-1, 4)
        match = match_boxes(fr.boxes, boxes)
        n_strict += int((match_boxes(fr.boxes, boxes, inside=False) >= 0).sum())
        n_true += len(fr.boxes)
        n_found += int((match >= 0).sum())
        n_false += len(boxes) - int((match >= 0).sum())
        for t, m in enumerate(match.tolist()):
            if m < 0 or fr.labels[t] < 0:
                continue
            n_lab += 1
            correct_frame += int(faces[m].class_id == fr.labels[t])
            correct_crop += int(rec.predict_faces([fr.crops[t]])[0].class_id == fr.labels[t])
            shown = np.clip(fr.crops[t].astype(np.float32) * fr.gains[t], 0, 255).astype(np.uint8)
            correct_gain += int(rec.predict_faces([shown])[0].class_id == fr.labels[t])
            correct_box += int(rec.predict(fr.image, boxes=fr.boxes[t:t + 1])[0].class_id == fr.labels[t])
    if timing_runs > 1:
        times = [float(np.median(time_calls(lambda: rec.predict(frames[0].image), 0.0, timing_runs)))]
    return {"detector": rec.detector_name, "faces": n_true, "frames": len(frames), "recall": n_found / n_true,
            "recall_iou_only": n_strict / n_true,
            "false_per_frame": n_false / len(frames), "found_labelled": n_lab,
            "label_accuracy_found": correct_frame / max(1, n_lab),
            "crop_accuracy_same_faces": correct_crop / max(1, n_lab),
            "crop_accuracy_same_faces_same_brightness": correct_gain / max(1, n_lab),
            "true_box_accuracy_same_faces": correct_box / max(1, n_lab),
            "ms_per_frame": 1e3 * float(np.median(times))}


def haar_alone_ms(frames: list[BenchFrame]) -> float:
    """Median ms of OpenCV's Haar cascade alone on the full-resolution frames (its defaults, scale 1.1,
    5 neighbours, 40-pixel minimum), the speed reference."""
    import cv2

    from ..runtime.detect import find_haar_cascade

    cascade = cv2.CascadeClassifier(str(find_haar_cascade()))
    times = []
    for fr in frames:
        gray = cv2.cvtColor(fr.image, cv2.COLOR_BGR2GRAY)
        t0 = time.perf_counter()
        cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def default_setups(model: str | None = None) -> dict[str, Callable[[], Any]]:
    from ..runtime.detect import HaarDetector, YuNetDetector
    from ..runtime.recognizer import Recognizer

    def rec(detector: Any, **kw: Any) -> Callable[[], Any]:
        return lambda: Recognizer(model=model, detector=detector() if callable(detector) else detector, **kw)

    return {
        "default Recognizer() (YuNet, box + roll)": rec("auto"),
        "YuNet, box framing (align='box')": rec("yunet", align="box"),
        "YuNet, landmark alignment (align='landmarks')": rec("yunet", align="landmarks"),
        "YuNet via OpenCV, box + roll": rec(lambda: YuNetDetector(engine="opencv", min_face=40)),
        "YuNet, min_face 20 (smaller faces kept)": rec(lambda: YuNetDetector(min_face=20)),
        "Haar (fixed: no equalisation, 640 px)": rec("haar"),
        "Haar, no equalisation, 480 px": rec(lambda: HaarDetector(max_side=480)),
        "Haar + whole-frame equalisation (0.1)": rec(lambda: HaarDetector(equalize=True, max_side=480)),
    }


def run(n_frames: int = 300, seed: int = 0, model: str | None = None, only_default: bool = False) -> dict[str, Any]:
    frames = build_frames(n_frames, seed)
    setups = default_setups(model)
    if only_default:
        setups = dict(list(setups.items())[:1])
    rows = {name: evaluate_setup(make, frames) for name, make in setups.items()}
    return {"frames": len(frames), "seed": seed, "faces": int(sum(len(f.boxes) for f in frames)),
            "classes": list(CLASSES), "haar_alone_full_resolution_ms": haar_alone_ms(frames), "setups": rows}


def format_table(res: dict[str, Any]) -> str:
    head = (f"{'setup':46} {'recall':>7} {'IoU only':>8} {'false/frame':>11} {'acc found':>9} {'acc crops':>9} "
            f"{'crops x gain':>12} {'true box':>8} {'ms/frame':>9}")
    lines = [head, "-" * len(head)]
    for name, r in res["setups"].items():
        lines.append(f"{name:46} {r['recall']:7.3f} {r.get('recall_iou_only', float('nan')):8.3f} "
                     f"{r['false_per_frame']:11.3f} {r['label_accuracy_found']:9.3f} "
                     f"{r['crop_accuracy_same_faces']:9.3f} {r['crop_accuracy_same_faces_same_brightness']:12.3f} "
                     f"{r['true_box_accuracy_same_faces']:8.3f} {r['ms_per_frame']:9.1f}")
    lines.append("recall: IoU >= 0.4 or a detection inside the face's square covering >= 15% of it; "
                 "IoU only: IoU >= 0.4")
    lines.append("acc found: labels of the detected faces; acc crops: the same faces' original 48x48 crops; "
                 "crops x gain: those crops with the frame's brightness factor; true box: the frame with the true box")
    lines.append(f"OpenCV Haar cascade alone, full resolution: {res['haar_alone_full_resolution_ms']:.1f} ms/frame "
                 f"({res['frames']} frames, {res['faces']} faces)")
    return "\n".join(lines)
