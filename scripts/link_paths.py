"""Every repository path named in the docs is a link: `` `scripts/device/gpu_run.sh` `` becomes
``[`scripts/device/gpu_run.sh`](../scripts/device/gpu_run.sh)`` (relative to the page, so GitHub follows it; the docs
site's hook
checks it).

    python scripts/link_paths.py            # rewrite README.md, CONTRIBUTING.md, CHANGELOG.md and docs/**/*.md
    python scripts/link_paths.py --check    # exit 1 and list the unlinked paths (tests/test_docs.py runs this)

A code span counts as a path when it names a file or folder that exists in the repository (``docs/results/x.json``,
``references/fer2013/bundle.py``), optionally followed by ``:line``. Code blocks and spans already inside a link are
left alone.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPAN = re.compile(r"(?<![\[`])`([A-Za-z0-9_.][A-Za-z0-9_./-]*/[A-Za-z0-9_./-]*[A-Za-z0-9_/-])(:\d+(?:-\d+)?)?`(?!\]\()")
FENCE = re.compile(r"^\s*(```|~~~)")


def pages() -> list[Path]:
    top = [ROOT / n for n in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")]
    refs = sorted((ROOT / "references").rglob("*.md")) if (ROOT / "references").exists() else []
    return [p for p in top if p.exists()] + sorted((ROOT / "docs").rglob("*.md")) + refs


def _tracked() -> set[str]:
    """Files git tracks and the folders that hold them: only those exist in a clone (an ignored `.gpu/` does not)."""
    import subprocess

    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    folders = {str(Path(f).parents[i]) for f in out for i in range(len(Path(f).parts) - 1)}
    return set(out) | folders


TRACKED: set[str] = set()


def _target(page: Path, text: str) -> str | None:
    """The page-relative link for a repository path named in a code span, or None if it is not one."""
    if not TRACKED:
        TRACKED.update(_tracked())
    for cand in (ROOT / text, page.parent / text):
        try:
            rel = cand.resolve().relative_to(ROOT)
        except ValueError:
            continue
        if str(rel) in TRACKED:
            return os.path.relpath(cand.resolve(), page.parent.resolve())
    return None


def link_line(page: Path, line: str, found: list[str]) -> str:
    def fix(m: re.Match[str]) -> str:
        rel = _target(page, m.group(1))
        if rel is None:
            return m.group(0)
        found.append(m.group(1))
        return f"[`{m.group(1)}{m.group(2) or ''}`]({rel})"

    # spans already inside a link's text ([`x`](y)) are excluded by the pattern's look-arounds
    return SPAN.sub(fix, line)


def process(page: Path) -> tuple[str, list[str]]:
    found: list[str] = []
    out, fenced = [], False
    for line in page.read_text().split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else link_line(page, line, found))
    return "\n".join(out), found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    unlinked = []
    for page in pages():
        text, found = process(page)
        if found and args.check:
            unlinked += [f"{page.relative_to(ROOT)}: `{f}`" for f in found]
        elif found:
            page.write_text(text)
            print(f"{page.relative_to(ROOT)}: {len(found)} path(s) linked")
    if unlinked:
        print(
            "link_paths: paths named without a link (run python scripts/link_paths.py):\n  " + "\n  ".join(unlinked),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
