"""The online flow type-checks: mypy over deepemotion/runtime/ and deepemotion/ops/ (the package ships py.typed).

The configuration is pyproject.toml's [tool.mypy]: those two folders, other modules of the package read for their
types but not checked (follow_imports = silent), third-party modules without stubs taken as Any. runtime/backends/
is left out of the run for now: its owner brings it in with the serving work. mypy keeps its cache in the
checkout's .mypy_cache (it writes a .gitignore there): a warm run takes a second or two, a cold one about 15 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_runtime_and_ops_type_check():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install '.[test]'")
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "runtime/backends" not in r.stdout
    checked = int(r.stdout.split(" in ")[-1].split()[0])  # "Success: no issues found in 23 source files"
    assert checked >= 20, r.stdout
