"""Build and run the AffineGridSample plugin's C++ contract test (tests/cpp/plugin_contract) against TensorRT's
public headers: no TensorRT library, only CMake, a C++ compiler and nvcc.

Used by tests/test_plugin_contract.py, and on its own for the GPU check (enqueue against PyTorch):

    python3 tests/_plugin_contract.py --headers DIR/include --variants plain --enqueue --require-enqueue \\
        --report OUT/plugin_enqueue.txt

It writes the exporter's plugin node (``fer-export onnx --flavour plugin``) for the test to check the creator
against, and with ``--enqueue`` the reference data: inputs (exactly representable in FP16), theta (near identity,
rotations, scales, translations that sample outside the image) and PyTorch's affine_grid + grid_sample
(deepemotion/export/reference.py) in float32, with the tolerances of csrc/plugin/affine_grid_sample.yaml.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "tests" / "cpp" / "plugin_contract"
SHARED_HEADERS = ROOT.parent / "shared" / "third_party" / "tensorrt"
PLUGIN_YAML = ROOT / "csrc" / "plugin" / "affine_grid_sample.yaml"
RESULT = re.compile(r"^plugin_contract: (PASS|FAIL) .*$", re.M)
# the executables' names: plugin_contract_<version><suffix>
VARIANT_SUFFIX = {"asan": "_asan", "host": "_host", "plain": ""}


def header_dirs() -> list[Path]:
    """TensorRT include/ folders: $DEEPEMOTION_TRT_HEADERS (os.pathsep-separated), else ../shared's releases."""
    env = os.environ.get("DEEPEMOTION_TRT_HEADERS")
    if env:
        return [Path(p).resolve() for p in env.split(os.pathsep) if p]
    found = [p for p in SHARED_HEADERS.glob("*/include") if (p / "NvInfer.h").is_file()]

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name))

    return sorted(found, key=version)


def label(include: Path) -> str:
    """10.3 for .../10.3/include (the CMake project's target suffix)."""
    return include.parent.name if include.name == "include" else include.name


def nvcc() -> str | None:
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc") if os.access(p, os.X_OK)), None
    )


def toolchain_problem() -> str | None:
    """Why the contract test cannot be built here, or None."""
    if shutil.which("cmake") is None:
        return "cmake is not installed"
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        return "no C++ compiler"
    if nvcc() is None:
        return "no nvcc (the test links the plugin's real CUDA kernel)"
    heads = header_dirs()
    if not heads:
        return f"no TensorRT headers (set DEEPEMOTION_TRT_HEADERS, or have {SHARED_HEADERS}/<version>/include)"
    missing = [str(h) for h in heads if not (h / "NvInfer.h").is_file()]
    if missing:
        return f"no NvInfer.h in {', '.join(missing)}"
    return None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)  # scripts/ci/sanitize.sh preloads ASan into Python: not into cmake and compilers
    cuda_bin = str(Path(nvcc() or "/usr/local/cuda/bin/nvcc").parent)
    env["PATH"] = env.get("PATH", "") + os.pathsep + cuda_bin
    return env


def build(
    build_dir: Path, variants: tuple[str, ...] = ("asan",), headers: list[Path] | None = None, jobs: int | None = None
) -> dict[str, Path]:
    """Configure and build the variants (asan, host, plain: see the CMake project); returns {"10.3_asan":
    executable, "10.3_host": ..., "10.3": ...}. $DEEPEMOTION_PLUGIN_CONTRACT_BUILD names a folder already built
    (by CI, say): its executables are used as they are."""
    prebuilt = os.environ.get("DEEPEMOTION_PLUGIN_CONTRACT_BUILD")
    heads = headers if headers is not None else header_dirs()
    unknown = sorted(set(variants) - set(VARIANT_SUFFIX))
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}: one of {', '.join(VARIANT_SUFFIX)}")
    names = [label(h) + VARIANT_SUFFIX[v] for h in heads for v in variants]
    if prebuilt:
        build_dir = Path(prebuilt)
    else:
        build_dir.mkdir(parents=True, exist_ok=True)
        cfg = [
            "cmake",
            "-S",
            str(PROJECT),
            "-B",
            str(build_dir),
            f"-DCMAKE_CUDA_COMPILER={nvcc()}",
            "-DDEEPEMOTION_TRT_HEADERS=" + ";".join(str(h) for h in heads),
            "-DDEEPEMOTION_CONTRACT_VARIANTS=" + ";".join(variants),
        ]
        for cmd in (cfg, ["cmake", "--build", str(build_dir), "-j", str(jobs or os.cpu_count() or 2)]):
            r = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    exes = {n: build_dir / f"plugin_contract_{n}" for n in names}
    missing = [str(p) for p in exes.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"not built: {', '.join(missing)}")
    return exes


def plugin_node(graph_path: Path) -> dict:
    """The AffineGridSample node of an ONNX graph: op_type, domain, name, inputs, outputs, attributes."""
    import onnx
    from onnx import helper

    nodes = [n for n in onnx.load(str(graph_path)).graph.node if n.op_type == "AffineGridSample"]
    if len(nodes) != 1:
        raise ValueError(f"{graph_path}: {len(nodes)} AffineGridSample nodes")
    n = nodes[0]
    attrs = {}
    for a in n.attribute:
        v = helper.get_attribute_value(a)
        attrs[a.name] = (onnx.AttributeProto.AttributeType.Name(a.type), v.decode() if isinstance(v, bytes) else v)
    return {
        "op_type": n.op_type,
        "domain": n.domain,
        "name": n.name,
        "inputs": len(n.input),
        "outputs": len(n.output),
        "attrs": attrs,
    }


def export_plugin_graph(out: Path) -> str:
    """``fer-export onnx --flavour plugin --out OUT`` for the bundled model; returns how it was written. Where
    the CLI cannot run (no deepemotion._C for its verification: a GPU machine running the sources), the same
    graph comes from the functions it calls, unverified."""
    from deepemotion import _ext

    if _ext._C is not None:
        from deepemotion.cli.export import main as export_main

        if export_main(["onnx", "--flavour", "plugin", "--out", str(out)]) != 0 or not out.is_file():
            raise RuntimeError("fer-export onnx --flavour plugin failed")
        return "fer-export onnx --flavour plugin"
    from deepemotion.export.onnx import export_portable, to_plugin_graph
    from deepemotion.training.checkpoint import load_model

    out.write_bytes(to_plugin_graph(export_portable(load_model("default")[0])))
    return "export_portable + to_plugin_graph (no deepemotion._C here for fer-export's verification)"


def write_node_file(node: dict, path: Path) -> Path:
    lines = [
        f"op_type {node['op_type']}",
        f"domain {node['domain']}",
        f"name {node['name'] or '-'}",
        f"inputs {node['inputs']}",
        f"outputs {node['outputs']}",
    ]
    lines += [f"attr {k} {t} {v}" for k, (t, v) in sorted(node["attrs"].items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def tolerances() -> tuple[float, float]:
    """(fp32, fp16) absolute tolerances of the plugin's yaml."""
    import yaml

    tol = yaml.safe_load(PLUGIN_YAML.read_text())["versions"]["1"]["abs_tol"]
    return float(tol["float32"]), float(tol["float16"])


def thetas(n: int, rng: np.random.Generator) -> np.ndarray:
    """Four families in turn: near identity, rotations, scales (0.3..2.5, some mirrored), translations that
    sample well outside the image."""
    th = np.zeros((n, 2, 3), np.float64)
    for i in range(n):
        kind = i % 4
        if kind == 0:
            a = np.eye(2) + rng.uniform(-0.05, 0.05, (2, 2))
            t = rng.uniform(-0.05, 0.05, 2)
        elif kind == 1:
            ang = rng.uniform(-np.pi, np.pi)
            a = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
            t = rng.uniform(-0.1, 0.1, 2)
        elif kind == 2:
            a = np.diag(rng.uniform(0.3, 2.5, 2) * rng.choice([-1.0, 1.0], 2))
            t = np.zeros(2)
        else:
            a = np.eye(2) * rng.uniform(0.5, 1.5)
            t = rng.uniform(-1.8, 1.8, 2)
        th[i, :, :2], th[i, :, 2] = a, t
    return th.astype(np.float32)


def write_enqueue_data(
    folder: Path,
    n: int = 4096,
    c: int = 2,
    in_hw: tuple[int, int] = (32, 40),
    out_hw: tuple[int, int] = (36, 28),
    seed: int = 0,
) -> dict:
    """Inputs and PyTorch's outputs for the C++ test's enqueue section (see enqueue_gpu.cpp)."""
    import torch

    spec = importlib.util.spec_from_file_location("_reference", ROOT / "python/deepemotion/export/reference.py")
    ref_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref_mod)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    x16 = rng.uniform(0.0, 1.0, (n, c, *in_hw)).astype(np.float16)  # image range, exact in both types
    x32 = x16.astype(np.float32)
    th = thetas(n, rng)
    x32.tofile(folder / "x_f32.bin")
    x16.tofile(folder / "x_f16.bin")
    th.tofile(folder / "theta.bin")
    for ac in (0, 1):
        with torch.no_grad():
            ref = ref_mod.affine_grid_sample_reference(torch.from_numpy(x32), torch.from_numpy(th), *out_hw, bool(ac))
        ref.numpy().astype(np.float32).tofile(folder / f"ref_ac{ac}.bin")
    tol32, tol16 = tolerances()
    meta = {
        "n": n,
        "c": c,
        "in_h": in_hw[0],
        "in_w": in_hw[1],
        "out_h": out_hw[0],
        "out_w": out_hw[1],
        "atol_fp32": tol32,
        "atol_fp16": tol16,
    }
    (folder / "meta.txt").write_text("".join(f"{k} {v}\n" for k, v in meta.items()))
    return meta


def run(
    exe: Path, node_file: Path, data_dir: Path | None = None, require_enqueue: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess:
    cmd = [str(exe), "--onnx-node", str(node_file)]
    if data_dir is not None:
        cmd += ["--enqueue-data", str(data_dir)]
    if require_enqueue:
        cmd.append("--require-enqueue")
    env = _env()
    # leaks checked too; CUDA reserves the shadow gap's addresses where a driver is present
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1:protect_shadow_gap=0"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--headers", action="append", default=None, help="a TensorRT include/ folder (repeatable)")
    ap.add_argument("--build", default=None, help="build folder (default: a temporary one)")
    ap.add_argument("--variants", default="asan", help="comma-separated: asan, host (enqueue on host memory), plain")
    ap.add_argument("--enqueue", action="store_true", help="write PyTorch reference data for enqueue")
    ap.add_argument("--require-enqueue", action="store_true", help="fail unless enqueue ran on a GPU")
    ap.add_argument("--report", default=None, help="also write the output here")
    args = ap.parse_args(argv)
    t0 = time.time()
    try:
        import deepemotion  # noqa: F401
    except ImportError:  # run from a checkout: the sources
        sys.path.insert(0, str(ROOT / "python"))
    if args.headers:
        os.environ["DEEPEMOTION_TRT_HEADERS"] = os.pathsep.join(args.headers)
    problem = toolchain_problem()
    report: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        report.append(text)

    status = 1
    with tempfile.TemporaryDirectory(prefix="plugin-contract-") as tmp:
        work = Path(tmp)
        try:
            if problem:
                say(f"plugin contract: cannot build: {problem}")
                return 2
            exes = build(Path(args.build) if args.build else work / "build", tuple(args.variants.split(",")))
            say(f"built {', '.join(exes)} in {time.time() - t0:.0f} s")
            how = export_plugin_graph(work / "m.plugin.onnx")
            node_file = write_node_file(plugin_node(work / "m.plugin.onnx"), work / "node.txt")
            say(f"plugin node from {how}")
            data = None
            if args.enqueue:
                meta = write_enqueue_data(work / "enqueue")
                data = work / "enqueue"
                say(f"reference data: {meta}")
            status = 0
            for name, exe in exes.items():
                r = run(exe, node_file, data, args.require_enqueue)
                say(f"--- {name} (exit {r.returncode})\n{r.stdout}{r.stderr}")
                status = status or r.returncode
            say(f"plugin contract: {'PASS' if status == 0 else 'FAIL'} in {time.time() - t0:.0f} s")
        except Exception as e:  # noqa: BLE001  (reported, then a non-zero exit)
            say(f"plugin contract: ERROR {type(e).__name__}: {e}")
            status = 1
        finally:
            if args.report:
                Path(args.report).parent.mkdir(parents=True, exist_ok=True)
                Path(args.report).write_text("\n".join(report) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
