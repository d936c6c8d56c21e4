"""Occlusion saliency (numpy only): one batched call, the discriminative region found, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from deepemotion.evaluation.saliency import occlusion_positions, occlusion_saliency


def test_saliency_marks_the_only_discriminative_region():
    """A predictor whose only evidence is the brightness of rows 30-38, cols 18-30: occluding it must
    drop the probability there and nowhere else, and flip the label there."""

    def predict(batch: np.ndarray) -> np.ndarray:
        s = batch[:, 30:38, 18:30].astype(np.float64).mean(axis=(1, 2)) / 255.0
        p_happy = 1 / (1 + np.exp(-12 * (s - 0.5)))
        probs = np.zeros((len(batch), 7))
        probs[:, 3] = p_happy
        probs[:, 6] = 1 - p_happy
        return probs

    face = np.random.default_rng(0).integers(40, 90, (48, 48)).astype(np.uint8)
    face[30:38, 18:30] = 240
    calls = []
    res = occlusion_saliency(lambda b: (calls.append(len(b)), predict(b))[1], face, patch=8, stride=4)
    assert calls == [len(occlusion_positions((48, 48), 8, 4)) + 1]  # one batched forward pass
    assert res.label == 3
    inside = res.drop[30:38, 18:30].mean()
    outside = np.concatenate([res.drop[:20].ravel(), res.drop[:, 42:].ravel()])
    assert inside > 0.2
    assert np.abs(outside).max() < 1e-9
    assert res.flip[30:38, 18:30].max() > 0 and res.flip[:20].max() == 0


def test_saliency_bad_args():
    with pytest.raises(ValueError):
        occlusion_saliency(lambda b: b, np.zeros((48, 48), np.float32))
    with pytest.raises(ValueError):
        occlusion_positions((48, 48), 0, 2)
    with pytest.raises(ValueError):
        occlusion_positions((48, 48), 8, 0)
    with pytest.raises(ValueError):
        occlusion_positions((48, 48), 60, 2)
