"""Keras (and TF1 graph) models to ONNX, ready for aimet-onnx: tf2onnx export -> onnxruntime basic graph
optimisation (folds every BatchNorm into its convolution, the depthwise ones included) -> Clip bounds as
Constant nodes -> stable tensor names. This module alone imports tf2onnx."""
from __future__ import annotations

import os
import re
import tempfile

from zoo import memory
from zoo.devices import onnxruntime_threads

OPSET = 17
INPUT_NAME = "image"


class ExportError(Exception):
    """The Keras -> ONNX export produced a graph that cannot serve as the quantization source."""


def keras_to_onnx(keras_model, input_size: int | None, nchw: bool = True):
    """Export a Keras image model to ONNX ready for aimet-onnx; returns an ``onnx.ModelProto``.

    ``input_size`` None leaves height and width dynamic (fully convolutional models such as SR).
    ``nchw=True`` makes the ONNX input NCHW (as the suite's torch preprocessing produces); the
    Keras model itself stays NHWC. BatchNorms are folded by onnxruntime's basic optimisation and
    Clip bounds become Constant nodes so aimet-onnx's CLE recognises ReLU6.
    """
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import tf2onnx

    if hasattr(keras_model, "to_onnx"):  # converts itself, e.g. a TF1 meta graph (zoo/backends/tf_graph.py)
        return keras_model.to_onnx(input_size, nchw=nchw)
    signature = (tf.TensorSpec((None, input_size, input_size, 3), tf.float32, name=INPUT_NAME),)
    model, _ = tf2onnx.convert.from_keras(keras_model, input_signature=signature, opset=OPSET,
                                          inputs_as_nchw=[INPUT_NAME] if nchw else None,
                                          optimizers=tf2onnx_optimizers())
    model = finish_export(model, keras_model.name)
    memory.release()  # the conversion leaves ~3 GB of garbage and freed heap (RetinaNet: 4.6 -> 1.8 GB resident)
    return model


def tflite_to_onnx(path, name: str):
    """A TensorFlow Lite image model to ONNX ready for aimet-onnx, NCHW input named INPUT_NAME.

    tf2onnx converts the builtin ops; MediaPipe's custom ``Convolution2DTransposeBias`` (a stride-2 transposed
    convolution plus bias on NHWC, weights OHWI) becomes an ONNX ConvTranspose between two transposes."""
    from zoo.backends.tf_runtime import import_tensorflow

    import_tensorflow()
    import tf2onnx

    model, _ = tf2onnx.convert.from_tflite(str(path), opset=OPSET)
    replace_transpose_conv_bias(model)
    nchw_input(model)
    return finish_export(model, name)


def tfjs_to_onnx(model_json, name: str, input_name: str, outputs: list[str]):
    """A TensorFlow.js graph model (zoo/backends/tfjs_graph.py) to ONNX ready for aimet-onnx, cut at ``outputs``
    (decoding stays outside the quantized graph), NCHW input named INPUT_NAME."""
    from zoo.backends.tf_runtime import import_tensorflow

    import_tensorflow()
    import tf2onnx

    from zoo.backends.tfjs_graph import graph_def

    graph = graph_def(model_json, outputs)
    model, _ = tf2onnx.convert.from_graph_def(graph, input_names=[input_name], output_names=outputs, opset=OPSET)
    nchw_input(model)
    model = finish_export(model, name)
    memory.release()
    return model


def replace_transpose_conv_bias(model) -> None:
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in model.graph.initializer}
    for index, node in enumerate(list(model.graph.node)):
        if node.op_type != "TFL_Convolution2DTransposeBias":
            continue
        source, weight, bias = node.input
        ohwi = numpy_helper.to_array(initializers[weight])
        kernel = f"{node.name}_iohw"
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(ohwi.transpose(3, 0, 1, 2)), kernel))
        replacement = [
            helper.make_node("Transpose", [source], [f"{node.name}_nchw_in"], perm=[0, 3, 1, 2], name=f"{node.name}_in"),
            helper.make_node("ConvTranspose", [f"{node.name}_nchw_in", kernel, bias], [f"{node.name}_nchw"],
                             strides=[2, 2], kernel_shape=list(ohwi.shape[1:3]), name=node.name),
            helper.make_node("Transpose", [f"{node.name}_nchw"], list(node.output), perm=[0, 2, 3, 1],
                             name=f"{node.name}_out")]
        model.graph.node.remove(node)
        for offset, new in enumerate(replacement):
            model.graph.node.insert(index + offset, new)


def nchw_input(model) -> None:
    """Rename the NHWC image input to INPUT_NAME taking NCHW, transposed back to NHWC inside."""
    from onnx import helper

    (graph_input,) = model.graph.input
    old, dims = graph_input.name, graph_input.type.tensor_type.shape.dim
    n, h, w, c = (d.dim_value for d in dims)
    for d, value in zip(dims, (n, c, h, w)):
        d.dim_value = value
    graph_input.name = INPUT_NAME
    model.graph.node.insert(0, helper.make_node("Transpose", [INPUT_NAME], [old], perm=[0, 2, 3, 1],
                                                name="input_to_nhwc"))


def tf2onnx_optimizers():
    """tf2onnx's own graph optimizers, each started after a garbage collection.

    tf2onnx deep-copies the whole graph, weights included, before each optimizer and pass; the copies
    it drops sit in reference cycles that Python's collector reaches late, so they pile up: exporting
    the slim ResNet-50 (98 MB of weights) peaked at 7.9 GB, the RetinaNet at dynamic size at 16.5 GB.
    Collected before each optimizer, the same export peaks at 3.4 GB and gives the same model
    (measured 2026-12-06, tf2onnx 1.17.0; benchmarks/bench.py --parts memory)."""
    import gc
    from collections import OrderedDict

    from tf2onnx import optimizer

    def collected_first(factory):
        def make():
            gc.collect()
            return factory()
        return make

    return OrderedDict((name, collected_first(factory)) for name, factory in optimizer._get_optimizers().items())


def finish_export(model, name: str):
    """A tf2onnx export made ready for aimet-onnx: standard ops only, BatchNorms folded by onnxruntime's
    basic optimisation, Clip bounds as Constant nodes, per-process name counters replaced, checked."""
    import onnx

    _check_converted(model, name, "tf2onnx")
    model = ort_basic_optimise(model)
    _check_converted(model, name, "onnxruntime's basic optimisation")
    clip_bounds_as_constants(model)
    stable_tensor_names(model)
    onnx.checker.check_model(model)
    return model


def _check_converted(model, name: str, stage: str) -> None:
    """Only standard ONNX ops and one image input. tf2onnx continues on conversion errors and leaves
    TF ops in the graph, and onnxruntime could fuse into its own ops: refuse such a graph."""
    foreign = sorted({f"{n.domain}:{n.op_type}" for n in model.graph.node if n.domain not in ("", "ai.onnx")})
    if foreign:
        raise ExportError(f"{stage} left non-standard ops in Keras model {name!r}: {foreign}; change the layers "
                          f"in zoo/families/ or OPSET in zoo/backends/onnx_export.py")
    if [i.name for i in model.graph.input] != [INPUT_NAME]:
        raise ExportError(f"Keras model {name!r} exported inputs {[i.name for i in model.graph.input]}, expected "
                          f"[{INPUT_NAME!r}]; the recipe supports single-image-input models only")


def ort_basic_optimise(model):
    """onnxruntime ORT_ENABLE_BASIC rewrites (constant folding, Conv+BN fusion), saved as a standard ONNX model."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        for name, value in onnxruntime_threads().items():
            setattr(options, name, value)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(tmp, "optimised.onnx")
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def clip_bounds_as_constants(model) -> int:
    """Feed each Clip's min/max from its own Constant node instead of an initializer; return how many.

    tf2onnx and onnxruntime feed Clip bounds from (shared) initializers; aimet-onnx's CLE looks for
    a Constant producer to recognise ReLU6 and replace it with ReLU before scaling.
    """
    import onnx
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    constants, rewritten = [], 0
    for node in model.graph.node:
        if node.op_type != "Clip":
            continue
        for k in range(1, len(node.input)):
            if node.input[k] in initializers:
                value = numpy_helper.to_array(initializers[node.input[k]])
                out = f"{node.name}_{('min', 'max')[k - 1]}"
                constants.append(onnx.helper.make_node("Constant", [], [out], name=f"{out}_const",
                                                       value=numpy_helper.from_array(value, out)))
                node.input[k] = out
                rewritten += 1
    used = {name for node in model.graph.node for name in node.input}
    keep = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    nodes = constants + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return rewritten


_NUMBERED = re.compile(r"__\d+")


def stable_tensor_names(model) -> int:
    """Replace the per-process counters in tf2onnx/onnxruntime names (``Conv__318:0``,
    ``const_fold_opt__591``) by the tensor's position in the graph; return how many were renamed.

    The counters differ from one process to the next, so without this the quantizer names, and
    with them the encodings digest, would change between identical runs.
    """
    renames: dict[str, str] = {}

    def note(name: str, where: str) -> None:
        if name and name not in renames and _NUMBERED.search(name):
            renames[name] = f"{_NUMBERED.sub('', name)}.{where}"

    graph = model.graph
    for k, node in enumerate(graph.node):
        for j, name in enumerate(node.input):
            note(name, f"n{k}.in{j}")
        for j, name in enumerate(node.output):
            note(name, f"n{k}.out{j}")
        if _NUMBERED.search(node.name):
            node.name = f"{_NUMBERED.sub('', node.name)}.n{k}"
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for entry in (*graph.initializer, *graph.input, *graph.output, *graph.value_info):
        entry.name = renames.get(entry.name, entry.name)
    return len(renames)


# ----------------------------------------------------------------------------- quantization
