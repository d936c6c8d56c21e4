"""A pipelined loop over camera or video frames: capture/decode, detection, and crop + classification +
tracking run in three threads joined by bounded queues, so the stages overlap while results come out
in frame order.

    for r in Recognizer().stream("clip.mp4"):
        print(r.index, [f.label for f in r.faces])

- Memory is bounded: each queue holds at most `queue_size` frames; a slow consumer slows capture.
- Order is kept: capture is one thread; detection is one thread, or `detect_workers` threads whose results are
  put back in frame order; classification and tracking run in the consumer's thread, in frame order.
- Shutdown is prompt: leaving the loop (`break`, an exception, Ctrl-C) stops the workers and waits at most half
  a second for them (a camera read ends within a frame); an error in a worker (a camera that fails, a backend
  error) is re-raised in the consumer. A caller's own iterator of frames that blocks can only be left between two
  of its items: its thread (a daemon) ends when the iterator yields the next one.
- Each stream starts with fresh tracks (ids from 0, no smoothing carried over from an earlier video).
- `pipelined=False` runs the same stages one after another in the caller's thread (the baseline).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .inputs import check_image

_END = object()


@dataclass
class FrameResult:
    index: int  # 0-based frame number
    frame: np.ndarray = field(repr=False)
    faces: list[Any]  # Face objects, with track ids
    latency_ms: float  # from the frame's capture to its result


#: camera indices OpenCV opens as devices (from 100 on, OpenCV reads the hundreds as a capture API's code)
MAX_CAMERA_INDEX = 99


def check_camera_index(source: Any) -> int:
    """A camera index as an int in 0..MAX_CAMERA_INDEX, or ValueError. OpenCV treats -1 as "any camera" and
    crashes the process on some machines without one; indices from 100 on select a capture API."""
    index = int(source)
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise ValueError(
            f"camera {source}: a camera index is 0..{MAX_CAMERA_INDEX} (0 is the first camera, e.g. /dev/video0)"
        )
    return index


def open_capture(source: int | np.integer | str | os.PathLike[str]) -> Any:
    """cv2.VideoCapture for a camera index or a video file, or ValueError/FileNotFoundError saying what failed (a
    bool, which Python counts as an int, is a TypeError)."""
    import cv2

    from ..files import display_name, opencv_safe_name, quiet_native

    if isinstance(source, bool):
        raise TypeError(f"a camera index or a video path, not {source!r}")
    if isinstance(source, (int, np.integer)):
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
    """Frames of a camera index, a video file or an iterable, at most `max_frames` (never one item more is
    taken from the caller's iterator)."""
    if isinstance(source, np.ndarray):
        raise TypeError(
            "stream() takes a camera index, a video path or an iterable of frames; for one frame use predict()"
        )
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
    it = iter(source)
    n = 0
    while max_frames is None or n < max_frames:
        try:
            frame = next(it)
        except StopIteration:
            return
        n += 1
        yield frame


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Pipeline:
    """The threads of one pipelined stream: capture -> frames queue -> detection worker(s) -> detections queue;
    the consumer puts detections back in frame order and classifies them."""

    def __init__(self, rec: Any, source: Any, max_frames: int | None, queue_size: int, detect_workers: int) -> None:
        self.rec, self.source, self.max_frames, self.n_detect = rec, source, max_frames, detect_workers
        self.frames_q: queue.Queue = queue.Queue(queue_size)
        self.dets_q: queue.Queue = queue.Queue(queue_size)
        self.stop = threading.Event()
        self.workers = [threading.Thread(target=self.capture, name="deepemotion-capture", daemon=True)] + [
            threading.Thread(target=self.detect, name=f"deepemotion-detect-{k}", daemon=True)
            for k in range(detect_workers)
        ]

    def capture(self) -> None:
        try:
            for i, frame in enumerate(_frames(self.source, self.max_frames)):
                if self.stop.is_set():
                    return
                if not _put(self.frames_q, (i, time.perf_counter(), frame), self.stop):
                    return
            for _ in range(self.n_detect):  # one end mark per detection worker
                _put(self.frames_q, _END, self.stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(self.frames_q, exc, self.stop)

    def detect(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    item = self.frames_q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END or isinstance(item, BaseException):
                    _put(self.dets_q, item, self.stop)
                    return
                i, t0, frame = item
                frame = check_image(frame, f"frame {i}")
                _put(self.dets_q, (i, t0, frame, self.rec.detect(frame)), self.stop)
        except BaseException as exc:  # noqa: BLE001
            _put(self.dets_q, exc, self.stop)

    def detections(self) -> Iterator[tuple]:
        """(index, t0, frame, detections) in frame order, until every detection worker has ended."""
        pending: dict[int, tuple] = {}  # detections that arrived ahead of their turn (at most a few frames)
        next_index, ends = 0, 0
        while ends < self.n_detect or pending:
            try:
                item = self.dets_q.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in self.workers) and self.dets_q.empty():
                    raise RuntimeError(
                        "the stream lost a frame: its worker threads ended"
                        if pending
                        else "the stream's worker threads ended without a result"
                    ) from None
                continue
            if item is _END:
                ends += 1
                continue
            if isinstance(item, BaseException):
                raise item
            pending[item[0]] = item
            while next_index in pending:
                yield pending.pop(next_index)
                next_index += 1

    def close(self) -> None:
        self.stop.set()
        for q in (self.frames_q, self.dets_q):
            with contextlib.suppress(queue.Empty):
                while True:
                    q.get_nowait()
        for t in self.workers:  # a camera read ends within a frame; a caller's blocking iterator at its next item
            t.join(timeout=0.5)


def stream(
    rec: Any,
    source: Any,
    *,
    max_frames: int | None = None,
    queue_size: int = 4,
    pipelined: bool = True,
    detect_workers: int = 1,
) -> Iterator[FrameResult]:
    """Results of `rec` on every frame of `source` (see the module docstring). `detect_workers` > 1 runs
    detection on that many frames at once (detection is the slowest stage); results are put back in order."""
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be an int >= 1, got {max_frames!r}")
    if queue_size < 1:
        raise ValueError(f"queue_size must be >= 1, got {queue_size}")
    if not 1 <= detect_workers <= 16:
        raise ValueError(f"detect_workers must be in 1..16, got {detect_workers}")
    if rec.detector is None:
        raise ValueError("stream() needs a Recognizer with a detector")
    rec.reset()
    if not pipelined:
        yield from _sequential(rec, source, max_frames)
        return
    backend = rec.backend.pipeline_twin()  # e.g. a single-threaded session: the stages are the parallelism
    pipe = _Pipeline(rec, source, max_frames, queue_size, detect_workers)
    for t in pipe.workers:
        t.start()
    try:
        for i, t0, frame, det in pipe.detections():  # classification and tracking in frame order
            faces = rec.classify_detections(frame, det, backend=backend)
            yield FrameResult(i, frame, faces, (time.perf_counter() - t0) * 1e3)
    finally:
        pipe.close()


def _sequential(rec: Any, source: Any, max_frames: int | None) -> Iterator[FrameResult]:
    for i, frame in enumerate(_frames(source, max_frames)):
        t0 = time.perf_counter()
        frame = check_image(frame, f"frame {i}")
        faces = rec.classify_detections(frame, rec.detect(frame))
        yield FrameResult(i, frame, faces, (time.perf_counter() - t0) * 1e3)
