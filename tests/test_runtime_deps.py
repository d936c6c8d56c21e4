"""What `pip install deepemotion` (no extras) brings is all the runtime imports.

The README's first command installs only the declared runtime dependencies (numpy, onnxruntime, opencv, tqdm).
A runtime module that imports anything else -- `onnx`, which the `export` extra brings, once broke the main job for
every user whose YuNet model was present -- works in the test environment (which has the extras) and fails for
users. So these tests run the main jobs in a subprocess where any import made *by deepemotion's code* of a package
that is neither the standard library nor a declared runtime dependency fails, as it would in a clean venv.
CI also runs the README's first command itself in a clean venv (.ci/run).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from _helpers import require_yunet
from deepemotion.labels import CLASSES

ROOT = Path(__file__).resolve().parents[1]
#: distribution name in pyproject's dependencies -> the module it provides
RUNTIME_MODULES = {"numpy": "numpy", "onnxruntime": "onnxruntime", "opencv-python-headless": "cv2", "tqdm": "tqdm"}

WATCH = textwrap.dedent("""
    import importlib.abc, sys
    ALLOWED = set(sys.stdlib_module_names) | {ALLOWED} | {{"deepemotion"}}
    class Watch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            f = sys._getframe(1)
            while f is not None and f.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
                f = f.f_back
            caller = f.f_globals.get("__name__", "") if f is not None else ""
            if caller.startswith("deepemotion") and top not in ALLOWED:
                raise ModuleNotFoundError(f"No module named {{top!r}} (imported by {{caller}}; not a runtime "
                                          "dependency)", name=top)
            return None
    sys.meta_path.insert(0, Watch())
""")


def declared_dependencies() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M)
    assert block, "pyproject.toml has no dependencies list"
    specs = re.findall(r'"([^"]+)"', block.group(1))
    return sorted(re.split(r"[<>=!~; \[]", d)[0] for d in specs if d)


def run_watched(
    code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    import os

    prelude = WATCH.format(ALLOWED=repr(set(RUNTIME_MODULES.values())))
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_the_declared_runtime_dependencies_are_the_ones_this_test_allows():
    assert declared_dependencies() == sorted(RUNTIME_MODULES)


def test_main_job_with_yunet_imports_only_runtime_dependencies(tmp_path):
    """`fer-predict --example` with the YuNet model present (what every online user gets) -- the command that
    once exited with `No module named 'onnx'`."""
    yunet = require_yunet()
    r = run_watched(
        """
        import sys
        from deepemotion.cli.predict import main
        raise SystemExit(main(["--example", "--out", sys.argv[1]]))
    """,
        str(tmp_path / "out"),
        env={"DEEPEMOTION_YUNET": str(yunet)},
    )
    assert r.returncode == 0, r.stderr
    assert "detector: yunet" in r.stdout and "happy" in r.stdout, r.stdout
    assert "note:" not in r.stderr, r.stderr  # no fallback warning: YuNet itself ran


def test_library_paths_import_only_runtime_dependencies(tmp_path):
    """Recognizer with both bundled models, every detector, predict_faces, stream and fer-eval on a small archive."""
    yunet = require_yunet()
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "faces.npz",
        images=rng.integers(0, 256, (20, 48, 48), dtype=np.uint8),
        labels=rng.integers(0, 7, 20),
        split=np.array(["test"] * 20),
        ids=np.array([f"face{i}" for i in range(20)]),
        class_names=np.array(CLASSES),
    )
    r = run_watched(
        """
        import sys
        import numpy as np
        from deepemotion import Recognizer, YuNetDetector, HaarDetector
        from deepemotion.files import read_image
        from deepemotion.runtime.assets import example_image
        frame = read_image(example_image())
        for model in ("default", "tiny"):
            for det in ("yunet", "haar"):
                rec = Recognizer(model=model, detector=det)
                assert len(rec.predict(frame)) == 1, (model, det)
        rec = Recognizer(smoothing=0.5)
        assert [len(r.faces) for r in rec.stream([frame] * 3)] == [1, 1, 1]
        assert len(Recognizer(detector=None).predict_faces(np.zeros((3, 48, 48), np.uint8))) == 3
        from deepemotion.cli.eval import main
        raise SystemExit(main(["--data", sys.argv[1]]))
    """,
        str(tmp_path / "faces.npz"),
        env={"DEEPEMOTION_YUNET": str(yunet)},
    )
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout


def test_yunet_failure_under_auto_falls_back_to_haar_with_one_warning(tmp_path):
    """detector='auto' with a YuNet file that cannot be used (here: the project's own classifier) is the Haar
    fallback and one warning, not an error."""
    from deepemotion.runtime.assets import bundled_model

    r = run_watched(
        """
        import warnings
        from deepemotion import Recognizer
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            rec = Recognizer()
        print(rec.detector_name, len(w), w[0].message if w else "")
    """,
        env={"DEEPEMOTION_YUNET": str(bundled_model("default").path("onnx"))},
    )
    assert r.returncode == 0, r.stderr
    name, count, message = r.stdout.split(" ", 2)
    assert (name, count) == ("haar", "1"), r.stdout
    assert "not a YuNet face-detector model" in message and "deepemotion_fer2013.onnx" in message


def test_export_without_the_extra_names_it():
    """In a clean venv `fer-export onnx` said `No module named 'torch'`; it must name the extra to install."""
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "onnx", "onnxscript"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Block())
        from deepemotion.cli.export import main
        raise SystemExit(main(["onnx", "--out", "/nonexistent-folder/x.onnx"]))
    """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert 'pip install ".[export]"' in r.stderr and "Traceback" not in r.stderr, r.stderr
