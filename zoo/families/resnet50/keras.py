"""TF-slim ResNet-50 v1 in Keras (tf.keras), holding the weights of ``resnet_v1_50_2016_08_28.tar.gz``.

Follows tensorflow/models research/slim/nets/resnet_v1.py (``resnet_v1_50``, ``bottleneck``) and
nets/resnet_utils.py (``conv2d_same``, ``subsample``, ``stack_blocks_dense``, ``resnet_arg_scope``):

- root: ``conv2d_same`` 7x7/2 (explicit 3+3 zero padding, VALID) + BN + ReLU, then a 3x3/2 max pool
  with 'SAME' padding (the arg scope's choice);
- four blocks of bottleneck units (3, 4, 6, 3), depth 4x the bottleneck depth; as in slim, the
  stride of a block sits in its *last* unit (blocks 1-3 stride 2, block 4 stride 1), on the 3x3
  conv (``conv2d_same``: explicit 1+1 padding, VALID when strided);
- the shortcut is a 1x1 conv + BN (no activation) when the depth changes (each block's first
  unit), else the input subsampled by a 1x1 max pool of the unit's stride;
- every conv but the logits has BN (epsilon 1e-5, with gamma: ``batch_norm_scale=True``) and no bias;
  ReLU after conv1, conv2 and the residual sum;
- global average pool, ``logits`` 1x1 conv with biases to 1000 classes (no background class;
  slim's eval runs ResNet v1 with ``labels_offset=1``), squeezed to [N, 1000].

Checkpoint variables (derived from that code): 53 convolutions (root 1 + 16 units x 3 + 4 shortcuts),
each ``weights`` + ``BatchNorm/{gamma,beta,moving_mean,moving_variance}`` = 265, plus
``logits/{weights,biases}`` = **267 variables**, all under ``resnet_v1_50/``. ``global_step`` is
accepted and dropped; any other extra or missing variable, or a wrong shape, raises CheckpointError
naming it. Slim's layouts are Keras's (HWIO kernels), so tensors are copied as they are.

Input: NHWC float, ``preprocess_resnet50_slim`` (vgg_preprocessing eval).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.backends.keras_weights import TF_BOOKKEEPING, LayerWeights, assign_plan, read_tf_checkpoint
from zoo.data.transforms import hwc_to_chw
from zoo.registry import ModelSpec

SCOPE = "resnet_v1_50"
# resnet_v1_50: (block scope, bottleneck depth, units, stride of the last unit)
BLOCKS = (("block1", 64, 3, 2), ("block2", 128, 4, 2), ("block3", 256, 6, 2), ("block4", 512, 3, 1))
ROOT_DEPTH, NUM_CLASSES = 64, 1000
BN_EPSILON = 1e-5
# slim BatchNorm variables, in the order Keras BatchNormalization keeps its weights
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")
NUM_VARIABLES = 267
CHECKPOINT_FIX = "use resnet_v1_50.ckpt from tensorflow/models research/slim (resnet_v1_50_2016_08_28.tar.gz)"


@dataclass(frozen=True)
class Unit:
    """One ``bottleneck_v1`` unit of ``stack_blocks_dense``."""

    block: str
    index: int  # 1-based, as in slim's unit_%d scopes
    in_depth: int
    bottleneck: int
    stride: int

    @property
    def depth(self) -> int:
        return 4 * self.bottleneck

    @property
    def scope(self) -> str:
        return f"{SCOPE}/{self.block}/unit_{self.index}/bottleneck_v1"

    @property
    def has_projection(self) -> bool:
        return self.depth != self.in_depth


def units() -> list[Unit]:
    out, in_depth = [], ROOT_DEPTH
    for block, bottleneck, count, stride in BLOCKS:
        for i in range(1, count + 1):
            out.append(Unit(block, i, in_depth, bottleneck, stride if i == count else 1))
            in_depth = 4 * bottleneck
    return out


def keras_name(scope: str) -> str:
    """``resnet_v1_50/block1/unit_3/bottleneck_v1/conv2`` -> ``block1_unit_3_conv2``."""
    return scope.removeprefix(f"{SCOPE}/").replace("/bottleneck_v1", "").replace("/", "_")


def conv_scopes() -> list[str]:
    """Every conv+BN scope, in slim's creation order."""
    scopes = [f"{SCOPE}/conv1"]
    for unit in units():
        scopes += ([f"{unit.scope}/shortcut"] if unit.has_projection else []) + \
                  [f"{unit.scope}/conv{k}" for k in (1, 2, 3)]
    return scopes


def layer_plan() -> list[LayerWeights]:
    """Every Keras layer with weights and the slim variables that fill it."""
    plan = []
    for scope in conv_scopes():
        plan += [LayerWeights(keras_name(scope), (f"{scope}/weights",)),
                 LayerWeights(f"{keras_name(scope)}_bn", tuple(f"{scope}/BatchNorm/{v}" for v in BN_VARIABLES))]
    return plan + [LayerWeights("logits", (f"{SCOPE}/logits/weights", f"{SCOPE}/logits/biases"))]


def _conv_bn(layers, x, scope: str, filters: int, kernel: int, stride: int, relu: bool):
    """slim.conv2d (+BN, +ReLU) or, when strided with a kernel above 1, resnet_utils.conv2d_same."""
    name = keras_name(scope)
    padding = "same"
    if stride > 1 and kernel > 1:
        begin = (kernel - 1) // 2
        x = layers.ZeroPadding2D(((begin, kernel - 1 - begin),) * 2, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _bottleneck(layers, x, unit: Unit):
    name = keras_name(unit.scope)
    if unit.has_projection:
        shortcut = _conv_bn(layers, x, f"{unit.scope}/shortcut", unit.depth, 1, unit.stride, relu=False)
    elif unit.stride > 1:  # resnet_utils.subsample
        shortcut = layers.MaxPooling2D(1, unit.stride, padding="same", name=f"{name}_shortcut")(x)
    else:
        shortcut = x
    residual = _conv_bn(layers, x, f"{unit.scope}/conv1", unit.bottleneck, 1, 1, relu=True)
    residual = _conv_bn(layers, residual, f"{unit.scope}/conv2", unit.bottleneck, 3, unit.stride, relu=True)
    residual = _conv_bn(layers, residual, f"{unit.scope}/conv3", unit.depth, 1, 1, relu=False)
    x = layers.Add(name=f"{name}_add")([shortcut, residual])
    return layers.ReLU(name=f"{name}_relu")(x)


def keras_resnet50_slim_architecture(input_size: int = 224):
    """The Keras architecture with freshly initialised weights (NHWC input, [N, 1000] logits)."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    layers = tf.keras.layers
    image = tf.keras.Input((input_size, input_size, 3), name="image")
    x = _conv_bn(layers, image, f"{SCOPE}/conv1", ROOT_DEPTH, 7, 2, relu=True)
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    for unit in units():
        x = _bottleneck(layers, x, unit)
    x = layers.GlobalAveragePooling2D(keepdims=True, name="pool5")(x)
    x = layers.Conv2D(NUM_CLASSES, 1, name="logits")(x)
    logits = layers.Flatten(name="spatial_squeeze")(x)
    return tf.keras.Model(image, logits, name=SCOPE)


def load_slim_variables(model, variables: dict, source="variables"):
    """Copy slim-named variables into ``model`` by name; return the model (untouched when refused)."""
    return assign_plan(model, layer_plan(), variables, source, "TF-slim ResNet-50 v1", CHECKPOINT_FIX,
                       ignored=TF_BOOKKEEPING)


def build_keras_resnet50_slim(checkpoint: Path | None, input_size: int = 224):
    """The Keras ResNet-50 v1, with the slim checkpoint's weights when one is given (its prefix,
    e.g. ``.../resnet_v1_50.ckpt``); None keeps Keras's initialisation (smoke tests)."""
    model = keras_resnet50_slim_architecture(input_size)
    if checkpoint is not None:
        load_slim_variables(model, read_tf_checkpoint(checkpoint), checkpoint)
    return model


# ----------------------------------------------------------------------------- vgg_preprocessing (eval)
RGB_MEANS = (123.68, 116.78, 103.94)
RESIZE_SIDE = 256


def resize_bilinear_tf1(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``tf.image.resize_bilinear(align_corners=False)`` of TF1 (no half-pixel centres) on an HWC array.

    Source pixel ``y * in/out`` (not ``(y + 0.5) * in/out - 0.5``), upper neighbour clamped to
    the border; float32 throughout, as TF computes it.
    """
    image = np.asarray(image, dtype=np.float32)

    def axis(out_size: int, in_size: int):
        position = np.arange(out_size, dtype=np.float32) * (np.float32(in_size) / np.float32(out_size))
        lower = np.floor(position).astype(np.int64)
        upper = np.minimum(lower + 1, in_size - 1)
        return lower, upper, (position - lower).astype(np.float32)

    top, bottom, dy = axis(height, image.shape[0])
    left, right, dx = axis(width, image.shape[1])
    dx = dx[None, :, None]
    upper_row = image[top][:, left] + (image[top][:, right] - image[top][:, left]) * dx
    lower_row = image[bottom][:, left] + (image[bottom][:, right] - image[bottom][:, left]) * dx
    return upper_row + (lower_row - upper_row) * dy[:, None, None]


def smallest_side_at_least(height: int, width: int, side: int) -> tuple[int, int]:
    """vgg_preprocessing._smallest_size_at_least: float32 scale, sizes rounded half to even (tf.rint)."""
    h, w, s = np.float32(height), np.float32(width), np.float32(side)
    scale = s / w if h > w else s / h
    return int(np.rint(h * scale)), int(np.rint(w * scale))


def preprocess_resnet50_slim(image, crop: int = 224, resize_side: int = RESIZE_SIDE) -> np.ndarray:
    """vgg_preprocessing.preprocess_for_eval for a PIL image: shorter side to 256 (aspect kept,
    TF1 bilinear), central 224x224 crop (offsets floored), RGB mean subtraction, values on the
    0..255 scale. Returns float32 HWC; ``np.stack`` of several is the NHWC batch."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    height, width = smallest_side_at_least(pixels.shape[0], pixels.shape[1], resize_side)
    resized = resize_bilinear_tf1(pixels, height, width)
    top, left = (height - crop) // 2, (width - crop) // 2
    cropped = resized[top:top + crop, left:left + crop]
    return (cropped - np.asarray(RGB_MEANS, dtype=np.float32)).astype(np.float32)


def vgg_preprocess(image):
    return hwc_to_chw(preprocess_resnet50_slim(image))


MODELS = (
    # slim vgg_preprocessing eval: shorter side 256, central crop 224, RGB mean subtraction
    ModelSpec("keras_resnet50_v1_slim", build_keras_resnet50_slim, vgg_preprocess),
)
