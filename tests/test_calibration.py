"""Score calibration (DeepEmotionConfig.score_knots/score_scales, ScoreCalibration): a per-face temperature that never
changes an answer, fitted to make top scores mean what they say, carried by the config and by every graph (the
export tests run a calibrated model through ONNX Runtime, the plugin graph and FP16: tests/test_export.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deepemotion.evaluation.metrics import reliability  # noqa: E402
from deepemotion.model import ARCHS, DeepEmotion, DeepEmotionConfig, ScoreCalibration  # noqa: E402

KNOTS = (1 / 7, 0.6, 1.0)


def test_the_scale_is_piecewise_linear_in_the_top_score_and_flat_beyond_the_knots():
    knots, scales = (0.6, 0.75, 0.9), (1.5, 0.7, 1.2)
    cal = ScoreCalibration(knots, scales)
    p = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)[:, None]
    logits = torch.cat([torch.log(p.clamp(1e-12)), torch.log1p(-p.clamp(max=1 - 1e-12))], 1)  # top score: max(p, 1-p)
    top = torch.softmax(logits, 1).amax(1)
    assert top.min() < knots[0] and top.max() > knots[-1]  # both flat ends are exercised
    want = np.interp(top.numpy(), knots, scales)
    np.testing.assert_allclose(cal.scale(logits)[:, 0].numpy(), want, rtol=1e-12, atol=1e-12)


def test_calibration_never_changes_an_answer_and_gives_probabilities():
    cal = ScoreCalibration(KNOTS, (3.0, 0.4, 2.5))
    z = torch.randn(500, 7, generator=torch.Generator().manual_seed(0)) * 3
    out = cal(z)
    assert torch.equal(out.argmax(1), z.argmax(1))
    p = torch.softmax(out, 1)
    assert torch.allclose(p.sum(1), torch.ones(500)) and not torch.equal(p, torch.softmax(z, 1))


TRUE_SCALES = (0.8, 0.6, 1.5)  # over-confident at mid scores, under-confident at high ones (as the bundles were)


def _miscalibrated(n: int, seed: int):
    """(logits, labels) of a model whose right probabilities are softmax(logits x s(p)), s the piecewise-linear
    scale through (KNOTS, TRUE_SCALES) of the logits' own top score p; labels drawn from those probabilities."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, 7)) * rng.uniform(0.3, 4.0, (n, 1))
    with torch.no_grad():
        true = torch.softmax(ScoreCalibration(KNOTS, TRUE_SCALES)(torch.from_numpy(z)), 1).numpy()
    labels = (rng.random((n, 1)) > np.cumsum(true, 1)).sum(1).clip(0, 6)
    return z, labels


def test_the_fit_finds_the_scales_and_calibrates_faces_it_never_saw():
    z_fit, y_fit = _miscalibrated(30000, 0)
    z_new, y_new = _miscalibrated(30000, 1)
    cal = ScoreCalibration.fit(z_fit, y_fit, knots=KNOTS, smoothness=0.0)
    assert cal.knots == KNOTS
    np.testing.assert_allclose(cal.scales, TRUE_SCALES, atol=0.12)
    before = reliability(torch.softmax(torch.from_numpy(z_new), 1).numpy(), y_new, floor_draws=0)["ece"]
    with torch.no_grad():
        after = reliability(torch.softmax(cal(torch.from_numpy(z_new)), 1).numpy(), y_new, floor_draws=20)
    assert before > 0.04 and after["ece"] < 0.25 * before and after["ece"] < 2 * after["ece_floor"], (before, after)


def test_the_fit_leaves_a_calibrated_model_about_as_it_is():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 1, (20000, 7)) * rng.uniform(0.3, 3.0, (20000, 1))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (rng.random((20000, 1)) > np.cumsum(p, 1)).sum(1).clip(0, 6)
    cal = ScoreCalibration.fit(z, y)  # the shipped knots and smoothness
    assert cal.knots == ScoreCalibration.KNOTS
    np.testing.assert_allclose(cal.scales, 1.0, atol=0.1)


def test_fit_refuses_mismatched_input():
    with pytest.raises(ValueError, match="logits must be"):
        ScoreCalibration.fit(np.zeros((3, 7)), np.zeros(4, np.int64))


def test_config_checks_and_round_trips_the_calibration():
    cfg = replace(ARCHS["tiny"], score_knots=KNOTS, score_scales=(1.1, 0.9, 1.2))
    d = cfg.to_dict()
    assert d["score_knots"] == list(KNOTS) and DeepEmotionConfig.from_dict(d) == cfg
    assert "score_knots" not in ARCHS["tiny"].to_dict()  # uncalibrated configs keep the keys they always had
    for knots, scales in (
        ((0.5,), (1.0,)),
        ((0.6, 0.2), (1, 1)),
        ((0.2, 0.6), (1.0,)),
        ((0.2, 0.6), (1, 0)),
        ((0.2, 1.5), (1, 1)),
    ):
        with pytest.raises(ValueError, match="score_knots"):
            replace(ARCHS["tiny"], score_knots=knots, score_scales=scales)


def test_the_model_applies_it_in_eval_mode_only():
    torch.manual_seed(0)
    plain = DeepEmotion(ARCHS["tiny"])
    cal = DeepEmotion(replace(ARCHS["tiny"], score_knots=KNOTS, score_scales=(3.0, 0.5, 2.0)))
    cal.load_state_dict(plain.state_dict())
    x = torch.rand(6, 1, 48, 48) * 2 - 1
    with torch.no_grad():
        plain.eval(), cal.eval()
        z, zc = plain(x), cal(x)
        assert torch.allclose(zc, cal.calibration(z)) and torch.equal(zc.argmax(1), z.argmax(1))
        assert not torch.allclose(zc, z)
        plain.train(), cal.train()
        torch.manual_seed(1)
        a = plain(x)
        torch.manual_seed(1)
        assert torch.equal(cal(x), a)  # training sees the raw logits


def test_teachers_and_fine_tunes_leave_a_bundles_calibration_behind(tmp_path):
    """A student learns a teacher's raw logits; a fine-tune starts uncalibrated (references/fer2013/bundle.py fits
    anew)."""
    from deepemotion.cli.train import build_parser, make_config
    from deepemotion.training.checkpoint import save_checkpoint
    from deepemotion.training.distill import Teacher

    cfg = replace(ARCHS["tiny"], score_knots=KNOTS, score_scales=(3.0, 0.5, 2.0))
    model = DeepEmotion(cfg).eval()
    path = tmp_path / "cal.pt"
    save_checkpoint(path, model, {"epoch": 1})
    teacher = Teacher([str(path)], torch.device("cpu"))
    assert teacher.models[0].calibration is None
    x = torch.rand(3, 1, 48, 48) * 2 - 1
    with torch.no_grad():
        raw = DeepEmotion(cfg.uncalibrated()).eval()
        raw.load_state_dict(model.state_dict())
        assert torch.allclose(teacher(x), raw(x))
    args = build_parser().parse_args(["--data", "fer2013", "--out", str(tmp_path / "run"), "--init", str(path)])
    assert make_config(args, cfg.to_dict()).model.score_knots == ()


def test_int8_graphs_keep_the_calibration_in_float():
    """The quantizer leaves the calibration's nodes alone: what they read is the logits (one tensor), and the INT8
    graph's probabilities follow the FP32 graph's."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from deepemotion.export.onnx import export_portable
    from deepemotion.export.quantize import quantize_onnx

    torch.manual_seed(0)
    m = DeepEmotion(replace(ARCHS["tiny"], score_knots=KNOTS, score_scales=(3.0, 0.5, 2.0))).eval()
    fp32 = export_portable(m)
    faces = np.random.default_rng(0).integers(0, 256, (128, 48, 48)).astype(np.uint8)
    int8 = quantize_onnx(fp32, faces)
    g = onnx.load_from_string(int8).graph
    cal = [n for n in g.node if "/calibration/" in n.name]
    want = [
        n.op_type
        for n in onnx.load_from_string(fp32).graph.node
        if "/calibration/" in n.name and n.op_type != "Constant"
    ]  # constants become initializers
    assert sorted(n.op_type for n in cal) == sorted(want) and "Softmax" in want
    inside = {o for n in cal for o in n.output}
    outside = {i for n in cal for i in n.input if i and i not in inside and not i.startswith("/calibration/")}
    assert len(outside) == 1  # the logits, read by the Softmax and by the last Mul
    assert g.output[0].name in inside
    x = ((faces[:32].astype(np.float32) / 255 - 0.5) / 0.5)[:, None]
    a, b = (
        ort.InferenceSession(s, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0] for s in (fp32, int8)
    )
    pa, pb = torch.softmax(torch.from_numpy(a), 1), torch.softmax(torch.from_numpy(b), 1)
    assert (pa - pb).abs().max() < 0.1
