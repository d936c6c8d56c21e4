"""The warp-head pass: a graph whose first nodes only warp the input by a constant grid (a constant STN, as
`deepemotion.export` writes it) has that head cut off, so that the ONNX Runtime CPU backend runs the warp in C++
(`deepemotion.ops.constant_warp`) and the rest of the graph in ONNX Runtime. A performance pass on the graph's raw
protobuf bytes (`proto.py`), without the `onnx` package; why and how much it gains:
docs/notes/2026-12-02-constant-warp-in-cpp.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...ops.affine_grid_sample import fit_affine_grid
from .proto import (
    A_INTS,
    A_NAME,
    A_TYPE,
    A_TYPE_INTS,
    GRAPH,
    INITIALIZER,
    INPUT,
    LEN,
    N_ATTR,
    N_INPUT,
    N_OP,
    N_OUTPUT,
    NODE,
    OUTPUT,
    T_DIMS,
    T_FLOAT,
    T_INT32,
    T_INT64,
    T_RAW,
    VALUE_INFO,
    VARINT,
    Field,
    TensorInfo,
    encode_ints,
    encode_varint,
    initializer_array,
    initializer_name,
    input_field,
    packed_ints,
    parse,
    read_node,
    serialize,
    split_graph,
    submessages,
    tensor_info,
    with_tensor_dims,
)


@dataclass(frozen=True)
class WarpHead:
    """A graph's first nodes when they only warp the input by a constant grid (a constant STN), cut off:
    `graph` is the rest, whose input is `input_name` -- float32 warped faces, or, when the warp's output
    is quantized first (an INT8 graph), uint8 faces quantized with `scale`/`zero_point`. `theta` (2, 3)
    float32 gives the grid (`affine_grid(theta, (1, 1, *out_size), align_corners=False)` up to `residual`).
    `patch_pad` > 0: the first convolution (k x k, one input channel, stride 1, padding `patch_pad`, k = 2 *
    patch_pad + 1) was made a 1 x 1 convolution of k * k channels, so the rest takes the warped faces as k x k
    patches (`ConstantWarp.sample_patches`): the same sums, fewer cycles in ONNX Runtime's kernels. In an INT8
    graph the patches come channels last, (N, h, w, k * k), through a `Transpose` that ONNX Runtime cancels
    against the one its int8 kernels' NHWC layout would put there (`channels_last`); for the same reason the
    features are flattened channels last there too, with the fully connected layer's weight columns reordered
    to match (the same sums). Before the warp the head may also fake-quantize the input (`input_quant`: (scale,
    zero point) of an INT8 graph's first QuantizeLinear -> DequantizeLinear) and double the batch by the faces'
    mirror images (`flip`: a model's in-graph flip averaging, faces first, then their mirror images)."""

    graph: bytes
    input_name: str
    theta: Any
    out_size: tuple[int, int]
    scale: float | None
    zero_point: int | None
    residual: float
    patch_pad: int = 0
    channels_last: bool = False
    input_quant: tuple[float, int] | None = None
    flip: bool = False


#: the largest |grid - affine_grid(theta)| (normalised coordinates, ~1/20000 of a pixel at 48) a head may have
WARP_FIT_TOLERANCE = 1e-5


class _GraphView:
    """A graph's nodes, initializers and who reads what, decoded once (initializer values only on request)."""

    def __init__(self, graph: list[Field]) -> None:
        self.fields = graph
        self.inits = {initializer_name(p): p for n, w, p in graph if n == INITIALIZER and w == LEN}
        self.inputs = [i for i in (tensor_info(v) for v in submessages(graph, INPUT)) if i.name not in self.inits]
        self.outputs = {i.name for i in (tensor_info(v) for v in submessages(graph, OUTPUT))}
        self.nodes = [read_node(p) for n, w, p in graph if n == NODE and w == LEN]
        self.readers: dict[str, list[int]] = {}
        self.producer = {name: k for k, node in enumerate(self.nodes) for name in node.outputs}
        for k, node in enumerate(self.nodes):
            for name in node.inputs:
                self.readers.setdefault(name, []).append(k)
        self.constants = {
            node.outputs[0]: k
            for k, node in enumerate(self.nodes)
            if node.op_type == "Constant" and len(node.outputs) == 1 and "value" in node.tensors
        }

    def only_reader(self, name: str, op: str) -> int | None:
        """The one node that reads `name`, when it is an `op` and `name` is not a graph output."""
        ks = self.readers.get(name, [])
        if len(ks) != 1 or name in self.outputs or self.nodes[ks[0]].op_type != op or not self.nodes[ks[0]].outputs:
            return None
        return ks[0]

    def const(self, name: str, head: list[int]) -> Any:
        """An initializer's or a Constant node's array, or None; a Constant that only the head reads joins
        `head`."""
        if name in self.inits:
            return initializer_array(self.inits[name])
        if name in self.constants:
            k = self.constants[name]
            if len(self.readers.get(name, [])) == 1 and name not in self.outputs:
                head.append(k)
            return initializer_array(self.nodes[k].tensors["value"])
        return None


def _qparams(g: _GraphView, k: int, head: list[int]) -> tuple[float, int] | None:
    """(scale, zero point) of a QuantizeLinear / DequantizeLinear node to uint8 with scalar parameters, else None."""
    import numpy as np

    node = g.nodes[k]
    found: list[int] = []  # Constant nodes join `head` only when the parameters are ours
    if len(node.inputs) != 3:
        return None
    scale, zp = g.const(node.inputs[1], found), g.const(node.inputs[2], found)
    if (
        scale is None
        or zp is None
        or scale.size != 1
        or zp.size != 1
        or zp.dtype != np.uint8
        or not np.isfinite(scale).all()
        or float(scale.ravel()[0]) <= 0
    ):
        return None
    head += found
    return float(scale.ravel()[0]), int(zp.ravel()[0])


def _skip_requantize(g: _GraphView, name: str, quant: tuple[float, int] | None, head: list[int]) -> str | None:
    """`name`, or the output of the QuantizeLinear -> DequantizeLinear pair after it when the pair has the input's
    own parameters `quant` (an identity on values already on that grid: the pair joins `head`); None where a
    pair has other parameters."""
    q = g.only_reader(name, "QuantizeLinear") if quant is not None else None
    if q is None:
        return name
    d = g.only_reader(g.nodes[q].outputs[0], "DequantizeLinear")
    if d is None or _qparams(g, q, head) != quant or _qparams(g, d, head) != quant:
        return None
    head += [q, d]
    return g.nodes[d].outputs[0]


def _match_pre_warp(g: _GraphView, x: TensorInfo, head: list[int]) -> tuple[str, Any, bool] | None:
    """What may come before the warp: the input fake-quantized (QuantizeLinear -> DequantizeLinear, an INT8 graph)
    and the batch doubled by its mirror images (a model's in-graph flip: Concat(x, Slice(x) reversed along the
    width) along the batch). (the tensor the warp's Reshape reads, the fake quantization's (scale, zero point) or
    None, whether the batch is doubled); None for anything else around them."""
    import numpy as np

    name, quant = x.name, None
    q = g.only_reader(name, "QuantizeLinear")
    if q is not None:
        d = g.only_reader(g.nodes[q].outputs[0], "DequantizeLinear")
        quant = _qparams(g, q, head)
        if d is None or quant is None or _qparams(g, d, head) != quant:
            return None
        head += [q, d]
        name = g.nodes[d].outputs[0]
    readers = g.readers.get(name, [])
    if sorted(g.nodes[k].op_type for k in readers) != ["Concat", "Slice"] or name in g.outputs:
        return name, quant, False
    sl, cat = sorted(readers, key=lambda k: g.nodes[k].op_type != "Slice")
    args = [g.const(t, head) for t in g.nodes[sl].inputs[1:]]
    if len(args) != 4 or g.nodes[sl].inputs[0] != name or any(a is None for a in args):
        return None
    starts, ends, axes, steps = (np.ravel(a).tolist() for a in args)
    width = x.shape[3] if x.shape is not None and len(x.shape) == 4 else None
    if not isinstance(width, int) or starts != [-1] or steps != [-1] or axes not in ([3], [-1]) or ends[0] > -width - 1:
        return None
    head.append(sl)
    mirrored = _skip_requantize(g, g.nodes[sl].outputs[0], quant, head)
    if mirrored is None or g.nodes[cat].attributes.get("axis") != 0 or list(g.nodes[cat].inputs) != [name, mirrored]:
        return None
    head.append(cat)
    doubled = _skip_requantize(g, g.nodes[cat].outputs[0], quant, head)
    return (doubled, quant, True) if doubled is not None else None


def _is_plain_grid_sample(grid: Any, attributes: dict[str, Any]) -> bool:
    """Whether a GridSample samples by one finite float32 (1, h, w, 2) grid, bilinear, with zeros padding and
    align_corners=0 (what the head's sampler computes)."""
    import numpy as np

    return (
        grid is not None
        and grid.dtype == np.float32
        and grid.ndim == 4
        and grid.shape[0] == 1
        and grid.shape[3] == 2
        and bool(np.isfinite(grid).all())
        and attributes.get("align_corners", 0) == 0
        and attributes.get("padding_mode", b"zeros") == b"zeros"
        and attributes.get("mode", b"bilinear") in (b"bilinear", b"linear")
    )


def _match_head(g: _GraphView) -> tuple[list[int], Any, str, tuple[float, int] | None, Any, bool] | None:
    """(the head's node indices, its grid, the tensor the rest starts from, the quantization (scale, zero point) of
    that tensor or None, the input's fake quantization or None, whether the batch is doubled by mirror images)
    when the graph starts with a constant warp head, else None."""
    import numpy as np

    x = g.inputs[0] if len(g.inputs) == 1 else None
    if (
        x is None
        or x.shape is None
        or len(x.shape) != 4
        or x.shape[1] != 1
        or x.elem_type != 1
        or not all(isinstance(d, int) for d in x.shape[2:])
    ):
        return None
    head: list[int] = []
    pre = _match_pre_warp(g, x, head)
    if pre is None:
        return None
    src, quant, flip = pre
    k = g.only_reader(src, "Reshape")
    if (
        k is None
        or g.nodes[k].inputs[0] != src
        or list(np.ravel(g.const(g.nodes[k].inputs[1], head))) != [1, -1, *x.shape[2:]]
    ):
        return None
    head.append(k)
    r = _skip_requantize(g, g.nodes[k].outputs[0], quant, head)
    k = g.only_reader(r, "GridSample") if r is not None else None
    if k is None or len(g.nodes[k].inputs) != 2:
        return None
    sample, grid = g.nodes[k], g.const(g.nodes[k].inputs[1], head)
    if not _is_plain_grid_sample(grid, sample.attributes):
        return None
    head.append(k)
    k = g.only_reader(sample.outputs[0], "Reshape")
    if (
        k is None
        or g.nodes[k].inputs[0] != sample.outputs[0]
        or list(np.ravel(g.const(g.nodes[k].inputs[1], head))) != [-1, 1, *grid.shape[1:3]]
    ):
        return None
    head.append(k)
    cut = g.nodes[k].outputs[0]
    q = g.only_reader(cut, "QuantizeLinear")
    out_quant = _qparams(g, q, head) if q is not None else None
    if q is not None and out_quant is not None:
        return [*head, q], grid, g.nodes[q].outputs[0], out_quant, quant, flip
    return head, grid, cut, None, quant, flip


def _match_patch_conv(g: _GraphView, cut: str, quant: tuple[float, int] | None) -> tuple[int, str, int] | None:
    """(the Conv's index, its weight initializer, the padding) when the head's output feeds one k x k Conv with one
    input channel, stride 1, no dilation and padding (k - 1) / 2 -- and nothing else -- through a DequantizeLinear
    with the head's quantization `quant` in an INT8 graph (its zero point is the patches' padding); else None."""
    k = g.only_reader(cut, "DequantizeLinear") if quant is not None else None
    if quant is not None and (k is None or _qparams(g, k, []) != quant):  # [] : the DequantizeLinear stays
        return None
    src = g.nodes[k].outputs[0] if k is not None else cut
    c = g.only_reader(src, "Conv")
    if c is None or g.nodes[c].inputs[0] != src or len(g.nodes[c].inputs) < 2:
        return None
    conv, weight = g.nodes[c], g.nodes[c].inputs[1]
    if weight not in g.inits:  # a QDQ graph: the weight is a DequantizeLinear of an initializer
        dq = g.producer.get(weight, -1)
        if dq < 0 or g.nodes[dq].op_type != "DequantizeLinear" or g.only_reader(weight, "Conv") is None:
            return None
        weight = g.nodes[dq].inputs[0]
    if weight not in g.inits or len(g.readers.get(weight, [])) != 1:
        return None
    dims = packed_ints(parse(g.inits[weight]), T_DIMS, signed=True)
    a = conv.attributes
    if (
        len(dims) != 4
        or dims[1] != 1
        or dims[2] != dims[3]
        or dims[2] % 2 != 1
        or a.get("group", 1) != 1
        or a.get("auto_pad", b"NOTSET") != b"NOTSET"
        or conv.ints.get("kernel_shape") != dims[2:]
        or conv.ints.get("strides", [1, 1]) != [1, 1]
        or conv.ints.get("dilations", [1, 1]) != [1, 1]
        or conv.ints.get("pads") != [dims[2] // 2] * 4
    ):
        return None
    return c, weight, dims[2] // 2


def _as_patch_conv(node: bytes) -> bytes:
    """A Conv node with kernel_shape [1, 1] and pads [0, 0, 0, 0] (its other attributes kept)."""
    out: list[Field] = []
    for n, w, p in parse(node):
        if n == N_ATTR and w == LEN:
            name = b"".join(submessages(parse(p), A_NAME))
            if name in (b"kernel_shape", b"pads"):
                values = [1, 1] if name == b"kernel_shape" else [0, 0, 0, 0]
                p = serialize(
                    [
                        (A_NAME, LEN, name),
                        (A_INTS, LEN, encode_ints(values)),
                        (A_TYPE, VARINT, encode_varint(A_TYPE_INTS)),
                    ]
                )
        out.append((n, w, p))
    return serialize(out)


def _with_first_input(node: bytes, name: str) -> bytes:
    """A node reading `name` as its first input."""
    fields, first = [], True
    for n, w, p in parse(node):
        if n == N_INPUT and w == LEN and first:
            p, first = name.encode(), False
        fields.append((n, w, p))
    return serialize(fields)


#: ops between the last convolution and the Flatten that keep its channels (and, but for pooling, its layout)
_CHANNEL_KEEPING = ("DequantizeLinear", "QuantizeLinear", "MaxPool", "AveragePool", "Relu")


def _match_channels_last_flatten(g: _GraphView) -> tuple[int, str, int, int] | None:
    """(the Flatten's index, the fc weight initializer, channels, side) when an INT8 graph flattens (N, C, s, s)
    features of a convolution -- through Q/DQ, pooling, ReLU -- into a Gemm (transB=1) whose weight is a
    per-output-row DequantizeLinear of an (O, C*s*s) initializer, through Q/DQ only; else None. Flattening those
    features channels last instead, with the weight's columns in (h, w, c) order, gives the same sums."""
    flats = [k for k, n in enumerate(g.nodes) if n.op_type == "Flatten"]
    if len(flats) != 1 or g.nodes[flats[0]].attributes.get("axis", 1) != 1:
        return None
    f = flats[0]
    k = g.producer.get(g.nodes[f].inputs[0], -1)  # back to the convolution: how many channels
    while k >= 0 and g.nodes[k].op_type in _CHANNEL_KEEPING:
        k = g.producer.get(g.nodes[k].inputs[0], -1)
    if k < 0 or g.nodes[k].op_type != "Conv" or g.nodes[f].inputs[0] in g.outputs:
        return None
    conv_w = g.nodes[k].inputs[1]
    conv_w = conv_w if conv_w in g.inits else g.nodes[g.producer[conv_w]].inputs[0] if conv_w in g.producer else ""
    if conv_w not in g.inits:
        return None
    channels = packed_ints(parse(g.inits[conv_w]), T_DIMS, signed=True)[0]
    gemm: int | None = g.only_reader(g.nodes[f].outputs[0], "QuantizeLinear")  # forward to the Gemm, through Q/DQ
    gemm = g.only_reader(g.nodes[gemm].outputs[0], "DequantizeLinear") if gemm is not None else None
    gemm = g.only_reader(g.nodes[gemm].outputs[0], "Gemm") if gemm is not None else None
    if gemm is None or g.nodes[gemm].attributes.get("transB", 0) != 1 or g.nodes[gemm].attributes.get("transA", 0) != 0:
        return None
    dq = g.producer.get(g.nodes[gemm].inputs[1], -1)
    if (
        dq < 0
        or g.nodes[dq].op_type != "DequantizeLinear"
        or g.nodes[dq].attributes.get("axis", 1) != 0
        or g.nodes[dq].inputs[0] not in g.inits
        or len(g.readers.get(g.nodes[dq].inputs[0], [])) != 1
    ):
        return None
    weight = g.nodes[dq].inputs[0]
    dims = packed_ints(parse(g.inits[weight]), T_DIMS, signed=True)
    side = int(round((dims[1] // channels) ** 0.5)) if len(dims) == 2 and channels > 0 else 0
    if side < 1 or channels * side * side != dims[1]:
        return None
    return f, weight, channels, side


def _with_columns_channels_last(tensor: bytes, channels: int, side: int) -> bytes:
    """An (O, C*s*s) weight initializer with its columns reordered from (c, h, w) to (h, w, c)."""
    import numpy as np

    w = initializer_array(tensor)
    if w is None:
        raise ValueError("an fc weight of a type not read here")
    o = w.shape[0]
    w = np.ascontiguousarray(w.reshape(o, channels, side, side).transpose(0, 2, 3, 1).reshape(o, -1))
    raw = w.astype(w.dtype.newbyteorder("<")).tobytes()  # raw_data is little-endian
    return serialize([f for f in parse(tensor) if f[0] not in (T_FLOAT, T_INT32, T_INT64, T_RAW)] + [(T_RAW, LEN, raw)])


def _transpose_node(src: str, dst: str, perm: list[int]) -> bytes:
    return serialize(
        [
            (N_INPUT, LEN, src.encode()),
            (N_OUTPUT, LEN, dst.encode()),
            (N_OP, LEN, b"Transpose"),
            (
                N_ATTR,
                LEN,
                serialize(
                    [
                        (A_NAME, LEN, b"perm"),
                        (A_INTS, LEN, encode_ints(perm)),
                        (A_TYPE, VARINT, encode_varint(A_TYPE_INTS)),
                    ]
                ),
            ),
        ]
    )


def _tolerant(match: Any, *args: Any) -> Any:
    """A matcher's result, or None for a graph whose nodes lack inputs or outputs their ops need (not a head we
    know: the graph then runs whole, and ONNX Runtime says what is wrong with it)."""
    try:
        return match(*args)
    except (IndexError, KeyError):
        return None


def _rest_nodes(
    g: _GraphView, graph: list[Field], head: list[int], conv: Any, flat: Any, channels_last: tuple[str, str] | None
) -> list[Field]:
    """The rest graph's nodes, in order: without the head's, the patch convolution's and the flatten's edited, and
    a Transpose first when the patches come channels last (`channels_last`: their name and the head's cut)."""
    nodes = [p for n, w, p in graph if n == NODE and w == LEN]
    out: list[Field] = [(NODE, LEN, _transpose_node(*channels_last, [0, 3, 1, 2]))] if channels_last else []
    for k, p in enumerate(nodes):  # nodes first, in order (field order is free)
        if k in head:
            continue
        if conv and k == conv[0]:
            p = _as_patch_conv(p)
        elif flat and k == flat[0]:
            src = g.nodes[k].inputs[0]
            out.append((NODE, LEN, _transpose_node(src, f"{src}_channels_last", [0, 2, 3, 1])))
            p = _with_first_input(p, f"{src}_channels_last")
        out.append((NODE, LEN, p))
    return out


def constant_warp_head(model: bytes, patches: bool = True) -> WarpHead | None:
    """The graph's constant warp head, cut off (see `WarpHead`), or None when the graph does not start
    with one. The head recognised is what `deepemotion.export` writes for a constant STN -- input (N, 1, H, W)
    -> Reshape to (1, N, H, W) -> GridSample by a constant (1, h, w, 2) grid (bilinear, zeros, align_corners=0)
    -> Reshape to (N, 1, h, w) [-> QuantizeLinear to uint8] -- with nothing else reading its tensors; anything
    else gives None (the graph then runs whole). `patches`: where it fits, the first convolution is made a 1 x 1
    one over k x k patches of the samples (`WarpHead.patch_pad`). ValueError for bytes that are not an ONNX
    model."""
    top, at, graph = split_graph(model)
    g = _GraphView(graph)
    match = _tolerant(_match_head, g)
    if match is None:
        return None
    head, grid, cut, out_quant, in_quant, flip = match
    scale, zero_point = out_quant if out_quant is not None else (None, None)
    theta, residual = fit_affine_grid(grid)
    if residual > WARP_FIT_TOLERANCE:
        return None
    theta = theta.astype("float32", order="C")
    conv = _tolerant(_match_patch_conv, g, cut, out_quant) if patches else None
    pad, last = (conv[2] if conv else 0), bool(conv) and scale is not None  # INT8 patches: channels last
    name, out_size = (f"{cut}_channels_last" if last else cut), (int(grid.shape[1]), int(grid.shape[2]))
    x, k2 = g.inputs[0], (2 * pad + 1) ** 2
    batch = x.shape[0] if x.shape is not None and isinstance(x.shape[0], str) else "N"
    new_input = input_field(name, 1 if scale is None else 2, [batch, *out_size, k2] if last else [batch, k2, *out_size])
    flat = _tolerant(_match_channels_last_flatten, g) if last else None  # INT8: features flattened channels last too
    # the rest: the head's nodes and the initializers only they read dropped, the input renamed and retyped, the
    # patch convolution's node and weight edited, for channels-last patches a Transpose first, and for the
    # channels-last flatten a Transpose before the Flatten and the fc weight's columns reordered
    still_read = {t for k, node in enumerate(g.nodes) if k not in head for t in node.inputs}
    out = _rest_nodes(g, graph, head, conv, flat, (name, cut) if last else None)
    for n, w, p in graph:
        if (
            n == NODE
            and w == LEN
            or n == VALUE_INFO
            and w == LEN
            and tensor_info(p).name == cut
            or n == INITIALIZER
            and w == LEN
            and initializer_name(p) not in still_read
        ):
            continue
        if n == INPUT and w == LEN and tensor_info(p).name == x.name:
            p = new_input
        elif conv and n == INITIALIZER and w == LEN and initializer_name(p) == conv[1]:
            dims = packed_ints(parse(p), T_DIMS, signed=True)
            p = with_tensor_dims(p, [dims[0], dims[2] * dims[3], 1, 1])  # (M, 1, k, k) -> (M, k*k, 1, 1)
        elif flat and n == INITIALIZER and w == LEN and initializer_name(p) == flat[1]:
            p = _with_columns_channels_last(p, flat[2], flat[3])
        out.append((n, w, p))
    top[at] = (GRAPH, LEN, serialize(out))
    return WarpHead(serialize(top), name, theta, out_size, scale, zero_point, residual, pad, last, in_quant, flip)
