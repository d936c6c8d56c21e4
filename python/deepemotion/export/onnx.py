"""DeepEmotion -> ONNX, in two flavours.

* `portable`: standard ONNX ops only, opset 17. The STN's affine grid is one `MatMul` of a
  constant base grid (H*W x 3) with theta^T, reshaped to (N, H, W, 2), then `GridSample` with
  `mode="bilinear"` (opset 16 spelling: ONNX Runtime and TensorRT both read it as bilinear; the
  opset-20 spelling `linear` is what TensorRT misreads as nearest, NVIDIA/TensorRT#4646). No
  `AffineGrid` node (TensorRT's parser rejects it) and no Mul/ReduceSum decomposition (what the
  dynamo exporter emits, ~3x slower in ONNX Runtime).
* `plugin`: the portable graph with the STN sampling (MatMul + Reshape + GridSample) rewritten
  into one `AffineGridSample` node, domain `deepemotion` (attributes out_h, out_w,
  align_corners, plugin_version "1", plugin_namespace "deepemotion"), which TensorRT maps to our
  IPluginV3 plugin. ONNX Runtime cannot run it; `reference_session` evaluates it with
  `onnx.reference` and our C++ kernel.

Hidden units of `fc1` whose outgoing `fc2` weights are all exactly zero (the default model has 223 such units of
256, the tiny one 25 of 48: training drives them to zero and the float16 bundle stores exact zeros) are left out of both
flavours (`drop_dead_units`): they add nothing to any logit, so the FP32 graph gives the same numbers with fewer
weights to read per face. Likewise, when the localization net provably gives the same θ for every input
(`deepemotion.export.stn`; the bundled models are frozen so by `references/fer2013/bundle.py`), the graphs hold
the grid it makes as a constant instead of the net (metadata `stn`) and sample the whole batch with it at once, as the
channels
of one image (`Reshape` -> `GridSample` -> `Reshape`); the plugin flavour turns that back into one
`AffineGridSample` per face with that θ.

Input `input`: (N, 1, 48, 48) float32, normalised (see deepemotion.labels); output
`logits`: (N, 7). The batch axis is dynamic. A model with `tta_flip` exports its flip averaging
into the graph (the batch and its mirror image go through one GridSample together). A model with a score
calibration (`DeepEmotionConfig.score_knots`) ends with it (nodes under `/calibration/`: `Softmax`,
`ReduceMax`, `Sub`, `Relu`, `MatMul`, `Add`, `Mul`): the logits come out calibrated, so a softmax
anywhere downstream (the runtime's, the Triton serving graph's) gives calibrated probabilities.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..labels import CLASSES, INPUT_NAME, INPUT_SIZE, MEAN, OUTPUT_NAME, STD
from ..model import DeepEmotion
from ..ops.affine_grid_sample import base_grid, fit_affine_grid

OPSET = 17
PLUGIN_DOMAIN = "deepemotion"
PLUGIN_OP = "AffineGridSample"
PLUGIN_VERSION = "1"


def dead_units(model: DeepEmotion) -> torch.Tensor:
    """Indices of the hidden units (`fc1` outputs) whose `fc2` weights are all exactly zero: whatever such a unit
    computes, it adds exactly nothing to any logit."""
    return (model.fc2.weight.detach() == 0).all(0).nonzero().flatten()


def drop_dead_units(model: DeepEmotion) -> DeepEmotion:
    """`model` itself when every hidden unit counts, else a copy whose `fc1`/`fc2` keep only the units that do:
    the same logits (a dead unit's products are all `x * 0`), with `fc1` that much smaller. The config is left
    as trained (it describes the checkpoint)."""
    import copy

    dead = dead_units(model)
    if len(dead) == 0:
        return model
    keep = torch.ones(model.fc1.out_features, dtype=torch.bool)
    keep[dead] = False
    if not keep.any():  # no unit counts: keep one so that the graph keeps its shape (logits = fc2's bias)
        keep[0] = True
    out = copy.deepcopy(model)
    fc1, fc2 = model.fc1, model.fc2
    out.fc1 = nn.Linear(fc1.in_features, int(keep.sum()), dtype=fc1.weight.dtype)
    out.fc2 = nn.Linear(int(keep.sum()), fc2.out_features, dtype=fc2.weight.dtype)
    with torch.no_grad():
        out.fc1.weight.copy_(fc1.weight[keep])
        out.fc1.bias.copy_(fc1.bias[keep])
        out.fc2.weight.copy_(fc2.weight[:, keep])
        out.fc2.bias.copy_(fc2.bias)
    return out.train(model.training)


class ExportableDeepEmotion(nn.Module):
    """DeepEmotion with the STN grid written as MatMul(base_grid, theta^T), its dead hidden units left out
    (`drop_dead_units`) and, when the localization net provably gives one θ for every input
    (`deepemotion.export.stn.constant_theta`), that θ in place of the net: same numbers, exportable at
    opset 17."""

    def __init__(self, model: DeepEmotion) -> None:
        super().__init__()
        from .stn import constant_theta

        self.model = drop_dead_units(model)
        self.align_corners = model.config.align_corners
        self.size = model.config.sample_size
        self.register_buffer("grid", torch.from_numpy(base_grid(self.size, self.size, self.align_corners)))
        theta = constant_theta(model)
        self.constant_stn = theta is not None
        if theta is not None:  # the sampling grid is a constant too: base grid @ θ^T, computed as at run time
            grid = torch.matmul(self.grid, theta.t()).reshape(1, self.size, self.size, 2)
            self.register_buffer("stn_grid", grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        tta = m.config.tta_flip
        if tta:
            x = torch.cat([x, torch.flip(x, dims=[3])], 0)  # faces, then their mirror images
        if self.constant_stn:
            # one grid for every face: the batch goes through GridSample as the channels of one image
            # (two Reshapes around one GridSample; no per-face θ, grid or batch-sized broadcast)
            folded = F.grid_sample(
                x.reshape(1, -1, INPUT_SIZE, INPUT_SIZE),
                self.stn_grid.to(x.dtype),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=self.align_corners,
            )
            x = folded.reshape(-1, 1, self.size, self.size)
        else:
            theta = m.theta(x).float()  # (N, 2, 3), FP32 even in an FP16 graph
            grid = torch.matmul(self.grid, theta.transpose(1, 2))  # (N, H*W, 2)
            grid = grid.reshape(-1, self.size, self.size, 2).to(x.dtype)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners)
        logits = m.classify(x)
        if tta:
            logits = logits.reshape(2, -1, logits.shape[-1]).mean(0)
        return m.calibrated(logits)


def export_portable(model: DeepEmotion, path: str | Path | None = None, half: bool = False) -> bytes:
    """Export the portable flavour; returns the serialized model (and writes it to `path`).
    `half`: FP16 weights and I/O (for strongly typed TensorRT networks); theta stays FP32."""
    import copy

    src = copy.deepcopy(model).eval()
    wrapped = ExportableDeepEmotion(src.half() if half else src).eval()
    buf = io.BytesIO()
    x = torch.zeros(2, 1, INPUT_SIZE, INPUT_SIZE, dtype=torch.float16 if half else torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            wrapped,
            (x,),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            do_constant_folding=True,
        )
    data = _finalize(buf.getvalue(), model, "portable-fp16" if half else "portable")
    if path is not None:
        Path(path).write_bytes(data)
    return data


def stn_description(model: DeepEmotion) -> str:
    """How the graph gets θ: the localization net per face, or the constant it provably computes."""
    from .stn import constant_theta

    theta = constant_theta(model)
    if theta is None:
        return "theta from the localization net, per face"
    values = ", ".join(f"{v:.6g}" for v in theta.flatten().tolist())
    return f"constant theta [{values}] (the localization net's hidden units are provably never active)"


def _finalize(data: bytes, model: DeepEmotion, flavour: str) -> bytes:
    import json

    import onnx

    proto = onnx.load_from_string(data)
    proto.producer_name = "deepemotion"
    meta = {
        "flavour": flavour,
        "config": json.dumps(model.config.to_dict()),
        "classes": ",".join(CLASSES),
        "normalisation": f"(v/255-{MEAN})/{STD}",
        "hidden_units": f"{drop_dead_units(model).fc1.out_features} of {model.fc1.out_features} "
        "(units with all-zero fc2 weights left out)",
        "stn": stn_description(model),
    }
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def to_plugin_graph(portable: bytes) -> bytes:
    """Rewrite the portable graph's STN sampling into one `deepemotion::AffineGridSample` node."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load_from_string(portable)
    g = proto.graph
    producers = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    samplers = [n for n in g.node if n.op_type == "GridSample"]
    if len(samplers) != 1:
        raise ValueError(f"expected one GridSample in the portable graph, found {len(samplers)}")
    gs = samplers[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in gs.attribute}
    align = int(attrs.get("align_corners", 0))
    bilinear = attrs.get("mode", b"bilinear") in (b"bilinear", b"linear")
    if not bilinear or attrs.get("padding_mode", b"zeros") != b"zeros":
        raise ValueError(f"GridSample must be bilinear with zeros padding, got {attrs}")
    if gs.input[1] in inits or _constant(g, gs.input[1]) is not None:
        return _constant_stn_to_plugin(proto, gs, align)
    grid_src = producers.get(gs.input[1])
    if grid_src is not None and grid_src.op_type == "Cast":  # FP16 graph: the FP32 grid is cast down
        grid_src = producers.get(grid_src.input[0])
    reshape = grid_src
    matmul = producers.get(reshape.input[0]) if reshape is not None and reshape.op_type == "Reshape" else None
    if matmul is None or matmul.op_type != "MatMul":
        raise ValueError("GridSample's grid does not come from Reshape(MatMul(base_grid, theta^T))")
    base_name, tr_name = matmul.input
    transpose = producers.get(tr_name)
    if base_name not in inits or transpose is None or transpose.op_type != "Transpose":
        raise ValueError("the MatMul is not base_grid @ Transpose(theta)")
    grid = numpy_helper.to_array(inits[base_name])
    out_hw = grid.shape[0]
    side = int(round(out_hw**0.5))
    if not np.allclose(grid, base_grid(side, side, bool(align)), atol=1e-6):
        raise ValueError("the MatMul constant is not the affine_grid base grid")
    node = _plugin_node([gs.input[0], transpose.input[0]], list(gs.output), side, align)
    dead = {id(gs), id(reshape), id(matmul), id(transpose)}  # a Cast left unused is pruned below
    nodes = []
    for n in g.node:
        if id(n) == id(gs):
            nodes.append(node)
        elif id(n) not in dead:
            nodes.append(n)
    # drop producers that only fed the removed nodes (e.g. the Reshape's shape constant)
    del g.node[:]
    g.node.extend(nodes)
    return _finish_plugin_graph(proto)


def _finish_plugin_graph(proto: Any) -> bytes:
    import onnx
    from onnx import helper

    _prune(proto.graph)
    proto.opset_import.append(helper.make_opsetid(PLUGIN_DOMAIN, 1))
    for prop in proto.metadata_props:
        if prop.key == "flavour":
            prop.value = prop.value.replace("portable", "plugin")
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _constant(g: Any, name: str) -> np.ndarray | None:
    """The value of `name` when an initializer or a Constant node gives it, else None."""
    from onnx import numpy_helper

    for init in g.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for n in g.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t) if n.attribute[0].name == "value" else None
    return None


def _plugin_node(inputs: list[str], outputs: list[str], side: int, align: int) -> Any:
    """The AffineGridSample node (faces, θ) -> side x side samples, with the fields the plugin's creator reads."""
    from onnx import helper

    return helper.make_node(
        PLUGIN_OP,
        inputs,
        outputs,
        name="stn/AffineGridSample",
        domain=PLUGIN_DOMAIN,
        out_h=side,
        out_w=side,
        align_corners=align,
        plugin_version=PLUGIN_VERSION,
        plugin_namespace=PLUGIN_DOMAIN,
    )


def _folded_sampler(g: Any, gs: Any) -> tuple[Any, Any, list[Any]]:
    """The Reshape before a constant-grid GridSample, the Reshape after it, and between the first and the sampler the
    QuantizeLinear -> DequantizeLinear pairs an INT8 graph may put on the folded faces (None where a node is not
    there)."""
    producers = {o: n for n in g.node for o in n.output}
    consumers = [n for n in g.node if gs.output[0] in n.input]
    fold, unfold = producers.get(gs.input[0]), consumers[0] if len(consumers) == 1 else None
    qdq: list[Any] = []
    while fold is not None and fold.op_type == "DequantizeLinear":
        q = producers.get(fold.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            break
        qdq[:0] = [q, fold]
        fold = producers.get(q.input[0])
    return fold, unfold, qdq


def _plugin_nodes(x: str, qdq: list[Any], outputs: list[str], side: int, align: int) -> list[Any]:
    """The faces `x` requantized as `qdq` did after folding, then one AffineGridSample per face with the constant θ
    (`stn/theta_const`, expanded to the batch) writing `outputs`."""
    from onnx import helper

    requantize = []  # the same per-tensor quantization, applied to the faces before they are folded
    for i, node in enumerate(qdq):
        out = f"stn/faces_{node.op_type}_{i}"
        requantize.append(helper.make_node(node.op_type, [x, *node.input[1:]], [out], name=out))
        x = out
    return [
        *requantize,
        helper.make_node("Shape", [x], ["stn/batch"], start=0, end=1, name="stn/batch"),
        helper.make_node(
            "Concat", ["stn/batch", "stn/theta_tail"], ["stn/theta_shape"], axis=0, name="stn/theta_shape"
        ),
        helper.make_node("Expand", ["stn/theta_const", "stn/theta_shape"], ["stn/theta"], name="stn/theta"),
        _plugin_node([x, "stn/theta"], outputs, side, align),
    ]


def _constant_stn_to_plugin(proto: Any, gs: Any, align: int) -> bytes:
    """The constant-STN form -- Reshape(faces, [1, -1, H, W]) -> GridSample(constant grid) -> Reshape([-1, 1, h, w])
    -- as one AffineGridSample per face with the θ the grid was made from (recovered by least squares and checked
    against the grid), broadcast to the batch: what TensorRT's plugin has always been given."""
    from onnx import TensorProto, numpy_helper

    g = proto.graph
    fold, unfold, qdq = _folded_sampler(g, gs)
    grid = _constant(g, gs.input[1])
    shapes = [None if r is None or r.op_type != "Reshape" else _constant(g, r.input[1]) for r in (fold, unfold)]
    if (
        grid is None
        or grid.ndim != 4
        or grid.shape[0] != 1
        or grid.shape[1] != grid.shape[2]
        or shapes[0] is None
        or shapes[1] is None
        or list(shapes[0][:2]) != [1, -1]
        or list(shapes[1][:2]) != [-1, 1]
    ):
        raise ValueError(
            "a GridSample with a constant grid must sit between Reshape(x, [1, -1, H, W]) and "
            "Reshape(y, [-1, 1, h, w]) (the constant-STN form)"
        )
    theta_2x3, residual = fit_affine_grid(grid, bool(align))
    if residual > (1e-2 if grid.dtype == np.float16 else 1e-5):
        raise ValueError("the constant grid is not an affine grid")
    theta = numpy_helper.from_array(theta_2x3.reshape(1, 2, 3).astype(np.float32), "stn/theta_const")
    tail = numpy_helper.from_array(np.array([2, 3], np.int64), "stn/theta_tail")
    g.initializer.extend([theta, tail])
    new = _plugin_nodes(fold.input[0], qdq, list(unfold.output), grid.shape[1], align)
    assert theta.data_type == TensorProto.FLOAT
    nodes = []
    for n in g.node:
        if n is gs:
            nodes.extend(new)
        elif n is not fold and n is not unfold and all(n is not m for m in qdq):
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    return _finish_plugin_graph(proto)


def _prune(g: Any) -> None:
    needed = {o.name for o in g.output}
    keep = []
    for n in reversed(list(g.node)):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(i for i in n.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reference_session(plugin_model: bytes) -> Any:
    """An `onnx.reference.ReferenceEvaluator` for the plugin flavour, with AffineGridSample
    implemented by our C++ CPU kernel."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    from .._ext import assert_has_ext

    _C = assert_has_ext()

    class AffineGridSample(OpRun):
        op_domain = PLUGIN_DOMAIN

        def _run(
            self, x, theta, out_h=None, out_w=None, align_corners=None, plugin_version=None, plugin_namespace=None
        ):
            out = _C.affine_grid_sample_cpu(
                np.ascontiguousarray(x, np.float32),
                np.ascontiguousarray(theta, np.float32),
                int(out_h),
                int(out_w),
                bool(align_corners),
            )
            return (out,)

    return ReferenceEvaluator(plugin_model, new_ops=[AffineGridSample])


def scaled_error(got: Any, ref: Any) -> float:
    """max |got - ref| / max(1, |ref|): absolute for small logits, relative for large ones."""
    return float((np.abs(got - ref) / np.maximum(1.0, np.abs(ref))).max())


def verify_against_torch(model: DeepEmotion, run: Any, what: str, atol: float, n: int = 8, seed: int = 0) -> float:
    """Max scaled |run(x) - PyTorch(x)| over a random batch (`run`: numpy batch -> logits); RuntimeError when it
    is above `atol`."""
    x = torch.rand(n, 1, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    err = scaled_error(run(x.numpy()), ref)
    if err > atol:
        raise RuntimeError(f"{what} differs from PyTorch by {err:.3g} (> {atol})")
    return err


def ort_runner(data: bytes) -> Any:
    """numpy batch -> float32 logits through ONNX Runtime on the CPU (FP16 graphs are fed FP16)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    half = sess.get_inputs()[0].type == "tensor(float16)"
    return lambda x: sess.run(None, {INPUT_NAME: x.astype(np.float16) if half else x})[0].astype(np.float32)
