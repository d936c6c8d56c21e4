"""The detector benchmark: each `Recognizer` set-up on synthetic scenes with known faces (`deepemotion.data.scenes`:
FER2013 PublicTest faces pasted into photos without people, plus the example photo).

Per detector setup: recall (a face counts as found when a detection overlaps its box with IoU >= 0.4, or lies
inside it and covers at least 15% of it: see MIN_INSIDE; the IoU-only recall is reported beside), false faces
per frame (detections matching no face), label accuracy on the found faces, and the accuracy of
`predict_faces` on the original crops of the same faces; two references that separate the detector's framing
from what pasting did to the faces (upscaling, brightness): those crops with the face's brightness factor, and
`predict` on the frame given each face's true box; milliseconds per `predict()`; and OpenCV's Haar cascade
alone at full resolution, the speed reference.
Needs scikit-image (`pip install ".[bench]"` in the clone) and $DEEPEMOTION_DATA.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..data.scenes import SceneFrame, build_frames
from ..labels import CLASSES
from .timing import time_calls

#: a detection lying inside a pasted face's square (this share of its area) that covers at least MIN_COVER of
#: the square also finds that face: the square holds nothing but the face, and FER2013 crops frame many faces
#: loosely, so a tight face box in such a crop has an IoU of only 0.2-0.4 with the square
MIN_INSIDE, MIN_COVER = 0.9, 0.15


def match_boxes(truth: np.ndarray, found: np.ndarray, min_iou: float = 0.4, inside: bool = True) -> np.ndarray:
    """For each true box, the index of the detection matched to it, or -1: greedy by IoU over the pairs with
    IoU >= `min_iou` or (with `inside`) a detection inside the true box (MIN_INSIDE, MIN_COVER)."""
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


def evaluate_setup(make: Callable[[], Any], frames: list[SceneFrame], timing_runs: int = 1) -> dict[str, Any]:
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
            correct_box += int(rec.predict(fr.image, boxes=fr.boxes[t : t + 1])[0].class_id == fr.labels[t])
    if timing_runs > 1:
        times = [float(np.median(time_calls(lambda: rec.predict(frames[0].image), 0.0, timing_runs)))]
    return {
        "detector": rec.detector_name,
        "faces": n_true,
        "frames": len(frames),
        "recall": n_found / n_true,
        "recall_iou_only": n_strict / n_true,
        "false_per_frame": n_false / len(frames),
        "found_labelled": n_lab,
        "label_accuracy_found": correct_frame / max(1, n_lab),
        "crop_accuracy_same_faces": correct_crop / max(1, n_lab),
        "crop_accuracy_same_faces_same_brightness": correct_gain / max(1, n_lab),
        "true_box_accuracy_same_faces": correct_box / max(1, n_lab),
        "ms_per_frame": 1e3 * float(np.median(times)),
    }


def haar_alone_ms(frames: list[SceneFrame]) -> float:
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
    return {
        "frames": len(frames),
        "seed": seed,
        "faces": int(sum(len(f.boxes) for f in frames)),
        "classes": list(CLASSES),
        "haar_alone_full_resolution_ms": haar_alone_ms(frames),
        "setups": rows,
    }


def format_table(res: dict[str, Any]) -> str:
    head = (
        f"{'setup':46} {'recall':>7} {'IoU only':>8} {'false/frame':>11} {'acc found':>9} {'acc crops':>9} "
        f"{'crops x gain':>12} {'true box':>8} {'ms/frame':>9}"
    )
    lines = [head, "-" * len(head)]
    for name, r in res["setups"].items():
        lines.append(
            f"{name:46} {r['recall']:7.3f} {r.get('recall_iou_only', float('nan')):8.3f} "
            f"{r['false_per_frame']:11.3f} {r['label_accuracy_found']:9.3f} "
            f"{r['crop_accuracy_same_faces']:9.3f} {r['crop_accuracy_same_faces_same_brightness']:12.3f} "
            f"{r['true_box_accuracy_same_faces']:8.3f} {r['ms_per_frame']:9.1f}"
        )
    lines.append(
        "recall: IoU >= 0.4 or a detection inside the face's square covering >= 15% of it; IoU only: IoU >= 0.4"
    )
    lines.append(
        "acc found: labels of the detected faces; acc crops: the same faces' original 48x48 crops; "
        "crops x gain: those crops with the frame's brightness factor; true box: the frame with the true box"
    )
    lines.append(
        f"OpenCV Haar cascade alone, full resolution: {res['haar_alone_full_resolution_ms']:.1f} ms/frame "
        f"({res['frames']} frames, {res['faces']} faces)"
    )
    return "\n".join(lines)
