"""Prove that `pip install deepemotion` can resolve on a Jetson with JetPack 6 (aarch64, Python 3.10,
glibc 2.35): download -- without installing -- binary wheels of every runtime dependency declared in
pyproject.toml, and of the build requirements (scikit-build-core, pybind11, cmake, ninja), for
linux_aarch64 / CPython 3.10. Fails (exit 1) when any of them has no wheel there.

    python scripts/ci/jetson_resolve.py [--python-version 3.10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]
# JetPack 6 = Ubuntu 22.04, glibc 2.35: every manylinux tag up to 2_35 installs there
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{v}_aarch64" for v in (17, 26, 27, 28, 31, 34, 35)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python-version", default="3.10")
    args = p.parse_args(argv)
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = list(meta["project"]["dependencies"])
    build = [r for r in meta["build-system"]["requires"]] + ["cmake>=3.24", "ninja"]
    abi = "cp" + args.python_version.replace(".", "")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for what, reqs in (("runtime", runtime), ("build", build)):
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--python-version",
                args.python_version,
                "--implementation",
                "cp",
                "--abi",
                abi,
                "--abi",
                "abi3",
                "--abi",
                "none",
                "-d",
                tmp,
            ]
            for plat in PLATFORMS + ["any"]:
                cmd += ["--platform", plat]
            r = subprocess.run(cmd + reqs, capture_output=True, text=True)
            if r.returncode != 0:
                ok = False
                print(f"jetson: {what} dependencies do NOT resolve for aarch64 / Python {args.python_version}:")
                print("\n".join(line for line in r.stderr.splitlines() if "WARNING: Location" not in line)[-2000:])
        wheels = sorted(w.name for w in Path(tmp).glob("*.whl"))
    print(f"jetson: aarch64 / CPython {args.python_version} wheels for {', '.join(runtime + build)}:")
    print("\n".join(f"  {w}" for w in wheels))
    print("jetson: resolution " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
