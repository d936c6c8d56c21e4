"""`python -m deepemotion`: where the installed C++ SDK is, for C++ builds (as `python -m pybind11 --cmakedir`).

    cmake -S app -B build -Ddeepemotion_DIR="$(python -m deepemotion --cmake-dir)"

`--cmake-dir`: the folder holding deepemotionConfig.cmake; `--include-dir`: the headers; `--lib-dir`:
libdeepemotion. Exit status 1, with the reason, where this installation has no C++ SDK (it was built without
OpenCV's C++ development files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
WHERE = {
    "cmake_dir": PACKAGE / "share" / "cmake" / "deepemotion",
    "include_dir": PACKAGE / "include",
    "lib_dir": PACKAGE / "lib",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deepemotion", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--cmake-dir", action="store_true", help="the CMake package folder (deepemotion_DIR)")
    group.add_argument("--include-dir", action="store_true", help="the C++ headers")
    group.add_argument("--lib-dir", action="store_true", help="the folder of libdeepemotion")
    group.add_argument("--version", action="store_true", help="the package version")
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    key = next(k for k in WHERE if getattr(args, k))
    if not (WHERE["cmake_dir"] / "deepemotionConfig.cmake").is_file():
        print(
            f"deepemotion: this installation ({PACKAGE}) has no C++ SDK: it was built without OpenCV's C++ "
            "development files. Install them (Debian/Ubuntu: apt-get install libopencv-dev) and reinstall: "
            "pip install --force-reinstall --no-cache-dir .",
            file=sys.stderr,
        )
        return 1
    print(WHERE[key])
    return 0


if __name__ == "__main__":
    sys.exit(main())
