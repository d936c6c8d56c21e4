"""fer-export triton never loses or follows a file: its staging folder is new and unguessable (a `.r.partial` of
someone else's, or a link to another folder, is left alone), a file name cannot break or extend a config, a file
that is not a deepemotion graph is refused before anything is written, --overwrite replaces only a deepemotion
repository, and the python form refuses GPU instances. No server needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deepemotion.cli.export import main
from deepemotion.runtime.assets import bundled_model
from deepemotion.serving.repository import parse_config


def export(*args: str) -> int:
    return main(["triton", "--no-frames", *args])


def model_copy(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    shutil.copyfile(bundled_model("default").path("onnx"), path)
    return path


def config_of(repo: Path):
    pytest.importorskip("tritonclient.grpc")
    return parse_config((repo / "deepemotion" / "config.pbtxt").read_text())


def test_an_existing_partial_folder_is_left_alone(tmp_path):
    mine = tmp_path / ".r.partial"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    assert export("--out", str(tmp_path / "r")) == 0
    assert (mine / "keep.txt").read_text() == "mine"
    assert (tmp_path / "r" / "deepemotion" / "config.pbtxt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.partial", "r"]  # no staging folder left


def test_a_partial_link_to_another_folder_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    (victim / "deepemotion").mkdir(parents=True)
    (victim / "deepemotion" / "config.pbtxt").write_text("precious")
    (tmp_path / ".r.partial").symlink_to(victim)
    assert export("--out", str(tmp_path / "r")) == 0
    assert (victim / "deepemotion" / "config.pbtxt").read_text() == "precious"
    assert sorted(p.name for p in victim.iterdir()) == ["deepemotion"]


def test_quotes_in_a_file_name_give_a_config_that_parses(tmp_path):
    model = model_copy(tmp_path, 'my "best" model\\1.onnx')
    assert export("--model", str(model), "--out", str(tmp_path / "r")) == 0
    cfg = config_of(tmp_path / "r")
    assert cfg.parameters["deepemotion_model"].string_value == model.name


def test_a_crafted_file_name_cannot_add_to_the_config(tmp_path):
    name = 'x" } } instance_group [ { count: 64 kind: KIND_GPU } ] parameters { key: "y" value: { string_value: "z.onnx'
    model = model_copy(tmp_path, name)
    assert export("--model", str(model), "--out", str(tmp_path / "r")) == 0
    cfg = config_of(tmp_path / "r")
    assert len(cfg.instance_group) == 1 and cfg.instance_group[0].count == 1
    assert set(cfg.parameters) == {"onnx_file", "deepemotion_model", "precision"}
    assert cfg.parameters["deepemotion_model"].string_value == name


@pytest.mark.parametrize("content", ["junk", "yunet"])
def test_a_file_that_is_not_a_deepemotion_graph_is_refused(tmp_path, capsys, content):
    if content == "junk":
        model = tmp_path / "junk.onnx"
        model.write_bytes(b"\x08\x07" + bytes(range(256)) * 20)
    else:
        model = (
            Path(__file__).resolve().parents[1].parent
            / "shared"
            / "models"
            / "yunet"
            / "face_detection_yunet_2023mar.onnx"
        )
        if not model.is_file():
            pytest.skip("no YuNet model beside the checkout")
    assert export("--model", str(model), "--out", str(tmp_path / "r")) == 2
    assert "not a deepemotion model" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".r.")]


def test_overwrite_replaces_a_repository_and_only_a_repository(tmp_path, capsys):
    repo, other = tmp_path / "r", tmp_path / "other"
    assert export("--out", str(repo)) == 0
    (repo / "deepemotion" / "stale.txt").write_text("old")
    assert export("--out", str(repo)) == 2  # exists: refused without --overwrite
    assert export("--out", str(repo), "--overwrite", "--max-batch", "16") == 0
    assert not (repo / "deepemotion" / "stale.txt").exists()
    assert "max_batch_size: 16" in (repo / "deepemotion" / "config.pbtxt").read_text()
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert export("--out", str(other), "--overwrite") == 2
    assert "not a deepemotion model repository" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "r"]


def test_gpu_instances_are_refused_in_the_python_form(tmp_path, capsys):
    assert export("--kind", "gpu", "--out", str(tmp_path / "r")) == 2
    assert "python form runs on the CPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
