"""The serving graph: a deepemotion ONNX graph (float (N, 1, 48, 48) normalised input, logits out) wrapped to take
uint8 faces (N, 48, 48) and return probabilities, so that the normalisation and the softmax run inside the
server (Triton's onnxruntime and tensorrt backends) and faces travel over the network as bytes. Needs the `onnx`
package, not torch."""

from __future__ import annotations

import numpy as np

from ..labels import INPUT_NAME, INPUT_SIZE, MEAN, OUTPUT_NAME, STD

FACES, PROBS = "faces", "probs"


def uint8_softmax_graph(model: bytes) -> bytes:
    """`model` with input `faces` uint8 (N, 48, 48) -> Cast -> (x / 255 - MEAN) / STD -> Unsqueeze -> the
    network -> Softmax -> output `probs` float32 (N, 7). Checked with onnx's checker."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load_from_string(model)
    g = proto.graph
    names = [i.name for i in g.input]
    if INPUT_NAME not in names or OUTPUT_NAME not in [o.name for o in g.output]:
        raise ValueError(f"not a deepemotion graph: inputs {names}, outputs {[o.name for o in g.output]}")
    # (v / 255 - MEAN) / STD in float32, the operations of runtime.inputs.normalise_faces and of training: the
    # served INT8 graph, which rounds its input, then gives the local answer bit for bit
    consts = [
        numpy_helper.from_array(np.array(v, np.float32), f"deepemotion_{k}")
        for k, v in (("255", 255.0), ("mean", MEAN), ("std", STD))
    ]
    axes = numpy_helper.from_array(np.array([1], np.int64), "deepemotion_channel_axis")
    g.initializer.extend([*consts, axes])
    pre = [
        helper.make_node("Cast", [FACES], ["deepemotion_faces_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["deepemotion_faces_f", "deepemotion_255"], ["deepemotion_unit"]),
        helper.make_node("Sub", ["deepemotion_unit", "deepemotion_mean"], ["deepemotion_centred"]),
        helper.make_node("Div", ["deepemotion_centred", "deepemotion_std"], ["deepemotion_normalised"]),
        helper.make_node("Unsqueeze", ["deepemotion_normalised", "deepemotion_channel_axis"], [INPUT_NAME]),
    ]
    post = [helper.make_node("Softmax", [OUTPUT_NAME], [PROBS], axis=1)]
    nodes = pre + list(g.node) + post
    del g.node[:]
    g.node.extend(nodes)
    batch = g.input[names.index(INPUT_NAME)].type.tensor_type.shape.dim[0]
    dim0 = batch.dim_param or (str(batch.dim_value) if batch.dim_value else "N")
    old_out = next(o for o in g.output if o.name == OUTPUT_NAME)
    keep_in = [i for i in g.input if i.name != INPUT_NAME]
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info(FACES, TensorProto.UINT8, [dim0, INPUT_SIZE, INPUT_SIZE])] + keep_in)
    g.output.remove(old_out)
    g.output.extend(
        [
            helper.make_tensor_value_info(
                PROBS, TensorProto.FLOAT, [dim0, old_out.type.tensor_type.shape.dim[1].dim_value or "C"]
            )
        ]
    )
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
