"""DeepEmotion: shapes, the STN, determinism, the loss of paper eq. (1), size."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from deepemotion.labels import CLASSES
from deepemotion.model import DeepEmotion, DeepEmotionConfig, count_flops, count_parameters


def test_forward_shape_and_classes():
    m = DeepEmotion().eval()
    out = m(torch.randn(5, 1, 48, 48))
    assert out.shape == (5, 7)
    assert CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize("width", [4, 10, 32])
def test_width_changes_size(width):
    m = DeepEmotion(width=width)
    assert m.conv4.out_channels == width if not m.config.batch_norm else True
    assert m.fc1.in_features == width * 81
    assert m(torch.randn(2, 1, 48, 48)).shape == (2, 7)


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
    m = DeepEmotion()
    x = torch.randn(8, 1, 48, 48)
    m.loss(m(x), torch.arange(8) % 7).backward()
    assert m.fc_loc[2].weight.grad.abs().sum() > 0


def test_eval_is_deterministic_and_train_uses_dropout():
    torch.manual_seed(0)
    m = DeepEmotion(dropout=0.5)
    x = torch.randn(4, 1, 48, 48)
    m.eval()
    with torch.no_grad():
        a, b = m(x), m(x)
    assert torch.equal(a, b)
    m.train()
    with torch.no_grad():
        c, d = m(x), m(x)
    assert not torch.equal(c, d)


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
        m.conv1.weight.mul_(100)
    torch.testing.assert_close(m.loss(logits, y, l2=0.01), ce + 0.01 * l2)


def test_default_size_and_flops():
    m = DeepEmotion()
    params = count_parameters(m)
    flops = count_flops(m)
    assert params < 1_000_000
    # paper-size default: 10 channels -> 66,857 parameters
    assert params == 66_857
    assert flops["flops"] == 2 * flops["macs"]
    conv_feat = 46 * 46 * 9 * 10 + 44 * 44 * 90 * 10 + 20 * 20 * 90 * 10 + 18 * 18 * 90 * 10
    conv_loc = 42 * 42 * 49 * 8 + 17 * 17 * 200 * 10
    assert flops["conv_macs"] == conv_feat + conv_loc
    assert flops["linear_macs"] == 640 * 32 + 32 * 6 + 810 * 50 + 50 * 7


def test_config_round_trip():
    m = DeepEmotion(width=16, hidden=64, batch_norm=True)
    cfg = DeepEmotionConfig.from_dict(m.config.to_dict())
    m2 = DeepEmotion.from_config(cfg)
    m2.load_state_dict(m.state_dict())
    assert m2.config == m.config


@pytest.mark.parametrize("shape", [(2, 3, 48, 48), (2, 1, 32, 32), (1, 48, 48)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, 1, 48, 48\)"):
        DeepEmotion()(torch.zeros(shape))


@pytest.mark.parametrize("kw", [{"width": 0}, {"hidden": -1}, {"dropout": 1.0}])
def test_bad_constructor_args(kw):
    with pytest.raises(ValueError):
        DeepEmotion(**kw)
