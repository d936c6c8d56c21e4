"""A pipelined loop over camera or video frames: capture/decode, detection, and crop + classification +
tracking run in three threads joined by bounded queues, so the stages overlap while results come out
in frame order.

    for r in Recognizer().stream("clip.mp4"):
        print(r.index, [f.label for f in r.faces])

- Memory is bounded: each queue holds at most ``queue_size`` frames; a slow consumer slows capture.
- Order is kept: every stage is one thread reading one FIFO queue.
- Shutdown is clean: leaving the loop (``break``, an exception, Ctrl-C) stops the workers and joins
  them; an error in a worker (a camera that fails, a backend error) is re-raised in the consumer.
- ``pipelined=False`` runs the same stages one after another in the caller's thread (the baseline).
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .inputs import check_image

_END = object()


@dataclass
class FrameResult:
    index: int                          # 0-based frame number
    frame: np.ndarray = field(repr=False)
    faces: list[Any]                    # Face objects, with track ids
    latency_ms: float                   # from the frame's capture to its result


#: camera indices OpenCV opens as devices (from 100 on, OpenCV reads the hundreds as a capture API's code)
MAX_CAMERA_INDEX = 99


def check_camera_index(source: Any) -> int:
    """A camera index as an int in 0..MAX_CAMERA_INDEX, or ValueError. OpenCV treats -1 as "any camera" and
    crashes the process on some machines without one; indices from 100 on select a capture API."""
    index = int(source)
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise ValueError(f"camera {source}: a camera index is 0..{MAX_CAMERA_INDEX} (0 is the first camera, "
                         "e.g. /dev/video0)")
    return index


def open_capture(source: int | str | os.PathLike[str]) -> Any:
    """cv2.VideoCapture for a camera index or a video file, or ValueError/FileNotFoundError saying what failed."""
    import cv2

    from ..files import display_name, opencv_safe_name, quiet_native

    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        index = check_camera_index(source)
        with quiet_native():  # OpenCV's back ends print their own attempts on fd 2
            cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            raise ValueError(f"camera {index}: cannot be opened (no such camera, or it is in use)")
        return cap
    name = opencv_safe_name(source)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"{display_name(source)}: no such video file")
    with quiet_native():
        cap = cv2.VideoCapture(name)
    if not cap.isOpened():
        raise ValueError(f"{display_name(source)}: cannot be opened as a video")
    return cap


def _frames(source: Any, max_frames: int | None) -> Iterator[np.ndarray]:
    if isinstance(source, (int, np.integer, str, os.PathLike)) and not isinstance(source, bool):
        cap = open_capture(source)
        try:
            n = 0
            while max_frames is None or n < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                n += 1
                yield frame
        finally:
            cap.release()
        return
    if isinstance(source, np.ndarray):
        raise TypeError("stream() takes a camera index, a video path or an iterable of frames; for one frame "
                        "use predict()")
    it: Iterable[Any] = source
    for n, frame in enumerate(it):
        if max_frames is not None and n >= max_frames:
            break
        yield frame


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def stream(rec: Any, source: Any, *, max_frames: int | None = None, queue_size: int = 4,
           pipelined: bool = True, detect_workers: int = 1) -> Iterator[FrameResult]:
    """Results of ``rec`` on every frame of ``source`` (see the module docstring). ``detect_workers`` > 1 runs
    detection on that many frames at once (detection is the slowest stage); results are put back in order."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if queue_size < 1:
        raise ValueError(f"queue_size must be >= 1, got {queue_size}")
    if not 1 <= detect_workers <= 16:
        raise ValueError(f"detect_workers must be in 1..16, got {detect_workers}")
    if rec.detector is None:
        raise ValueError("stream() needs a Recognizer with a detector")
    if not pipelined:
        yield from _sequential(rec, source, max_frames)
        return
    backend = rec.backend.pipeline_twin()  # e.g. a single-threaded session: the stages are the parallelism
    frames_q: queue.Queue = queue.Queue(queue_size)
    dets_q: queue.Queue = queue.Queue(queue_size)
    stop = threading.Event()

    def capture() -> None:
        try:
            for i, frame in enumerate(_frames(source, max_frames)):
                if not _put(frames_q, (i, time.perf_counter(), frame), stop):
                    return
            for _ in range(detect_workers):  # one end mark per detection worker
                _put(frames_q, _END, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(frames_q, exc, stop)

    def detect() -> None:
        try:
            while not stop.is_set():
                try:
                    item = frames_q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END or isinstance(item, BaseException):
                    _put(dets_q, item, stop)
                    return
                i, t0, frame = item
                frame = check_image(frame, f"frame {i}")
                _put(dets_q, (i, t0, frame, rec.detect(frame)), stop)
        except BaseException as exc:  # noqa: BLE001
            _put(dets_q, exc, stop)

    workers = [threading.Thread(target=capture, name="deepemotion-capture", daemon=True)] + \
        [threading.Thread(target=detect, name=f"deepemotion-detect-{k}", daemon=True) for k in range(detect_workers)]
    for t in workers:
        t.start()
    pending: dict[int, tuple] = {}  # detections that arrived ahead of their turn (at most a few frames)
    next_index, ends = 0, 0
    try:
        while ends < detect_workers or pending:
            try:
                item = dets_q.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in workers) and dets_q.empty():
                    if pending:
                        raise RuntimeError("the stream lost a frame: its worker threads ended") from None
                    raise RuntimeError("the stream's worker threads ended without a result") from None
                continue
            if item is _END:
                ends += 1
                continue
            if isinstance(item, BaseException):
                raise item
            pending[item[0]] = item
            while next_index in pending:  # classification and tracking in frame order
                _, t0, frame, det = pending.pop(next_index)
                faces = rec.classify_detections(frame, det, backend=backend)
                yield FrameResult(next_index, frame, faces, (time.perf_counter() - t0) * 1e3)
                next_index += 1
    finally:
        stop.set()
        for q in (frames_q, dets_q):
            with contextlib.suppress(queue.Empty):
                while True:
                    q.get_nowait()
        for t in workers:
            t.join(timeout=5.0)


def _sequential(rec: Any, source: Any, max_frames: int | None) -> Iterator[FrameResult]:
    for i, frame in enumerate(_frames(source, max_frames)):
        t0 = time.perf_counter()
        frame = check_image(frame, f"frame {i}")
        faces = rec.classify_detections(frame, rec.detect(frame))
        yield FrameResult(i, frame, faces, (time.perf_counter() - t0) * 1e3)
