"""Access to the compiled core `deepemotion._C`, with errors that say what to do. The package version
comes from here (CMake passes pyproject's version into the module)."""

from __future__ import annotations

from typing import Any

try:
    from . import _C  # type: ignore[attr-defined]

    _IMPORT_ERROR: Exception | None = None
    __version__: str = _C.__version__
except ImportError as exc:  # pragma: no cover - only on a broken install
    _C = None  # type: ignore[assignment]
    _IMPORT_ERROR = exc
    __version__ = "unknown"


def assert_has_ext() -> Any:
    """Return the compiled module or raise an ImportError explaining how to get it."""
    if _C is None:
        raise ImportError(
            "deepemotion's compiled core (deepemotion._C) could not be imported: "
            f"{_IMPORT_ERROR}. Reinstall from the clone of deepemotion: "
            "`pip install --force-reinstall --no-cache-dir .` "
            "(it needs a C++17 compiler; CMake >= 3.24 comes from PyPI when the system's is older)."
        )
    return _C


def build_info() -> dict[str, Any]:
    """What the compiled core contains.

    Keys: `version`, `cuda` (CUDA kernels built), `cuda_archs` (CMake architecture list),
    `cuda_version` (toolkit it was built with), `tensorrt` (plugin and runner built),
    `compiler`.
    """
    return dict(assert_has_ext().build_info())


def cuda_available() -> bool:
    """True when the CUDA kernels were built and at least one GPU is visible."""
    ext = assert_has_ext()
    return bool(ext.build_info()["cuda"]) and ext.cuda_device_count() > 0


def load_trt() -> Any:
    """The TensorRT engine runner module `deepemotion._trt` (built only where TensorRT was found)."""
    import importlib

    return importlib.import_module(f"{__package__}._trt")
