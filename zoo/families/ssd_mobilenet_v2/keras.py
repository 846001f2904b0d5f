"""SSD MobileNet-v2 of the TensorFlow object detection API in Keras, holding the weights of
``ssd_mobilenet_v2_quantized_300x300_coco_2019_01_03.tar.gz`` (``model.ckpt.*``), plus its
preprocessing, anchors, box decoding and post-processing in numpy.

The Keras model is the part of the graph the AIMET zoo quantizes (ssd_mobilenet_v2_quanteval.py:
``QuantizationSimModel(sess, ['FeatureExtractor/MobilenetV2/MobilenetV2/input'], output_op_names=
['concat', 'concat_1'])``): NHWC 300x300x3 in [-1, 1] -> ``(box_encodings [N, 1917, 4],
class_logits [N, 1917, 91])``, the raw predictor outputs (column 0 of the logits is background).
Anchors, box decoding, the sigmoid and NMS happen outside (``reduce``).

Sources (tensorflow/models research/, settings of samples/configs/
ssd_mobilenet_v2_quantized_300x300_coco.config, i.e. the tarball's pipeline.config):

- models/ssd_mobilenet_v2_feature_extractor.py: ``mobilenet_v2.mobilenet_base(final_endpoint=
  'layer_19', depth_multiplier=1.0, use_explicit_padding=False)`` inside ``variable_scope(
  'MobilenetV2')`` inside the meta architecture's ``FeatureExtractor`` scope, under
  ``training_scope(bn_decay=0.9997)`` and ``depth_multiplier`` min_depth 16 (no effect at 1.0: the
  smallest depth is 16); ``pad_to_multiple`` 1 (no padding); ``use_explicit_padding`` not set in
  the config (false), so every conv is 'SAME' (TF's: Keras 'same'); feature maps
  ``layer_15/expansion_output`` (the expand 1x1 + BN + ReLU6 of ``expanded_conv_13``, 19x19x576) and
  ``layer_19`` (``Conv_1``, 10x10x1280), then 4 maps made by feature_map_generators.
  ``multi_resolution_feature_maps(layer_depth [-1, -1, 512, 256, 256, 128], insert_1x1_conv=True)``:
  for index 2..5 ``layer_19_1_Conv2d_{i}_1x1_{d/2}`` (1x1) and ``layer_19_2_Conv2d_{i}_3x3_s2_{d}``
  (3x3 stride 2 'SAME'), each conv + BN (scale, center, epsilon 1e-3) + ReLU6, no biases: 5x5x512,
  3x3x256, 2x2x256, 1x1x128.
- slim nets/mobilenet (mobilenet_v2.py ``V2_DEF``, conv_blocks.py ``expanded_conv``, mobilenet.py):
  the same blocks as zoo/families/mobilenet_v2/keras.py at depth multiplier 1.0 (stem 32,
  blocks 16/24/32/64/96/160/320, ``Conv_1`` 1280; expansion ``_make_divisible(in * 6, 8)``, the
  first block has no expand; BN epsilon 1e-3; residual add at stride 1 with equal depths).
- predictors/convolutional_box_predictor.py (``ConvolutionalBoxPredictor``, one
  ``BoxPredictor_{i}`` scope per feature map) with heads/box_head.py ``ConvolutionalBoxHead`` and
  class_head.py ``ConvolutionalClassHead``: ``num_layers_before_predictor`` 0, ``kernel_size`` 1,
  ``use_depthwise`` false, ``box_code_size`` 4: ``BoxEncodingPredictor`` 1x1 conv to A*4 and
  ``ClassPredictor`` 1x1 conv to A*91 (90 classes + background), both with biases, no BN and no
  activation, reshaped to [N, H*W*A, 4] / [N, H*W*A, 91] (location-major, then anchor) and
  concatenated over the 6 maps. A (anchors per location) = 3, 6, 6, 6, 6, 6.
- anchor_generators/multiple_grid_anchor_generator.py ``create_ssd_anchors``: num_layers 6,
  min_scale 0.2, max_scale 0.95, aspect ratios (1.0, 2.0, 0.5, 3.0, 0.3333) in that order,
  interpolated_scale_aspect_ratio 1.0, base anchor 1x1, reduce_boxes_in_lowest_layer (layer 0:
  (0.1, 1.0), (0.2, 2.0), (0.2, 0.5)); grid_anchor_generator.tile_anchors: stride 1/grid, offset
  stride/2, height = scale / sqrt(ar), width = scale * sqrt(ar), order y, x, anchor. 19^2*3 +
  (10^2 + 5^2 + 3^2 + 2^2 + 1) * 6 = 1917 anchors.
- box_coders/faster_rcnn_box_coder.py ``decode`` with scale factors y 10, x 10, h 5, w 5.
- core/post_processing.py ``batch_multiclass_non_max_suppression`` (per image
  ``multiclass_non_max_suppression``): score converter SIGMOID (logit_scale 1), background column
  dropped, per class ``tf.image.non_max_suppression`` (score > 1e-8, IoU > 0.6 suppresses, at most
  100 per class), all classes concatenated and sorted by score (``top_k``: ties keep the earlier),
  clipped to the clip window [0, 0, 1, 1] (ssd_meta_arch ``_compute_clip_window`` for a fixed-shape
  resizer) dropping boxes of zero area after clipping, then the first 100 (max_total_detections).
  The exporter adds label_id_offset 1: class index c is COCO category id c + 1 (1..90; the
  mscoco_label_map uses COCO ids).

Checkpoint variables (derived from that code; recorded from the source in
fixtures/keras_ssd_mobilenet_v2/): MobileNet-v2 base 52 conv+BN x 5 = 260 (conv ``weights`` or
``depthwise_weights`` + ``BatchNorm/{gamma,beta,moving_mean,moving_variance}``), 8 extra conv+BN x 5
= 40, 6 x 2 predictors x (weights, biases) = 24: **324 variables**. Skipped by pattern: the fake-quant
ranges the quantization graph rewriter (tf.contrib.quantize, ``graph_rewriter { quantization }``)
adds, ``<scope>/<kind>_quant/min`` and ``.../max`` (``act_quant``, ``weights_quant``, ``add_quant``,
``conv_quant``, ``post_activation_bypass_quant``: ``QUANT_RANGE``), and ``global_step``. Any other
extra or missing variable, or a wrong shape, raises CheckpointError naming it.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from zoo.backends.keras_weights import TF_BOOKKEEPING, LayerWeights, assign_plan, read_tf_checkpoint
from zoo.families.mobilenet_v2.keras import (
    HEAD_DEPTH,
    STEM_DEPTH,
    ExpandedConv,
    backbone_plan,
    conv_bn,
    conv_entries,
    expanded_conv,
    expanded_convs,
    make_divisible,
)
from zoo.families.resnet50.keras import resize_bilinear_tf1
from zoo.registry import ModelSpec

SCOPE = "FeatureExtractor/MobilenetV2"
INPUT_SIZE = 300
DEPTH_MULTIPLIER = 1.0
MIN_DEPTH = 16
NUM_CLASSES = 90  # the config's num_classes; the predictor adds the background class
NUM_CLASS_SLOTS = NUM_CLASSES + 1
BOX_CODE_SIZE = 4
# feature_map_layout of ssd_mobilenet_v2_feature_extractor.py: extra maps (index, layer_depth) on layer_19
EXTRA_LAYERS = ((2, 512), (3, 256), (4, 256), (5, 128))
EXPANSION_OUTPUT_BLOCK = 13  # layer_15 = the 15th op of V2_DEF (Conv is layer_1) = expanded_conv_13
FEATURE_MAP_SIZES = (19, 10, 5, 3, 2, 1)
NUM_VARIABLES = 324
NUM_ANCHORS = 1917
CHECKPOINT_FIX = ("use model.ckpt of ssd_mobilenet_v2_quantized_300x300_coco_2019_01_03.tar.gz "
                  "(tensorflow/models research/object_detection, TF1 detection model zoo)")
# fake-quant ranges of tf.contrib.quantize (quant_ops.MovingAvgQuantize / LastValueQuantize create
# <context>/<name>_quant/{min,max}); not weights of the float model, so skipped
QUANT_RANGE = re.compile(r"^(?:.+/)?[A-Za-z0-9_]*_quant/(?:min|max)$")

# ----------------------------------------------------------------------------- anchors and post-processing
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
INTERPOLATED_SCALE_ASPECT_RATIO = 1.0
LOWEST_LAYER_BOXES = ((0.1, 1.0), (None, 2.0), (None, 0.5))  # None: the layer's scale
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)  # y, x, height, width
SCORE_THRESHOLD = 1e-8
IOU_THRESHOLD = 0.6
MAX_DETECTIONS_PER_CLASS = 100
MAX_TOTAL_DETECTIONS = 100
LABEL_ID_OFFSET = 1


def depth(value: float) -> int:
    """mobilenet.depth_multiplier under the feature extractor's arg_scope (min_depth 16)."""
    return make_divisible(value * DEPTH_MULTIPLIER, 8, MIN_DEPTH)


def extra_depth(value: float) -> int:
    """feature_map_generators.get_depth_fn: ``max(int(depth * multiplier), min_depth)``."""
    return max(int(value * DEPTH_MULTIPLIER), MIN_DEPTH)


def blocks() -> list[ExpandedConv]:
    return expanded_convs(depth, SCOPE)


def extra_scopes() -> list[tuple[str, int, str, int]]:
    """(1x1 scope, its depth, 3x3/2 scope, its depth) of each extra feature map."""
    out = []
    for index, layer_depth in EXTRA_LAYERS:
        half, full = extra_depth(layer_depth / 2), extra_depth(layer_depth)
        out.append((f"{SCOPE}/layer_19_1_Conv2d_{index}_1x1_{half}", half,
                    f"{SCOPE}/layer_19_2_Conv2d_{index}_3x3_s2_{full}", full))
    return out


def anchors_per_location() -> list[int]:
    return [len(LOWEST_LAYER_BOXES)] + [len(ASPECT_RATIOS) + 1] * (len(FEATURE_MAP_SIZES) - 1)


def keras_name(scope: str) -> str:
    """``FeatureExtractor/MobilenetV2/expanded_conv_3/depthwise`` -> ``expanded_conv_3_depthwise``;
    ``BoxPredictor_0/ClassPredictor`` -> ``BoxPredictor_0_ClassPredictor``."""
    return scope.removeprefix(f"{SCOPE}/").replace("/", "_")


def _conv_entries(scope: str) -> list[LayerWeights]:
    return conv_entries(scope, prefix=SCOPE)


def layer_plan() -> list[LayerWeights]:
    """Every Keras layer with weights and the checkpoint variables that fill it."""
    plan = backbone_plan(blocks(), SCOPE)
    for one, _, two, _ in extra_scopes():
        plan += _conv_entries(one) + _conv_entries(two)
    for i in range(len(FEATURE_MAP_SIZES)):
        for head in ("BoxEncodingPredictor", "ClassPredictor"):
            scope = f"BoxPredictor_{i}/{head}"
            plan.append(LayerWeights(keras_name(scope), (f"{scope}/weights", f"{scope}/biases")))
    return plan


def skipped_variables(names) -> list[str]:
    """The checkpoint variables that are not weights of the float model: fake-quant ranges, global_step."""
    return sorted(n for n in names if n in TF_BOOKKEEPING or QUANT_RANGE.match(n))


# ----------------------------------------------------------------------------- the Keras model
def _conv_bn(layers, x, scope: str, filters: int, kernel: int = 1, stride: int = 1):
    return conv_bn(layers, x, scope, filters, kernel, stride, prefix=SCOPE)


def _flatten(layers, tf, x, anchors: int, size: int, name: str):
    """[N, H, W, A * size] -> [N, H*W*A, size] (the heads' ``tf.reshape``: location-major, then anchor).
    A reshape to the constant shape [-1, H*W*A, size]: Keras's Reshape layer would take the batch size
    from ``tf.shape`` and export Shape/Gather/Concat/Cast nodes around every ONNX Reshape."""
    return layers.Lambda(lambda t: tf.reshape(t, [-1, anchors, size]), output_shape=(anchors, size), name=name)(x)


def ssd_mobilenet_v2_architecture():
    """The Keras model with freshly initialised weights: NHWC [N, 300, 300, 3] in [-1, 1] ->
    (box_encodings [N, 1917, 4], class_logits [N, 1917, 91])."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    layers = tf.keras.layers
    image = tf.keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = _conv_bn(layers, image, f"{SCOPE}/Conv", depth(STEM_DEPTH), 3, 2)
    feature_maps = []
    for block in blocks():
        x, expansion = expanded_conv(layers, x, block)
        if block.index == EXPANSION_OUTPUT_BLOCK:
            feature_maps.append(expansion)  # layer_15/expansion_output
    x = _conv_bn(layers, x, f"{SCOPE}/Conv_1", depth(HEAD_DEPTH))
    feature_maps.append(x)  # layer_19
    for one, half, two, full in extra_scopes():
        x = _conv_bn(layers, x, one, half)
        x = _conv_bn(layers, x, two, full, 3, 2)
        feature_maps.append(x)
    boxes, classes = [], []
    for i, (feature_map, count) in enumerate(zip(feature_maps, anchors_per_location())):
        box = layers.Conv2D(count * BOX_CODE_SIZE, 1, padding="same", name=f"BoxPredictor_{i}_BoxEncodingPredictor")
        cls = layers.Conv2D(count * NUM_CLASS_SLOTS, 1, padding="same", name=f"BoxPredictor_{i}_ClassPredictor")
        cells = int(feature_map.shape[1]) * int(feature_map.shape[2]) * count
        boxes.append(_flatten(layers, tf, box(feature_map), cells, BOX_CODE_SIZE, f"BoxPredictor_{i}_box_reshape"))
        classes.append(_flatten(layers, tf, cls(feature_map), cells, NUM_CLASS_SLOTS,
                                f"BoxPredictor_{i}_class_reshape"))
    box_encodings = layers.Concatenate(axis=1, name="box_encodings")(boxes)
    class_logits = layers.Concatenate(axis=1, name="class_logits")(classes)
    return tf.keras.Model(image, [box_encodings, class_logits], name="ssd_mobilenet_v2")


def load_checkpoint_variables(model, variables: dict, source="variables"):
    """Copy OD-API-named variables into ``model`` by name; return the model (untouched when refused)."""
    return assign_plan(model, layer_plan(), variables, source, "SSD MobileNet-v2 (TF object detection API)",
                       CHECKPOINT_FIX, ignored=skipped_variables(variables))


def synthetic_images(count: int = 4, seed: int = 0) -> np.ndarray:
    """Smooth deterministic NHWC images in [-1, 1] (low-frequency noise upsampled), for BN statistics."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 255.0, (count, 10, 10, 3)).astype(np.float32)
    images = np.stack([resize_bilinear_tf1(c, INPUT_SIZE, INPUT_SIZE) for c in coarse])
    images += rng.normal(0.0, 8.0, images.shape).astype(np.float32)
    return np.clip(images * np.float32(2 / 255) - 1, -1, 1).astype(np.float32)


def calibrate_batchnorm(model, images: np.ndarray):
    """Set every BN's moving statistics to the batch statistics of ``images`` (one training-mode pass
    with momentum 0: each layer normalised by its own statistics, as inference then is)."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    bns = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    try:
        model(images, training=True)
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
    return model


def build_ssd_mobilenet_v2(checkpoint: Path | None):
    """The Keras SSD MobileNet-v2 with the checkpoint's weights (its prefix, e.g. ``.../model.ckpt``,
    or the directory holding it). None keeps Keras's (seeded) initialisation with BN statistics
    measured on ``synthetic_images()``, so activations stay normalised through the 60 BN layers
    (Keras's defaults, mean 0 and variance 1, would let them drift layer by layer)."""
    model = ssd_mobilenet_v2_architecture()
    if checkpoint is None:
        return calibrate_batchnorm(model, synthetic_images())
    return load_checkpoint_variables(model, read_tf_checkpoint(checkpoint), checkpoint)


# ----------------------------------------------------------------------------- preprocessing
def preprocess_array(image) -> np.ndarray:
    """PIL image -> float32 HWC [300, 300, 3] in [-1, 1].

    fixed_shape_resizer 300x300 = TF1 ``tf.image.resize_images(method=BILINEAR, align_corners=False)``
    (resize_bilinear without half-pixel centres; the AIMET script also resizes this way in its
    TFRecord parser, then the graph's resize to the same size is the identity) on the uint8 pixels
    cast to float, then ``(2 / 255) * x - 1`` (SSDMobileNetV2FeatureExtractor.preprocess).
    """
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    resized = resize_bilinear_tf1(pixels, INPUT_SIZE, INPUT_SIZE)
    return (np.float32(2.0 / 255.0) * resized - np.float32(1.0)).astype(np.float32)


def preprocess(image):
    """PIL RGB image -> torch float32 CHW [3, 300, 300] (the Keras runner transposes batches to NHWC)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(preprocess_array(image).transpose(2, 0, 1)))


# ----------------------------------------------------------------------------- anchors, decoding, NMS
def anchors() -> np.ndarray:
    """The 1917 anchors as float32 [ycenter, xcenter, height, width], normalised to the image.

    MultipleGridAnchorGenerator with the config's ssd_anchor_generator: scales 0.2 + 0.75 * i / 5
    (and 1.0 after the last), per layer the box specs of ``create_ssd_anchors``, tiled as
    ``tile_anchors`` (corners in float32, then back to centre/size as the box coder reads them).
    """
    scales = [MIN_SCALE + (MAX_SCALE - MIN_SCALE) * i / (len(FEATURE_MAP_SIZES) - 1)
              for i in range(len(FEATURE_MAP_SIZES))] + [1.0]
    out = []
    for layer, grid in enumerate(FEATURE_MAP_SIZES):
        scale, scale_next = scales[layer], scales[layer + 1]
        if layer == 0:
            specs = [(s if s is not None else scale, ar) for s, ar in LOWEST_LAYER_BOXES]
        else:
            specs = [(scale, ar) for ar in ASPECT_RATIOS]
            specs.append((np.sqrt(scale * scale_next), INTERPOLATED_SCALE_ASPECT_RATIO))
        box_scales = np.array([s for s, _ in specs], np.float32)
        ratio_sqrts = np.sqrt(np.array([ar for _, ar in specs], np.float32))
        heights, widths = box_scales / ratio_sqrts, box_scales * ratio_sqrts
        stride = np.float32(1.0) / np.float32(grid)
        centers = np.arange(grid, dtype=np.float32) * stride + np.float32(0.5) * stride
        yc, xc, h = np.meshgrid(centers, centers, heights, indexing="ij")
        _, _, w = np.meshgrid(centers, centers, widths, indexing="ij")
        ymin, xmin = yc - np.float32(0.5) * h, xc - np.float32(0.5) * w
        ymax, xmax = yc + np.float32(0.5) * h, xc + np.float32(0.5) * w
        corners = np.stack([ymin, xmin, ymax, xmax], -1).reshape(-1, 4)
        out.append(np.stack([(corners[:, 0] + corners[:, 2]) / 2, (corners[:, 1] + corners[:, 3]) / 2,
                             corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]], -1))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(box_encodings: np.ndarray, anchor_boxes: np.ndarray | None = None) -> np.ndarray:
    """FasterRcnnBoxCoder.decode: [K, 4] (ty, tx, th, tw) -> [K, 4] (ymin, xmin, ymax, xmax), float32."""
    a = anchors() if anchor_boxes is None else anchor_boxes
    t = np.asarray(box_encodings, np.float32) / np.asarray(BOX_CODER_SCALES, np.float32)
    h, w = np.exp(t[:, 2]) * a[:, 2], np.exp(t[:, 3]) * a[:, 3]
    yc, xc = t[:, 0] * a[:, 2] + a[:, 0], t[:, 1] * a[:, 3] + a[:, 1]
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], -1).astype(np.float32)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU as TF's NonMaxSuppression kernel computes it (corners min/max-normalised; empty -> 0)."""
    def normalised(b):
        return (np.minimum(b[..., 0], b[..., 2]), np.minimum(b[..., 1], b[..., 3]),
                np.maximum(b[..., 0], b[..., 2]), np.maximum(b[..., 1], b[..., 3]))

    y1, x1, y2, x2 = normalised(box)
    oy1, ox1, oy2, ox2 = normalised(others)
    area, other_area = (y2 - y1) * (x2 - x1), (oy2 - oy1) * (ox2 - ox1)
    inter = (np.clip(np.minimum(y2, oy2) - np.maximum(y1, oy1), 0, None)
             * np.clip(np.minimum(x2, ox2) - np.maximum(x1, ox1), 0, None))
    union = area + other_area - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((area > 0) & (other_area > 0), inter / union, 0.0)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, max_output: int, iou_threshold: float,
                        score_threshold: float) -> np.ndarray:
    """tf.image.non_max_suppression: indices of the kept boxes, best first (greedy; equal scores keep
    the lower index first; a box is dropped when its IoU with a kept one is > the threshold)."""
    candidates = np.flatnonzero(scores > score_threshold)
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    kept: list[int] = []
    for index in order:
        if len(kept) >= max_output:
            break
        if not kept or not (_iou(boxes[index], boxes[kept]) > iou_threshold).any():
            kept.append(int(index))
    return np.array(kept, dtype=np.int64)


def _pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    """[..., K, 4] -> [..., K, K] IoU with ``_iou``'s (TF's) semantics."""
    y1, x1 = np.minimum(boxes[..., 0], boxes[..., 2]), np.minimum(boxes[..., 1], boxes[..., 3])
    y2, x2 = np.maximum(boxes[..., 0], boxes[..., 2]), np.maximum(boxes[..., 1], boxes[..., 3])
    area = (y2 - y1) * (x2 - x1)
    inter = (np.clip(np.minimum(y2[..., :, None], y2[..., None, :]) - np.maximum(y1[..., :, None], y1[..., None, :]),
                     0, None)
             * np.clip(np.minimum(x2[..., :, None], x2[..., None, :]) - np.maximum(x1[..., :, None], x1[..., None, :]),
                       0, None))
    union = area[..., :, None] + area[..., None, :] - inter
    valid = (area[..., :, None] > 0) & (area[..., None, :] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, inter / union, 0.0)


def multiclass_nms(boxes: np.ndarray, scores: np.ndarray, max_per_class: int = MAX_DETECTIONS_PER_CLASS,
                   iou_threshold: float = IOU_THRESHOLD, score_threshold: float = SCORE_THRESHOLD,
                   head: int = 256) -> list[np.ndarray]:
    """``non_max_suppression`` for every class (column of ``scores``) at once; per class the kept indices.

    Exact greedy NMS, vectorised over the classes on each class's ``head`` best candidates; a class
    that has not kept ``max_per_class`` boxes there while candidates remain is redone by the plain loop.
    """
    count, classes = scores.shape
    head = min(head, count)
    order = np.argsort(-scores, axis=0, kind="stable")[:head].T  # [classes, head], best first
    valid = np.take_along_axis(scores.T, order, 1) > score_threshold
    # overlaps[c, i, j]: candidate i suppresses the later candidate j if kept
    overlaps = (_pairwise_iou(boxes[order]) > iou_threshold) & np.triu(np.ones((head, head), bool), 1)
    suppressed = np.zeros((classes, head), bool)
    kept = np.zeros((classes, head), bool)
    taken = np.zeros(classes, np.int64)
    for i in range(head):
        take = valid[:, i] & ~suppressed[:, i] & (taken < max_per_class)
        kept[:, i] = take
        taken += take
        suppressed |= take[:, None] & overlaps[:, i]
    out = []
    for c in range(classes):
        if kept[c].sum() < max_per_class and (scores[:, c] > score_threshold).sum() > head:
            out.append(non_max_suppression(boxes, scores[:, c], max_per_class, iou_threshold, score_threshold))
        else:
            out.append(order[c][kept[c]].astype(np.int64))
    return out


def decode(box_encodings: np.ndarray, class_logits: np.ndarray, image_height: int, image_width: int):
    """One image's predictor outputs ([1917, 4], [1917, 91]) -> ``(boxes, category_ids, scores)``.

    The OD API's post-processing (see the module docstring), then the AIMET script's conversion
    (``post_func``): normalised [ymin, xmin, ymax, xmax] times the original height/width, no +1 or
    -1 anywhere. Returns boxes float64 [K, 4] **x1, y1, x2, y2 in original-image pixels** (COCO's
    [x, y, w, h] is [x1, y1, x2 - x1, y2 - y1], what the script writes), category_ids int64 [K]
    (COCO ids 1..90: class index + label_id_offset 1), scores float32 [K] (sigmoid), best first,
    K <= 100.
    """
    boxes = decode_boxes(box_encodings)
    logits = np.asarray(class_logits, np.float32)
    scores = (np.float32(1) / (np.float32(1) + np.exp(-logits)))[:, 1:]  # drop background
    kept_boxes, kept_scores, kept_classes = [], [], []
    for c, keep in enumerate(multiclass_nms(boxes, scores)):
        kept_boxes.append(boxes[keep])
        kept_scores.append(scores[keep, c])
        kept_classes.append(np.full(len(keep), c, np.int64))
    all_boxes, all_scores = np.concatenate(kept_boxes), np.concatenate(kept_scores)
    all_classes = np.concatenate(kept_classes)
    order = np.argsort(-all_scores, kind="stable")
    all_boxes, all_scores, all_classes = all_boxes[order], all_scores[order], all_classes[order]
    # clip_to_window [0, 0, 1, 1], filter_nonoverlapping: drop what has zero area after clipping
    all_boxes = np.clip(all_boxes, np.float32(0), np.float32(1))
    area = (all_boxes[:, 2] - all_boxes[:, 0]) * (all_boxes[:, 3] - all_boxes[:, 1])
    nonzero = area > 0
    all_boxes, all_scores, all_classes = (a[nonzero][:MAX_TOTAL_DETECTIONS] for a in (all_boxes, all_scores,
                                                                                       all_classes))
    ymin, xmin, ymax, xmax = (all_boxes[:, i].astype(np.float64) for i in range(4))
    pixels = np.stack([xmin * image_width, ymin * image_height, xmax * image_width, ymax * image_height], -1)
    return pixels.reshape(-1, 4), all_classes + LABEL_ID_OFFSET, all_scores.astype(np.float32)


def reduce(outputs, targets) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A batch's ``(box_encodings, class_logits)`` and targets (``.height``, ``.width`` of the original
    images) -> per image ``decode(...)``."""
    box_encodings, class_logits = outputs
    return [decode(b, c, t.height, t.width) for b, c, t in zip(box_encodings, class_logits, targets)]


def build_ssd_mobilenet_v2_from_index(checkpoint: Path | None):
    """The checkpoint is pinned by its ``model.ckpt.index`` file; TensorFlow reads the ``model.ckpt`` prefix."""
    return build_ssd_mobilenet_v2(checkpoint.with_suffix("") if checkpoint and checkpoint.suffix == ".index"
                                  else checkpoint)


MODELS = (
    # TF object detection API SSD MobileNet-v2 (300x300 fixed_shape_resizer, (2/255)x - 1); anchors, box
    # decoding, sigmoid and NMS outside the quantized graph, as the AIMET zoo script's quantsim region
    ModelSpec("keras_ssd_mobilenet_v2", build_ssd_mobilenet_v2_from_index, preprocess, 300, reduce),
)
