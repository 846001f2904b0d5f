"""The TF.js graph model reader (zoo.backends.tfjs_graph) on a model written here in the converter's format.

The test builds a small frozen graph (convolution + bias + ReLU6, then depthwise convolution + bias), writes it as
the TF.js converter does (a JSON GraphDef whose convolutions are the fused ``_FusedConv2D`` /
``FusedDepthwiseConv2dNative`` kernels, the weights in one binary shard, float16- and uint8-quantized), reads it
back, and checks it computes what the unfused graph with the same (de-quantized) weights computes, in TensorFlow
and after the ONNX export the CenterNet case uses.
"""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                                              "pip install -e . (they are dependencies)"),
    pytest.mark.xdist_group("tf_meta_graph"),
]

MATCH_MAX_ABS = 1e-4  # the same float32 weights on both sides; TF vs onnxruntime kernels differ by ~1e-6


def weights():
    rng = np.random.default_rng(5)
    return {"w": rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32), "b": rng.normal(0, 0.1, 4).astype(np.float32),
            "dw": rng.normal(0, 0.5, (3, 3, 4, 1)).astype(np.float32), "db": rng.normal(0, 0.1, 4).astype(np.float32)}


def fused_node(name, op, inputs, fused_ops, extra=None):
    attr = {"T": {"type": "DT_FLOAT"}, "strides": {"list": {"i": ["1", "1", "1", "1"]}},
            "padding": {"s": "U0FNRQ=="}, "data_format": {"s": "TkhXQw=="},
            "dilations": {"list": {"i": ["1", "1", "1", "1"]}}, "num_args": {"i": "1"},
            "fused_ops": {"list": {"s": [base64.b64encode(o.encode()).decode() for o in fused_ops]}}}
    return {"name": name, "op": op, "input": inputs, "attr": {**attr, **(extra or {})}}


def write_tfjs_model(folder, values) -> None:
    """model.json + group1-shard1of1.bin: w as float16, dw as affine uint8, the biases as plain float32."""
    shape = {"dim": [{"size": "1"}, {"size": "8"}, {"size": "8"}, {"size": "3"}]}
    nodes = [{"name": "image", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": shape}}},
             *({"name": n, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {}}}}
               for n in values),
             fused_node("conv", "_FusedConv2D", ["image", "w", "b"], ["BiasAdd", "Relu6"]),
             fused_node("depthwise", "FusedDepthwiseConv2dNative", ["conv", "dw", "db"], ["BiasAdd"]),
             {"name": "out", "op": "Identity", "input": ["depthwise"], "attr": {"T": {"type": "DT_FLOAT"}}}]
    lo, hi = float(values["dw"].min()), float(values["dw"].max())
    scale = (hi - lo) / 255
    shard = (values["w"].astype(np.float16).tobytes() + values["b"].tobytes()
             + np.rint((values["dw"] - lo) / scale).astype(np.uint8).tobytes() + values["db"].tobytes())
    manifest = [{"paths": ["group1-shard1of1.bin"], "weights": [
        {"name": "w", "shape": [3, 3, 3, 4], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "b", "shape": [4], "dtype": "float32"},
        {"name": "dw", "shape": [3, 3, 4, 1], "dtype": "float32",
         "quantization": {"dtype": "uint8", "min": lo, "scale": scale}},
        {"name": "db", "shape": [4], "dtype": "float32"}]}]
    (folder / "group1-shard1of1.bin").write_bytes(shard)
    (folder / "model.json").write_text(json.dumps({"format": "graph-model", "modelTopology": {"node": nodes},
                                                   "weightsManifest": manifest}))


def reference(image, values):
    """The unfused graph in TensorFlow eager with the given weights."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    x = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(image, values["w"], 1, "SAME"), values["b"]))
    return tf.nn.bias_add(tf.nn.depthwise_conv2d(x, values["dw"], [1, 1, 1, 1], "SAME"), values["db"]).numpy()


def run_graph(graph, image):
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    with tf.Graph().as_default() as g:
        tf.compat.v1.import_graph_def(graph, name="")
        with tf.compat.v1.Session(graph=g) as session:
            return session.run("out:0", {"image:0": image})


def test_weights_read_back_as_stored_and_de_quantized(tmp_path):
    from zoo.backends.tfjs_graph import read_weights

    values = weights()
    write_tfjs_model(tmp_path, values)
    read = read_weights(tmp_path / "model.json", json.loads((tmp_path / "model.json").read_text())["weightsManifest"])
    np.testing.assert_array_equal(read["w"], values["w"].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(read["b"], values["b"])
    step = (values["dw"].max() - values["dw"].min()) / 255
    assert np.max(np.abs(read["dw"] - values["dw"])) <= step / 2 + 1e-6 and read["dw"].dtype == np.float32


def test_a_shard_with_bytes_left_over_is_refused(tmp_path):
    from zoo.backends.tfjs_graph import TfjsGraphError, read_weights

    write_tfjs_model(tmp_path, weights())
    with open(tmp_path / "group1-shard1of1.bin", "ab") as f:
        f.write(b"\0" * 4)
    with pytest.raises(TfjsGraphError, match="4 bytes no weight reads"):
        read_weights(tmp_path / "model.json", json.loads((tmp_path / "model.json").read_text())["weightsManifest"])


def test_fused_kernels_compute_what_the_unfused_graph_computes_in_tensorflow_and_onnx(tmp_path):
    import onnxruntime as ort

    from zoo.backends.onnx_export import tfjs_to_onnx
    from zoo.backends.tfjs_graph import graph_def, read_weights

    write_tfjs_model(tmp_path, weights())
    stored = read_weights(tmp_path / "model.json", json.loads((tmp_path / "model.json").read_text())["weightsManifest"])
    image = np.random.default_rng(6).uniform(0, 1, (1, 8, 8, 3)).astype(np.float32)
    expected = reference(image, stored)
    graph = graph_def(tmp_path / "model.json", ["out"])
    assert {n.op for n in graph.node} >= {"Conv2D", "DepthwiseConv2dNative", "BiasAdd", "Relu6"}
    assert not {n.op for n in graph.node} & {"_FusedConv2D", "FusedDepthwiseConv2dNative"}
    assert np.max(np.abs(run_graph(graph, image) - expected)) < MATCH_MAX_ABS
    model = tfjs_to_onnx(tmp_path / "model.json", "tiny", "image:0", ["out:0"])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"image": image.transpose(0, 3, 1, 2)})[0]  # NCHW in, the graph's NHWC out
    assert np.max(np.abs(onnx_out - expected)) < MATCH_MAX_ABS


def test_an_unknown_fused_op_is_refused_naming_the_node(tmp_path):
    from zoo.backends.tfjs_graph import TfjsGraphError, graph_def

    write_tfjs_model(tmp_path, weights())
    model = json.loads((tmp_path / "model.json").read_text())
    conv = next(n for n in model["modelTopology"]["node"] if n["name"] == "conv")
    conv["attr"]["fused_ops"]["list"]["s"] = ["Qmlhc0FkZA==", "UHJlbHU="]  # BiasAdd, Prelu
    (tmp_path / "model.json").write_text(json.dumps(model))
    with pytest.raises(TfjsGraphError, match=r"node conv: fused ops \['BiasAdd', 'Prelu'\] are not supported"):
        graph_def(tmp_path / "model.json", ["out"])
