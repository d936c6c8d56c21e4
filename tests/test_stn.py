"""A constant STN (deepemotion.export.stn): the interval bound is sound, a localization net that provably gives one θ
is replaced by that θ in every graph with the same logits, and freezing happens only when no unit fires."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from deepemotion.export import onnx as exporting  # noqa: E402
from deepemotion.export import stn  # noqa: E402
from deepemotion.model import ARCHS, DeepEmotion, count_flops, describe  # noqa: E402

THETA = [0.95, 0.03, 0.02, -0.01, 1.02, 0.04]


def _x(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _model(dead: bool, arch: str = "tiny", seed: int = 0) -> DeepEmotion:
    """Random weights; ``dead``: every localization hidden unit has a bias far below anything its inputs can add."""
    torch.manual_seed(seed)
    m = DeepEmotion(ARCHS[arch]).eval()
    with torch.no_grad():
        m.fc_loc[2].weight.normal_(0, 0.05)  # θ would depend on the face through any live unit
        m.fc_loc[2].bias.copy_(torch.tensor(THETA))
        if dead:
            m.fc_loc[0].bias.fill_(-1e4)
    return m


def _ort(graph: bytes, x: torch.Tensor) -> np.ndarray:
    return ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]


def _sampler_inputs_from_the_input(graph: bytes) -> bool:
    """Whether any node between the graph input and the STN's grid is a convolution (the localization net)."""
    g = onnx.load_from_string(graph).graph
    before = []
    for n in g.node:
        if n.op_type in ("GridSample", exporting.PLUGIN_OP):
            break
        before.append(n.op_type)
    return "Conv" in before


def test_the_bound_holds_for_faces_and_for_extreme_inputs():
    m = _model(dead=False)
    bound = stn.localization_bounds(m).numpy()
    x = torch.cat([_x(64, seed=1), torch.sign(_x(64, seed=2)), torch.ones(1, 1, 48, 48), -torch.ones(1, 1, 48, 48)])
    peaks, n = stn.localization_peaks(m, [x.numpy()])
    assert n == len(x)
    assert np.all(peaks <= bound + 1e-9)
    assert (bound > 0).any()  # a random localization net is not provably constant ...
    assert stn.constant_theta(m) is None


def test_a_provably_constant_localization_net_becomes_its_theta_in_the_graphs():
    m = _model(dead=True)
    theta = stn.constant_theta(m)
    assert theta is not None
    torch.testing.assert_close(theta.flatten(), torch.tensor(THETA))
    portable = exporting.export_portable(m)
    assert not _sampler_inputs_from_the_input(portable)
    props = {p.key: p.value for p in onnx.load_from_string(portable).metadata_props}
    assert props["stn"].startswith("constant theta [0.95, 0.03")
    x = _x(8, seed=3)
    with torch.no_grad():
        want = m(x).numpy()
    np.testing.assert_allclose(_ort(portable, x), want, rtol=1e-5, atol=1e-5)
    plugin = exporting.to_plugin_graph(portable)  # TensorRT's plugin still gets θ, one per face
    assert not _sampler_inputs_from_the_input(plugin)
    np.testing.assert_allclose(
        exporting.reference_session(plugin).run(None, {"input": x.numpy()})[0], want, rtol=1e-5, atol=1e-5
    )
    half = exporting.export_portable(m, half=True)  # θ stays FP32 in the FP16 graph
    assert not _sampler_inputs_from_the_input(half)


def test_a_live_localization_net_stays_in_the_graph():
    m = _model(dead=False)
    portable = exporting.export_portable(m)
    assert _sampler_inputs_from_the_input(portable)
    props = {p.key: p.value for p in onnx.load_from_string(portable).metadata_props}
    assert props["stn"] == "theta from the localization net, per face"


def test_flip_averaging_model_with_constant_stn_matches_torch():
    from dataclasses import replace

    torch.manual_seed(0)
    m = DeepEmotion(replace(ARCHS["tiny"], tta_flip=True)).eval()
    with torch.no_grad():
        m.fc_loc[2].bias.copy_(torch.tensor(THETA))
        m.fc_loc[0].bias.fill_(-1e4)
    portable = exporting.export_portable(m)
    assert not _sampler_inputs_from_the_input(portable)
    x = _x(5, seed=4)
    with torch.no_grad():
        np.testing.assert_allclose(_ort(portable, x), m(x).numpy(), rtol=1e-5, atol=1e-5)


def test_freezing_zeroes_the_units_only_when_none_fires_and_keeps_every_checked_answer():
    # units that never fire on these faces, but whose bound is positive: freezing makes θ provably constant
    m = _model(dead=False, seed=1)
    faces = [_x(32, seed=5).numpy(), _x(16, seed=6).numpy()]
    with torch.no_grad():  # each unit's bias just below what these faces would need to make it fire
        m.fc_loc[0].bias.zero_()
        peaks = torch.from_numpy(stn.localization_peaks(m, faces)[0]).float()
        m.fc_loc[0].bias.copy_(torch.clamp(-peaks - 0.01, max=-0.01))
    assert stn.constant_theta(m) is None  # not provable from the weights: the freeze is what makes it so
    with torch.no_grad():
        before = torch.cat([m(torch.from_numpy(f)) for f in faces])
    report = stn.freeze_localization(m, iter(faces))
    assert report["frozen"] and report["faces_checked"] == 48 and report["units_firing"] == 0
    assert report["largest_pre_activation"] < 0  # the true pre-activations, not clipped by the in-place ReLU after them
    assert torch.count_nonzero(m.fc_loc[0].weight) == 0
    assert stn.constant_theta(m) is not None
    with torch.no_grad():
        after = torch.cat([m(torch.from_numpy(f)) for f in faces])
    torch.testing.assert_close(after, before, rtol=0, atol=0)

    # one unit fires on some face: nothing changes
    live = _model(dead=False, seed=2)
    with torch.no_grad():
        live.fc_loc[0].bias[7] = 50.0
    weights = live.fc_loc[0].weight.detach().clone()
    report = stn.freeze_localization(live, [_x(8).numpy()])
    assert not report["frozen"] and report["units_firing"] >= 1
    torch.testing.assert_close(live.fc_loc[0].weight, weights, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no faces"):
        stn.freeze_localization(live, [])


def test_graph_flops_leave_out_a_constant_localization_net():
    m = _model(dead=True)
    whole, graph = count_flops(m), count_flops(m, constant_stn=True)
    loc_macs = 0
    with torch.no_grad():  # the localization net's MACs, counted by hand: conv7, conv5, two Linear layers
        h = m.localization[0](torch.zeros(1, 1, 48, 48))
        loc_macs += h.numel() * 49
        h2 = m.localization[3](m.localization[2](m.localization[1](h)))
        loc_macs += h2.numel() * 25 * m.localization[3].in_channels
    loc_macs += m.fc_loc[0].in_features * m.fc_loc[0].out_features + m.fc_loc[2].in_features * 6
    assert whole["macs"] - graph["macs"] == loc_macs
    d = describe(m, constant_stn=True)
    assert (
        d["parameters"]
        == describe(m)["parameters"]
        - sum(p.numel() for p in m.localization.parameters())
        - sum(p.numel() for p in m.fc_loc.parameters())
        + 6
    )
