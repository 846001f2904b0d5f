"""Keras SSD MobileNet-v2 (TF object detection API): checkpoint converter, forward pass against the
source network, anchors, box decoding + NMS, ONNX export, preprocessing.

Known answers in fixtures/keras_ssd_mobilenet_v2/, recorded once from the source code (not from the
module under test) by record_source.py there: the 324 variables (names, shapes) the source creates,
and its outputs on ``reference_input()`` with the weights ``synthetic_tensor`` gives each variable.
Anchor values and decoded boxes below are computed by hand from the source formulas
(multiple_grid_anchor_generator.create_ssd_anchors, grid_anchor_generator.tile_anchors,
faster_rcnn_box_coder.decode).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                                              "pip install -e . (they are dependencies)"),
    # one xdist worker builds, loads and exports the model once (module-scoped fixtures)
    pytest.mark.xdist_group("keras_ssd_mobilenet_v2"),
]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "keras_ssd_mobilenet_v2"
# measured on CPU (x86_64 AVX2, tensorflow-cpu 2.21): 4.2e-7 (box encodings up to 0.9, logits up to 1.1)
SOURCE_MATCH_MAX_ABS = 5e-6
# measured likewise with onnxruntime 1.32 (BN folded, tf2onnx 1.17): 6.6e-7
ONNX_EXPORT_MAX_ABS = 5e-6
# fake-quant ranges and the step counter the quantized checkpoint holds beside the weights (names as
# tf.contrib.quantize's quantize.py creates them: <layer scope>/<kind>_quant/{min,max})
QUANT_EXTRAS = ("FeatureExtractor/MobilenetV2/Conv/act_quant/min", "FeatureExtractor/MobilenetV2/Conv/act_quant/max",
                "FeatureExtractor/MobilenetV2/Conv/weights_quant/min",
                "FeatureExtractor/MobilenetV2/Conv/weights_quant/max",
                "FeatureExtractor/MobilenetV2/expanded_conv_2/add_quant/min",
                "FeatureExtractor/MobilenetV2/expanded_conv_2/add_quant/max",
                "BoxPredictor_5/ClassPredictor/act_quant/max", "BoxPredictor_5/ClassPredictor/act_quant/min")


def reference_input() -> np.ndarray:
    """As record_source.reference_input: one NHWC 300x300 image in [-1, 1]."""
    return np.random.default_rng(zlib.crc32(b"ssd_mobilenet_v2")).uniform(-1, 1, (1, 300, 300, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def source_variables() -> dict[str, tuple[int, ...]]:
    out = {}
    for line in (FIXTURES / "variables.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split()
            out[name] = tuple(int(d) for d in shape.split(","))
    return out


@pytest.fixture(scope="module")
def source_values(source_variables) -> dict[str, np.ndarray]:
    from tests.families.test_resnet50_and_mobilenet_v2_keras import synthetic_tensor

    return {name: synthetic_tensor(name, shape) for name, shape in source_variables.items()}


def quant_extras() -> dict[str, np.ndarray]:
    extras = {name: np.float32(-6.0 if name.endswith("/min") else 6.0) for name in QUANT_EXTRAS}
    return {**extras, "global_step": np.array(123456, np.int64)}


@pytest.fixture(scope="module")
def checkpoint(source_values, tmp_path_factory) -> Path:
    from tests.families.test_resnet50_and_mobilenet_v2_keras import write_tf_checkpoint

    root = tmp_path_factory.mktemp("ssd_mobilenet_v2_checkpoint")
    return write_tf_checkpoint(root / "model.ckpt", {**source_values, **quant_extras()})


@pytest.fixture(scope="module")
def model(checkpoint):
    from zoo.families.ssd_mobilenet_v2.keras import build_ssd_mobilenet_v2

    return build_ssd_mobilenet_v2(checkpoint)


@pytest.fixture(scope="module")
def keras_outputs(model) -> tuple[np.ndarray, np.ndarray]:
    boxes, classes = model(reference_input(), training=False)
    return boxes.numpy(), classes.numpy()


# ----------------------------------------------------------------------------- the plan against the source
def test_plan_maps_exactly_the_source_variables(source_variables, model):
    from zoo.families.ssd_mobilenet_v2 import keras as ssd
    from zoo.backends.keras_weights import plan_names

    names = plan_names(ssd.layer_plan())
    assert len(source_variables) == ssd.NUM_VARIABLES == 324
    assert len(names) == len(set(names)), "every variable has exactly one destination"
    assert sorted(names) == sorted(source_variables)
    for entry in ssd.layer_plan():
        shapes = [tuple(w.shape) for w in model.get_layer(entry.layer).get_weights()]
        assert shapes == [source_variables[n] for n in entry.sources], entry.layer
    # the names the task is about, as the source spells them
    for name in ("FeatureExtractor/MobilenetV2/layer_19_1_Conv2d_2_1x1_256/weights",
                 "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_5_3x3_s2_128/BatchNorm/moving_variance",
                 "FeatureExtractor/MobilenetV2/expanded_conv_13/expand/weights",
                 "BoxPredictor_0/ClassPredictor/biases"):
        assert name in source_variables
    assert source_variables["BoxPredictor_0/BoxEncodingPredictor/weights"] == (1, 1, 576, 12)
    assert source_variables["BoxPredictor_0/ClassPredictor/weights"] == (1, 1, 576, 273)
    assert source_variables["BoxPredictor_1/ClassPredictor/weights"] == (1, 1, 1280, 546)
    assert source_variables["BoxPredictor_5/BoxEncodingPredictor/biases"] == (24,)


def test_converter_copies_every_variable_and_skips_only_quant_ranges(source_values, model):
    from zoo.families.ssd_mobilenet_v2.keras import layer_plan, skipped_variables

    for entry in layer_plan():
        for name, array in zip(entry.sources, model.get_layer(entry.layer).get_weights()):
            np.testing.assert_array_equal(array, source_values[name], err_msg=name)
    assert skipped_variables([*source_values, *quant_extras()]) == sorted(quant_extras())
    # look-alikes that are not fake-quant ranges stay unexpected
    assert skipped_variables(["FeatureExtractor/MobilenetV2/Conv/act_quant/min/ExponentialMovingAverage",
                              "FeatureExtractor/MobilenetV2/Conv/weights_quant/delay",
                              "BoxPredictor_0/ClassPredictor/weights/RMSProp"]) == []


def test_keras_model_reproduces_the_source_network(keras_outputs):
    """Same weights, same input: the Keras outputs are the source graph's (record_source.py)."""
    with np.load(FIXTURES / "source_outputs.npz") as ref:
        ref_boxes, ref_classes, columns = ref["box_encodings"], ref["class_logits"], ref["class_columns"]
    boxes, classes = keras_outputs
    assert boxes.shape == (1, 1917, 4) and classes.shape == (1, 1917, 91)
    box_diff = float(np.abs(boxes - ref_boxes).max())
    class_diff = float(np.abs(classes[..., columns] - ref_classes).max())
    print(f"Keras vs source: box encodings max abs diff {box_diff:.2e} (up to {np.abs(ref_boxes).max():.1f}), "
          f"class logits {class_diff:.2e} (up to {np.abs(ref_classes).max():.1f})")
    assert max(box_diff, class_diff) < SOURCE_MATCH_MAX_ABS


# ----------------------------------------------------------------------------- refusing wrong checkpoints
def _weights(model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def _unchanged(model, before) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_missing_extra_and_mis_shaped_variables_are_refused(source_values, model):
    from zoo.checkpoints import CheckpointError
    from zoo.families.ssd_mobilenet_v2.keras import load_checkpoint_variables

    before = _weights(model)
    variables = {**source_values, **quant_extras()}
    gone = "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_3_3x3_s2_256/BatchNorm/gamma"
    missing = {n: v for n, v in variables.items() if n != gone}
    with pytest.raises(CheckpointError, match=rf"model.ckpt: .*missing \['{gone}'\] \(1\), unexpected \[\] \(0\); "
                                              r"use model.ckpt of ssd_mobilenet_v2_quantized_300x300_coco"):
        load_checkpoint_variables(model, missing, "model.ckpt")
    extra = "BoxPredictor_3/ClassPredictor/weights/RMSProp"
    with pytest.raises(CheckpointError, match=rf"missing \[\] \(0\), unexpected \['{extra}'\] \(1\)"):
        load_checkpoint_variables(model, {**variables, extra: variables["BoxPredictor_3/ClassPredictor/weights"]},
                                  "model.ckpt")
    name = "BoxPredictor_2/ClassPredictor/weights"  # 91 classes + background expected: 90 given
    short = {**variables, name: variables[name][..., :6 * 90]}
    with pytest.raises(CheckpointError, match=rf"variable {name} \(1, 1, 512, 540\) does not fit Keras layer "
                                              r"BoxPredictor_2_ClassPredictor \(needs \(1, 1, 512, 546\)\)"):
        load_checkpoint_variables(model, short, "model.ckpt")
    assert _unchanged(model, before), "a refused checkpoint must leave the model as it was"


def test_real_checkpoint_file_with_a_missing_variable_is_refused(source_values, model, tmp_path):
    from tests.families.test_resnet50_and_mobilenet_v2_keras import write_tf_checkpoint
    from zoo.checkpoints import CheckpointError
    from zoo.families.ssd_mobilenet_v2.keras import load_checkpoint_variables
    from zoo.backends.keras_weights import read_tf_checkpoint

    name = "BoxPredictor_4/BoxEncodingPredictor/biases"
    prefix = write_tf_checkpoint(tmp_path / "no_biases.ckpt",
                                 {n: v for n, v in {**source_values, **quant_extras()}.items() if n != name})
    with pytest.raises(CheckpointError, match=rf"no_biases.ckpt: .*missing \['{name}'\]"):
        load_checkpoint_variables(model, read_tf_checkpoint(prefix), prefix)


# ----------------------------------------------------------------------------- anchors
def test_anchor_count_and_layout():
    from zoo.families.ssd_mobilenet_v2.keras import anchors, anchors_per_location

    a = anchors()
    assert a.shape == (1917, 4) and a.dtype == np.float32
    assert anchors_per_location() == [3, 6, 6, 6, 6, 6]
    assert sum(g * g * n for g, n in zip((19, 10, 5, 3, 2, 1), anchors_per_location())) == 1917 == 19 * 19 * 3 + 139 * 6


@pytest.mark.parametrize(("index", "expected"), [
    # layer 0 (19x19, scale 0.2), location (0, 0): (0.1, 1.0), (0.2, 2.0), (0.2, 0.5); centre 0.5 / 19
    (0, (0.5 / 19, 0.5 / 19, 0.1, 0.1)),
    (1, (0.5 / 19, 0.5 / 19, 0.2 / math.sqrt(2), 0.2 * math.sqrt(2))),
    (2, (0.5 / 19, 0.5 / 19, 0.2 * math.sqrt(2), 0.2 / math.sqrt(2))),
    # layer 0, location (row 1, column 2): x varies fastest, then y
    (3 * (19 + 2), (1.5 / 19, 2.5 / 19, 0.1, 0.1)),
    # layer 1 (10x10, scale 0.35), location (0, 0): ratios 1, 2, 0.5, 3, 0.3333, interpolated sqrt(0.35 * 0.5)
    (1083, (0.05, 0.05, 0.35, 0.35)),
    (1086, (0.05, 0.05, 0.35 / math.sqrt(3.0), 0.35 * math.sqrt(3.0))),
    (1087, (0.05, 0.05, 0.35 / math.sqrt(0.3333), 0.35 * math.sqrt(0.3333))),
    (1088, (0.05, 0.05, math.sqrt(0.35 * 0.5), math.sqrt(0.35 * 0.5))),
    # layer 1, last location (9, 9)
    (1083 + 6 * 99, (0.95, 0.95, 0.35, 0.35)),
    # layer 5 (1x1, scale 0.95): ratio 2, and the interpolated scale with the appended 1.0
    (1912, (0.5, 0.5, 0.95 / math.sqrt(2), 0.95 * math.sqrt(2))),
    (1916, (0.5, 0.5, math.sqrt(0.95), math.sqrt(0.95))),
])
def test_anchor_values_from_the_source_formula(index, expected):
    from zoo.families.ssd_mobilenet_v2.keras import anchors

    np.testing.assert_allclose(anchors()[index], expected, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- decoding and NMS
NO_SCORE = -30.0  # sigmoid(-30) = 9e-14 < score_threshold 1e-8


def _blank() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((1917, 4), np.float32), np.full((1917, 91), NO_SCORE, np.float32)


def test_box_coder_decodes_with_scales_10_10_5_5():
    from zoo.families.ssd_mobilenet_v2.keras import anchors, decode_boxes

    codes = np.zeros((1917, 4), np.float32)
    codes[1083] = (10.0, -5.0, 5 * math.log(2.0), -5 * math.log(2.0))  # ty=1, tx=-0.5, h x2, w /2
    boxes = decode_boxes(codes)
    a = anchors()
    np.testing.assert_allclose(boxes[0], [a[0, 0] - 0.05, a[0, 1] - 0.05, a[0, 0] + 0.05, a[0, 1] + 0.05], atol=1e-7)
    # centre (0.05 + 1 * 0.35, 0.05 - 0.5 * 0.35) = (0.4, -0.125), size 0.7 x 0.175
    np.testing.assert_allclose(boxes[1083], [0.4 - 0.35, -0.125 - 0.0875, 0.4 + 0.35, -0.125 + 0.0875], atol=1e-6)


def test_decode_nms_per_class_threshold_clipping_and_pixels():
    from zoo.families.ssd_mobilenet_v2.keras import decode

    codes, logits = _blank()
    # the 1x1 layer's anchors, all centred at (0.5, 0.5): 1911 ratio 1 (0.95 x 0.95), 1912 ratio 2
    # (0.672 x 1.344, IoU with 1911 0.547 <= 0.6: kept), 1916 interpolated (0.975 x 0.975, IoU 0.95: suppressed)
    logits[1911, 18] = 3.0  # class index 17 -> COCO id 18 (dog)
    logits[1912, 18] = 2.0
    logits[1916, 18] = 2.5
    logits[1916, 1] = 1.0  # the same box in another class (COCO id 1) is not suppressed by class 18
    # a box pushed above the image: zero area after clipping to [0, 1], dropped
    codes[0] = (10 * (-0.2 - 0.5 / 19) / 0.1, 0, 0, 0)
    logits[0, 5] = 4.0
    boxes, ids, scores = decode(codes, logits, 480, 640)
    assert ids.tolist() == [18, 18, 1] and ids.dtype == np.int64 and boxes.dtype == np.float64
    sig = 1 / (1 + np.exp(-np.array([3.0, 2.0, 1.0])))
    np.testing.assert_allclose(scores, sig, rtol=1e-6)
    half_h, half_w = 0.95 / math.sqrt(2) / 2, 0.95 * math.sqrt(2) / 2
    side = math.sqrt(0.95) / 2
    expected = [[0.025 * 640, 0.025 * 480, 0.975 * 640, 0.975 * 480],
                [0.0, (0.5 - half_h) * 480, 640.0, (0.5 + half_h) * 480],  # x clipped from 0.5 -/+ 0.672
                [(0.5 - side) * 640, (0.5 - side) * 480, (0.5 + side) * 640, (0.5 + side) * 480]]
    assert half_w > 0.5
    np.testing.assert_allclose(boxes, expected, atol=1e-3)  # x1, y1, x2, y2 in pixels, no +-1


def test_decode_caps_detections_per_class_and_in_total():
    from zoo.families.ssd_mobilenet_v2.keras import decode

    codes, logits = _blank()
    spread = np.arange(0, 3 * 361, 3)  # the (0.1, 1.0) anchors of layer 0: neighbours overlap with IoU 0.31
    logits[spread, 1] = np.linspace(0.0, 1.0, 361)  # COCO id 1: 361 candidates
    logits[spread, 2] = np.linspace(2.0, 3.0, 361)  # COCO id 2 scores higher
    boxes, ids, scores = decode(codes, logits, 300, 300)
    assert len(boxes) == 100 and (ids == 2).all(), "100 per class, 100 in total, best first"
    assert (np.diff(scores) <= 0).all()
    np.testing.assert_allclose(scores[0], 1 / (1 + math.exp(-3.0)), rtol=1e-6)
    one_class = logits.copy()
    one_class[:, 2] = NO_SCORE
    _, ids, _ = decode(codes, one_class, 300, 300)
    assert len(ids) == 100 and (ids == 1).all()
    _, _, nothing = decode(*_blank(), 300, 300)
    assert len(nothing) == 0


def test_reduce_decodes_each_image_at_its_own_size():
    from zoo.families.ssd_mobilenet_v2.keras import reduce

    @dataclass
    class Target:
        height: int
        width: int

    codes, logits = _blank()
    logits[1911, 1] = 5.0
    out = reduce((np.stack([codes, codes]), np.stack([logits, logits])), [Target(100, 200), Target(300, 50)])
    assert len(out) == 2
    np.testing.assert_allclose(out[0][0], [[5.0, 2.5, 195.0, 97.5]], atol=1e-4)
    np.testing.assert_allclose(out[1][0], [[1.25, 7.5, 48.75, 292.5]], atol=1e-4)
    assert out[1][1].tolist() == [1]


# ----------------------------------------------------------------------------- ONNX export
def test_onnx_export_reproduces_keras(model, keras_outputs):
    """keras_to_onnx (NCHW input; outputs as Keras's) gives the Keras outputs; every conv is one ONNX
    Conv with its BN folded (52 base + 8 extra + 12 predictor), standard ops only, constant reshapes."""
    import onnxruntime as ort

    from zoo.backends.onnx_export import keras_to_onnx

    onnx_model = keras_to_onnx(model, 300)
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    boxes, classes = session.run(None, {session.get_inputs()[0].name: reference_input().transpose(0, 3, 1, 2)})
    diff = max(float(np.abs(boxes - keras_outputs[0]).max()), float(np.abs(classes - keras_outputs[1]).max()))
    ops = [node.op_type for node in onnx_model.graph.node]
    print(f"ONNX vs Keras max abs diff {diff:.2e}; ops {sorted(set(ops))}")
    assert boxes.shape == (1, 1917, 4) and classes.shape == (1, 1917, 91)
    assert diff < ONNX_EXPORT_MAX_ABS
    assert ops.count("Conv") == 72 and "BatchNormalization" not in ops
    assert not {"Shape", "Gather", "Cast"} & set(ops), "reshapes to constant shapes"
    assert all(node.domain in ("", "ai.onnx") for node in onnx_model.graph.node)


# ----------------------------------------------------------------------------- untrained build, preprocessing
def test_untrained_build_has_sane_activations():
    """checkpoint None: seeded Keras init, BN statistics measured on synthetic images, so the heads'
    outputs are neither vanishing nor exploding (what a smoke case quantizes)."""
    from zoo.backends.tf_runtime import import_tensorflow
    from zoo.families.ssd_mobilenet_v2.keras import build_ssd_mobilenet_v2, synthetic_images

    import_tensorflow().keras.utils.set_random_seed(0)
    boxes, classes = (o.numpy() for o in build_ssd_mobilenet_v2(None)(synthetic_images(1, seed=7), training=False))
    assert np.isfinite(boxes).all() and np.isfinite(classes).all()
    assert 0.1 < boxes.std() < 10 and 0.1 < classes.std() < 10, (boxes.std(), classes.std())


def test_preprocessing_matches_tensorflow_resize_images():
    from PIL import Image

    from zoo.backends.tf_runtime import import_tensorflow
    from zoo.families.ssd_mobilenet_v2.keras import preprocess

    tf = import_tensorflow()
    pixels = np.random.default_rng(3).integers(0, 256, (333, 500, 3), dtype=np.uint8)
    ours = preprocess(Image.fromarray(pixels))
    assert tuple(ours.shape) == (3, 300, 300) and str(ours.dtype) == "torch.float32"
    # TF1 tf.image.resize_images(method=BILINEAR, align_corners=False) = resize_bilinear, no half-pixel centres
    resized = tf.compat.v1.image.resize_images(pixels, [300, 300], method=tf.compat.v1.image.ResizeMethod.BILINEAR,
                                               align_corners=False)
    theirs = (2.0 / 255.0) * resized.numpy() - 1.0
    assert np.abs(ours.numpy().transpose(1, 2, 0) - theirs).max() < 1e-5
    white = preprocess(Image.new("RGB", (64, 48), (255, 255, 255)))
    np.testing.assert_allclose(white.numpy(), 1.0, atol=1e-6)
