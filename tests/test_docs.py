"""The front door: the README stays short and its links resolve, the docs site's pages exist, every repository path
a page names is a link, the model cards match the bundles' metadata, no page cites a tracker issue or a machine's
own paths, and the README's test command is the one CI runs (through noxfile.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = [ROOT / n for n in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]


def pages() -> list[Path]:
    return TOP + sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "references").rglob("*.md"))


def relative_links(text: str) -> list[str]:
    """Targets of the markdown links and images in ``text`` that point into the repository."""
    code = re.sub(r"```.*?```", "", text, flags=re.S)
    return [
        t.split("#")[0]
        for t in re.findall(r"\]\(([^)\s]+)\)", code)
        if "://" not in t and not t.startswith(("#", "mailto:"))
    ]


def in_a_clone(path: Path) -> bool:
    """Whether ``path`` exists in a fresh clone: tracked by git, or a folder holding tracked files (an ignored
    local folder such as .gpu/ does not count)."""
    r = subprocess.run(["git", "ls-files", "--", str(path)], cwd=ROOT, capture_output=True, text=True)
    return bool(r.stdout.strip()) if r.returncode == 0 else path.exists()


def test_readme_is_short_and_every_link_resolves():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for page in pages():
        missing = [t for t in relative_links(page.read_text()) if t and not in_a_clone((page.parent / t).resolve())]
        assert not missing, f"{page.relative_to(ROOT)}: dead links {missing}"
    assert relative_links("[a](docs/x.md#y) ![b](p.png) [c](https://e.org) ```\n[d](no.md)\n```") == [
        "docs/x.md",
        "p.png",
    ]


def test_every_page_of_the_site_exists():
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert "index.md" in nav and "models/default.md" in nav and len(nav) > 20
    assert not [p for p in nav if not (ROOT / "docs" / p).is_file()]


def test_the_model_cards_match_the_bundles():
    r = subprocess.run([sys.executable, "scripts/model_cards.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    card = (ROOT / "docs" / "models" / "default.md").read_text()
    assert "EU AI Act" in card and "Article 5(1)(f)" in card and "69.91%" in card


def test_every_path_a_page_names_is_a_link():
    r = subprocess.run([sys.executable, "scripts/link_paths.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_link_paths_links_only_real_paths(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import link_paths
    finally:
        sys.path.pop(0)
    page = ROOT / "docs" / "x.md"
    found: list[str] = []
    line = "see `scripts/device/gpu_run.sh`, `docs/gpu.md:12`, `no/such/file.py` and [`CHANGELOG.md`](../CHANGELOG.md)"
    out = link_paths.link_line(page, line, found)
    assert "[`scripts/device/gpu_run.sh`](../scripts/device/gpu_run.sh)" in out
    assert (
        "[`docs/gpu.md:12`](gpu.md)" in out
        and "`no/such/file.py`" in out
        and found == ["scripts/device/gpu_run.sh", "docs/gpu.md"]
    )


ISSUE = re.compile(r"\b[Ii]ssue\s*#?\d+|tracker issue")
MACHINE = re.compile(r"(?<![\w.$])/(?:work|root|home/\w+)/")


@pytest.mark.parametrize("pattern", [ISSUE, MACHINE], ids=["tracker issues", "machine paths"])
def test_no_page_cites_tracker_issues_or_machine_paths(pattern):
    hits = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()[:90]}"
        for p in pages()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "\n".join(hits)
    assert ISSUE.search("as issue #22 asked") and MACHINE.search("in /work/runs/x") and not MACHINE.search("$WORK/x")


def test_the_readme_test_command_is_the_one_ci_runs():
    """CI runs `nox --no-venv -s ci`, whose install step is the README's test command's (one constant in noxfile.py)."""
    readme = (ROOT / "README.md").read_text()
    command = next(ln for ln in readme.splitlines() if ln.startswith("python3 -m venv") and "pytest" in ln)
    nox_src = (ROOT / "noxfile.py").read_text()
    install = re.search(r"INSTALL = \((.*?)\)", nox_src, flags=re.S).group(1)
    args = re.findall(r'"([^"]+)"', install)
    assert args and " ".join(args).replace("{target}", ".[train,export,bench,test,serve]") in command.replace('"', "")
    server = re.findall(r'"([^"]+)"', re.search(r"SERVER = \((.*?)\)", nox_src, flags=re.S).group(1))
    assert f"pip install {' '.join(server)}" in command.replace('"', "")
    assert "nox --no-venv -s ci" in (ROOT / ".ci" / "run").read_text()
