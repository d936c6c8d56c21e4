"""The C++ SDK is optional: where OpenCV's C++ development files are missing the package still configures and
builds, the SDK is skipped with a status line that says what to install, and build_info() says whether it was
built."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deepemotion import build_info

ROOT = Path(__file__).resolve().parents[1]


def test_build_info_says_whether_the_sdk_was_built():
    info = build_info()
    assert isinstance(info["sdk"], bool)
    if info["sdk"]:
        import deepemotion._sdk  # noqa: F401 - built with it, it imports


@pytest.mark.slow
def test_without_opencv_dev_files_the_sdk_is_skipped_with_a_clear_message(tmp_path):
    cmake = shutil.which("cmake")
    pybind11 = pytest.importorskip("pybind11")
    if cmake is None:
        pytest.skip("cmake is not on PATH")
    args = [
        cmake,
        "-S",
        str(ROOT),
        "-B",
        str(tmp_path / "build"),
        "-DSKBUILD_PROJECT_NAME=deepemotion",
        "-DSKBUILD_PROJECT_VERSION=0.0.0",
        f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        f"-DPython_EXECUTABLE={sys.executable}",
        "-DDEEPEMOTION_WITH_CUDA=OFF",
        "-DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON",
    ]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the C++ SDK (libdeepemotion) is skipped: OpenCV's C++ development files" in out.stdout
    assert "apt-get install libopencv-dev" in out.stdout
