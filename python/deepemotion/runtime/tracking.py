"""Tracking faces across video frames: stable track ids, and smoothing of each track's probabilities.

A face in the new frame continues the track whose last box it overlaps most (IoU >= `min_iou`),
matched greedily from the best overlap down, each track and face used once. The IoU matrix is
computed with numpy in row blocks (memory stays bounded for thousands of boxes) and only the pairs
above the threshold enter the greedy pass, so a frame of n faces costs O(n * m) vector work, not
a Python loop over all pairs. Unmatched faces start new tracks; a track not seen for `max_age`
frames is dropped.
"""

from __future__ import annotations

import threading

import numpy as np

_BLOCK = 256  # rows of the IoU matrix computed at once (float32 temporaries of 256 x M stay in cache)


def iou_pairs(a: np.ndarray, b: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, iou) for every pair of xywh boxes a[i], b[j] with IoU >= min_iou."""
    if len(a) == 0 or len(b) == 0:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0)
    b = b.astype(np.float32)
    bx0, by0 = b[:, 0], b[:, 1]
    bx1, by1 = bx0 + b[:, 2], by0 + b[:, 3]
    barea = b[:, 2] * b[:, 3]
    out_i, out_j, out_v = [], [], []
    for s in range(0, len(a), _BLOCK):
        blk = a[s : s + _BLOCK].astype(np.float32)
        ax0, ay0 = blk[:, 0, None], blk[:, 1, None]
        iw = np.minimum(ax0 + blk[:, 2, None], bx1)
        iw -= np.maximum(ax0, bx0)
        ih = np.minimum(ay0 + blk[:, 3, None], by1)
        ih -= np.maximum(ay0, by0)
        np.maximum(iw, 0, out=iw)
        np.maximum(ih, 0, out=ih)
        inter = iw
        inter *= ih
        # iou >= t  <=>  inter >= t * union = t * (area_a + area_b - inter)
        union = (blk[:, 2] * blk[:, 3])[:, None] + barea[None]
        union -= inter
        i, j = np.nonzero((inter > 0) & (inter >= min_iou * union))
        out_i.append(i + s)
        out_j.append(j)
        out_v.append(inter[i, j] / np.maximum(union[i, j], 1e-12))
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_v).astype(np.float64)


def greedy_match(n_new: int, n_old: int, i: np.ndarray, j: np.ndarray, v: np.ndarray) -> np.ndarray:
    """For each new item, the index of the old item it is matched to, or -1 (best overlaps first)."""
    match = np.full(n_new, -1, np.int64)
    if len(v) == 0:
        return match
    order = np.argsort(-v, kind="stable")
    used_old = np.zeros(n_old, bool)
    for k in order.tolist():  # only candidate pairs (overlapping boxes): about one per face
        a, b = i[k], j[k]
        if match[a] < 0 and not used_old[b]:
            match[a] = b
            used_old[b] = True
    return match


class Tracker:
    """Track ids and exponential smoothing of probabilities (`smoothing` = weight of the past, 0..1).

    Thread-safe: `update` holds a lock. One tracker follows one video stream.
    """

    def __init__(self, smoothing: float = 0.0, min_iou: float = 0.3, max_age: int = 5) -> None:
        if not 0.0 <= float(smoothing) < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if not 0.0 < min_iou <= 1.0 or max_age < 1:
            raise ValueError("min_iou must be in (0, 1] and max_age >= 1")
        self.smoothing, self.min_iou, self.max_age = float(smoothing), float(min_iou), int(max_age)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._boxes = np.zeros((0, 4), np.int32)
            self._probs = np.zeros((0, 0), np.float32)
            self._ids = np.zeros(0, np.int64)
            self._age = np.zeros(0, np.int64)
            self._next_id = 0

    def update(self, boxes: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(track ids (N,), smoothed probabilities (N, C)) for this frame's faces."""
        with self._lock:
            n = len(boxes)
            i, j, v = iou_pairs(boxes, self._boxes, self.min_iou)
            match = greedy_match(n, len(self._boxes), i, j, v)
            ids = np.empty(n, np.int64)
            out = probs.astype(np.float32, copy=True)
            hit = match >= 0
            ids[hit] = self._ids[match[hit]]
            new = int((~hit).sum())
            ids[~hit] = np.arange(self._next_id, self._next_id + new)
            self._next_id += new
            if self.smoothing and hit.any() and self._probs.shape[1:] == probs.shape[1:]:
                out[hit] = self.smoothing * self._probs[match[hit]] + (1.0 - self.smoothing) * probs[hit]
            # keep unmatched old tracks for max_age frames, so a face missed once keeps its id
            seen = np.zeros(len(self._boxes), bool)
            seen[match[hit]] = True
            age = self._age[~seen] + 1
            keep = age < self.max_age
            self._boxes = np.concatenate([boxes.astype(np.int32), self._boxes[~seen][keep]])
            self._probs = np.concatenate([out, self._probs[~seen][keep]]) if len(self._probs) else out.copy()
            self._ids = np.concatenate([ids, self._ids[~seen][keep]])
            self._age = np.concatenate([np.zeros(n, np.int64), age[keep]])
            return ids, out
