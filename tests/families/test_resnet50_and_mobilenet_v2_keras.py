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

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                                              "pip install -e . (they are dependencies)"),
    # one xdist worker builds, loads and exports the three models once (module-scoped fixtures)
    pytest.mark.xdist_group("keras_zoo_models"),
]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "keras_zoo_models"
# measured on CPU (x86_64 AVX2, tensorflow-cpu 2.21): 1.4e-6 (logits up to 6.2), 1.5e-7 (up to 0.8), 8.4e-5 (up to 207)
SOURCE_MATCH_MAX_ABS = {"resnet50": 2e-5, "mobilenet_v2": 2e-6, "srgan": 1e-3}
# measured likewise with onnxruntime 1.32 (BN folded): 2.2e-6, 2.4e-7, 1.2e-4
ONNX_EXPORT_MAX_ABS = {"resnet50": 3e-5, "mobilenet_v2": 3e-6, "srgan": 2e-3}
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
SR_SIZE = 4 * SRGAN_LR_SIZE  # x4
OUTPUT_SHAPES = {"resnet50": (2, 1000), "mobilenet_v2": (2, 1001), "srgan": (2, SR_SIZE, SR_SIZE, 3)}


def _module(key: str):
    import importlib

    return importlib.import_module({"resnet50": "zoo.families.resnet50.keras",
                                    "mobilenet_v2": "zoo.families.mobilenet_v2.keras",
                                    "srgan": "zoo.families.srgan.keras"}[key])


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
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    return prefix


def srgan_h5_layers(layout: dict, counter_offset: int = 0) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The recorded h5 layers with synthetic values; ``counter_offset`` renumbers the Keras auto-names
    (``conv2d_3`` -> ``conv2d_43``) as a session that built other models first would name them."""
    from zoo.families.srgan.keras import layer_order

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
    from zoo.backends.keras_weights import TF_BOOKKEEPING, plan_names

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
    from zoo.families.srgan.keras import FAMILY_WEIGHTS, NUM_ARRAYS, NUM_WEIGHTED_LAYERS, family, layer_order

    layers = srgan_layout["layers"]
    assert len(layers) == NUM_WEIGHTED_LAYERS == 89 and sum(map(len, layers.values())) == NUM_ARRAYS == 225
    assert srgan_layout["layer_names"][:3] == ["input_1", "lambda", "conv2d"]  # unweighted layers are skipped
    for wanted, (name, weights) in zip(layer_order(), layers.items()):
        assert family(name) == wanted.family
        assert tuple(w.split("/")[-1] for w, _ in weights) == FAMILY_WEIGHTS[wanted.family]
        keras_shapes = [tuple(w.shape) for w in models["srgan"].get_layer(wanted.name).weights]
        assert [tuple(s) for _, s in weights] == keras_shapes


# ----------------------------------------------------------------------------- loading real checkpoints
@pytest.mark.parametrize("key", SLIM)
def test_converter_copies_every_slim_variable(key, slim_sources, models):
    for entry in _module(key).layer_plan():
        for name, array in zip(entry.sources, models[key].get_layer(entry.layer).get_weights()):
            np.testing.assert_array_equal(array, synthetic_tensor(name, slim_sources[key][name]), err_msg=name)


def test_converter_copies_every_srgan_array_by_position(srgan_layout, models):
    from zoo.families.srgan.keras import layer_order

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


# ----------------------------------------------------------------------------- refusing wrong checkpoints
def _weights(model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def _unchanged(model, before: list[np.ndarray]) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


MISSING = {"resnet50": "resnet_v1_50/block3/unit_4/bottleneck_v1/conv2/BatchNorm/moving_variance",
           "mobilenet_v2": "MobilenetV2/expanded_conv_7/depthwise/depthwise_weights"}
WRONG_SHAPE = {"resnet50": ("resnet_v1_50/block2/unit_1/bottleneck_v1/shortcut/weights", "block2_unit_1_shortcut"),
               "mobilenet_v2": ("MobilenetV2/expanded_conv_5/expand/weights", "expanded_conv_5_expand")}


@pytest.mark.parametrize("key", SLIM)
def test_converter_names_a_missing_and_a_renamed_variable(key, slim_sources, models):
    from zoo.checkpoints import CheckpointError

    module, model = _module(key), models[key]
    before = _weights(model)
    variables = slim_values(slim_sources[key])
    missing = {n: v for n, v in variables.items() if n != MISSING[key]}
    with pytest.raises(CheckpointError, match=rf"missing \['{MISSING[key]}'\] \(1\), unexpected \[\] \(0\)"):
        module.load_slim_variables(model, missing, "broken.ckpt")
    renamed = {**missing, MISSING[key].replace("/", "_", 1): variables[MISSING[key]]}
    with pytest.raises(CheckpointError, match=rf"broken.ckpt: .*missing \['{MISSING[key]}'\].*unexpected "
                                              rf"\['{MISSING[key].replace('/', '_', 1)}'\]"):
        module.load_slim_variables(model, renamed, "broken.ckpt")
    assert _unchanged(model, before)


@pytest.mark.parametrize("key", SLIM)
def test_converter_names_a_wrong_shape_and_leaves_the_model_untouched(key, slim_sources, models):
    from zoo.checkpoints import CheckpointError

    module, model = _module(key), models[key]
    name, layer = WRONG_SHAPE[key]
    before = _weights(model)
    variables = slim_values(slim_sources[key])
    variables[name] = variables[name][..., :-8]  # 8 output channels short
    with pytest.raises(CheckpointError, match=rf"variable {name} \(.*\) does not fit Keras layer {layer} "):
        module.load_slim_variables(model, variables, "broken.ckpt")
    assert _unchanged(model, before), "a refused checkpoint must leave the model as it was"


def test_real_checkpoint_file_with_a_missing_variable_is_refused(slim_sources, tmp_path):
    from zoo.checkpoints import CheckpointError
    from zoo.families.mobilenet_v2.keras import build_keras_mobilenet_v2_slim

    name = "MobilenetV2/Logits/Conv2d_1c_1x1/biases"
    prefix = write_tf_checkpoint(tmp_path / "no_biases.ckpt",
                                 {n: v for n, v in slim_values(slim_sources["mobilenet_v2"]).items() if n != name})
    with pytest.raises(CheckpointError, match=rf"no_biases.ckpt: .*missing \['{name}'\]"):
        build_keras_mobilenet_v2_slim(prefix)


def test_unreadable_checkpoint_path_is_a_checkpoint_error(tmp_path):
    from zoo.checkpoints import CheckpointError
    from zoo.backends.keras_weights import read_tf_checkpoint

    with pytest.raises(CheckpointError, match=r"resnet_v1_50.ckpt: cannot be read as a TensorFlow checkpoint"):
        read_tf_checkpoint(tmp_path / "resnet_v1_50.ckpt")
    with pytest.raises(CheckpointError, match=r"directory holds no TensorFlow checkpoint"):
        read_tf_checkpoint(tmp_path)


def test_srgan_h5_with_a_missing_layer_is_refused(srgan_layout, models):
    from zoo.checkpoints import CheckpointError
    from zoo.families.srgan.keras import load_h5_layers

    before = _weights(models["srgan"])
    layers = srgan_h5_layers(srgan_layout)
    dropped = layers[:-1]  # the last conv (conv2d_36) missing
    with pytest.raises(CheckpointError, match=r"88 layers with weights, the SRGAN generator has 89 .*no file layer: "
                                              r"\['conv_out'\]"):
        load_h5_layers(models["srgan"], dropped, "gan_generator.h5")
    extra = layers + [("conv2d_99", layers[-1][1])]
    with pytest.raises(CheckpointError, match=r"beyond the generator: \['conv2d_99'\]"):
        load_h5_layers(models["srgan"], extra, "gan_generator.h5")
    assert _unchanged(models["srgan"], before)


def test_srgan_h5_out_of_order_or_mis_shaped_is_refused(srgan_layout, models):
    from zoo.checkpoints import CheckpointError
    from zoo.families.srgan.keras import load_h5_layers

    before = _weights(models["srgan"])
    layers = srgan_h5_layers(srgan_layout)
    swapped = layers[:2] + [layers[3], layers[2]] + layers[4:]  # the first block's BN before its conv
    with pytest.raises(CheckpointError, match=r"weighted layer #2 is batch_normalization with .*res0_conv1 needs a "
                                              r"conv2d layer"):
        load_h5_layers(models["srgan"], swapped, "gan_generator.h5")
    name, weights = layers[-3]  # the second upsampler's conv: 256 filters
    kernel = f"{name}/kernel:0"
    short = layers[:-3] + [(name, {**weights, kernel: weights[kernel][..., :128]})] + layers[-2:]
    with pytest.raises(CheckpointError, match=rf"variable {kernel} \(3, 3, 64, 128\) does not fit Keras layer up2_c"):
        load_h5_layers(models["srgan"], short, "gan_generator.h5")
    assert _unchanged(models["srgan"], before)


def test_srgan_reader_refuses_a_file_without_keras_layer_names(tmp_path):
    import h5py

    from zoo.checkpoints import CheckpointError
    from zoo.families.srgan.keras import read_h5_layers

    with h5py.File(tmp_path / "keras3.weights.h5", "w") as f:  # Keras 3's layout: layers/<name>/vars/<i>
        f.create_group("layers/conv2d/vars").create_dataset("0", data=np.zeros((9, 9, 3, 64), np.float32))
    with pytest.raises(CheckpointError, match=r"no 'layer_names' attribute, so not a Keras 2 h5 weights file"):
        read_h5_layers(tmp_path / "keras3.weights.h5")


# ----------------------------------------------------------------------------- ONNX export
EXPORT_SIZES = {"resnet50": 224, "mobilenet_v2": 224, "srgan": SRGAN_LR_SIZE}
SOURCE_CONVS = {"resnet50": 54, "mobilenet_v2": 53, "srgan": 37}  # 53 + logits; 52 + logits; see module docstrings


@pytest.fixture(scope="module")
def onnx_models(models) -> dict:
    from zoo.backends.onnx_export import keras_to_onnx

    return {key: keras_to_onnx(model, EXPORT_SIZES[key]) for key, model in models.items()}


@pytest.mark.parametrize("key", (*SLIM, "srgan"))
def test_onnx_export_reproduces_keras(key, onnx_models, keras_outputs):
    """keras_to_onnx (NCHW input; the output keeps the Keras layout) gives the Keras outputs, every conv
    is one ONNX Conv with its BN folded in, and only standard ops remain."""
    import onnxruntime as ort

    model = onnx_models[key]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: reference_input(key).transpose(0, 3, 1, 2)})[0]
    diff = float(np.abs(out - keras_outputs[key]).max())
    ops = [node.op_type for node in model.graph.node]
    print(f"{key}: ONNX vs Keras max abs diff {diff:.2e}; ops {sorted(set(ops))}")
    assert out.shape == OUTPUT_SHAPES[key]
    assert diff < ONNX_EXPORT_MAX_ABS[key]
    assert ops.count("Conv") == SOURCE_CONVS[key] and "BatchNormalization" not in ops
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)
    if key == "srgan":
        assert ops.count("DepthToSpace") == 2, "each pixel shuffle is one DepthToSpace"


# ----------------------------------------------------------------------------- eval preprocessing
def _photo(width: int, height: int):
    from PIL import Image

    pixels = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize(("height", "width", "out_height", "out_width"), [(13, 17, 224, 224), (333, 500, 256, 384)])
def test_tf1_bilinear_resize_matches_tensorflow(height, width, out_height, out_width):
    """The numpy kernel is TF1's ``tf.image.resize_bilinear(align_corners=False)`` (no half-pixel centres)."""
    from zoo.backends.tf_runtime import import_tensorflow
    from zoo.families.resnet50.keras import resize_bilinear_tf1

    tf = import_tensorflow()
    pixels = np.asarray(_photo(width, height), dtype=np.float32)
    ours = resize_bilinear_tf1(pixels, out_height, out_width)
    theirs = tf.compat.v1.image.resize_bilinear(pixels[None], [out_height, out_width], align_corners=False,
                                                half_pixel_centers=False)[0].numpy()
    assert np.abs(ours - theirs).max() < 1e-3  # on the 0..255 scale


def test_vgg_eval_preprocessing():
    from PIL import Image

    from zoo.families.resnet50.keras import RGB_MEANS, preprocess_resnet50_slim, smallest_side_at_least

    assert smallest_side_at_least(333, 500, 256) == (256, 384)  # rint(500 * 256 / 333) = rint(384.38)
    assert smallest_side_at_least(500, 375, 256) == (341, 256)  # rint(341.33)
    out = preprocess_resnet50_slim(_photo(500, 333))
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    white = preprocess_resnet50_slim(Image.new("RGB", (300, 400), (255, 255, 255)))
    np.testing.assert_allclose(white, np.broadcast_to(255 - np.float32(RGB_MEANS), (224, 224, 3)), atol=1e-4)


def test_inception_eval_preprocessing_matches_tensorflow():
    from PIL import Image

    from zoo.backends.tf_runtime import import_tensorflow
    from zoo.families.mobilenet_v2.keras import central_crop_box, preprocess_mobilenet_v2_slim

    tf = import_tensorflow()
    image = _photo(375, 500)
    pixels = tf.image.convert_image_dtype(np.asarray(image), tf.float32)
    cropped = tf.image.central_crop(pixels, 0.875)
    assert central_crop_box(500, 375) == (31, 23, 438, 329) and tuple(cropped.shape[:2]) == (438, 329)
    theirs = (tf.compat.v1.image.resize_bilinear(cropped[None], [224, 224], align_corners=False)[0] - 0.5) * 2.0
    assert np.abs(preprocess_mobilenet_v2_slim(image) - theirs.numpy()).max() < 1e-5
    np.testing.assert_array_equal(preprocess_mobilenet_v2_slim(Image.new("RGB", (64, 48), (255, 255, 255))),
                                  np.ones((224, 224, 3), np.float32))


def test_srgan_pre_and_post_processing():
    from PIL import Image

    from zoo.families.srgan.keras import preprocess_srgan, sr_to_uint8

    lr = preprocess_srgan(Image.new("RGB", (30, 20), (10, 20, 30)))
    assert lr.shape == (20, 30, 3) and lr.dtype == np.float32 and lr[0, 0].tolist() == [10.0, 20.0, 30.0]
    assert sr_to_uint8(np.array([-3.0, 0.5, 1.5, 254.6, 300.0])).tolist() == [0, 0, 2, 255, 255]
