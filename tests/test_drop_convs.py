"""references/fer2013/experiments/drop_convs.py: a shallower copy keeps the first convolution of every stage and
every other weight as they were, and refuses depths the model does not have."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from deepemotion.model import ARCHS, DeepEmotion  # noqa: E402
from deepemotion.training.checkpoint import read_checkpoint, save_checkpoint  # noqa: E402

TOOL = Path(__file__).resolve().parents[1] / "references" / "fer2013" / "experiments" / "drop_convs.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_shallower_copy_keeps_the_first_convolutions_and_the_rest(tmp_path):
    torch.manual_seed(0)
    src = DeepEmotion(ARCHS["base"])
    save_checkpoint(tmp_path / "src.pt", src, {"note": "random weights"})
    out = tmp_path / "lite.pt"
    r = _run("--model", str(tmp_path / "src.pt"), "--depths", "1,1,1,2", "--out", str(out), "--no-check")
    assert r.returncode == 0, r.stderr
    ckpt = read_checkpoint(out)
    assert ckpt["config"]["depths"] == [1, 1, 1, 2] and ckpt["meta"]["depths_from"] == [1, 2, 2, 2]
    old, new = src.state_dict(), ckpt["state_dict"]
    assert len(new) < len(old)
    for key, value in new.items():  # every kept tensor is the original's, under the same name
        torch.testing.assert_close(value, old[key], rtol=0, atol=0)
    assert "features.1.3.weight" in old and "features.1.3.weight" not in new  # stage 2's second conv is gone
    assert "features.3.3.weight" in new  # stage 4 keeps both
    DeepEmotion(ARCHS["base"].__class__.from_dict(ckpt["config"])).load_state_dict(new)  # loads as that member

    again = _run("--model", str(tmp_path / "src.pt"), "--depths", "1,1,1,1", "--out", str(out), "--no-check")
    assert again.returncode != 0 and "exists" in again.stderr
    deeper = _run(
        "--model", str(tmp_path / "src.pt"), "--depths", "1,3,1,1", "--out", str(tmp_path / "x.pt"), "--no-check"
    )
    assert deeper.returncode != 0 and "each from 1 to the model's own" in deeper.stderr
