"""mkdocs hooks: links from the docs to the repository's own files (code, tools, references) outside docs/.

GitHub follows a relative link such as ``[scripts/device/gpu_run.sh](../scripts/device/gpu_run.sh)`` from a page in
docs/; mkdocs,
which builds only docs/, would call it a dead link. This hook checks that every such target exists in the
repository (a missing one fails the build, as ``mkdocs build --strict`` fails on dead links inside docs/) and
points it at the repository browser when ``repo_url`` is set, or shows it as code otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)(#[^)\s]*)?\)")


def _in_a_clone(repo: Path, path: Path) -> bool:
    """Tracked by git (or a folder of tracked files): an ignored local file would be a dead link in a clone."""
    import subprocess

    r = subprocess.run(["git", "ls-files", "--", str(path)], cwd=repo, capture_output=True, text=True)
    return bool(r.stdout.strip()) if r.returncode == 0 else path.exists()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    repo = docs.parent
    src = (docs / page.file.src_path).parent
    base = (config.get("repo_url") or "").rstrip("/")
    missing: list[str] = []

    def fix(m: re.Match[str]) -> str:
        text, target, anchor = m.group(1), m.group(2), m.group(3) or ""
        if "://" in target or target.startswith(("mailto:", "/")):
            return m.group(0)
        path = (src / target).resolve()
        if path == docs or docs in path.parents:
            return m.group(0)  # inside docs/: mkdocs checks it
        if repo not in path.parents and path != repo:
            missing.append(f"{target} (outside the repository)")
            return m.group(0)
        if not _in_a_clone(repo, path):
            missing.append(target)
            return m.group(0)
        rel = path.relative_to(repo).as_posix()
        if base:
            kind = "tree" if path.is_dir() else "blob"
            return f"[{text}]({base}/{kind}/main/{rel}{anchor})"
        return text if text.startswith("`") else f"`{text}`"

    out = LINK.sub(fix, markdown)
    if missing:
        raise PluginError(f"{page.file.src_path}: links to repository files that do not exist: {', '.join(missing)}")
    return out
