"""deepemotion.files: the one temp-and-rename (PendingFile, atomic_write) and what the tools write with it."""

from __future__ import annotations

import os
import stat

import pytest

from _helpers import run_cli


def test_pending_file_replaces_the_target_only_on_commit(tmp_path):
    from deepemotion.files import PendingFile

    target = tmp_path / "metrics.csv"
    target.write_text("old")
    pending = PendingFile(target)
    assert pending.tmp.parent == tmp_path and pending.tmp.name.startswith(".metrics.csv.")
    assert pending.tmp.name.endswith(".partial.csv")  # the target's suffix last: OpenCV and numpy read it
    pending.tmp.write_text("new")
    assert target.read_text() == "old"
    assert pending.commit() == target
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_pending_file_left_by_an_exception_leaves_the_target_and_no_temporary_file(tmp_path):
    from deepemotion.files import PendingFile

    target = tmp_path / "best.pt"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), PendingFile(target) as pending:
        pending.tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]
    with PendingFile(target, suffix=".part") as pending:
        assert pending.tmp.name.endswith(".part")
        pending.tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    from deepemotion.files import atomic_write

    target = tmp_path / "plot.png"
    target.write_bytes(b"old")

    def fails(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fails)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_a_committed_file_gets_the_mode_of_a_normal_file(tmp_path, monkeypatch):
    from deepemotion import files
    from deepemotion.files import PendingFile, atomic_write_bytes

    monkeypatch.setattr(files, "_UMASK", None)  # the umask is read once per process: read it again under ours
    old = os.umask(0o027)
    try:
        with PendingFile(tmp_path / "a.json") as pending:
            pending.tmp.write_text("{}")
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
        (tmp_path / "a.json").chmod(0o600)
        atomic_write_bytes(tmp_path / "a.json", b"[]")  # replacing a file: the mode of a new one, not the old one's
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)


# --- the tools' files -------------------------------------------------------------------------------------------
def test_written_files_get_the_mode_of_a_normal_file(tmp_path):
    from deepemotion.files import atomic_write_bytes

    old = os.umask(0o022)
    try:
        target = tmp_path / "model.onnx"
        atomic_write_bytes(target, b"1")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
        target.chmod(0o644)
        atomic_write_bytes(target, b"2")  # --overwrite keeps it readable by others
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(old)
    r = run_cli("predict", "--example", "--out", str(tmp_path / "o"), "--json", str(tmp_path / "r.jsonl"))
    assert r.returncode == 0
    for f in (tmp_path / "o" / "astronaut_annotated.jpg", tmp_path / "r.jsonl"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~old, oct(f.stat().st_mode)
