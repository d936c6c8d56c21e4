"""Facts about the machine, read once (one /proc/cpuinfo parser for the whole package)."""

from __future__ import annotations

import functools
import os
import platform


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> list[dict[str, str]]:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return []
    blocks = []
    for chunk in text.split("\n\n"):
        blk = {}
        for line in chunk.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                blk[k.strip()] = v.strip()
        if blk:
            blocks.append(blk)
    return blocks


def physical_cores() -> int:
    """Physical cores (hyper-threads counted once); os.cpu_count() where /proc/cpuinfo says nothing."""
    pairs = {(b.get("physical id"), b["core id"]) for b in _cpuinfo() if "core id" in b}
    return len(pairs) if pairs else max(1, os.cpu_count() or 1)


def cpu_model() -> str:
    for b in _cpuinfo():
        if "model name" in b:
            return b["model name"]
    return platform.processor() or platform.machine()
