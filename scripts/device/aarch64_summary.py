"""The JSON summary of an aarch64 rehearsal (called by scripts/device/aarch64_check.sh; not installed).

    python scripts/device/aarch64_summary.py --log LOGDIR --json OUT --example TEXT --pytest-rc N --seconds k=v ...
    --tests T

Reads LOGDIR/versions.json, LOGDIR/junit.xml (pytest) and LOGDIR/bench.json (fer-bench), and writes one JSON with
the versions, build_info(), the build and test times, the test counts (and every failure's name and message),
the example's output and the emulated benchmark, labelled as emulated.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def test_counts(junit: Path) -> dict:
    if not junit.is_file():
        return {"error": "no junit.xml: pytest did not run"}
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    problems, skips = [], {}
    for case in suite.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        for kind in ("failure", "error"):
            el = case.find(kind)
            if el is not None:
                problems.append({"test": name, kind: (el.get("message") or "")[:500]})
        el = case.find("skipped")
        if el is not None:
            reason = (el.get("message") or "")[:160]
            skips[reason] = skips.get(reason, 0) + 1
    counts["problems"] = problems
    counts["skip_reasons"] = skips
    return counts


def bench_rows(path: Path) -> dict | None:
    if not path.is_file():
        return None
    b = json.loads(path.read_text())
    rows = [{k: r.get(k) for k in ("backend", "batch", "p50_ms", "faces_per_s") if k in r} for r in b.get("rows", [])]
    return {
        "note": "measured under qemu user emulation on an x86 host: shows that the aarch64 code paths run "
        "(ONNX Runtime's ARM kernels, INT8 included); not a Jetson figure",
        "rows": rows,
        "skipped": b.get("skipped"),
        "stages": b.get("stages"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--example", default="")
    p.add_argument("--pytest-rc", type=int, required=True)
    p.add_argument("--seconds", nargs="*", default=[])
    p.add_argument("--tests", default="")
    p.add_argument("--deselected", default="", help="the -k expression that left tests out")
    p.add_argument("--command", default="sudo bash scripts/device/aarch64_check.sh", help="the command that ran")
    args = p.parse_args(argv)
    log = Path(args.log)
    try:
        versions = json.loads((log / "versions.json").read_text())
    except (OSError, ValueError) as exc:
        versions = {"error": f"versions not read: {exc}"}
    summary = {
        "what": "scripts/device/aarch64_check.sh: Debian bookworm arm64 root under qemu-aarch64 user emulation, "
        "`pip install .` from the working tree, `fer-predict --example`, a test subset, fer-bench",
        "command": args.command,
        **versions,
        "seconds": {k: int(v) for k, v in (s.split("=", 1) for s in args.seconds)},
        "example_output": args.example.strip().splitlines(),
        "tests_run": args.tests.split(),
        "tests_left_out": f"-k '{args.deselected}'" if args.deselected else None,
        "pytest_exit_code": args.pytest_rc,
        "tests": test_counts(log / "junit.xml"),
        "bench_emulated": bench_rows(log / "bench.json"),
    }
    Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
