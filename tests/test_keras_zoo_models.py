"""Keras TF-slim ResNet-50 v1, TF-slim MobileNet-v2-1.4 and the krasserm SRGAN generator: checkpoint
converters, forward passes against the source networks, ONNX export and eval preprocessing.

Known answers in fixtures/keras_zoo_models/, recorded once from the source code itself (not from the
modules under test): the variable names and shapes of the slim networks as tf_slim 1.1.0's
``nets.resnet_v1.resnet_v1_50`` and tensorflow/models slim ``nets/mobilenet/mobilenet_v2.mobilenet_v2_140``
create them, the layer/weight layout that krasserm's ``generator().save_weights(h5)`` writes (run with
tf_keras 2.21), and the outputs of those three source networks on ``reference_input`` with the weights
``synthetic_tensor`` gives each variable. The tests write real checkpoints of those names in tmp_path
(TF1 V2 format via SaveV2; a Keras 2 h5 via h5py), load them through the converters and compare.
"""
from __future__ import annotations

import importlib.util
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

TF_HALF = ("tensorflow", "tf2onnx", "onnxruntime", "aimet_onnx")
_MISSING = [m for m in TF_HALF if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                           f"pip install -e '.[tensorflow]'")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras_zoo_models"
# measured on CPU (x86_64 AVX2, tensorflow-cpu 2.21): 1.4e-6 (logits up to 6.2), 1.5e-7 (up to 0.8), 8.4e-5 (up to 207)
SOURCE_MATCH_MAX_ABS = {"resnet50": 2e-5, "mobilenet_v2": 2e-6, "srgan": 1e-3}
ONNX_EXPORT_MAX_ABS = {"resnet50": 1e-4, "mobilenet_v2": 1e-4, "srgan": 2e-3}
SRGAN_LR_SIZE = 24  # model/srgan.py LR_SIZE


# ----------------------------------------------------------------------------- deterministic weights
def synthetic_tensor(name: str, shape) -> np.ndarray:
    """Well-conditioned float32 values for a variable, a function of its name and shape only.

    He-normal kernels; BN statistics near 1; small gammas on the BN closing a residual branch (slim
    ``conv3``/``shortcut``/``project``, SRGAN ``bn2``) so residual sums stay in range over 16-17 blocks;
    a small kernel before SRGAN's tanh so few outputs saturate.
    """
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    leaf = name.rsplit("/", 1)[-1].split(":")[0]
    closing = any(part in name for part in ("conv3/", "shortcut/", "project/", "bn2/"))
    if leaf == "moving_variance":
        values = rng.uniform(0.5, 2.0, shape)
    elif leaf == "gamma":
        values = rng.uniform(0.1, 0.3, shape) if closing else rng.uniform(0.5, 1.5, shape)
    elif leaf == "alpha":
        values = rng.uniform(0.0, 0.3, shape)
    elif leaf in ("weights", "kernel", "depthwise_weights"):
        fan_in = shape[0] * shape[1] * (1 if leaf == "depthwise_weights" else shape[2])
        values = rng.normal(0.0, np.sqrt(2.0 / fan_in) * (0.1 if name.startswith("conv_out/") else 1.0), shape)
    else:  # beta, moving_mean, biases, bias
        values = rng.normal(0.0, 0.1, shape)
    return values.astype(np.float32)


def reference_input(model: str) -> np.ndarray:
    """Two NHWC images in each model's input range: 224x224 for the classifiers, 24x24 LR for SRGAN."""
    rng = np.random.default_rng(zlib.crc32(model.encode()))
    if model == "resnet50":  # vgg_preprocessing: 0..255 minus the RGB means
        return rng.uniform(-124.0, 152.0, (2, 224, 224, 3)).astype(np.float32)
    if model == "mobilenet_v2":  # inception_preprocessing: [-1, 1]
        return rng.uniform(-1.0, 1.0, (2, 224, 224, 3)).astype(np.float32)
    return rng.uniform(0.0, 255.0, (2, SRGAN_LR_SIZE, SRGAN_LR_SIZE, 3)).astype(np.float32)


# ----------------------------------------------------------------------------- the models under test
SLIM = ("resnet50", "mobilenet_v2")
SOURCE_VARIABLES = {"resnet50": 267, "mobilenet_v2": 262}  # counted from the source code, see the module docstrings
OUTPUT_SHAPES = {"resnet50": (2, 1000), "mobilenet_v2": (2, 1001), "srgan": (2, 4 * SRGAN_LR_SIZE, 4 * SRGAN_LR_SIZE, 3)}


def _module(key: str):
    import importlib

    return importlib.import_module({"resnet50": "zoo.models.keras_resnet50_slim",
                                    "mobilenet_v2": "zoo.models.keras_mobilenet_v2_slim",
                                    "srgan": "zoo.models.keras_srgan"}[key])


def _build(key: str, checkpoint):
    builder = {"resnet50": "build_keras_resnet50_slim", "mobilenet_v2": "build_keras_mobilenet_v2_slim",
               "srgan": "build_keras_srgan"}[key]
    return getattr(_module(key), builder)(checkpoint)


@pytest.fixture(scope="module")
def slim_sources() -> dict[str, dict[str, list[int]]]:
    """Variable name -> shape, as the source networks create them."""
    return json.loads((FIXTURES / "slim_variables.json").read_text())


@pytest.fixture(scope="module")
def srgan_layout() -> dict:
    """What krasserm's ``generator().save_weights(path.h5)`` writes: layer order and weight names/shapes."""
    return json.loads((FIXTURES / "srgan_h5_layout.json").read_text())


@pytest.fixture(scope="module")
def source_outputs() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "slim_logits.npz") as slim, np.load(FIXTURES / "srgan_output.npz") as srgan:
        return {**{k: slim[k] for k in SLIM}, "srgan": srgan["srgan"]}


def slim_values(sources: dict[str, list[int]]) -> dict[str, np.ndarray]:
    return {name: synthetic_tensor(name, shape) for name, shape in sources.items()}


def write_tf_checkpoint(prefix: Path, tensors: dict[str, np.ndarray]) -> Path:
    """A TF1 checkpoint (V2 format: ``prefix.index`` + ``prefix.data-*``) holding exactly ``tensors``,
    written by the SaveV2 kernel that ``tf.compat.v1.train.Saver`` uses."""
    from zoo.models.keras_efficientnet_lite import import_tensorflow

    tf = import_tensorflow()
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    return prefix


def srgan_h5_layers(layout: dict, counter_offset: int = 0) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The recorded h5 layers with synthetic values; ``counter_offset`` renumbers the Keras auto-names
    (``conv2d_3`` -> ``conv2d_43``) as a session that built other models first would name them."""
    from zoo.models.keras_srgan import layer_order

    def renamed(name: str) -> str:
        stem, _, number = name.rpartition("_")
        index = int(number) if stem and number.isdigit() else 0
        base = stem if stem and number.isdigit() else name
        return f"{base}_{index + counter_offset}" if counter_offset else name

    layers = []
    for wanted, name in zip(layer_order(), layout["layers"]):
        new = renamed(name)
        layers.append((new, {f"{new}/{w.split('/')[-1]}": synthetic_tensor(f"{wanted.name}/{w.split('/')[-1]}", shape)
                             for w, shape in layout["layers"][name]}))
    return layers


def write_srgan_h5(path: Path, layout: dict, layers: list[tuple[str, dict]]) -> Path:
    """A Keras 2 ``save_weights`` h5: root attrs backend/keras_version/layer_names (the recorded order,
    weighted layers renamed as in ``layers``); per layer a group with a ``weight_names`` attr and one
    dataset per name (``conv2d_7/conv2d_7/kernel:0``)."""
    import h5py

    renamed = {old: new for old, (new, _) in zip(layout["layers"], layers)}
    with h5py.File(path, "w") as f:
        f.attrs["backend"], f.attrs["keras_version"] = "tensorflow", "2.3.0"
        f.attrs["layer_names"] = np.array([renamed.get(n, n).encode() for n in layout["layer_names"]])
        for name in layout["layer_names"]:
            if name not in layout["layers"]:
                f.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
        for name, weights in layers:
            group = f.create_group(name)
            group.attrs["weight_names"] = np.array([w.encode() for w in weights])
            for w, value in weights.items():
                group.create_dataset(w, data=value)
    return path


@pytest.fixture(scope="module")
def checkpoints(slim_sources, srgan_layout, tmp_path_factory) -> dict[str, Path]:
    """One real checkpoint per model, holding the source's variable names (plus ``global_step``)."""
    root = tmp_path_factory.mktemp("keras_zoo_checkpoints")
    paths = {key: write_tf_checkpoint(root / f"{key}.ckpt", {**slim_values(slim_sources[key]),
                                                             "global_step": np.array(123456, np.int64)})
             for key in SLIM}
    paths["srgan"] = write_srgan_h5(root / "gan_generator.h5", srgan_layout, srgan_h5_layers(srgan_layout, 40))
    return paths


@pytest.fixture(scope="module")
def models(checkpoints) -> dict:
    return {key: _build(key, path) for key, path in checkpoints.items()}


@pytest.fixture(scope="module")
def keras_outputs(models) -> dict[str, np.ndarray]:
    return {key: model(reference_input(key), training=False).numpy() for key, model in models.items()}


# ----------------------------------------------------------------------------- the plans against the sources
@pytest.mark.parametrize("key", SLIM)
def test_plan_maps_exactly_the_source_variables(key, slim_sources, models):
    from zoo.models.keras_weights import TF_BOOKKEEPING, plan_names

    module, sources = _module(key), slim_sources[key]
    names = plan_names(module.layer_plan())
    assert len(sources) == SOURCE_VARIABLES[key] == module.NUM_VARIABLES
    assert len(names) == len(set(names)), "every variable has exactly one destination"
    assert sorted(names) == sorted(sources)
    assert not set(TF_BOOKKEEPING) & set(sources)
    for entry in module.layer_plan():
        shapes = [tuple(w.shape) for w in models[key].get_layer(entry.layer).get_weights()]
        assert shapes == [tuple(sources[n]) for n in entry.sources], entry.layer


def test_srgan_order_matches_the_saved_generator(srgan_layout, models):
    from zoo.models.keras_srgan import FAMILY_WEIGHTS, NUM_ARRAYS, NUM_WEIGHTED_LAYERS, family, layer_order

    layers = srgan_layout["layers"]
    assert len(layers) == NUM_WEIGHTED_LAYERS == 89 and sum(map(len, layers.values())) == NUM_ARRAYS == 225
    assert srgan_layout["layer_names"][:3] == ["input_1", "lambda", "conv2d"]  # unweighted layers are skipped
    for wanted, (name, weights) in zip(layer_order(), layers.items()):
        assert family(name) == wanted.family
        assert tuple(w.split("/")[-1] for w, _ in weights) == FAMILY_WEIGHTS[wanted.family]
        assert [tuple(s) for _, s in weights] == [tuple(w.shape) for w in models["srgan"].get_layer(wanted.name).weights]


# ----------------------------------------------------------------------------- loading real checkpoints
@pytest.mark.parametrize("key", SLIM)
def test_converter_copies_every_slim_variable(key, slim_sources, models):
    for entry in _module(key).layer_plan():
        for name, array in zip(entry.sources, models[key].get_layer(entry.layer).get_weights()):
            np.testing.assert_array_equal(array, synthetic_tensor(name, slim_sources[key][name]), err_msg=name)


def test_converter_copies_every_srgan_array_by_position(srgan_layout, models):
    from zoo.models.keras_srgan import layer_order

    for wanted, (name, weights) in zip(layer_order(), srgan_layout["layers"].items()):
        for (w, shape), array in zip(weights, models["srgan"].get_layer(wanted.name).get_weights()):
            np.testing.assert_array_equal(array, synthetic_tensor(f"{wanted.name}/{w.split('/')[-1]}", shape))


@pytest.mark.parametrize("key", (*SLIM, "srgan"))
def test_keras_model_reproduces_the_source_network(key, keras_outputs, source_outputs):
    """Same weights, same input: the Keras model's output is the source network's (slim graph / krasserm Keras)."""
    out, ref = keras_outputs[key], source_outputs[key]
    assert out.shape == ref.shape == OUTPUT_SHAPES[key]
    diff = float(np.abs(out - ref).max())
    print(f"{key}: Keras vs source max abs diff {diff:.2e} (outputs up to {np.abs(ref).max():.1f})")
    assert diff < SOURCE_MATCH_MAX_ABS[key]
    if key in SLIM:
        assert (out.argmax(1) == ref.argmax(1)).all()
