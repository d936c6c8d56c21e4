"""An ONNX file's interface -- its inputs, outputs and their shapes -- read and edited without the ``onnx``
package, which is not a runtime dependency (a user's ``pip install deepemotion`` does not bring it).

An ONNX file is one protobuf ``ModelProto``. Only the fields on the path to the graph's inputs and outputs are
decoded here; every other field is kept as its original bytes, so an edit changes nothing else. The field
numbers are those of ``onnx/onnx.proto`` (stable since ONNX 1.0):

    ModelProto.graph = 7;  GraphProto.input = 11, output = 12, value_info = 13;  ValueInfoProto.name = 1, type = 2;
    TypeProto.tensor_type = 1;  TypeProto.Tensor.elem_type = 1, shape = 2;  TensorShapeProto.dim = 1;
    Dimension.dim_value = 1, dim_param = 2

A file that is not a well-formed protobuf (truncated, random bytes, empty) raises :class:`ValueError`.
"""
from __future__ import annotations

from dataclasses import dataclass

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_GRAPH, _INPUT, _OUTPUT, _VALUE_INFO = 7, 11, 12, 13
_NAME, _TYPE, _TENSOR_TYPE, _ELEM_TYPE, _SHAPE, _DIM, _DIM_VALUE, _DIM_PARAM = 1, 2, 1, 1, 2, 1, 1, 2

Field = tuple[int, int, bytes]  # field number, wire type, payload (a LEN field's content, else the raw value bytes)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not b & 0x80:
            return value, pos


def _encode_varint(value: int) -> bytes:
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
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == _VARINT:
            start = pos
            _, pos = _varint(buf, pos)
            payload = buf[start:pos]
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            payload, pos = buf[pos:pos + size], pos + size
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            payload, pos = buf[pos:pos + size], pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        fields.append((number, wire, payload))
    return fields


def serialize(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, payload in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == _LEN:
            out += _encode_varint(len(payload))
        out += payload
    return bytes(out)


def _sub(fields: list[Field], number: int) -> list[bytes]:
    return [p for n, w, p in fields if n == number and w == _LEN]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    elem_type: int | None            # ONNX TensorProto.DataType (1 = float, 10 = float16), None when not a tensor
    shape: tuple[int | str | None, ...] | None  # int: fixed, str: symbolic, None: unknown; None: rank unknown


def _tensor_info(value_info: bytes) -> TensorInfo:
    f = parse(value_info)
    name = b"".join(_sub(f, _NAME)).decode("utf-8", "replace")
    tensor = [parse(t) for typ in _sub(f, _TYPE) for t in _sub(parse(typ), _TENSOR_TYPE)]
    if not tensor:
        return TensorInfo(name, None, None)
    elem = [_varint(p, 0)[0] for n, w, p in tensor[0] if n == _ELEM_TYPE and w == _VARINT]
    shapes = _sub(tensor[0], _SHAPE)
    dims: tuple[int | str | None, ...] | None = None
    if shapes:
        out: list[int | str | None] = []
        for d in _sub(parse(shapes[0]), _DIM):
            df = parse(d)
            value = [_varint(p, 0)[0] for n, w, p in df if n == _DIM_VALUE and w == _VARINT]
            param = _sub(df, _DIM_PARAM)
            out.append(value[0] if value else param[0].decode("utf-8", "replace") if param else None)
        dims = tuple(out)
    return TensorInfo(name, elem[0] if elem else None, dims)


def _graph(model: bytes) -> tuple[list[Field], int, list[Field]]:
    """(the model's fields, the index of its graph field, the graph's fields); ValueError when there is none."""
    top = parse(model)
    where = [i for i, (n, w, _) in enumerate(top) if n == _GRAPH and w == _LEN]
    if len(where) != 1:
        raise ValueError("not an ONNX model (no graph)")
    return top, where[0], parse(top[where[0]][2])


def interface(model: bytes) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """(inputs, outputs) of an ONNX model's graph. Initializers listed as inputs (old exporters) are included."""
    _, _, graph = _graph(model)
    return [_tensor_info(v) for v in _sub(graph, _INPUT)], [_tensor_info(v) for v in _sub(graph, _OUTPUT)]


def _with_dims(value_info: bytes, names: dict[int, str]) -> bytes:
    """``value_info`` with the dimensions at the given positions replaced by the given symbols."""

    def edit(fields: list[Field], number: int, fn) -> list[Field]:  # type: ignore[no-untyped-def]
        return [(n, w, fn(p) if n == number and w == _LEN else p) for n, w, p in fields]

    def shape(buf: bytes) -> bytes:
        f, k = parse(buf), -1
        out: list[Field] = []
        for n, w, p in f:
            if n == _DIM and w == _LEN:
                k += 1
                if k in names:
                    p = serialize([(_DIM_PARAM, _LEN, names[k].encode())])
            out.append((n, w, p))
        return serialize(out)

    def tensor(buf: bytes) -> bytes:
        return serialize(edit(parse(buf), _SHAPE, shape))

    def typ(buf: bytes) -> bytes:
        return serialize(edit(parse(buf), _TENSOR_TYPE, tensor))

    return serialize(edit(parse(value_info), _TYPE, typ))


def make_dims_symbolic(model: bytes, inputs: dict[int, str], outputs: dict[int, str]) -> bytes:
    """The model with the first input's dimensions at the positions in ``inputs`` and every output's at the
    positions in ``outputs`` made symbolic (e.g. ``{2: "height", 3: "width"}``), and the graph's intermediate
    shape annotations (``value_info``) dropped, since they were inferred for the old sizes."""
    top, at, graph = _graph(model)
    out: list[Field] = []
    first_input = True
    for n, w, p in graph:
        if n == _VALUE_INFO and w == _LEN:
            continue
        if n == _INPUT and w == _LEN and first_input:
            p, first_input = _with_dims(p, inputs), False
        elif n == _OUTPUT and w == _LEN:
            p = _with_dims(p, outputs)
        out.append((n, w, p))
    top[at] = (_GRAPH, _LEN, serialize(out))
    return serialize(top)
