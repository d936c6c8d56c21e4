"""ruff (configured in pyproject.toml) over the package, tests, scripts, references and examples -- its checks and
its formatting -- and the function-length limit: part of the test run, so CI and the README's test command lint
too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


LINTED = ("python", "tests", "scripts", "references", "examples", "noxfile.py")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_is_clean(command):
    """`ruff check` finds nothing and `ruff format` would change nothing (run `ruff format .` to apply it)."""
    pytest.importorskip("ruff")
    r = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", *LINTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr


MAX_FUNCTION_LINES = 60


def test_no_function_over_60_lines():
    """Every function and method in python/, scripts/ and references/ fits in 60 lines (from its def to its last line,
    decorators excluded): longer ones hide their stages; split them into named ones."""
    import ast

    long = []
    for folder in ("python", "scripts", "references"):
        for f in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        long.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)
