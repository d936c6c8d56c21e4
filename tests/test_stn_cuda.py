"""The CUDA affine_grid_sample kernel against PyTorch's grid_sample on the GPU (fp32 and fp16).

Skips with a reason where the build has no CUDA kernels or no GPU is visible.
"""
from __future__ import annotations

import numpy as np
import pytest

import deepemotion
from _helpers import random_theta
from deepemotion import _C

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not deepemotion.build_info()["cuda"], reason="this build has no CUDA kernels"),
    pytest.mark.skipif(not (deepemotion.build_info()["cuda"] and deepemotion.cuda_available()
                            and torch.cuda.is_available()),
                       reason="no CUDA GPU visible (or PyTorch without CUDA)"),
]

from deepemotion.export.reference import affine_grid_sample_reference  # noqa: E402

CASES = [(1, 1, 48, 48, 48, 48), (257, 1, 48, 48, 48, 48), (3, 3, 17, 23, 11, 29), (4, 2, 480, 640, 48, 48)]


def _inputs(rng, shape, dtype):
    n, c, h, w, oh, ow = shape
    x = torch.from_numpy(rng.uniform(0, 1, (n, c, h, w)).astype(np.float32)).cuda().to(dtype)
    th = torch.from_numpy(random_theta(rng, n)).cuda()
    return x, th, oh, ow


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape", CASES, ids=lambda s: "x".join(map(str, s)))
def test_fp32_matches_torch_cuda(rng, shape, align_corners):
    x, th, oh, ow = _inputs(rng, shape, torch.float32)
    got = deepemotion.affine_grid_sample(x, th, (oh, ow), align_corners)
    want = affine_grid_sample_reference(x, th, oh, ow, align_corners)
    torch.cuda.synchronize()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    # and the CPU kernel agrees with the CUDA one
    cpu = _C.affine_grid_sample_cpu(x.cpu().numpy(), th.cpu().numpy(), oh, ow, align_corners)
    np.testing.assert_allclose(got.cpu().numpy(), cpu, atol=2e-6, rtol=0)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape", CASES, ids=lambda s: "x".join(map(str, s)))
def test_fp16_storage_fp32_coordinates(rng, shape, align_corners):
    """fp16 in/out, fp32 coordinate math: within half an fp16 ulp of the fp32 result on the same
    (fp16-rounded) input, and never less accurate than PyTorch's fp16 grid_sample (fp16 grid)."""
    x, th, oh, ow = _inputs(rng, shape, torch.float16)
    got = deepemotion.affine_grid_sample(x, th, (oh, ow), align_corners)
    exact = affine_grid_sample_reference(x.float(), th, oh, ow, align_corners)
    torch_half = affine_grid_sample_reference(x, th, oh, ow, align_corners)
    torch.cuda.synchronize()
    assert got.dtype == torch.float16
    ours = (got.float() - exact).abs().max().item()
    theirs = (torch_half.float() - exact).abs().max().item()
    assert ours <= 5e-4, ours
    assert ours <= theirs + 1e-6, (ours, theirs)


def test_explicit_stream(rng):
    x, th, oh, ow = _inputs(rng, CASES[1], torch.float32)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        got = deepemotion.affine_grid_sample(x, th, (oh, ow))
    s.synchronize()
    torch.testing.assert_close(got, affine_grid_sample_reference(x, th, oh, ow), atol=1e-5, rtol=0)


def test_empty_batch():
    x = torch.zeros(0, 1, 48, 48, device="cuda")
    out = deepemotion.affine_grid_sample(x, torch.zeros(0, 2, 3, device="cuda"), 48)
    assert out.shape == (0, 1, 48, 48)


def test_bad_cuda_inputs():
    x = torch.zeros(2, 1, 8, 8, device="cuda")
    th = torch.zeros(2, 2, 3, device="cuda")
    out = torch.zeros(2, 1, 8, 8, device="cuda")
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.affine_grid_sample_cuda(torch.zeros(2, 1, 8, 16, device="cuda")[..., ::2], th, out)
    with pytest.raises(TypeError, match="float32 or float16"):
        _C.affine_grid_sample_cuda(x.double(), th, out)
    with pytest.raises(TypeError, match="theta must be float32"):
        _C.affine_grid_sample_cuda(x, th.half(), out)
    with pytest.raises(TypeError, match="must equal input dtype"):
        _C.affine_grid_sample_cuda(x, th, out.half())
    with pytest.raises(ValueError, match="3 matrices but input has N=2"):
        _C.affine_grid_sample_cuda(x, torch.zeros(3, 2, 3, device="cuda"), out)
    with pytest.raises(ValueError, match="does not match"):
        _C.affine_grid_sample_cuda(x, th, torch.zeros(2, 3, 8, 8, device="cuda"))
    with pytest.raises(TypeError, match="__cuda_array_interface__"):
        _C.affine_grid_sample_cuda(x.cpu().numpy(), th, out)
    with pytest.raises(ValueError, match="positive"):
        _C.affine_grid_sample_cuda(x, th, torch.zeros(2, 1, 0, 8, device="cuda"))


def test_cupy_arrays(rng):
    cupy = pytest.importorskip("cupy")
    x = rng.uniform(0, 1, (3, 1, 48, 48)).astype(np.float32)
    th = random_theta(rng, 3)
    got = deepemotion.affine_grid_sample(cupy.asarray(x), cupy.asarray(th), 48)
    np.testing.assert_allclose(cupy.asnumpy(got), _C.affine_grid_sample_cpu(x, th, 48, 48), atol=2e-6)
