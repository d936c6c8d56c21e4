"""The stages of `predict()` on one frame, and the pipelined stream against the sequential loop."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .timing import time_calls


def example_frame() -> np.ndarray:
    """640x480 BGR frame with the example photo's face, on a flat grey background."""
    import cv2

    from ..files import read_image
    from ..runtime.assets import example_image

    photo = read_image(example_image())
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 64:576] = cv2.resize(photo, (512, 480), interpolation=cv2.INTER_AREA)
    return frame


def bench_stages(min_time: float, min_runs: int, backend: str = "auto", model: str | None = None) -> dict[str, Any]:
    """Median ms of each stage of predict() on a 640x480 frame holding the example face."""
    from ..runtime.recognizer import Recognizer

    frame = example_frame()
    rec = Recognizer(model=model, backend=backend)
    det = rec.detect(frame)
    if len(det) == 0:
        return {"error": "no face detected in the benchmark frame", "detector": rec.detector_name}
    boxes = det.boxes
    batch = rec.crops(frame, det)
    stages = {
        "detect": time_calls(lambda: rec.detect(frame), min_time, min_runs),
        "crop": time_calls(lambda: rec.crops(frame, det), min_time, min_runs),
        "classify": time_calls(lambda: rec.classify(batch), min_time, min_runs),
        "predict_total": time_calls(lambda: rec.predict(frame), min_time, min_runs),
        "predict_with_boxes": time_calls(lambda: rec.predict(frame, boxes=boxes), min_time, min_runs),
    }
    return {
        "frame": "640x480 BGR, one face",
        "faces": int(len(det)),
        "backend": rec.backend.name,
        "detector": rec.detector_name,
        **{f"{k}_ms_p50": float(np.median(v)) * 1e3 for k, v in stages.items()},
        **{f"{k}_ms_p90": float(np.percentile(v, 90)) * 1e3 for k, v in stages.items()},
    }


def synthetic_video(path: str, frames: int = 120, size: tuple[int, int] = (640, 480), seed: int = 0) -> str:
    """Write an MJPG .avi of the example face drifting over a textured background (a video with faces)."""
    import cv2

    w, h = size
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(40, 200, (h, w, 3), dtype=np.uint8), (0, 0), 6)
    face = cv2.resize(example_frame()[:, 64:576], (256, 240), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (w, h))
    try:
        for i in range(frames):
            f = bg.copy()
            x = int(40 + (w - 256 - 80) * (0.5 + 0.5 * np.sin(i / 15)))
            y = int(20 + (h - 240 - 40) * (0.5 + 0.5 * np.cos(i / 20)))
            f[y : y + 240, x : x + 256] = face
            writer.write(f)
    finally:
        writer.release()
    return path


def bench_stream(video: str, backend: str = "auto", model: str | None = None, repeats: int = 2) -> dict[str, Any]:
    """Frames/s of the pipelined stream and of the sequential loop on the same video, alternated
    `repeats` times in this run (best of each)."""
    from ..runtime.recognizer import Recognizer

    rec = Recognizer(model=model, backend=backend, smoothing=0.5)
    modes = {
        "sequential": {"pipelined": False},
        "pipelined": {"pipelined": True},
        "pipelined, 2 detection workers": {"pipelined": True, "detect_workers": 2},
    }
    res: dict[str, list[float]] = {m: [] for m in modes}
    n_frames = n_faces = 0
    for _ in range(repeats):
        for mode, kw in modes.items():
            rec.reset()
            t0 = time.perf_counter()
            n = faces = 0
            for r in rec.stream(video, **kw):
                n += 1
                faces += len(r.faces)
            res[mode].append(n / (time.perf_counter() - t0))
            n_frames, n_faces = n, faces
    best = {k: max(v) for k, v in res.items()}
    fastest = max((k for k in modes if k != "sequential"), key=lambda k: best[k])
    return {
        "video": video,
        "frames": n_frames,
        "faces": n_faces,
        "backend": rec.backend.name,
        "detector": rec.detector_name,
        "fps": best,
        "fps_pipelined": best[fastest],
        "pipelined_mode": fastest,
        "fps_sequential": best["sequential"],
        "speedup": best[fastest] / best["sequential"],
        "runs": res,
    }
