"""Triton model repositories of deepemotion, in three forms with the same interface:

    <repository>/deepemotion/config.pbtxt      faces UINT8 [48, 48] in (python form: or the network's float input,
    <repository>/deepemotion/1/...             normalised FP32 [1, 48, 48]), probs FP32 [7] out; max_batch_size,
                                               dynamic batching, instance groups
    <repository>/deepemotion_frames/...        (python form only) one encoded frame in, boxes + probs of its faces out

- ``python``: Triton's python backend runs ``triton_models/faces.py`` on deepemotion's ONNX Runtime backend (INT8 or
  FP32 graph, as the bundle recommends for a CPU) -- the form the pip-installed server (``fer-serve``) runs;
- ``onnx``: ``platform: "onnxruntime_onnx"`` with a graph that takes the uint8 faces and returns probabilities
  (normalisation and softmax inside), for NVIDIA's Triton container on CPU or GPU instances;
- ``tensorrt``: ``platform: "tensorrt_plan"``; the plan must be built on the target GPU with the container's TensorRT
  (``build_plan.sh`` beside it runs ``fer-export engine``) and the AffineGridSample plugin loaded by the server.

Writing the python form needs no torch and no onnx; the onnx and tensorrt forms need the ``onnx`` package (the
uint8 / softmax wrapper graph).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..labels import INPUT_SIZE, NUM_CLASSES

FORMS = ("python", "onnx", "tensorrt")
FACES_MODEL, FRAMES_MODEL = "deepemotion", "deepemotion_frames"
FACES_INPUT, PROBS_OUTPUT = "faces", "probs"
#: the python form's alternative input: the network's float input (N, 1, 48, 48), for faces that are not uint8
NORMALISED_INPUT = "normalised"


@dataclass(frozen=True)
class RepositoryOptions:
    form: str = "python"
    model: str = "default"  # a bundled model name or an .onnx file (FP32 or INT8 graph, as it is)
    max_batch: int = 64
    instances: int = 1
    kind: str = "cpu"  # instance group kind: cpu | gpu (onnx form); tensorrt is always gpu
    dynamic_batching: bool = True
    queue_delay_us: int = 2000  # how long Triton may hold a request to batch it with others (fer-bench --serve:
    # 0.85x local faces/s at 32 clients with 2 ms, 0.78x with 0.5 ms)
    frames: bool = True  # also write the deepemotion_frames model (python form)
    detector: str = "auto"  # the frames model's detector: auto (YuNet where its model file is, else Haar:
    # the choice is made when the repository is written, and recorded in its config)

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {self.form!r}")
        if not 1 <= self.max_batch <= 4096:
            raise ValueError(f"max_batch must be in 1..4096, got {self.max_batch}")
        if not 1 <= self.instances <= 64:
            raise ValueError(f"instances must be in 1..64, got {self.instances}")
        if self.kind not in ("cpu", "gpu"):
            raise ValueError(f"kind must be cpu or gpu, got {self.kind!r}")
        if not 0 <= self.queue_delay_us <= 1_000_000:
            raise ValueError(f"queue_delay_us must be in 0..1000000, got {self.queue_delay_us}")
        if self.form == "python" and self.kind == "gpu":
            raise ValueError(
                "the python form runs on the CPU (deepemotion's ONNX Runtime backend in Triton's python "
                "backend); GPU instances are the onnx form's (--format onnx --kind gpu)"
            )
        if self.detector not in ("auto", "yunet", "haar"):
            raise ValueError(f"detector must be auto, yunet or haar, got {self.detector!r}")


def pbtxt_string(value: str) -> str:
    """``value`` as a protobuf text-format string literal (quoted, escaped): a file name never breaks or extends
    a config."""
    out = []
    for b in value.encode("utf-8"):
        c = chr(b)
        if c in "\\\"'":
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _parameters(params: dict[str, str]) -> list[str]:
    return [
        f"parameters {{ key: {pbtxt_string(k)} value: {{ string_value: {pbtxt_string(v)} }} }}"
        for k, v in params.items()
    ]


def _faces_inputs(form: str) -> str:
    """The faces model's inputs: uint8 faces; in the python form also, as an alternative, the network's own float
    input (crops resampled to 48x48 keep their exact values: the served answer is the local one)."""
    faces = f'{{ name: "{FACES_INPUT}" data_type: TYPE_UINT8 dims: [ {INPUT_SIZE}, {INPUT_SIZE} ]'
    if form != "python":
        return f"input [ {faces} }} ]"
    return (
        f'input [ {faces} optional: true }}, {{ name: "{NORMALISED_INPUT}" data_type: TYPE_FP32 '
        f"dims: [ 1, {INPUT_SIZE}, {INPUT_SIZE} ] optional: true }} ]"
    )


def faces_config(opts: RepositoryOptions, params: dict[str, str]) -> str:
    """config.pbtxt of the faces model (Triton's ModelConfig in text form)."""
    head = {
        "python": 'backend: "python"',
        "onnx": 'platform: "onnxruntime_onnx"',
        "tensorrt": 'platform: "tensorrt_plan"',
    }[opts.form]
    kind = "KIND_GPU" if opts.form == "tensorrt" or opts.kind == "gpu" else "KIND_CPU"
    lines = [
        f'name: "{FACES_MODEL}"',
        head,
        f"max_batch_size: {opts.max_batch}",
        _faces_inputs(opts.form),
        f'output [ {{ name: "{PROBS_OUTPUT}" data_type: TYPE_FP32 dims: [ {NUM_CLASSES} ] }} ]',
        f"instance_group [ {{ count: {opts.instances} kind: {kind} }} ]",
    ]
    if opts.dynamic_batching:
        lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: {opts.queue_delay_us} }}")
    lines += _parameters(params)
    return "\n".join(lines) + "\n"


def frames_config(opts: RepositoryOptions, params: dict[str, str]) -> str:
    """config.pbtxt of the frames model: one frame per request (frames differ in size), ``instances`` at once."""
    lines = [
        f'name: "{FRAMES_MODEL}"',
        'backend: "python"',
        "max_batch_size: 0",
        'input [ { name: "image" data_type: TYPE_UINT8 dims: [ -1 ] } ]',
        f'output [ {{ name: "boxes" data_type: TYPE_INT32 dims: [ -1, 4 ] }}, '
        f'{{ name: "{PROBS_OUTPUT}" data_type: TYPE_FP32 dims: [ -1, {NUM_CLASSES} ] }} ]',
        f"instance_group [ {{ count: {opts.instances} kind: KIND_CPU }} ]",
    ]
    lines += _parameters(params)
    return "\n".join(lines) + "\n"


def model_graph(model: str) -> tuple[bytes, dict[str, str]]:
    """(ONNX bytes, facts for the config) of ``model``: a bundled model's CPU graph (the INT8 one where its bundle
    recommends it), or an .onnx file as it is."""
    from ..runtime.assets import bundled_model, is_bundled_name
    from ..runtime.backends import int8_preferred
    from ..runtime.backends.onnxruntime import onnx_bytes

    if is_bundled_name(model):
        b = bundled_model(model)
        precision = "int8" if int8_preferred(b.name) else "fp32"
        data, _ = onnx_bytes(b.name, "int8.onnx" if precision == "int8" else "onnx")
        return data, {"deepemotion_model": b.name, "precision": precision}
    path = Path(model)
    if path.suffix != ".onnx":
        raise ValueError(
            f"{model}: give a bundled model name or an .onnx file (export a .pt checkpoint with fer-export onnx first)"
        )
    data, _ = onnx_bytes(str(path))
    check_graph(data, str(path))
    return data, {"deepemotion_model": path.name, "precision": "model"}


def check_graph(data: bytes, where: str) -> None:
    """ValueError unless ``data`` is a deepemotion graph ONNX Runtime runs: (N, 1, 48, 48) faces in, (N, 7) out (a
    YuNet file, a truncated download or any other network is refused before a repository is written)."""
    from ..runtime.backends.onnxruntime import OnnxRuntimeBackend

    try:
        OnnxRuntimeBackend(data, threads=1, spinning=False, split_warp=False)
    except ValueError as exc:
        raise ValueError(f"{where}: not a deepemotion model ({exc})") from None


def _template(name: str) -> str:
    return (resources.files("deepemotion.serving.triton_models") / f"{name}.py").read_text()


def repository_form(root: str | Path) -> str:
    """The form (python | onnx | tensorrt) of the repository ``root``: its ``deepemotion_repository.json``, else
    what its faces model's config names; FileNotFoundError when it is not a deepemotion repository."""
    root = Path(root)
    config = root / FACES_MODEL / "config.pbtxt"
    if not config.is_file():
        raise FileNotFoundError(
            f"{root}: not a deepemotion model repository (no {FACES_MODEL}/config.pbtxt); write "
            "one with fer-export triton"
        )
    try:
        form = json.loads((root / "deepemotion_repository.json").read_text()).get("form")
        if form in FORMS:
            return str(form)
    except (OSError, ValueError, AttributeError):
        pass
    text = config.read_text(errors="replace")
    return "onnx" if "onnxruntime_onnx" in text else "tensorrt" if "tensorrt_plan" in text else "python"


def write_repository(out: str | Path, opts: RepositoryOptions, overwrite: bool = False) -> dict[str, Any]:
    """Write a model repository into the folder ``out``: created, or replaced when ``overwrite`` and it is a
    deepemotion repository (never any other folder). Returns what was written (paths, the facts recorded in the
    configs). It is written into a new folder beside ``out`` with an unguessable name (``tempfile.mkdtemp``: never
    an existing path, never through a link) and renamed into place, so ``out`` is whole or absent."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out}: exists and is not a folder")
    old = out.exists() and any(out.iterdir())
    if old and not overwrite:
        raise FileExistsError(f"{out}: exists and is not empty (--overwrite replaces a deepemotion repository)")
    if old:
        repository_form(out)  # FileNotFoundError: not a repository of ours, left alone
    graph, facts = model_graph(opts.model)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    retired = None
    try:
        files = _write_forms(staging, opts, graph, facts)
        if old:
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, retired / "repository")
        elif out.exists():
            out.rmdir()
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None and not out.exists() and (retired / "repository").exists():
            os.replace(retired / "repository", out)
        raise
    finally:
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    return {
        "repository": str(out),
        "form": opts.form,
        "models": sorted({f.split("/")[0] for f in files}),
        "files": files,
        **facts,
    }


def _write_forms(root: Path, opts: RepositoryOptions, graph: bytes, facts: dict[str, str]) -> list[str]:
    files: dict[str, bytes | str] = {}
    if opts.form == "python":
        params = {"onnx_file": "model.onnx", **facts}
        files[f"{FACES_MODEL}/config.pbtxt"] = faces_config(opts, params)
        files[f"{FACES_MODEL}/1/model.onnx"] = graph
        files[f"{FACES_MODEL}/1/model.py"] = _template("faces")
        if opts.frames:
            files[f"{FRAMES_MODEL}/config.pbtxt"] = frames_config(opts, {**params, "detector": opts.detector})
            files[f"{FRAMES_MODEL}/1/model.onnx"] = graph
            files[f"{FRAMES_MODEL}/1/model.py"] = _template("frames")
    else:
        from ..export.serving_graph import uint8_softmax_graph

        wrapped = uint8_softmax_graph(graph)
        files[f"{FACES_MODEL}/config.pbtxt"] = faces_config(opts, facts)
        if opts.form == "onnx":
            files[f"{FACES_MODEL}/1/model.onnx"] = wrapped
        else:
            files[f"{FACES_MODEL}/model.uint8.onnx"] = wrapped
            files[f"{FACES_MODEL}/build_plan.sh"] = build_plan_script(opts)
    files["deepemotion_repository.json"] = (
        json.dumps({"form": opts.form, "max_batch": opts.max_batch, "instances": opts.instances, **facts}, indent=2)
        + "\n"
    )
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if opts.form == "tensorrt":
        (root / FACES_MODEL / "build_plan.sh").chmod(0o755)
        (root / FACES_MODEL / "1").mkdir(exist_ok=True)
    return sorted(files)


def build_plan_script(opts: RepositoryOptions) -> str:
    """Shell script that builds the TensorRT plan where it will run (the plan is tied to the GPU and TensorRT)."""
    lo, hi = max(1, opts.max_batch // 4), opts.max_batch
    return "\n".join(
        [
            "#!/usr/bin/env bash",
            "# Build deepemotion/1/model.plan on the machine (GPU + TensorRT version) that will serve it, e.g. inside",
            "# NVIDIA's Triton container: a plan only runs where it was built. Needs deepemotion installed there and",
            "# built against that TensorRT (so that lib/libdeepemotion_trt.so, the AffineGridSample plugin, exists).",
            "set -euo pipefail",
            'cd "$(dirname "$0")"',
            f"fer-export engine --onnx model.uint8.onnx --precision fp16 --batch 1 {lo} {hi} --out 1/model.plan "
            "--overwrite",
            "plugin=$(python -c 'from deepemotion.runtime.backends.tensorrt import plugin_library as p; print(p())')",
            'echo "built 1/model.plan; serve it with the plugin loaded:"',
            'echo "  LD_PRELOAD=$plugin tritonserver --model-repository $(cd .. && pwd)"',
            "",
        ]
    )


def parse_config(text: str) -> Any:
    """A config.pbtxt parsed with Triton's own schema (``tritonclient.grpc.model_config_pb2``): ValueError when it
    does not parse. Needs tritonclient (the ``client`` extra)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise ValueError(f"config.pbtxt does not parse as Triton's ModelConfig: {exc}") from None
