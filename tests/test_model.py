"""DeepEmotion family: shapes, the STN, determinism, in-graph TTA, the loss of paper eq. (1), size."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from deepemotion.labels import CLASSES  # noqa: E402
from deepemotion.model import ARCHS, PAPER, DeepEmotion, DeepEmotionConfig, arch_config, count_flops, count_parameters  # noqa: E402


def test_forward_shape_and_classes():
    m = DeepEmotion().eval()
    out = m(torch.randn(5, 1, 48, 48))
    assert out.shape == (5, 7)
    assert CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_every_arch_runs_and_keeps_one_stn(name):
    m = DeepEmotion(ARCHS[name]).eval()
    assert m(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    samplers = [mod for mod in m.modules() if type(mod).__name__ == "Linear" and mod.out_features == 6]
    assert len(samplers) == 1  # one theta regressor -> one affine-grid-sample


def test_arch_names_of_the_cli_are_the_models():
    from deepemotion.cli.train import ARCH_NAMES

    assert sorted(ARCH_NAMES) == sorted(ARCHS)


def test_tiny_fast_samples_a_24_pixel_face_at_a_fifth_of_the_tiny_flops():
    torch.manual_seed(0)
    fast, tiny = DeepEmotion(ARCHS["tiny-fast"]).eval(), DeepEmotion(replace(ARCHS["tiny"], tta_flip=True))
    x = torch.randn(3, 1, 48, 48)
    warped = fast.stn(x)
    assert warped.shape == (3, 1, 24, 24)
    # identity theta: the 24x24 grid's samples sit between the 48x48 pixels, each the mean of a 2x2 block
    torch.testing.assert_close(warped, torch.nn.functional.avg_pool2d(x, 2), atol=1e-5, rtol=1e-5)
    assert count_flops(fast)["flops"] * 4 < count_flops(tiny)["flops"]
    assert count_flops(fast)["sampling_macs"] == 4 * 24 * 24


def test_budgets_of_the_bundled_families():
    base, tiny = DeepEmotion(ARCHS["base"]), DeepEmotion(ARCHS["tiny"])
    assert count_parameters(base) <= 2_500_000 and count_flops(base)["flops"] <= 200e6
    assert count_parameters(tiny) <= 100_000


def test_stn_starts_at_identity_and_leaves_input_unchanged():
    torch.manual_seed(0)
    m = DeepEmotion().eval()
    x = torch.randn(3, 1, 48, 48)
    theta = m.theta(x)
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(3, 2, 3)
    assert torch.equal(theta, eye)
    torch.testing.assert_close(m.stn(x), x, atol=1e-5, rtol=1e-5)


def test_stn_is_trainable():
    """The localization net receives gradients through the sampler (theta is not stuck)."""
    torch.manual_seed(0)
    m = DeepEmotion(ARCHS["tiny"])
    x = torch.randn(8, 1, 48, 48)
    m.loss(m(x), torch.arange(8) % 7).backward()
    assert m.fc_loc[2].weight.grad.abs().sum() > 0


def test_eval_is_deterministic_and_train_uses_dropout():
    torch.manual_seed(0)
    m = DeepEmotion(replace(PAPER, dropout=0.5))
    x = torch.randn(4, 1, 48, 48)
    m.eval()
    with torch.no_grad():
        a, b = m(x), m(x)
    assert torch.equal(a, b)
    m.train()
    with torch.no_grad():
        c, d = m(x), m(x)
    assert not torch.equal(c, d)


def test_tta_flip_averages_the_mirror_image_in_eval_only():
    torch.manual_seed(0)
    plain = DeepEmotion(ARCHS["tiny"]).eval()
    tta = DeepEmotion(replace(ARCHS["tiny"], tta_flip=True)).eval()
    tta.load_state_dict(plain.state_dict())
    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        want = 0.5 * (plain(x) + plain(torch.flip(x, dims=[3])))
        torch.testing.assert_close(tta(x), want, atol=1e-5, rtol=1e-5)
        # a mirrored face gets the same answer
        torch.testing.assert_close(tta(torch.flip(x, dims=[3])), tta(x), atol=1e-5, rtol=1e-5)
    assert count_flops(tta)["flops"] == 2 * count_flops(plain)["flops"]


def test_loss_is_cross_entropy_plus_fc_l2():
    torch.manual_seed(0)
    m = DeepEmotion()
    logits = torch.randn(6, 7)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    ce = torch.nn.functional.cross_entropy(logits, y)
    l2 = m.fc1.weight.pow(2).sum() + m.fc2.weight.pow(2).sum()
    torch.testing.assert_close(m.loss(logits, y, l2=0.01), ce + 0.01 * l2)
    torch.testing.assert_close(m.loss(logits, y, l2=0.0), ce)
    # only the two FC layers count: conv weights do not enter the penalty
    with torch.no_grad():
        m.features[0][0].weight.mul_(100)
    torch.testing.assert_close(m.loss(logits, y, l2=0.01), ce + 0.01 * l2)


def test_paper_size_and_flops():
    m = DeepEmotion(PAPER)
    flops = count_flops(m)
    # the paper's network: 10 channels -> 66,857 parameters
    assert count_parameters(m) == 66_857
    assert flops["flops"] == 2 * flops["macs"]
    conv_feat = 46 * 46 * 9 * 10 + 44 * 44 * 90 * 10 + 20 * 20 * 90 * 10 + 18 * 18 * 90 * 10
    conv_loc = 42 * 42 * 49 * 8 + 17 * 17 * 200 * 10
    assert flops["conv_macs"] == conv_feat + conv_loc
    assert flops["linear_macs"] == 640 * 32 + 32 * 6 + 810 * 50 + 50 * 7


def test_config_round_trip_and_legacy_width():
    cfg = arch_config("small", hidden=64)
    m = DeepEmotion(cfg)
    m2 = DeepEmotion(DeepEmotionConfig.from_dict(m.config.to_dict()))
    m2.load_state_dict(m.state_dict())
    assert m2.config == m.config
    legacy = DeepEmotionConfig.from_dict({"width": 32, "hidden": 128, "batch_norm": True})
    assert legacy.widths == (32, 32) and legacy.depths == (2, 2)
    with pytest.raises(ValueError, match="unknown keys"):
        DeepEmotionConfig.from_dict({"widths": [8], "depths": [1], "colour": 3})


@pytest.mark.parametrize("shape", [(2, 3, 48, 48), (2, 1, 32, 32), (1, 48, 48)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, 1, 48, 48\)"):
        DeepEmotion()(torch.zeros(shape))


@pytest.mark.parametrize(
    "kw",
    [
        {"widths": (0, 10)},
        {"hidden": -1},
        {"dropout": 1.0},
        {"widths": (8,)},
        {"padding": 2},
        {"widths": (8,) * 6, "depths": (2,) * 6},
    ],
)
def test_bad_configs(kw):
    with pytest.raises(ValueError):
        DeepEmotionConfig(**kw)


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture"):
        arch_config("huge")
