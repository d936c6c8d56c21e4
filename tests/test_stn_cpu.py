"""The C++ CPU affine_grid_sample kernel against PyTorch's affine_grid + grid_sample."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deepemotion
from _helpers import random_theta
from deepemotion import _C
from deepemotion.export.reference import affine_grid_sample_reference


def reference(x: np.ndarray, theta: np.ndarray, out_h: int, out_w: int, align_corners: bool,
              dtype=torch.float32) -> np.ndarray:
    return affine_grid_sample_reference(torch.from_numpy(x).to(dtype), torch.from_numpy(theta).to(dtype), out_h,
                                        out_w, align_corners).numpy()


CASES = [
    # (N, C, H, W, out_h, out_w)
    (1, 1, 48, 48, 48, 48),
    (257, 1, 48, 48, 48, 48),
    (3, 3, 17, 23, 11, 29),
    (2, 3, 1, 1, 5, 4),
    (5, 1, 31, 7, 48, 48),
    (4, 2, 64, 80, 1, 1),
]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape", CASES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("large", [True, False], ids=["large-theta", "small-theta"])
def test_matches_torch(rng, shape, align_corners, large):
    """Image-range input (intensities in [0, 1)): equal to PyTorch float32 within 1e-5."""
    n, c, h, w, oh, ow = shape
    x = rng.uniform(0.0, 1.0, (n, c, h, w)).astype(np.float32)
    th = random_theta(rng, n, large=large)
    got = _C.affine_grid_sample_cpu(x, th, oh, ow, align_corners)
    want = reference(x, th, oh, ow, align_corners)
    assert got.shape == (n, c, oh, ow)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("align_corners", [False, True])
def test_white_noise_as_accurate_as_torch_float32(rng, align_corners):
    """Unit-variance white noise with large transforms: half an ulp of a sampling point 60 pixels
    out (3.8e-6 px) times neighbour differences of ~8 exceeds 1e-5, for PyTorch's float32 kernel
    too (about 2e-5 from the exact result). So compare both with the exact (float64) result: ours
    must stay within the same order as PyTorch float32 (measured: 1-2x its error)."""
    n = 257
    x = rng.standard_normal((n, 1, 48, 48)).astype(np.float32)
    th = random_theta(rng, n)
    exact = reference(x, th, 48, 48, align_corners, torch.float64)
    ours = np.abs(_C.affine_grid_sample_cpu(x, th, 48, 48, align_corners) - exact).max()
    theirs = np.abs(reference(x, th, 48, 48, align_corners) - exact).max()
    assert ours <= 3.0 * theirs, (ours, theirs)
    assert ours < 1e-4


def test_large_theta_really_samples_outside(rng):
    """The random large transforms must actually leave the image somewhere (else the zero padding
    is untested): some outputs are exactly zero while the input has no zeros."""
    x = rng.uniform(1.0, 2.0, (64, 1, 48, 48)).astype(np.float32)
    out = _C.affine_grid_sample_cpu(x, random_theta(rng, 64), 48, 48, False)
    frac_zero = float((out == 0).mean())
    assert 0.05 < frac_zero < 0.95


def test_identity_theta_is_identity(rng):
    x = rng.standard_normal((4, 3, 48, 48)).astype(np.float32)
    th = np.tile(np.array([[1, 0, 0], [0, 1, 0]], np.float32), (4, 1, 1))
    for ac in (False, True):
        np.testing.assert_allclose(_C.affine_grid_sample_cpu(x, th, 48, 48, ac), x, atol=1e-5)


def test_threads_agree(rng):
    x = rng.standard_normal((300, 1, 48, 48)).astype(np.float32)
    th = random_theta(rng, 300)
    one = _C.affine_grid_sample_cpu(x, th, 48, 48, False, threads=1)
    many = _C.affine_grid_sample_cpu(x, th, 48, 48, False, threads=4)
    np.testing.assert_array_equal(one, many)


def test_empty_batch():
    out = _C.affine_grid_sample_cpu(np.zeros((0, 1, 48, 48), np.float32), np.zeros((0, 2, 3), np.float32), 48, 48)
    assert out.shape == (0, 1, 48, 48)


def test_nan_theta_gives_zeros_not_a_crash():
    x = np.ones((1, 1, 8, 8), np.float32)
    th = np.full((1, 2, 3), np.nan, np.float32)
    out = _C.affine_grid_sample_cpu(x, th, 8, 8)
    assert np.all(out == 0)


def test_python_wrapper_numpy_and_torch(rng):
    x = rng.standard_normal((2, 1, 20, 20)).astype(np.float32)
    th = random_theta(rng, 2)
    a = deepemotion.affine_grid_sample(x, th, 12)
    b = deepemotion.affine_grid_sample(torch.from_numpy(x), torch.from_numpy(th), (12, 12))
    assert isinstance(b, torch.Tensor)
    np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_allclose(a, reference(x, th, 12, 12, False), atol=1e-5)


# --- bad input: a clear Python exception, never a crash ---------------------------------------

GOOD_X = np.zeros((2, 1, 8, 8), np.float32)
GOOD_T = np.zeros((2, 2, 3), np.float32)


@pytest.mark.parametrize(
    "x, th, oh, ow, exc, match",
    [
        (np.zeros((2, 8, 8), np.float32), GOOD_T, 8, 8, ValueError, "4 dimensions"),
        (np.zeros((2, 1, 1, 8, 8), np.float32), GOOD_T, 8, 8, ValueError, "4 dimensions"),
        (GOOD_X.astype(np.float64), GOOD_T, 8, 8, TypeError, "float32"),
        (GOOD_X.astype(np.uint8), GOOD_T, 8, 8, TypeError, "float32"),
        (GOOD_X, GOOD_T.astype(np.float64), 8, 8, TypeError, "theta must be float32"),
        (np.zeros((2, 1, 8, 16), np.float32)[..., ::2], GOOD_T, 8, 8, ValueError, "C-contiguous"),
        (GOOD_X, np.zeros((2, 3, 2), np.float32).transpose(0, 2, 1), 8, 8, ValueError, "C-contiguous"),
        (GOOD_X, np.zeros((3, 2, 3), np.float32), 8, 8, ValueError, "3 matrices but input has N=2"),
        (GOOD_X, np.zeros((2, 6), np.float32), 8, 8, ValueError, r"shape \(N, 2, 3\)"),
        (GOOD_X, np.zeros((2, 3, 3), np.float32), 8, 8, ValueError, r"shape \(N, 2, 3\)"),
        (GOOD_X, GOOD_T, 0, 8, ValueError, "positive"),
        (GOOD_X, GOOD_T, 8, -3, ValueError, "positive"),
        (np.zeros((2, 1, 0, 8), np.float32), GOOD_T, 8, 8, ValueError, "height and width must be positive"),
        ([[1.0]], GOOD_T, 8, 8, TypeError, "numpy.ndarray"),
        (GOOD_X, "theta", 8, 8, TypeError, "numpy.ndarray"),
    ],
)
def test_bad_input(x, th, oh, ow, exc, match):
    with pytest.raises(exc, match=match):
        _C.affine_grid_sample_cpu(x, th, oh, ow, False)


def test_bad_out_size_in_wrapper():
    with pytest.raises(TypeError, match="out_size"):
        deepemotion.affine_grid_sample(GOOD_X, GOOD_T, "big")
    with pytest.raises(ValueError, match="positive"):
        deepemotion.affine_grid_sample(GOOD_X, GOOD_T, (0, 4))


def test_build_info_is_truthful():
    info = deepemotion.build_info()
    assert set(info) >= {"version", "cuda", "cuda_archs", "tensorrt"}
    assert info["version"] == deepemotion.__version__
    assert info["cuda"] == hasattr(_C, "affine_grid_sample_cuda")
    assert bool(info["cuda_archs"]) == info["cuda"]
    if not info["cuda"]:
        with pytest.raises(RuntimeError, match="no CUDA kernels"):
            from deepemotion.ops.affine_grid_sample import _require_cuda
            _require_cuda(_C)
