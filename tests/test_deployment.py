"""What of the deployment can be checked without Docker or a GPU: every generated config.pbtxt parses with Triton's
own protobuf schema (tritonclient's model_config_pb2) and its inputs and outputs are the ONNX graph's; the
deployment files in export/ parse as YAML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepemotion import Recognizer
from deepemotion.serving.repository import FORMS, RepositoryOptions, parse_config, write_repository

pytest.importorskip("tritonclient.grpc")
ROOT = Path(__file__).resolve().parents[1]
TRITON_TYPES = {"TYPE_UINT8": "tensor(uint8)", "TYPE_FP32": "tensor(float)"}


@pytest.mark.parametrize("form", FORMS)
def test_repository_configs_parse_with_tritons_schema_and_match_the_graph(tmp_path, form):
    if form != "python":
        pytest.importorskip("onnx")
    import onnxruntime as ort
    from tritonclient.grpc import model_config_pb2 as pb

    info = write_repository(tmp_path / "repo", RepositoryOptions(form=form, max_batch=32, instances=2))
    root = tmp_path / "repo"
    configs = sorted(root.glob("*/config.pbtxt"))
    assert [c.parent.name for c in configs] == (
        ["deepemotion", "deepemotion_frames"] if form == "python" else ["deepemotion"]
    )
    cfg = parse_config((root / "deepemotion" / "config.pbtxt").read_text())
    assert cfg.name == "deepemotion" and cfg.max_batch_size == 32
    assert [(i.name, pb.DataType.Name(i.data_type), list(i.dims)) for i in cfg.input] == [
        ("faces", "TYPE_UINT8", [48, 48])
    ] + ([("normalised", "TYPE_FP32", [1, 48, 48])] if form == "python" else [])  # the python form's float input
    assert [(o.name, pb.DataType.Name(o.data_type), list(o.dims)) for o in cfg.output] == [("probs", "TYPE_FP32", [7])]
    assert cfg.instance_group[0].count == 2 and cfg.dynamic_batching.max_queue_delay_microseconds == 2000
    assert (cfg.backend, cfg.platform) == {
        "python": ("python", ""),
        "onnx": ("", "onnxruntime_onnx"),
        "tensorrt": ("", "tensorrt_plan"),
    }[form]
    if form == "python":
        frames = parse_config((root / "deepemotion_frames" / "config.pbtxt").read_text())
        assert frames.max_batch_size == 0 and [o.name for o in frames.output] == ["boxes", "probs"]
        return
    graph = root / "deepemotion" / ("1/model.onnx" if form == "onnx" else "model.uint8.onnx")
    sess = ort.InferenceSession(graph.read_bytes(), providers=["CPUExecutionProvider"])
    (i,), (o,) = sess.get_inputs(), sess.get_outputs()
    assert (i.name, i.type, i.shape[1:]) == ("faces", TRITON_TYPES["TYPE_UINT8"], [48, 48])
    assert (o.name, o.type, o.shape[1:]) == ("probs", TRITON_TYPES["TYPE_FP32"], [7])
    p = sess.run(None, {"faces": np.zeros((3, 48, 48), np.uint8)})[0]
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)  # probabilities, softmax inside
    # the graph normalises as predict_faces does: the served answer is the local one (INT8 rounds its input, so a
    # different order of the same arithmetic would show here)
    faces = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    backend = "onnxruntime-int8" if info["precision"] == "int8" else "onnxruntime"
    local = np.stack([f.probs for f in Recognizer(detector=None, backend=backend).predict_faces(faces)])
    np.testing.assert_allclose(sess.run(None, {"faces": faces})[0], local, atol=1e-5)
    if form == "tensorrt":
        assert (root / "deepemotion" / "build_plan.sh").stat().st_mode & 0o111
        assert "fer-export engine" in (root / "deepemotion" / "build_plan.sh").read_text()
    assert info["precision"] in ("int8", "fp32")


def test_a_broken_config_is_refused():
    with pytest.raises(ValueError, match="does not parse"):
        parse_config('name: "x"\nmax_batch_size: "many"\n')


def test_the_repository_folder_is_never_overwritten(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        write_repository(tmp_path / "repo", RepositoryOptions())
    assert (tmp_path / "repo" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("path", sorted((ROOT / "export").rglob("*.yaml")), ids=lambda p: str(p.relative_to(ROOT)))
def test_deployment_files_parse(path):
    yaml = pytest.importorskip("yaml")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs
    if path.name == "kubernetes.yaml":
        assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
        ports = {p["containerPort"] for p in docs[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert ports == {8000, 8001, 8002}
    else:
        assert "deepemotion" in docs[0]["services"]
