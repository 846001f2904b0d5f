"""fizyr/keras-retinanet's ResNet-50 RetinaNet in Keras 3, holding the weights of its
``resnet50_coco_best_v2.1.0.h5`` (release 0.5.1), plus the source's preprocessing and decoding.

Follows keras-retinanet 0.5.1 (08af308d, the commit the AIMET zoo's RetinaNet.md checks out) and
broadinstitute/keras-resnet (v0.1.0/v0.2.0, identical layer names and ops):

- backbone (keras_resnet/models/_2d.py ``ResNet2D50``, blocks/_2d.py ``bottleneck_2d``, ``freeze_bn=True``):
  ``conv1`` 7x7/2 'same' no bias + ``bn_conv1`` + ReLU, ``pool1`` 3x3/2 max 'same'; stages 2-5 of
  (3, 4, 6, 3) bottlenecks named ``res{stage}{a,b,c..}``: ``_branch2a`` 1x1 (the stride, 2 in each
  stage's first block from stage 3 on, sits here, caffe style), ``padding{..}_branch2b`` zero pad 1 +
  ``_branch2b`` 3x3 valid, ``_branch2c`` 1x1 (4x filters), each with ``bn{..}_branch2x``; the first
  block of a stage has the projection ``_branch1`` (1x1, strided) + ``bn{..}_branch1``. Every conv is
  bias-free, every BN frozen (inference statistics, epsilon 1e-5). C3, C4, C5 = stage 3, 4, 5 outputs.
- FPN (models/retinanet.py ``__create_pyramid_features``): ``C5_reduced``/``C4_reduced``/``C3_reduced``
  1x1, ``P5_upsampled``/``P4_upsampled`` = ``UpsampleLike`` (layers/_misc.py: TF1
  ``tf.image.resize_images`` NEAREST_NEIGHBOR, align_corners=False, i.e. ResizeNearestNeighbor with
  half_pixel_centers=False: source index floor(dst * in / out)), ``P4_merged``/``P3_merged`` adds,
  ``P3``/``P4``/``P5`` 3x3, ``P6`` 3x3/2 on C5, ``C6_relu`` + ``P7`` 3x3/2; 256 channels, with biases.
- heads (``default_submodels``): one ``regression_submodel`` and one ``classification_submodel``
  (nested Keras models, shared over P3..P7): 4 x (3x3 conv 256 + ReLU) named ``pyramid_regression_{i}``
  / ``pyramid_classification_{i}``, then ``pyramid_regression`` (9 x 4) / ``pyramid_classification``
  (9 x 80), reshaped to (-1, 4) / (-1, 80), the classification through a sigmoid; the levels are
  concatenated on axis 1 (``regression``, ``classification``): the training model's two outputs.

Outside the graph, in numpy, as the inference model (``retinanet_bbox``) and utils/coco_eval.py do:
anchors (utils/anchors.py ``anchors_for_shape``: sizes 32..512, strides 8..128, ratios 0.5/1/2,
scales 2^0, 2^(1/3), 2^(2/3), centres at (i + 0.5) * stride), ``bbox_transform_inv`` (mean 0, std 0.2,
deltas times the anchor's width/height added to its corners), ``ClipBoxes`` (to the network input's
width/height), ``filter_detections`` (class-specific, score > 0.05, TF greedy NMS at IoU > 0.5 keeping
at most 300 per class, then the top 300 scores over all classes) and ``boxes /= scale``.

Weights: a Keras 2 h5 (``save_weights``, or ``model.save`` with the groups under ``model_weights/``).
Each layer with weights is a group named as the layer with a ``weight_names`` attribute; the backbone
and FPN layers hold ``<layer>/kernel:0`` (+ ``bias:0``; BNs ``gamma``, ``beta``, ``moving_mean``,
``moving_variance``), each submodel group holds its inner layers' ``pyramid_regression_0/kernel:0`` ...
in layer order. **116 groups, 301 arrays** (53 convs + 53 BNs = 265 backbone arrays, 8 x 2 FPN,
2 x 10 head arrays), layout recorded from the source in fixtures/keras_retinanet/. Groups are matched
by name; inside a group the arrays by position, as Keras's loader does, each checked against the
expected weight name (a TF name-scope suffix such as ``conv1_1/kernel:0`` or
``pyramid_classification_8/kernel:0``, which a TF1 session gives re-created layers, is accepted).
A missing, extra or mis-shaped array raises CheckpointError naming it; h5py reads arrays only (the
file's serialized model config, with its custom layers, is never deserialized).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

from zoo.backends.keras_weights import LayerWeights, assign_plan, read_keras2_h5
from zoo.registry import ModelSpec

NUM_CLASSES = 80
# utils/anchors.py AnchorParameters.default
ANCHOR_SIZES = (32, 64, 128, 256, 512)
ANCHOR_STRIDES = (8, 16, 32, 64, 128)
ANCHOR_RATIOS = np.array([0.5, 1, 2], np.float32)
ANCHOR_SCALES = np.array([2 ** 0, 2 ** (1.0 / 3.0), 2 ** (2.0 / 3.0)], np.float32)
PYRAMID_LEVELS = (3, 4, 5, 6, 7)
NUM_ANCHORS = len(ANCHOR_RATIOS) * len(ANCHOR_SCALES)
# layers/_misc.py RegressBoxes / backend bbox_transform_inv defaults
BBOX_MEAN = (0.0, 0.0, 0.0, 0.0)
BBOX_STD = (0.2, 0.2, 0.2, 0.2)
# layers/filter_detections.py defaults (FilterDetections as retinanet_bbox creates it)
SCORE_THRESHOLD, NMS_THRESHOLD, MAX_DETECTIONS = 0.05, 0.5, 300
# utils/image.py preprocess_image(mode='caffe') means, BGR order; resize_image defaults
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
MIN_SIDE, MAX_SIDE = 800, 1333
# preprocessing/coco.py CocoGenerator.load_classes: label i = the i-th COCO category id in ascending order
COCO_CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
STAGE_BLOCKS = (3, 4, 6, 3)  # ResNet2D50
BN_EPSILON = 1e-5
FEATURE_SIZE = 256
FPN_LAYERS = ("C5_reduced", "P5", "C4_reduced", "P4", "C3_reduced", "P3", "P6", "P7")
SUBMODELS = (("regression_submodel", "pyramid_regression", 4), ("classification_submodel",
                                                                 "pyramid_classification", NUM_CLASSES))
BN_WEIGHTS = ("gamma:0", "beta:0", "moving_mean:0", "moving_variance:0")
NUM_WEIGHTED_LAYERS, NUM_ARRAYS = 116, 301
CHECKPOINT_FIX = ("use resnet50_coco_best_v2.1.0.h5 of fizyr/keras-retinanet (release 0.5.1), or a ResNet-50 "
                  "RetinaNet with 80 classes saved by keras-retinanet in the Keras 2 h5 format")
# checkpoint-free initialisation: bn_conv1's moving variance ~ the caffe-mode input's (pixel std ~64) and
# small gammas on the BNs closing a residual branch keep activations O(1) through 16 residual sums
INIT_INPUT_VARIANCE, INIT_CLOSING_GAMMA = 64.0 ** 2, 0.2


# ----------------------------------------------------------------------------- the layer table
def backbone_convs() -> list[tuple[str, str, int, int, int]]:
    """Every backbone conv as (conv name, BN name, kernel, filters, stride), in keras-resnet's order."""
    convs = [("conv1", "bn_conv1", 7, 64, 2)]
    filters = 64
    for stage, blocks in enumerate(STAGE_BLOCKS):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            tag = f"{stage + 2}{chr(ord('a') + block)}"
            convs += [(f"res{tag}_branch2a", f"bn{tag}_branch2a", 1, filters, stride),
                      (f"res{tag}_branch2b", f"bn{tag}_branch2b", 3, filters, 1),
                      (f"res{tag}_branch2c", f"bn{tag}_branch2c", 1, filters * 4, 1)]
            if block == 0:
                convs.append((f"res{tag}_branch1", f"bn{tag}_branch1", 1, filters * 4, stride))
        filters *= 2
    return convs


def layer_plan() -> list[LayerWeights]:
    """Every Keras layer with weights and the h5 arrays (``<group>/<weight name>``) that fill it, in order."""
    plan = []
    for conv, bn, *_ in backbone_convs():
        plan += [LayerWeights(conv, (f"{conv}/{conv}/kernel:0",)),
                 LayerWeights(bn, tuple(f"{bn}/{bn}/{w}" for w in BN_WEIGHTS))]
    plan += [LayerWeights(name, (f"{name}/{name}/kernel:0", f"{name}/{name}/bias:0")) for name in FPN_LAYERS]
    for group, prefix, _ in SUBMODELS:
        inner = [f"{prefix}_{i}" for i in range(4)] + [prefix]
        plan.append(LayerWeights(group, tuple(f"{group}/{layer}/{w}" for layer in inner
                                              for w in ("kernel:0", "bias:0"))))
    return plan


# ----------------------------------------------------------------------------- the Keras model
@lru_cache(maxsize=1)
def upsample_like_layer():
    """The ``UpsampleLike`` Keras layer class (defined once TensorFlow is imported, registered once)."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    @tf.keras.utils.register_keras_serializable(package="zoo_retinanet")
    class UpsampleLike(tf.keras.layers.Layer):
        """layers/_misc.py ``UpsampleLike``: resize ``source`` to ``target``'s height/width with TF1's
        nearest neighbour (ResizeNearestNeighbor, align_corners=False, half_pixel_centers=False)."""

        def call(self, inputs):
            source, target = inputs
            size = tf.shape(target)[1:3]
            return tf.compat.v1.image.resize_nearest_neighbor(source, size, align_corners=False,
                                                              half_pixel_centers=False)

        def compute_output_shape(self, input_shapes):
            source, target = input_shapes
            return (source[0], target[1], target[2], source[3])

    return UpsampleLike


def _submodel(keras, name: str, prefix: str, values: int):
    """models/retinanet.py ``default_regression_model`` / ``default_classification_model`` (with Keras's
    default initialisers rather than the source's N(0, 0.01) + prior-probability bias, whose outputs are
    all ~0.01 before training: a checkpoint-free smoke model should give varied scores)."""
    layers = keras.layers
    inputs = keras.Input((None, None, FEATURE_SIZE))
    x = inputs
    for i in range(4):
        x = layers.Conv2D(FEATURE_SIZE, 3, padding="same", activation="relu", name=f"{prefix}_{i}")(x)
    x = layers.Conv2D(NUM_ANCHORS * values, 3, padding="same", name=prefix)(x)
    x = layers.Reshape((-1, values), name=f"{prefix}_reshape")(x)
    if values == NUM_CLASSES:
        x = layers.Activation("sigmoid", name=f"{prefix}_sigmoid")(x)
    return keras.Model(inputs, x, name=name)


def retinanet_resnet50_architecture(num_classes: int = NUM_CLASSES):
    """The training model with freshly initialised weights: NHWC caffe-mode BGR input of any size,
    outputs (regression [N, A, 4], classification [N, A, num_classes])."""
    from zoo.backends.tf_runtime import import_tensorflow

    if num_classes != NUM_CLASSES:
        raise ValueError(f"only the COCO model ({NUM_CLASSES} classes) is implemented, not {num_classes}")
    keras = import_tensorflow().keras
    layers, upsample_like = keras.layers, upsample_like_layer()

    def conv_bn(x, conv, bn, kernel, filters, stride, padding="valid"):
        closing = conv.endswith("_branch2c")
        x = layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False, kernel_initializer="he_normal",
                          name=conv)(x)
        init = dict(gamma_initializer=keras.initializers.Constant(INIT_CLOSING_GAMMA)) if closing else {}
        if bn == "bn_conv1":
            init = dict(moving_variance_initializer=keras.initializers.Constant(INIT_INPUT_VARIANCE))
        norm = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=bn, **init)
        norm.trainable = False  # freeze_bn=True: always the inference statistics
        return norm(x)

    image = keras.Input((None, None, 3), name="image")
    convs = iter(backbone_convs())
    x = layers.Activation("relu", name="conv1_relu")(conv_bn(image, *next(convs), padding="same"))
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    features = []
    for stage, blocks in enumerate(STAGE_BLOCKS):
        for block in range(blocks):
            tag = f"{stage + 2}{chr(ord('a') + block)}"
            y = layers.Activation("relu", name=f"res{tag}_branch2a_relu")(conv_bn(x, *next(convs)))
            y = layers.ZeroPadding2D(1, name=f"padding{tag}_branch2b")(y)
            y = layers.Activation("relu", name=f"res{tag}_branch2b_relu")(conv_bn(y, *next(convs)))
            y = conv_bn(y, *next(convs))
            shortcut = conv_bn(x, *next(convs)) if block == 0 else x
            x = layers.Activation("relu", name=f"res{tag}_relu")(layers.Add(name=f"res{tag}")([y, shortcut]))
        features.append(x)
    c3, c4, c5 = features[1:]

    def fpn_conv(x, name, kernel, stride=1):
        return layers.Conv2D(FEATURE_SIZE, kernel, stride, padding="same", name=name)(x)

    p5 = fpn_conv(c5, "C5_reduced", 1)
    p5_upsampled = upsample_like(name="P5_upsampled")([p5, c4])
    p5 = fpn_conv(p5, "P5", 3)
    p4 = layers.Add(name="P4_merged")([p5_upsampled, fpn_conv(c4, "C4_reduced", 1)])
    p4_upsampled = upsample_like(name="P4_upsampled")([p4, c3])
    p4 = fpn_conv(p4, "P4", 3)
    p3 = layers.Add(name="P3_merged")([p4_upsampled, fpn_conv(c3, "C3_reduced", 1)])
    p3 = fpn_conv(p3, "P3", 3)
    p6 = fpn_conv(c5, "P6", 3, 2)
    p7 = fpn_conv(layers.Activation("relu", name="C6_relu")(p6), "P7", 3, 2)
    pyramid = [p3, p4, p5, p6, p7]
    outputs = []
    for (group, prefix, values), output in zip(SUBMODELS, ("regression", "classification")):
        submodel = _submodel(keras, group, prefix, values)
        outputs.append(layers.Concatenate(axis=1, name=output)([submodel(p) for p in pyramid]))
    return keras.Model(image, outputs, name="retinanet")


# ----------------------------------------------------------------------------- the h5 weights
def read_h5_groups(path: Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{group (layer) name: [(weight name, array), ...] in the file's order} for each layer with weights."""
    return dict(read_keras2_h5(path, CHECKPOINT_FIX))


def _canonical(stored: str, expected: str) -> bool:
    """``stored`` is ``expected`` up to a TF name-scope suffix on its layer part (``conv1_1/kernel:0``)."""
    if stored == expected:
        return True
    layer, _, leaf = expected.rpartition("/")
    stored_layer, _, stored_leaf = stored.rpartition("/")
    return stored_leaf == leaf and re.fullmatch(re.escape(layer) + r"_\d+", stored_layer) is not None


def h5_tensors(groups: dict[str, list[tuple[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """The file's arrays keyed ``<group>/<weight name>``, each renamed to the plan's name when it sits at
    that name's position in its group and differs only by a TF name-scope suffix."""
    expected = {entry.sources[0].split("/", 1)[0]: entry.sources for entry in layer_plan()}
    tensors = {}
    for group, weights in groups.items():
        wanted = expected.get(group, ())
        for position, (name, array) in enumerate(weights):
            key = f"{group}/{name}"
            if position < len(wanted) and len(weights) == len(wanted) and \
                    _canonical(name, wanted[position].split("/", 1)[1]):
                key = wanted[position]
            tensors[key] = array
    return tensors


def load_h5_groups(model, groups: dict[str, list[tuple[str, np.ndarray]]], source="groups"):
    """Copy the h5 groups into ``model`` (checked first; untouched when refused); return the model."""
    return assign_plan(model, layer_plan(), h5_tensors(groups), source, "keras-retinanet ResNet-50 RetinaNet",
                       CHECKPOINT_FIX)


def build_retinanet_resnet50(checkpoint: Path | None, num_classes: int = NUM_CLASSES):
    """The Keras RetinaNet training model, with the h5 file's weights when one is given; None keeps the
    (seeded) initialisation for smoke tests."""
    model = retinanet_resnet50_architecture(num_classes)
    if checkpoint is not None:
        load_h5_groups(model, read_h5_groups(checkpoint), checkpoint)
    return model


# ----------------------------------------------------------------------------- preprocessing
def compute_resize_scale(height: int, width: int, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> float:
    """utils/image.py ``compute_resize_scale``: the smallest side to ``min_side``, unless the largest side
    then exceeds ``max_side`` (then the largest side to ``max_side``)."""
    scale = min_side / min(height, width)
    if max(height, width) * scale > max_side:
        scale = max_side / max(height, width)
    return scale


def resized_size(height: int, width: int, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The (height, width) ``cv2.resize(img, None, fx=scale, fy=scale)`` produces: each side times the
    scale, rounded to nearest (OpenCV's saturate_cast<int> of a double, half to even)."""
    scale = compute_resize_scale(height, width, min_side, max_side)
    return int(np.rint(height * scale)), int(np.rint(width * scale))


def _linear_taps(src: int, dst: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_LINEAR taps along one axis when fx/fy is given: source coordinate
    (d + 0.5) / scale - 0.5 (float32), floor, clamped to the edge (weight 1 on the edge pixel)."""
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * (1.0 / scale) - 0.5).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    frac = f - i0.astype(np.float32)
    low, high = i0 < 0, i0 >= src - 1
    frac[low | high] = 0.0
    i0 = np.clip(i0, 0, src - 1)
    return i0, np.minimum(i0 + 1, src - 1), frac


def resize_linear(image: np.ndarray, scale: float) -> np.ndarray:
    """``cv2.resize(image, None, fx=scale, fy=scale)`` (INTER_LINEAR) of a float32 HWC image: rows
    interpolated horizontally first, then vertically, in float32 (OpenCV's order and precision for 32F)."""
    height, width = image.shape[:2]
    return resize_linear_to(image, int(np.rint(height * scale)), int(np.rint(width * scale)), scale, scale)


def resize_linear_to(image: np.ndarray, out_h: int, out_w: int, scale_y: float | None = None,
                     scale_x: float | None = None) -> np.ndarray:
    """``cv2.resize(image, (out_w, out_h))`` (INTER_LINEAR) of a float32 HWC image; the scales default to the
    size ratios, as OpenCV takes them when only the size is given."""
    height, width = image.shape[:2]
    x0, x1, fx = _linear_taps(width, out_w, out_w / width if scale_x is None else scale_x)
    y0, y1, fy = _linear_taps(height, out_h, out_h / height if scale_y is None else scale_y)
    fx, fy = fx[None, :, None], fy[:, None, None]
    rows = image[:, x0] * (np.float32(1) - fx) + image[:, x1] * fx
    return (rows[y0] * (np.float32(1) - fy) + rows[y1] * fy).astype(np.float32)


def preprocess(image, min_side: int = MIN_SIDE, max_side: int = MAX_SIDE):
    """A PIL image as the source's CocoGenerator feeds it: ``read_image_bgr`` (RGB -> BGR),
    ``preprocess_image`` caffe mode (float32 minus the BGR means), then ``resize_image``
    (cv2 INTER_LINEAR by ``compute_resize_scale``); returned as a CHW float32 torch tensor.

    The scale is ``compute_resize_scale(original height, width)``; the reducer recomputes it."""
    import torch

    bgr = np.asarray(image.convert("RGB"), dtype=np.float32)[:, :, ::-1]
    x = bgr - np.array(CAFFE_MEAN_BGR, dtype=np.float32)
    x = resize_linear(x, compute_resize_scale(x.shape[0], x.shape[1], min_side, max_side))
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


# ----------------------------------------------------------------------------- anchors and decoding
def generate_anchors(base_size: int) -> np.ndarray:
    """utils/anchors.py ``generate_anchors``: the 9 (ratio-major) anchors of one level around (0, 0)."""
    anchors = np.zeros((NUM_ANCHORS, 4))
    anchors[:, 2:] = base_size * np.tile(ANCHOR_SCALES, (2, len(ANCHOR_RATIOS))).T
    areas = anchors[:, 2] * anchors[:, 3]
    anchors[:, 2] = np.sqrt(areas / np.repeat(ANCHOR_RATIOS, len(ANCHOR_SCALES)))
    anchors[:, 3] = anchors[:, 2] * np.repeat(ANCHOR_RATIOS, len(ANCHOR_SCALES))
    anchors[:, 0::2] -= np.tile(anchors[:, 2] * 0.5, (2, 1)).T
    anchors[:, 1::2] -= np.tile(anchors[:, 3] * 0.5, (2, 1)).T
    return anchors


def pyramid_shapes(image_shape: Sequence[int]) -> list[tuple[int, int]]:
    """utils/anchors.py ``guess_shapes``: ceil(side / 2^level), the ResNet/FPN feature sizes."""
    shape = np.array(image_shape[:2])
    return [tuple(int(s) for s in (shape + 2 ** p - 1) // (2 ** p)) for p in PYRAMID_LEVELS]


def anchors_for_shape(image_shape: Sequence[int]) -> np.ndarray:
    """utils/anchors.py ``anchors_for_shape`` (float64 [A, 4] x1, y1, x2, y2): per level, cell-major,
    the 9 anchors shifted to ((x + 0.5) * stride, (y + 0.5) * stride), row-major cells -- the order of
    the heads' reshaped outputs."""
    levels = []
    for (rows, cols), size, stride in zip(pyramid_shapes(image_shape), ANCHOR_SIZES, ANCHOR_STRIDES):
        shift_x, shift_y = np.meshgrid((np.arange(cols) + 0.5) * stride, (np.arange(rows) + 0.5) * stride)
        shifts = np.vstack((shift_x.ravel(), shift_y.ravel(), shift_x.ravel(), shift_y.ravel())).T
        levels.append((generate_anchors(size)[None] + shifts[:, None]).reshape(-1, 4))
    return np.concatenate(levels).astype(np.float64)


def bbox_transform_inv(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """backend/common.py ``bbox_transform_inv`` with mean 0 and std 0.2 ([A, 4] each), in the dtype of
    ``deltas`` (float32 for the network's outputs, as in the source graph)."""
    anchors = anchors.astype(deltas.dtype)
    width, height = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    size = np.stack([width, height, width, height], axis=1)
    std, mean = np.array(BBOX_STD, deltas.dtype), np.array(BBOX_MEAN, deltas.dtype)
    return anchors + (deltas * std + mean) * size


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_THRESHOLD,
        max_output: int = MAX_DETECTIONS) -> np.ndarray:
    """``tf.image.non_max_suppression``: greedy by descending score (ties: lower index first), a box
    dropped when its IoU with a kept one exceeds the threshold; corners min/max-ordered, and an empty
    box overlaps nothing. Returns kept indices in selection order."""
    x1, x2 = np.minimum(boxes[:, 0], boxes[:, 2]), np.maximum(boxes[:, 0], boxes[:, 2])
    y1, y2 = np.minimum(boxes[:, 1], boxes[:, 3]), np.maximum(boxes[:, 1], boxes[:, 3])
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if len(keep) >= max_output:
            break
        if keep:
            k = np.array(keep)
            inter = (np.maximum(np.minimum(x2[k], x2[i]) - np.maximum(x1[k], x1[i]), 0)
                     * np.maximum(np.minimum(y2[k], y2[i]) - np.maximum(y1[k], y1[i]), 0))
            union = areas[k] + areas[i] - inter
            valid = (areas[k] > 0) & (areas[i] > 0)
            iou = np.where(valid, inter / np.where(valid, union, 1), 0)
            if (iou > iou_threshold).any():
                continue
        keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def filter_detections(boxes: np.ndarray, classification: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """layers/filter_detections.py ``filter_detections`` as ``retinanet_bbox`` uses it (class-specific,
    NMS): per class c, boxes scoring > 0.05, NMS (IoU 0.5, at most 300); then the 300 best over all
    classes (ties: class-major, then NMS order). Returns (anchor indices, labels 0..79, scores), no padding."""
    indices, labels = [], []
    threshold = np.asarray(SCORE_THRESHOLD, classification.dtype)  # TF compares in the scores' dtype
    for c in range(classification.shape[1]):
        candidates = np.flatnonzero(classification[:, c] > threshold)
        kept = candidates[nms(boxes[candidates], classification[candidates, c])]
        indices.append(kept)
        labels.append(np.full(len(kept), c, dtype=np.int64))
    indices, labels = np.concatenate(indices), np.concatenate(labels)
    scores = classification[indices, labels]
    top = np.argsort(-scores, kind="stable")[:MAX_DETECTIONS]
    return indices[top], labels[top], scores[top]


def decode(regression: np.ndarray, classification: np.ndarray, image_height: int, image_width: int,
           input_height: int, input_width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's outputs ([A, 4], [A, 80], float32 as the network gives them; computed in their dtype,
    as the source graph does) for a network input of ``input_height`` x ``input_width``
    (the resized, possibly padded image) -> (boxes [K, 4] float64 x1, y1, x2, y2 in original-image
    pixels, COCO category ids [K] int64, scores [K] float64), best first, as coco_eval.py collects them.

    The scale is ``compute_resize_scale(image_height, image_width)``, as the generator resized."""
    anchors = anchors_for_shape((input_height, input_width))
    if len(anchors) != len(regression) or len(regression) != len(classification):
        raise ValueError(f"outputs hold {len(regression)} regression / {len(classification)} classification rows, "
                         f"a {input_height}x{input_width} input has {len(anchors)} anchors")
    regression, classification = np.asarray(regression), np.asarray(classification)
    boxes = bbox_transform_inv(anchors, regression)
    limits = np.array([input_width, input_height, input_width, input_height], dtype=boxes.dtype)
    boxes = np.clip(boxes, 0, limits)  # ClipBoxes: x to [0, width], y to [0, height] of the input
    indices, labels, scores = filter_detections(boxes, classification)
    scale = compute_resize_scale(image_height, image_width)
    category_ids = np.array(COCO_CATEGORY_IDS, dtype=np.int64)[labels]
    # coco_eval.py: boxes /= scale on the float32 detections
    return (boxes[indices] / boxes.dtype.type(scale)).astype(np.float64), category_ids, scores.astype(np.float64)


def input_size_for(targets, num_anchors: int, min_side: int = MIN_SIDE,
                   max_side: int = MAX_SIDE) -> list[tuple[int, int]]:
    """The network input's (height, width) for each image of a batch whose outputs hold ``num_anchors``
    rows: each image's own resized size (batch of one, or of equally sized images), else the batch's
    largest resized height and width (images zero-padded at the bottom/right to a common size, as the
    source's generator batches). Anything else raises ValueError."""
    sizes = [resized_size(t.height, t.width, min_side, max_side) for t in targets]
    if all(len(anchors_for_shape(s)) == num_anchors for s in sizes):
        return sizes
    padded = (max(h for h, _ in sizes), max(w for _, w in sizes))
    if len(anchors_for_shape(padded)) == num_anchors:
        return [padded] * len(sizes)
    raise ValueError(f"outputs hold {num_anchors} anchors, which fits neither the images' resized sizes {sizes} "
                     f"(min side {min_side}, max side {max_side}) nor their bottom/right-padded size {padded}")


def reduce(outputs, targets, min_side: int = MIN_SIDE,
           max_side: int = MAX_SIDE) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A batch's (regression [N, A, 4], classification [N, A, 80]) -> per image ``decode``'s
    (boxes, COCO category ids, scores); ``targets[i].height``/``.width`` are the original size.

    Assumes ``preprocess`` with the same sides made the batch: the input size is recomputed from the
    original size (see ``input_size_for``) and checked against the outputs' anchor count."""
    regression, classification = (np.asarray(o) for o in outputs[:2])
    sizes = input_size_for(targets, regression.shape[1], min_side, max_side)
    return [decode(r, c, t.height, t.width, h, w)
            for r, c, t, (h, w) in zip(regression, classification, targets, sizes)]


MODELS = (
    # keras-retinanet ResNet-50: caffe BGR means, cv2-linear resize to min side 800 / max 1333, any input
    # size (batch 1); anchors, bbox_transform_inv, clipping and class-wise NMS outside the quantized graph
    ModelSpec("keras_retinanet_resnet50", build_retinanet_resnet50, preprocess, None, reduce),
    # the same network and code at min side 192 / max 320: a CPU-sized smoke input
    ModelSpec("keras_retinanet_resnet50_192", build_retinanet_resnet50, partial(preprocess, min_side=192, max_side=320),
              None, partial(reduce, min_side=192, max_side=320)),
)
