"""keras-retinanet's ResNet-50 RetinaNet in Keras 3: the h5 converter against the source's layout, the
network against the source network, anchors and decoding against the source's formulas, preprocessing
against cv2's resize semantics, and the ONNX export.

Known answers in fixtures/keras_retinanet/, recorded once by make_fixture.py from the source code itself
(keras-retinanet 0.5.1 + keras-resnet run unmodified under tf_keras 2.21, not from the module under test):
the layer/weight names and shapes ``save_weights`` writes for the training model (h5_layout.json) and
that network's outputs on ``reference_input()`` with every weight set to ``synthetic_tensor(name, shape)``
(source_outputs.npz). The tests write a real h5 of that layout with h5py in tmp_path (``model.save``'s
nesting under ``model_weights/``, as the released resnet50_coco_best_v2.1.0.h5), load it through the
converter and compare.
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from zoo.availability import missing_modules

_MISSING = missing_modules("tensorflow")
pytestmark = [
    pytest.mark.skipif(bool(_MISSING), reason=f"TensorFlow half not installed ({', '.join(_MISSING)} missing): "
                                              "pip install -e . (they are dependencies)"),
    # one xdist worker builds, loads and exports the model once (module-scoped fixtures)
    pytest.mark.xdist_group("keras_retinanet"),
]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "keras_retinanet"
# measured on CPU (x86_64, tensorflow-cpu 2.21): 8.0e-7 (regression up to 1.2), 2.4e-7 (scores 0.2..0.8)
SOURCE_MATCH_MAX_ABS = {"regression": 1e-5, "classification": 5e-6}
# measured likewise with onnxruntime 1.32 (BN folded), seeded Keras init: 1.2e-5 (regression up to 10), 1.4e-6
ONNX_EXPORT_MAX_ABS = {"regression": 2e-4, "classification": 2e-5}


def _fixture_module():
    spec = importlib.util.spec_from_file_location("keras_retinanet_make_fixture", FIXTURES / "make_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _fixture_module()


@pytest.fixture(scope="module")
def layout() -> dict:
    """What keras-retinanet 0.5.1's training model's ``save_weights`` writes: layer order, weight names/shapes."""
    return json.loads((FIXTURES / "h5_layout.json").read_text())


def synthetic_groups(layout: dict, renames: dict[str, str] | None = None) -> dict[str, list[tuple[str, np.ndarray]]]:
    """The recorded groups with ``synthetic_tensor`` values; ``renames`` maps recorded weight names to the
    names a file stores instead (TF name-scope suffixes), keeping the values."""
    renames = renames or {}
    return {layer: [(renames.get(w, w), MAKE.synthetic_tensor(f"{layer}/{w}", shape)) for w, shape in weights]
            for layer, weights in layout["layers"].items()}


def write_model_h5(path: Path, layout: dict, groups: dict[str, list[tuple[str, np.ndarray]]]) -> Path:
    """A Keras 2 ``model.save`` h5: root attrs (the serialized config, never read by the converter) and the
    weights under ``model_weights/``: attr ``layer_names``; per layer a group with ``weight_names`` and one
    dataset per name (``conv1/conv1/kernel:0``, ``regression_submodel/pyramid_regression_0/kernel:0``)."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.2.4", "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"layers": [
            {"class_name": "UpsampleLike", "name": "P5_upsampled"}]}})
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([n.encode() for n in layout["layer_names"] if n in groups or
                                              n not in layout["layers"]] + [n.encode() for n in groups
                                                                           if n not in layout["layers"]])
        for name in layout["layer_names"]:
            if name not in groups:
                root.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
        for name, weights in groups.items():
            group = root.require_group(name)
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for w, value in weights:
                group.create_dataset(w, data=value)
    return path


# TF1 sessions suffix the scopes of re-created layers; the file of a model loaded twice stores such names
SCOPE_SUFFIXED = {"conv1/kernel:0": "conv1_1/kernel:0",
                  "pyramid_classification/kernel:0": "pyramid_classification_8/kernel:0",
                  "pyramid_classification/bias:0": "pyramid_classification_8/bias:0"}


@pytest.fixture(scope="module")
def checkpoint(layout, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keras_retinanet") / "resnet50_coco_best_v2.1.0.h5"
    return write_model_h5(path, layout, synthetic_groups(layout, SCOPE_SUFFIXED))


@pytest.fixture(scope="module")
def model(checkpoint):
    from zoo.families.retinanet.keras import build_retinanet_resnet50

    return build_retinanet_resnet50(checkpoint)


@pytest.fixture(scope="module")
def source() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "source_outputs.npz") as f:
        return dict(f)


# ----------------------------------------------------------------------------- the plan against the source
def test_plan_maps_exactly_the_source_layout(layout, model):
    from zoo.families.retinanet.keras import NUM_ARRAYS, NUM_WEIGHTED_LAYERS, layer_plan
    from zoo.backends.keras_weights import plan_names

    layers = layout["layers"]
    assert len(layers) == NUM_WEIGHTED_LAYERS == 116 and sum(map(len, layers.values())) == NUM_ARRAYS == 301
    recorded = [f"{layer}/{w}" for layer, weights in layers.items() for w, _ in weights]
    names = plan_names(layer_plan())
    assert len(names) == len(set(names)) and sorted(names) == sorted(recorded)
    assert layers["regression_submodel"][0][0] == "pyramid_regression_0/kernel:0"  # nested: no group prefix
    shapes = {f"{layer}/{w}": tuple(shape) for layer, weights in layers.items() for w, shape in weights}
    for entry in layer_plan():
        keras_shapes = [tuple(w.shape) for w in model.get_layer(entry.layer).get_weights()]
        assert keras_shapes == [shapes[n] for n in entry.sources], entry.layer
    # every source layer (but the input) exists under its source name, weighted or not
    assert set(layout["layer_names"]) - {layer.name for layer in model.layers} == {"input_1"}
    assert list(model.output_names) == ["regression", "classification"]  # the source's concatenations


def test_converter_copies_every_array(layout, model):
    for entry_layer, weights in layout["layers"].items():
        for (w, shape), array in zip(weights, model.get_layer(entry_layer).get_weights()):
            np.testing.assert_array_equal(array, MAKE.synthetic_tensor(f"{entry_layer}/{w}", shape), err_msg=w)


def test_keras_model_reproduces_the_source_network(model, source):
    """Same weights, same input (72x88: the FPN upsamplings 3x3->5x6->9x11 are not exact 2x): the Keras 3
    model's outputs are keras-retinanet's training model's."""
    regression, classification = (np.asarray(o) for o in model(source["image"], training=False))
    assert regression.shape == source["regression"].shape == (2, 1287, 4)
    assert classification.shape == tuple(source["classification_shape"]) == (2, 1287, 80)
    anchors, classes = MAKE.classification_picks(classification.shape[1])
    picked = classification[:, anchors, classes]
    diffs = {"regression": float(np.abs(regression - source["regression"]).max()),
             "classification": float(np.abs(picked - source["classification_picked"]).max())}
    print(f"Keras vs source max abs diff {diffs}")
    assert all(diffs[k] < SOURCE_MATCH_MAX_ABS[k] for k in diffs), diffs


# ----------------------------------------------------------------------------- refusing wrong checkpoints
def _weights(model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def _unchanged(model, before) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_missing_extra_and_misshaped_arrays_are_refused(layout, model):
    from zoo.checkpoints import CheckpointError
    from zoo.families.retinanet.keras import load_h5_groups

    before = _weights(model)
    groups = synthetic_groups(layout)
    missing = {**groups, "bn4c_branch2b": groups["bn4c_branch2b"][:3]}
    with pytest.raises(CheckpointError, match=r"broken.h5: .*missing \['bn4c_branch2b/bn4c_branch2b/moving_"
                                              r"variance:0'\] \(1\), unexpected \[\] \(0\)"):
        load_h5_groups(model, missing, "broken.h5")
    no_head = {k: v for k, v in groups.items() if k != "classification_submodel"}
    with pytest.raises(CheckpointError, match=r"missing \['classification_submodel/pyramid_classification/bias:0'"
                                              r".*\(10\)"):
        load_h5_groups(model, no_head, "broken.h5")
    extra = {**groups, "res5d_branch2a": groups["res5c_branch2a"]}
    with pytest.raises(CheckpointError, match=r"missing \[\] \(0\), unexpected \['res5d_branch2a/res5c_branch2a/"
                                              r"kernel:0'\] \(1\)"):
        load_h5_groups(model, extra, "broken.h5")
    renamed = {**groups, "P6": [("P6/weights:0", groups["P6"][0][1]), groups["P6"][1]]}
    with pytest.raises(CheckpointError, match=r"missing \['P6/P6/kernel:0'\].*unexpected \['P6/P6/weights:0'\]"):
        load_h5_groups(model, renamed, "broken.h5")
    head = groups["classification_submodel"]  # a 90-class head: 9 x 90 outputs
    wide = head[:8] + [(head[8][0], np.zeros((3, 3, 256, 810), np.float32)), (head[9][0], np.zeros(810, np.float32))]
    with pytest.raises(CheckpointError, match=r"variable classification_submodel/pyramid_classification/kernel:0 "
                                              r"\(3, 3, 256, 810\) does not fit Keras layer classification_submodel"):
        load_h5_groups(model, {**groups, "classification_submodel": wide}, "broken.h5")
    assert _unchanged(model, before), "a refused checkpoint must leave the model as it was"


def test_real_h5_with_a_missing_group_and_a_keras3_file_are_refused(layout, model, tmp_path):
    from zoo.checkpoints import CheckpointError
    from zoo.families.retinanet.keras import load_h5_groups, read_h5_groups

    groups = {k: v for k, v in synthetic_groups(layout).items() if k != "bn_conv1"}
    path = write_model_h5(tmp_path / "no_bn_conv1.h5", layout, groups)
    with pytest.raises(CheckpointError, match=r"no_bn_conv1.h5: .*missing \['bn_conv1/bn_conv1/beta:0', "
                                              r"'bn_conv1/bn_conv1/gamma:0'"):
        load_h5_groups(model, read_h5_groups(path), path)
    import h5py

    with h5py.File(tmp_path / "keras3.weights.h5", "w") as f:
        f.create_group("layers/conv1/vars").create_dataset("0", data=np.zeros((7, 7, 3, 64), np.float32))
    with pytest.raises(CheckpointError, match=r"no 'layer_names' attribute, so not a Keras 2 h5 weights file"):
        read_h5_groups(tmp_path / "keras3.weights.h5")


# ----------------------------------------------------------------------------- anchors
def _corners(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_anchors_match_the_source_formula_by_hand():
    """utils/anchors.py: per level (sizes 32..512, strides 8..128) and cell (row-major, centre (i+0.5)*stride)
    the 9 anchors ratio-major (0.5, 1, 2), scale-minor (2^0, 2^1/3, 2^2/3), w = size*scale/sqrt(ratio),
    h = w*ratio; the last is P7's single cell (centre 64, 64), ratio 2, scale 2^(2/3)."""
    from zoo.families.retinanet.keras import anchors_for_shape

    anchors = anchors_for_shape((64, 64))  # P3 8x8, P4 4x4, P5 2x2, P6 1x1, P7 1x1
    assert anchors.shape == (9 * (64 + 16 + 4 + 1 + 1), 4) and anchors.dtype == np.float64
    expected = {0: _corners(4, 4, 32 * math.sqrt(2), 16 * math.sqrt(2)),          # P3 (0,0), ratio 0.5, scale 1
                4: _corners(4, 4, 32 * 2 ** (1 / 3), 32 * 2 ** (1 / 3)),           # ratio 1, scale 2^(1/3)
                9 + 8: _corners(12, 4, 32 * 2 ** (2 / 3) / math.sqrt(2), 32 * 2 ** (2 / 3) * math.sqrt(2)),
                9 * 8: _corners(4, 12, 32 * math.sqrt(2), 16 * math.sqrt(2)),      # P3 second row
                9 * 64: _corners(8, 8, 64 * math.sqrt(2), 32 * math.sqrt(2)),      # P4 (0,0)
                9 * 84 + 3: _corners(32, 32, 256, 256),                            # P6: ratio 1, scale 1
                9 * 86 - 1: _corners(64, 64, 512 * 2 ** (2 / 3) / math.sqrt(2), 512 * 2 ** (2 / 3) * math.sqrt(2))}
    for index, corners in expected.items():
        np.testing.assert_allclose(anchors[index], corners, rtol=1e-6, err_msg=str(index))
    # ceil(side / 2^level): odd sizes as the ResNet/FPN feature maps come out (checked against the source
    # network's 1287 outputs for 72x88 in test_keras_model_reproduces_the_source_network)
    assert len(anchors_for_shape((72, 88))) == 9 * (9 * 11 + 5 * 6 + 3 * 3 + 2 * 2 + 1 * 1) == 1287
    assert len(anchors_for_shape((800, 1067))) == 9 * (100 * 134 + 50 * 67 + 25 * 34 + 13 * 17 + 7 * 9)


# ----------------------------------------------------------------------------- decoding
def _hand_outputs():
    """64x64 input (774 anchors) with hand-placed scores and deltas."""
    regression, classification = np.zeros((774, 4), np.float32), np.zeros((774, 80), np.float32)
    return regression, classification


def test_decode_applies_deltas_clips_filters_and_maps_coco_ids():
    from zoo.families.retinanet.keras import anchors_for_shape, decode

    anchors = anchors_for_shape((64, 64))
    regression, classification = _hand_outputs()
    a, b = 9 * 27 + 4, 9 * 27 + 5  # P3 cell (3, 3) centre (28, 28): ratio 1, scales 2^(1/3) and 2^(2/3), IoU 0.63
    far = 9 * 63 + 4  # P3 cell (7, 7), centre (60, 60): no overlap with a
    regression[a] = [0.5, -0.5, 1.0, 0.0]  # x1 + 0.5*0.2*w, y1 - 0.5*0.2*h, x2 + 0.2*w
    classification[a, 0], classification[b, 0] = 0.9, 0.8  # b suppressed by a in class 0 (IoU > 0.5)
    classification[b, 11] = 0.7  # class-specific: kept in class 11 (COCO id 13: id 12 does not exist)
    classification[far, 0] = 0.6
    classification[far, 79] = 0.05  # not above the threshold (float32 0.05 > float32 0.05 is false, as in TF)
    classification[0, 1] = 0.3  # corner anchor: clipped to the input
    boxes, ids, scores = decode(regression, classification, 400, 300, 64, 64)  # scale 800/300
    scale = 800 / 300
    w = anchors[a, 2] - anchors[a, 0]
    expected = np.clip([anchors[a] + np.array([0.1, -0.1, 0.2, 0.0]) * w, anchors[b], anchors[far], anchors[0]],
                       0, 64) / scale  # ClipBoxes to the 64x64 input, then / scale
    np.testing.assert_allclose(scores, [0.9, 0.7, 0.6, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(ids, [1, 13, 1, 2])
    np.testing.assert_allclose(boxes, expected, rtol=1e-6)
    assert boxes.dtype == np.float64 and ids.dtype == np.int64
    assert boxes[3, 0] == 0 and boxes[3, 1] == 0


def test_decode_keeps_the_300_best_over_all_classes():
    from zoo.families.retinanet.keras import decode

    regression, classification = _hand_outputs()
    corners = [9 * 0 + 4, 9 * 7 + 4, 9 * 56 + 4, 9 * 63 + 4]  # P3 cells (0,0), (0,7), (7,0), (7,7): disjoint
    scores = np.linspace(0.06, 0.99, 4 * 80).reshape(4, 80)
    for anchor, row in zip(corners, scores):
        classification[anchor] = row
    boxes, ids, kept = decode(regression, classification, 800, 800, 64, 64)
    assert len(kept) == 300 and len(boxes) == 300 and len(ids) == 300
    np.testing.assert_allclose(kept, np.sort(scores.ravel())[::-1][:300], rtol=1e-6)


def test_nms_follows_tensorflow():
    from zoo.families.retinanet.keras import nms

    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5], [1, 0, 11, 10], [20, 20, 30, 30], [5, 5, 5, 9],
                      [10, 10, 0, 0]], np.float64)
    scores = np.array([0.5, 0.9, 0.5, 0.4, 0.95, 0.3])
    # box 4 is empty (overlaps nothing); 1 beats 0 and 2 (IoU 0.95, 0.78 > 0.5); tie 0/2 irrelevant; 5 = 0 flipped
    np.testing.assert_array_equal(nms(boxes, scores), [4, 1, 3])
    assert list(nms(boxes[[0, 2]], np.array([0.5, 0.5]), iou_threshold=0.9)) == [0, 1]  # ties: lower index first


def test_reduce_recovers_the_input_size_from_the_original_size():
    from zoo.families.retinanet.keras import anchors_for_shape, decode, reduce, resized_size

    assert resized_size(480, 640) == (800, 1067) and resized_size(300, 1000) == (400, 1333)
    count = len(anchors_for_shape((800, 1067)))
    rng = np.random.default_rng(0)
    regression = rng.normal(0, 1, (2, count, 4)).astype(np.float32)
    classification = np.zeros((2, count, 80), np.float32)
    classification[:, 5000, 3] = [0.8, 0.4]
    targets = [SimpleNamespace(height=480, width=640), SimpleNamespace(height=600, width=800)]  # both -> 800x1067
    out = reduce((regression, classification), targets)
    for i, (boxes, ids, scores) in enumerate(out):
        want = decode(regression[i], classification[i], targets[i].height, targets[i].width, 800, 1067)
        for got, exp in zip((boxes, ids, scores), want):
            np.testing.assert_array_equal(got, exp)
        assert ids.tolist() == [4] and boxes.shape == (1, 4)
    # different sizes zero-padded bottom/right to the batch's largest: anchors and clipping of the padded input
    padded = len(anchors_for_shape((1067, 1067)))
    mixed = [SimpleNamespace(height=480, width=640), SimpleNamespace(height=640, width=480)]
    reduce((np.zeros((2, padded, 4), np.float32), np.zeros((2, padded, 80), np.float32)), mixed)
    with pytest.raises(ValueError, match=r"outputs hold 774 anchors, which fits neither"):
        reduce((np.zeros((1, 774, 4)), np.zeros((1, 774, 80))), targets[:1])


# ----------------------------------------------------------------------------- preprocessing
def test_preprocess_is_caffe_bgr_then_cv2_linear_resize():
    from PIL import Image

    from zoo.families.retinanet.keras import CAFFE_MEAN_BGR, preprocess

    flat = preprocess(Image.new("RGB", (40, 30), (200, 100, 50)))  # 30 rows: scale 800/30, 40 * 26.67 -> 1067
    assert tuple(flat.shape) == (3, 800, 1067)
    np.testing.assert_allclose(flat[:, 0, 0].numpy(), np.array([50, 100, 200]) - np.array(CAFFE_MEAN_BGR), rtol=1e-6)
    assert float((flat - flat[:, :1, :1]).abs().max()) < 1e-4  # linear interpolation keeps a flat image flat
    # cv2.resize(fx=fy=4/3) of a 3x5 image -> 4x7: taps at (d + 0.5) * 0.75 - 0.5 (1 / fx, not 5 / 7),
    # clamped to the edges, rows first
    row = np.array([0, 10, 20, 40, 80], np.float32)
    pixels = np.stack([row, row + 1, row + 2]).astype(np.uint8)
    image = Image.fromarray(np.repeat(pixels[:, :, None], 3, axis=2))
    out = preprocess(image, min_side=4)[0].numpy() + CAFFE_MEAN_BGR[0]
    assert out.shape == (4, 7)
    taps = [(d + 0.5) * 0.75 - 0.5 for d in range(7)]  # -0.125 0.625 1.375 2.125 2.875 3.625 4.375
    want_row = [row[0], 0.375 * row[0] + 0.625 * row[1], 0.625 * row[1] + 0.375 * row[2],
                0.875 * row[2] + 0.125 * row[3], 0.125 * row[2] + 0.875 * row[3], 0.375 * row[3] + 0.625 * row[4],
                row[4]]
    assert taps[-1] > 4 and taps[0] < 0
    np.testing.assert_allclose(out[0], want_row, atol=1e-4)
    # rows: taps -0.125 (clamped), 0.625, 1.375, 2.125 (clamped to row 2)
    np.testing.assert_allclose(out[:, 0], [0, 0.625, 1.375, 2], atol=1e-4)


# ----------------------------------------------------------------------------- ONNX export
def test_onnx_export_with_dynamic_height_and_width_reproduces_keras():
    """keras_to_onnx(model, None): one NCHW ONNX model of dynamic height/width (tf2onnx takes 40-80 s for
    the 36M weights on 2 shared cores: most of this file's time); the TF1 nearest upsampling becomes Resize
    asymmetric/floor; onnxruntime gives the Keras outputs at 128x160 (exact 2x upsamplings) and 72x88 (not)."""
    import onnxruntime as ort

    from zoo.backends.tf_runtime import import_tensorflow
    from zoo.families.retinanet.keras import build_retinanet_resnet50
    from zoo.backends.onnx_export import keras_to_onnx

    import_tensorflow().keras.utils.set_random_seed(0)
    keras_model = build_retinanet_resnet50(None)
    onnx_model = keras_to_onnx(keras_model, None)
    dims = [d.dim_value or d.dim_param for d in onnx_model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3])), dims
    ops = [node.op_type for node in onnx_model.graph.node]
    assert ops.count("Conv") == 53 + 8 + 5 * 10 and "BatchNormalization" not in ops  # heads inlined per level
    for node in onnx_model.graph.node:
        if node.op_type == "Resize":
            attrs = {a.name: a.s.decode() for a in node.attribute if a.s}
            assert attrs["mode"] == "nearest" and attrs["coordinate_transformation_mode"] == "asymmetric" \
                and attrs.get("nearest_mode", "round_prefer_floor") == "floor", attrs
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    for shape in ((1, 128, 160, 3), (2, 72, 88, 3)):
        image = np.random.default_rng(shape[1]).uniform(-124.0, 152.0, shape).astype(np.float32)
        want = [np.asarray(o) for o in keras_model(image, training=False)]
        got = session.run(None, {session.get_inputs()[0].name: image.transpose(0, 3, 1, 2)})
        for name, g, w in zip(("regression", "classification"), got, want):
            diff = float(np.abs(g - w).max())
            print(f"{shape}: {name} ONNX vs Keras max abs diff {diff:.2e} (|max| {np.abs(w).max():.2f})")
            assert g.shape == w.shape and diff < ONNX_EXPORT_MAX_ABS[name]
