"""TensorFlow.js graph models (``model.json`` + weight shards) as TensorFlow GraphDefs.

A TF.js graph model is a frozen GraphDef written as JSON whose Const nodes lost their values to binary shards
listed in ``weightsManifest`` (float32 stored as float16 or affine uint8/uint16 where the converter quantized
them). This module puts the values back and rewrites the converter's fused kernels (``_FusedConv2D``,
``FusedDepthwiseConv2dNative``) into the standard ops they fused, so tf2onnx sees an ordinary graph. It
imports TensorFlow only for its protobuf types.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STORED_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
QUANTIZED_DTYPES = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}
ACTIVATIONS = {"Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu"}  # what the TF.js converter fuses


class TfjsGraphError(Exception):
    """A TF.js graph model this module cannot read (a manifest or a fused op it does not know)."""


def read_weights(model_json: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Every manifest entry as a float32/int32 array; the shards of a group are one byte stream."""
    arrays = {}
    for group in manifest:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            array, offset = _decode(entry, data, offset, model_json)
            arrays[entry["name"]] = array
        if offset != len(data):
            raise TfjsGraphError(f"{model_json}: group {group['paths']} has {len(data) - offset} bytes no weight reads")
    return arrays


def _decode(entry: dict, data: bytes, offset: int, model_json: Path) -> tuple[np.ndarray, int]:
    shape, quantization = tuple(entry["shape"]), entry.get("quantization")
    count = int(np.prod(shape, dtype=np.int64))
    stored = np.dtype(QUANTIZED_DTYPES[quantization["dtype"]] if quantization else STORED_DTYPES[entry["dtype"]])
    end = offset + count * stored.itemsize
    if end > len(data):
        raise TfjsGraphError(f"{model_json}: weight {entry['name']} runs past the end of its shards")
    raw = np.frombuffer(data[offset:end], dtype=stored).reshape(shape)
    if quantization and quantization["dtype"] != "float16":
        raw = quantization["min"] + quantization["scale"] * raw.astype(np.float32)
    return raw.astype(STORED_DTYPES[entry["dtype"]]), end


def graph_def(model_json: Path, outputs: list[str]):
    """The GraphDef of a TF.js graph model, weights restored, fused ops expanded, pruned to ``outputs``."""
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2
    from tensorflow.python.framework import graph_util, tensor_util

    model_json = Path(model_json)
    model = json.loads(model_json.read_text())
    graph = json_format.ParseDict(model["modelTopology"], graph_pb2.GraphDef())
    weights = read_weights(model_json, model["weightsManifest"])
    for node in graph.node:
        if node.name in weights:
            node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(weights[node.name]))
    graph = expand_fused_ops(graph)
    return graph_util.extract_sub_graph(graph, [o.split(":")[0] for o in outputs])


def expand_fused_ops(graph):
    """``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` with BiasAdd (+ one activation) -> the standard ops."""
    from tensorflow.core.framework import graph_pb2

    expanded = graph_pb2.GraphDef()
    expanded.versions.CopyFrom(graph.versions)
    for node in graph.node:
        if node.op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            expanded.node.extend(_unfused(node))
        else:
            expanded.node.add().CopyFrom(node)
    return expanded


def _unfused(node) -> list:
    from tensorflow.core.framework import node_def_pb2

    fused = [s.decode() for s in node.attr["fused_ops"].list.s]
    if not fused or fused[0] != "BiasAdd" or len(fused) > 2 or (len(fused) == 2 and fused[1] not in ACTIVATIONS):
        raise TfjsGraphError(f"node {node.name}: fused ops {fused} are not supported (BiasAdd plus one of "
                             f"{sorted(ACTIVATIONS)}); extend zoo/backends/tfjs_graph.py")
    source, kernel, bias = node.input[:3]
    conv = node_def_pb2.NodeDef(name=f"{node.name}/conv", input=[source, kernel],
                                op="Conv2D" if node.op == "_FusedConv2D" else "DepthwiseConv2dNative")
    for key in ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings", "use_cudnn_on_gpu"):
        if key in node.attr and not (key == "use_cudnn_on_gpu" and conv.op != "Conv2D"):
            conv.attr[key].CopyFrom(node.attr[key])
    biased = node_def_pb2.NodeDef(name=node.name if len(fused) == 1 else f"{node.name}/bias",
                                  op="BiasAdd", input=[conv.name, bias])
    for key in ("T", "data_format"):
        biased.attr[key].CopyFrom(node.attr[key])
    if len(fused) == 1:
        return [conv, biased]
    activation = node_def_pb2.NodeDef(name=node.name, op=fused[1], input=[biased.name])
    activation.attr["T"].CopyFrom(node.attr["T"])
    if fused[1] == "LeakyRelu":
        activation.attr["alpha"].f = node.attr["leakyrelu_alpha"].f
    return [conv, biased, activation]
