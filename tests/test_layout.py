"""The architecture holds: the runtime never imports torch or training code, and the package has no
import circle. Run in subprocesses so that what this test process imported does not count."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from _helpers import require_yunet

BLOCK_TORCH = textwrap.dedent("""
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is made unimportable by the test")
            return None
    sys.meta_path.insert(0, _Block())
""")


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_runtime_works_without_torch_and_imports_no_training_code():
    require_yunet()
    r = run("""
        import sys
        import numpy as np
        import deepemotion
        from deepemotion import Recognizer, Face, BackendUnavailable
        from deepemotion.runtime.assets import example_image
        from deepemotion.files import read_image
        rec = Recognizer()
        faces = rec.predict(read_image(example_image()))
        assert len(faces) == 1 and isinstance(faces[0], Face), faces
        tiny = [m for m in ("default", "tiny") if deepemotion.runtime.assets.bundled_model(m).has("onnx")]
        for m in tiny:
            Recognizer(model=m, detector=None).predict_faces(np.zeros((2, 48, 48), np.uint8))
        offline = ("deepemotion.data", "deepemotion.model", "deepemotion.training", "deepemotion.evaluation",
                   "deepemotion.export", "deepemotion.benchmarks")
        bad = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", *offline)))
        assert not bad, bad
        print("ok", faces[0].label, rec.detector_name)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")


def test_tools_without_torch_say_what_to_install():
    r = run("""
        from deepemotion.cli.train import main
        raise SystemExit(main(["--data", "fer2013", "--out", "/tmp/never"]))
    """)
    assert r.returncode == 2
    assert 'pip install ".[train]"' in r.stderr and "Traceback" not in r.stderr
    r = run("""
        from deepemotion.cli.train import main
        raise SystemExit(main(["--help"]))
    """)
    assert r.returncode == 0 and "--arch" in r.stdout


def _import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (module level and inside functions), from the source."""
    import ast
    from pathlib import Path

    import deepemotion

    root = Path(deepemotion.__file__).parent
    mods = {}
    for f in root.rglob("*.py"):
        rel = f.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, f in mods.items():
        pkg = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t in mods and t != name:
                    graph[name].add(t)
    return graph


def test_no_import_circles():
    """Tarjan's strongly connected components over the package's import graph: none larger than one."""
    graph = _import_graph()
    # a package's __init__ importing its own submodules is not a circle; ignore edges into an ancestor package
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    assert len(graph) > 30
    assert not circles, circles


#: the offline packages, above the runtime: the runtime (and ops, labels, files) never imports one of them
OFFLINE = (
    "deepemotion.data",
    "deepemotion.model",
    "deepemotion.training",
    "deepemotion.evaluation",
    "deepemotion.export",
    "deepemotion.benchmarks",
    "deepemotion.serving",
    "deepemotion.cli",
)


def test_runtime_never_imports_offline_code():
    """Statically: no runtime, ops, labels or files module names an offline package, except the torch backend (the
    reference backend, which by definition runs the training model)."""
    graph = _import_graph()
    allowed = {"deepemotion.runtime.backends.torch"}
    bad = {
        m: sorted(t for t in ts if t.startswith(OFFLINE))
        for m, ts in graph.items()
        if m.startswith(("deepemotion.runtime", "deepemotion.ops", "deepemotion.labels", "deepemotion.files"))
        and m not in allowed
    }
    assert not {m: t for m, t in bad.items() if t}


def test_offline_packages_are_layered():
    """data <- model <- evaluation <- training <- export, and timing (benchmarks) on top: no package imports one
    above it, so the packages stay a stack (what farm-studio calls floors) and never a circle."""
    graph = _import_graph()
    order = [
        "deepemotion.data",
        "deepemotion.model",
        "deepemotion.evaluation",
        "deepemotion.training",
        "deepemotion.export",
        "deepemotion.benchmarks",
    ]

    def package(m: str) -> str | None:
        return next((p for p in order if m == p or m.startswith(p + ".")), None)

    up = sorted(
        (m, t)
        for m, ts in graph.items()
        for t in ts
        if package(m) and package(t) and order.index(package(t)) > order.index(package(m))
    )
    assert not up, up
