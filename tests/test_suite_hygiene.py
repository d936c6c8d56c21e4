"""The test suite itself: it leaves nothing in the system's temporary folder (tests/conftest.py gives the session a
private one and fails the session when something is left in it), and the names the docs use exist."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_session(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run one test file with body ``body`` under this suite's conftest, with its own system temporary folder;
    returns the result and what that folder holds afterwards."""
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    test = tmp_path / "test_one.py"
    test.write_text("import tempfile\n\n\ndef test_one():\n" + body)
    env = {**os.environ, "TMPDIR": str(system_tmp), "PYTEST_DEBUG_TEMPROOT": str(tmp_path / "pytest-temp")}
    (tmp_path / "pytest-temp").mkdir()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        "-p",
        "conftest",
        str(test),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    return r, sorted(p.name for p in system_tmp.iterdir())


def test_a_session_that_leaves_a_temporary_folder_fails_and_names_it(tmp_path):
    r, left = _run_session(tmp_path, "    tempfile.mkdtemp(prefix='left-behind-')\n")
    assert r.returncode == pytest.ExitCode.TESTS_FAILED, r.stdout + r.stderr
    assert "left-behind-" in r.stderr
    assert left == []  # and it is removed, with the session's download cache


def test_a_clean_session_passes_and_leaves_nothing(tmp_path):
    r, left = _run_session(tmp_path, "    import shutil\n    shutil.rmtree(tempfile.mkdtemp())\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert left == []


_NAME = re.compile(r"(?<![\w/.-])deepemotion(?:\.[A-Za-z_]\w*)+")
_FROM = re.compile(r"from (deepemotion(?:\.\w+)*) import \(?([\w ,]+)")


def names_in(text: str) -> set[str]:
    """Every ``deepemotion.X[.Y...]`` written in ``text``, and every name of a ``from deepemotion... import a, b``."""
    found = set(_NAME.findall(text))
    for module, names in _FROM.findall(text):
        found.update(f"{module}.{n.strip()}" for n in names.split(",") if n.strip())
    return found


def docstrings(root: Path) -> dict[str, str]:
    """file: every docstring of the package's modules, classes and functions, joined."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        tree = ast.parse(f.read_text())
        docs = [
            ast.get_docstring(n, clean=False)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        out[str(f.relative_to(root.parent))] = "\n".join(d for d in docs if d)
    return out


def resolve(name: str) -> object:
    """The object ``name`` (dotted) names: the longest importable module, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name is not None and not ".".join(parts[:cut]).startswith(exc.name):
                raise  # the module exists but needs something missing: say so
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


def test_names_the_readme_and_docstrings_use_exist():
    """``deepemotion.DETECTORS`` was named in the README and Recognizer's docstring but raised AttributeError."""
    import deepemotion

    sources = {"README.md": (ROOT / "README.md").read_text(), **docstrings(ROOT / "python" / "deepemotion")}
    optional = {"_trt": deepemotion.build_info()["tensorrt"]}  # built only where TensorRT was found
    missing = []
    for where, text in sources.items():
        for name in sorted(names_in(text)):
            if not optional.get(name.split(".")[1], True):
                continue
            try:
                resolve(name)
            except (ImportError, AttributeError) as exc:
                missing.append(f"{where}: {name} ({type(exc).__name__}: {exc})")
    assert not missing, "\n".join(missing)
    assert "deepemotion.DETECTORS" in names_in(sources["README.md"])  # the scan reads what it should


def test_the_name_scan_finds_prose_code_and_imports():
    text = (
        "Use `deepemotion.DETECTORS`; deepemotion.runtime.detect.create_detector(...).\n"
        "from deepemotion import Recognizer, Face\nfrom deepemotion.files import (OutputPlan,\n"
        "pip install deepemotion. Not: libdeepemotion.so, python/deepemotion.py"
    )
    assert names_in(text) == {
        "deepemotion.DETECTORS",
        "deepemotion.runtime.detect.create_detector",
        "deepemotion.Recognizer",
        "deepemotion.Face",
        "deepemotion.files",
        "deepemotion.files.OutputPlan",
    }
    with pytest.raises(AttributeError):
        resolve("deepemotion.NOT_A_NAME")


def test_the_tools_the_docs_name_exist():
    """docs/architecture.md cited a cuda_arch_check.sh, which does not exist."""
    cited = {
        (doc.name, m)
        for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
        for m in re.findall(r"(?<![\w/.])(?:tools|scripts|references)/[\w./-]+\.(?:sh|py)\b", doc.read_text())
    }
    assert ("architecture.md", "scripts/ci/cross_checks.sh") in cited  # the scan reads what it should
    assert not [c for c in sorted(cited) if not (ROOT / c[1]).is_file()]


#: files whose install lines are not checked yet (none: every file is)
NOT_YET: tuple[str, ...] = ()
_PIP_LINE = re.compile(r"pip3? install ([^\n`|&;)]*)")


def unpublished_installs(text: str) -> list[str]:
    """``pip install`` commands in ``text`` that ask the index for deepemotion (``deepemotion``, ``"deepemotion[x]"``),
    which is not published: they fail on a fresh machine."""
    bad = []
    for m in _PIP_LINE.finditer(text):
        command = re.split(r"#| (?:in|or|then|and|from|with) ", m.group(1))[0]  # prose after the command
        tokens = [t.strip("\"'\\") for t in command.split()]
        if any(t == "deepemotion" or t.startswith("deepemotion[") for t in tokens):
            bad.append(m.group(0).strip())
    return bad


def test_install_lines_work_without_a_published_package():
    """`pip install deepemotion` / "deepemotion[serve]" ... appeared in the README, docs/jetson.md, export/jetson and
    the tools' hints, and fail on a fresh machine: deepemotion installs from the clone, a wheel or a git URL."""
    files = [
        ROOT / "README.md",
        ROOT / "constraints.txt",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted(p for p in (ROOT / "export").rglob("*") if p.is_file()),
        *sorted((ROOT / "python" / "deepemotion").rglob("*.py")),
    ]
    found = [
        f"{p.relative_to(ROOT)}: {line}"
        for p in files
        if not str(p.relative_to(ROOT)).startswith(NOT_YET)
        for line in unpublished_installs(p.read_text())
    ]
    assert not found, "\n".join(found)
    assert unpublished_installs('pip install "deepemotion[serve]" && x; pip install -U deepemotion  # no') == [
        'pip install "deepemotion[serve]"',
        "pip install -U deepemotion  # no",
    ]
    assert (
        unpublished_installs('pip install ".[serve]"; pip install dist/deepemotion-*.whl in the clone of deepemotion')
        == []
    )


def test_the_test_command_gets_pytorch_s_cpu_build_anywhere():
    """constraints.txt pinned torch==2.13.0, which PyPI serves as the CUDA build: the pin names the CPU build, and
    the README's test command adds the index that has it."""
    pins = [ln.split("#")[0].strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()]
    torch_pin = next(p for p in pins if p.startswith("torch=="))
    assert torch_pin.endswith("+cpu"), torch_pin
    readme = (ROOT / "README.md").read_text()
    command = next(ln for ln in readme.splitlines() if "python -m pytest" in ln and ln.startswith("python3 -m venv"))
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in command and "-c constraints.txt" in command
