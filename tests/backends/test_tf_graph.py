"""The TF1 meta graph loader (zoo.backends.tf_graph) on a real meta graph + checkpoint of the pose network.

The release's variable names are not public, so the test writes its own release-shaped files: the Keras
port (zoo.families.pose.keras, synthetic weights) translated layer by layer into a tf.compat.v1 graph of
reference variables with opaque names (``v0``, ``v1``, ...), input placeholder ``input`` [1, H, W, 3], outputs
``node184`` (PAFs) and ``node196`` (heatmaps), saved with tf.compat.v1.train.Saver (``pose_estimation.meta``,
``.index``, ``.data-*``, ``checkpoint``) -- then loads it as the release is loaded.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                                              "pip install -e . (they are dependencies)"),
    pytest.mark.xdist_group("tf_meta_graph"),
]

INPUT_HW = (64, 96)  # multiple of 8: outputs 8 x 12
# measured on CPU (x86_64 AVX2, tensorflow-cpu 2.21, tf2onnx 1.17, onnxruntime; weights from
# tests.families.test_pose_keras.synthetic_state_dict, outputs up to 2.9): meta graph vs Keras 0.0 (bit-identical: the
# same TF kernels in the same order), ONNX (onnxruntime) vs meta graph 4.9e-6 (heatmaps 4.2e-6)
KERAS_MATCH_MAX_ABS = 1e-5
ONNX_MATCH_MAX_ABS = 1e-4


def reference_input() -> np.ndarray:
    return np.random.default_rng(11).uniform(-0.5, 0.5, (1, *INPUT_HW, 3)).astype(np.float32)


def write_tf1_release(keras_model, folder) -> None:
    """Translate the functional Keras model (Conv2D / MaxPooling2D / Concatenate / Identity, NHWC) into a
    TF1 graph of reference variables holding its weights and save it as the release is laid out."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    v1 = tf.compat.v1
    config = keras_model.get_config()
    layers = {entry["name"]: entry for entry in config["layers"]}
    weights = {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in keras_model.layers}
    graph = tf.Graph()
    with graph.as_default():
        image = v1.placeholder(tf.float32, (1, None, None, 3), name="input")
        built, variables = {config["input_layers"][0]: image}, []

        def variable(value):
            var = v1.get_variable(f"v{len(variables)}", value.shape, tf.float32, v1.zeros_initializer(),
                                  use_resource=False)
            variables.append((var, value))
            return var

        def tensor(name):
            if name in built:
                return built[name]
            entry = layers[name]
            args = entry["inbound_nodes"][0]["args"]
            sources = [tensor(a["config"]["keras_history"][0]) for a in (args[0] if isinstance(args[0], list)
                                                                          else args)]
            kind, cfg = entry["class_name"], entry["config"]
            if kind == "Conv2D":
                assert cfg["padding"] == "same" and tuple(cfg["strides"]) == (1, 1), cfg
                x = tf.nn.conv2d(sources[0], variable(weights[name][0]), 1, "SAME")
                if cfg["use_bias"]:
                    x = tf.nn.bias_add(x, variable(weights[name][1]))
                x = {"relu": tf.nn.relu, "linear": tf.identity}[cfg["activation"]](x)
            elif kind == "MaxPooling2D":
                x = tf.nn.max_pool2d(sources[0], cfg["pool_size"], cfg["strides"], cfg["padding"].upper())
            elif kind == "Concatenate":
                x = tf.concat(sources, axis=cfg["axis"])
            elif kind == "Identity":
                x = sources[0]
            else:
                raise AssertionError(f"no TF1 translation for {kind} layer {name}")
            built[name] = x
            return x

        heatmaps, pafs = (tensor(name) for name, _, _ in config["output_layers"])
        tf.identity(pafs, name="node184")
        tf.identity(heatmaps, name="node196")
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            for var, value in variables:  # feed the initial value: no weight constants in the meta graph
                session.run(var.initializer, {var.initializer.inputs[1]: value})
            saver.save(session, str(folder / "pose_estimation"))
    assert len(variables) == sum(len(w) for w in weights.values()) == 98


@pytest.fixture(scope="module")
def keras_model():
    from tests.families.test_pose_keras import synthetic_state_dict
    from zoo.families.pose.keras import keras_pose_architecture, load_torch_state_dict

    return load_torch_state_dict(keras_pose_architecture(), synthetic_state_dict())


@pytest.fixture(scope="module")
def release(tmp_path_factory, keras_model):
    folder = tmp_path_factory.mktemp("pose_estimation_tensorflow")
    write_tf1_release(keras_model, folder)
    return folder


@pytest.fixture(scope="module")
def loaded(release):
    from zoo.families.pose.keras import build_tf_pose_release

    return build_tf_pose_release(release / "pose_estimation.meta")


def test_release_layout_is_a_tf1_meta_graph(release):
    names = sorted(p.name for p in release.iterdir())
    assert names == ["checkpoint", "pose_estimation.data-00000-of-00001", "pose_estimation.index",
                     "pose_estimation.meta"]
    assert (release / "pose_estimation.meta").stat().st_size < 1_000_000, "weights belong in the checkpoint"


def test_meta_graph_matches_keras(loaded, keras_model):
    """Outputs reordered to [heatmaps, pafs] (NHWC) equal the Keras port's on the same weights."""
    from tests.families.test_pose_keras import assert_pose_outputs_match

    x = reference_input()
    expected = [np.asarray(o) for o in keras_model(x, training=False)]
    outputs = loaded(x, training=False)
    assert [type(o) for o in outputs] == [np.ndarray, np.ndarray]
    assert [o.shape for o in outputs] == [(1, 8, 12, 19), (1, 8, 12, 38)]
    assert_pose_outputs_match(outputs, expected, KERAS_MATCH_MAX_ABS, "meta graph vs Keras")
    two = loaded(np.concatenate([x, x[:, ::-1]]))  # the placeholder's batch of 1: run image by image
    assert [o.shape[0] for o in two] == [2, 2] and np.array_equal(two[0][:1], outputs[0])


def test_onnx_export_reproduces_meta_graph(loaded):
    """to_onnx, and keras_to_onnx on the same model: the contract of the Keras export (one NCHW input named
    INPUT_NAME, standard ops, outputs [heatmaps, pafs] NHWC), the meta graph's values."""
    import onnxruntime as ort

    from zoo.backends.onnx_export import INPUT_NAME, keras_to_onnx

    x = reference_input()
    expected = loaded(x)
    model = keras_to_onnx(loaded, None)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == ["node196", "node184"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value if d.HasField("dim_value") else None for d in dims] == [None, 3, None, None]
    assert not any(o.type.tensor_type.shape.dim[0].HasField("dim_value") for o in model.graph.output), \
        "the placeholder's batch of 1 is dynamic in the export, as in keras_to_onnx's"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    batch = np.concatenate([x, x]).transpose(0, 3, 1, 2)  # NCHW, batch dynamic in the export
    outputs = session.run(None, {INPUT_NAME: batch})
    diffs = [float(np.abs(o[:1] - e).max()) for o, e in zip(outputs, expected)]
    ops = [node.op_type for node in model.graph.node]
    print(f"ONNX vs meta graph max abs diff heatmaps {diffs[0]:.2e}, pafs {diffs[1]:.2e}; ops {sorted(set(ops))}")
    assert [o.shape for o in outputs] == [(2, 8, 12, 19), (2, 8, 12, 38)]
    assert max(diffs) < ONNX_MATCH_MAX_ABS
    assert ops.count("Conv") == 62 and ops.count("MaxPool") == 3 and ops.count("Concat") == 1
    fixed = loaded.to_onnx(INPUT_HW[0])  # the size the suite's spec gives: square, NCHW
    dims = fixed.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [3, INPUT_HW[0], INPUT_HW[0]]


def test_missing_checkpoint_is_named(release, tmp_path):
    from zoo.checkpoints import CheckpointError
    from zoo.families.pose.keras import build_tf_pose_release

    shutil.copy(release / "pose_estimation.meta", tmp_path / "pose_estimation.meta")
    with pytest.raises(CheckpointError, match=r"pose_estimation\.meta: no checkpoint beside it .*pose_estimation"
                                              r"\.index.*extract the whole release archive"):
        build_tf_pose_release(tmp_path / "pose_estimation.meta")


def test_wrong_output_name_is_named(release):
    from zoo.checkpoints import CheckpointError
    from zoo.backends.tf_graph import MetaGraphModel

    with pytest.raises(CheckpointError, match=r"pose_estimation\.meta: the graph has no output tensor 'node185:0'.*"
                                              r"unconsumed tensors: \[.*'node184:0'.*'node196:0'"):
        MetaGraphModel(release / "pose_estimation.meta", "input:0", ["node185:0", "node196:0"])
    with pytest.raises(CheckpointError, match=r"no input tensor 'image:0'.*placeholders: \['input:0'\]"):
        MetaGraphModel(release / "pose_estimation.meta", "image", ["node184", "node196"])


def test_non_meta_file_is_refused(release):
    from zoo.checkpoints import CheckpointError
    from zoo.backends.tf_graph import MetaGraphModel

    with pytest.raises(CheckpointError, match=r"pose_estimation\.index: not a TF1 meta graph"):
        MetaGraphModel(release / "pose_estimation.index", "input:0", ["node184:0"])
