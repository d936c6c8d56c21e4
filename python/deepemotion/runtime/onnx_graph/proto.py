"""An ONNX file's interface -- its inputs, outputs and their shapes -- read and edited without the `onnx`
package, which is not a runtime dependency (a user's `pip install .` does not bring it).

An ONNX file is one protobuf `ModelProto`. Only the fields on the path to the graph's inputs and outputs are
decoded here; every other field is kept as its original bytes, so an edit changes nothing else. The field
numbers are those of `onnx/onnx.proto` (stable since ONNX 1.0):

    ModelProto.graph = 7;  GraphProto.input = 11, output = 12, value_info = 13;  ValueInfoProto.name = 1, type = 2;
    TypeProto.tensor_type = 1;  TypeProto.Tensor.elem_type = 1, shape = 2;  TensorShapeProto.dim = 1;
    Dimension.dim_value = 1, dim_param = 2

Beyond the interface, enough of a graph's nodes (`read_node`) and initializers (`initializer_array`) is decoded, and
enough encoded (`encode_ints`, `input_field`, `with_tensor_dims`), for the warp-head pass (`warp_head.py`). A file
that is not a well-formed protobuf (truncated, random bytes, empty) raises `ValueError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

VARINT, I64, LEN, I32 = 0, 1, 2, 5
GRAPH, INPUT, OUTPUT, VALUE_INFO = 7, 11, 12, 13
NAME, TYPE, TENSOR_TYPE, ELEM_TYPE, SHAPE, DIM, DIM_VALUE, DIM_PARAM = 1, 2, 1, 1, 2, 1, 1, 2

Field = tuple[int, int, bytes]  # field number, wire type, payload (a LEN field's content, else the raw value bytes)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not b & 0x80:
            return value, pos


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b, value = value & 0x7F, value >> 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def parse(buf: bytes) -> list[Field]:
    """The top-level fields of one protobuf message, in order."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == VARINT:
            start = pos
            _, pos = read_varint(buf, pos)
            payload = buf[start:pos]
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
            payload, pos = buf[pos : pos + size], pos + size
        elif wire == LEN:
            size, pos = read_varint(buf, pos)
            payload, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        fields.append((number, wire, payload))
    return fields


def serialize(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, payload in fields:
        out += encode_varint(number << 3 | wire)
        if wire == LEN:
            out += encode_varint(len(payload))
        out += payload
    return bytes(out)


def submessages(fields: list[Field], number: int) -> list[bytes]:
    return [p for n, w, p in fields if n == number and w == LEN]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    elem_type: int | None  # ONNX TensorProto.DataType (1 = float, 10 = float16), None when not a tensor
    shape: tuple[int | str | None, ...] | None  # int: fixed, str: symbolic, None: unknown; None: rank unknown


def tensor_info(value_info: bytes) -> TensorInfo:
    f = parse(value_info)
    name = b"".join(submessages(f, NAME)).decode("utf-8", "replace")
    tensor = [parse(t) for typ in submessages(f, TYPE) for t in submessages(parse(typ), TENSOR_TYPE)]
    if not tensor:
        return TensorInfo(name, None, None)
    elem = [read_varint(p, 0)[0] for n, w, p in tensor[0] if n == ELEM_TYPE and w == VARINT]
    shapes = submessages(tensor[0], SHAPE)
    dims: tuple[int | str | None, ...] | None = None
    if shapes:
        out: list[int | str | None] = []
        for d in submessages(parse(shapes[0]), DIM):
            df = parse(d)
            value = [read_varint(p, 0)[0] for n, w, p in df if n == DIM_VALUE and w == VARINT]
            param = submessages(df, DIM_PARAM)
            out.append(value[0] if value else param[0].decode("utf-8", "replace") if param else None)
        dims = tuple(out)
    return TensorInfo(name, elem[0] if elem else None, dims)


def split_graph(model: bytes) -> tuple[list[Field], int, list[Field]]:
    """(the model's fields, the index of its graph field, the graph's fields); ValueError when there is none."""
    top = parse(model)
    where = [i for i, (n, w, _) in enumerate(top) if n == GRAPH and w == LEN]
    if len(where) != 1:
        raise ValueError("not an ONNX model (no graph)")
    return top, where[0], parse(top[where[0]][2])


def interface(model: bytes) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """(inputs, outputs) of an ONNX model's graph. Initializers listed as inputs (old exporters) are included."""
    _, _, graph = split_graph(model)
    return [tensor_info(v) for v in submessages(graph, INPUT)], [tensor_info(v) for v in submessages(graph, OUTPUT)]


def _with_dims(value_info: bytes, names: dict[int, str]) -> bytes:
    """`value_info` with the dimensions at the given positions replaced by the given symbols."""

    def edit(fields: list[Field], number: int, fn: Callable[[bytes], bytes]) -> list[Field]:
        return [(n, w, fn(p) if n == number and w == LEN else p) for n, w, p in fields]

    def shape(buf: bytes) -> bytes:
        f, k = parse(buf), -1
        out: list[Field] = []
        for n, w, p in f:
            if n == DIM and w == LEN:
                k += 1
                if k in names:
                    p = serialize([(DIM_PARAM, LEN, names[k].encode())])
            out.append((n, w, p))
        return serialize(out)

    def tensor(buf: bytes) -> bytes:
        return serialize(edit(parse(buf), SHAPE, shape))

    def typ(buf: bytes) -> bytes:
        return serialize(edit(parse(buf), TENSOR_TYPE, tensor))

    return serialize(edit(parse(value_info), TYPE, typ))


def make_dims_symbolic(model: bytes, inputs: dict[int, str], outputs: dict[int, str]) -> bytes:
    """The model with the first input's dimensions at the positions in `inputs` and every output's at the
    positions in `outputs` made symbolic (e.g. `{2: "height", 3: "width"}`), and the graph's intermediate
    shape annotations (`value_info`) dropped, since they were inferred for the old sizes."""
    top, at, graph = split_graph(model)
    out: list[Field] = []
    first_input = True
    for n, w, p in graph:
        if n == VALUE_INFO and w == LEN:
            continue
        if n == INPUT and w == LEN and first_input:
            p, first_input = _with_dims(p, inputs), False
        elif n == OUTPUT and w == LEN:
            p = _with_dims(p, outputs)
        out.append((n, w, p))
    top[at] = (GRAPH, LEN, serialize(out))
    return serialize(top)


# --- nodes and initializers: enough to find (and cut off) a graph's constant warp head --------------------------
# GraphProto.node = 1, initializer = 5;  NodeProto.input = 1, output = 2, op_type = 4, attribute = 5;
# AttributeProto.name = 1, i = 3, s = 4, t = 5, ints = 8, type = 20 (INTS = 7);
# TensorProto.dims = 1, data_type = 2, float_data = 4, int32_data = 5,
# int64_data = 7, name = 8, raw_data = 9
NODE, INITIALIZER = 1, 5
N_INPUT, N_OUTPUT, N_OP, N_ATTR = 1, 2, 4, 5
A_NAME, A_INT, A_STR, A_TENSOR, A_INTS, A_TYPE, A_TYPE_INTS = 1, 3, 4, 5, 8, 20, 7
T_DIMS, T_TYPE, T_FLOAT, T_INT32, T_INT64, T_NAME, T_RAW = 1, 2, 4, 5, 7, 8, 9
#: TensorProto.DataType -> numpy dtype name, for the initializers read here
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}


@dataclass(frozen=True)
class Node:
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: dict[str, int | bytes]  # int and string attributes; others are left out
    tensors: dict[str, bytes]  # tensor attributes (a Constant's value), as TensorProto bytes
    ints: dict[str, list[int]]  # list-of-ints attributes (a Conv's kernel_shape, pads, strides)


def read_node(buf: bytes) -> Node:
    f = parse(buf)
    attrs: dict[str, int | bytes] = {}
    tensors: dict[str, bytes] = {}
    lists: dict[str, list[int]] = {}
    for a in submessages(f, N_ATTR):
        af = parse(a)
        name = b"".join(submessages(af, A_NAME)).decode("utf-8", "replace")
        ints = [read_varint(p, 0)[0] for n, w, p in af if n == A_INT and w == VARINT]
        strs, ts = submessages(af, A_STR), submessages(af, A_TENSOR)
        if any(n == A_INTS for n, _, _ in af):
            lists[name] = packed_ints(af, A_INTS, signed=True)
        if ts:
            tensors[name] = ts[0]
        elif ints:
            attrs[name] = ints[0] - (1 << 64) if ints[0] >= 1 << 63 else ints[0]
        elif strs:
            attrs[name] = strs[0]
    text = [(n, p.decode("utf-8", "replace")) for n, w, p in f if w == LEN and n in (N_INPUT, N_OUTPUT, N_OP)]
    return Node(
        next((t for n, t in text if n == N_OP), ""),
        tuple(t for n, t in text if n == N_INPUT),
        tuple(t for n, t in text if n == N_OUTPUT),
        attrs,
        tensors,
        lists,
    )


def packed_ints(fields: list[Field], number: int, signed: bool) -> list[int]:
    """A repeated varint field, packed or not."""
    out: list[int] = []
    for n, w, p in fields:
        if n != number:
            continue
        if w == VARINT:
            out.append(read_varint(p, 0)[0])
        elif w == LEN:
            pos = 0
            while pos < len(p):
                v, pos = read_varint(p, pos)
                out.append(v)
    return [v - (1 << 64) if signed and v >= 1 << 63 else v for v in out]


def initializer_name(buf: bytes) -> str:
    return b"".join(submessages(parse(buf), T_NAME)).decode("utf-8", "replace")


def initializer_array(buf: bytes) -> Any:
    """The numpy array of a TensorProto, or None for a data type or layout not read here."""
    import numpy as np

    f = parse(buf)
    dims = packed_ints(f, T_DIMS, signed=True)
    types = packed_ints(f, T_TYPE, signed=False)
    dtype = DTYPES.get(types[0]) if types else None
    if dtype is None or any(d < 0 for d in dims):
        return None
    raw = submessages(f, T_RAW)
    if raw:
        values = np.frombuffer(raw[0], np.dtype(dtype).newbyteorder("<"))
    elif dtype == "float32":
        values = np.frombuffer(b"".join(submessages(f, T_FLOAT)), "<f4")
    elif dtype == "int64":
        values = np.array(packed_ints(f, T_INT64, signed=True), np.int64)
    else:  # int32_data carries the int32 and the 8-bit types
        values = np.array(packed_ints(f, T_INT32, signed=True)).astype(dtype)
    size = int(np.prod(dims)) if dims else 1
    if values.size != size:
        return None
    return values.astype(dtype).reshape(dims)


def encode_ints(values: list[int]) -> bytes:
    return b"".join(encode_varint(v & ((1 << 64) - 1)) for v in values)  # packed, two's complement int64


def with_tensor_dims(tensor: bytes, dims: list[int]) -> bytes:
    return serialize([(T_DIMS, LEN, encode_ints(dims))] + [f for f in parse(tensor) if f[0] != T_DIMS])


def input_field(name: str, elem_type: int, dims: list[int | str]) -> bytes:
    """A graph input (ValueInfoProto): a tensor of `elem_type` with `dims` (int: fixed, str: symbolic)."""
    dim = [
        serialize([(DIM_PARAM, LEN, d.encode())] if isinstance(d, str) else [(DIM_VALUE, VARINT, encode_varint(d))])
        for d in dims
    ]
    shape = serialize([(DIM, LEN, d) for d in dim])
    tensor = serialize([(ELEM_TYPE, VARINT, encode_varint(elem_type)), (SHAPE, LEN, shape)])
    return serialize([(NAME, LEN, name.encode()), (TYPE, LEN, serialize([(TENSOR_TYPE, LEN, tensor)]))])
