"""TF-slim MobileNet-v2 (depth multiplier 1.4) in Keras (tf.keras), holding the weights of
``mobilenet_v2_1.4_224.tgz``.

Follows tensorflow/models research/slim/nets/mobilenet/mobilenet_v2.py (``V2_DEF``,
``mobilenet_v2_140``), mobilenet.py (``mobilenet``, ``mobilenet_base``, ``depth_multiplier``,
``_make_divisible``, ``global_pool``) and conv_blocks.py (``expanded_conv``, ``split_conv``):

- every depth is ``_make_divisible(depth * 1.4, 8)``: stem 48, blocks 24/32/48/88/136/224/448,
  head 1792 (``finegrain_classification_mode`` only matters below 1.0);
- ``Conv`` 3x3/2 + BN + ReLU6, then 17 ``expanded_conv`` blocks: ``expand`` 1x1 (to
  ``_make_divisible(in * 6, 8)``; absent in the first block, whose expansion is 1 so
  ``inner_size > in`` is false) + BN + ReLU6, ``depthwise`` 3x3 + BN + ReLU6, ``project`` 1x1 + BN
  (no activation), residual add when the stride is 1 and the depths match;
- ``Conv_1`` 1x1 to 1792 + BN + ReLU6, average pool over the whole map, ``Logits/Conv2d_1c_1x1``
  1x1 conv with biases to 1001 classes (index 0 is the background class of slim's ImageNet;
  class ``i`` of the 1000-class order is logit ``i + 1``), squeezed to [N, 1001]. Dropout is left out
  (inference only).
- convolutions have no biases (BN follows), padding 'SAME' (TF's: the extra row/column of a
  strided conv goes after, as Keras 'same' does), BN with gamma and beta, epsilon 1e-3 (slim's
  default; ``training_scope`` changes only the decay).

Checkpoint variables (derived from that code): each conv+BN is ``weights`` (``depthwise_weights``
for a depthwise conv) + ``BatchNorm/{gamma,beta,moving_mean,moving_variance}`` = 5; ``Conv`` 5,
``expanded_conv`` (no expand) 10, ``expanded_conv_1..16`` 16 x 15 = 240, ``Conv_1`` 5,
``Logits/Conv2d_1c_1x1/{weights,biases}`` 2: **262 variables**, all under ``MobilenetV2/``.
``global_step`` is accepted and dropped; any other extra or missing variable, or a wrong shape,
raises CheckpointError naming it. Slim's layouts are Keras's (HWIO kernels, depthwise HWC1).

Input: NHWC float in [-1, 1], ``preprocess_mobilenet_v2_slim`` (inception_preprocessing eval).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.backends.keras_weights import TF_BOOKKEEPING, LayerWeights, assign_plan, read_tf_checkpoint
from zoo.data.transforms import hwc_to_chw
from zoo.families.resnet50.keras import resize_bilinear_tf1
from zoo.registry import ModelSpec

SCOPE = "MobilenetV2"
DEPTH_MULTIPLIER = 1.4
# V2_DEF spec: the stem conv's depth, (stride, depth) of each expanded_conv, the head conv's depth
STEM_DEPTH, HEAD_DEPTH = 32, 1280
EXPANDED_CONVS = ((1, 16), (2, 24), (1, 24), (2, 32), (1, 32), (1, 32), (2, 64), (1, 64), (1, 64), (1, 64),
                  (1, 96), (1, 96), (1, 96), (2, 160), (1, 160), (1, 160), (1, 320))
EXPANSION = 6
NUM_CLASSES = 1001
BN_EPSILON = 1e-3
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")
NUM_VARIABLES = 262
CHECKPOINT_FIX = ("use mobilenet_v2_1.4_224.ckpt from tensorflow/models research/slim/nets/mobilenet "
                  "(mobilenet_v2_1.4_224.tgz)")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """mobilenet._make_divisible: nearest multiple of ``divisor``, never more than 10% below ``value``."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def scaled(depth: int) -> int:
    return make_divisible(depth * DEPTH_MULTIPLIER)


@dataclass(frozen=True)
class ExpandedConv:
    """One ``expanded_conv`` block (scopes ``expanded_conv``, ``expanded_conv_1``, ...)."""

    index: int
    in_depth: int
    inner_depth: int
    out_depth: int
    stride: int
    prefix: str = SCOPE  # the network's variable scope (the OD API nests it: FeatureExtractor/MobilenetV2)

    @property
    def scope(self) -> str:
        return f"{self.prefix}/expanded_conv" + (f"_{self.index}" if self.index else "")

    @property
    def has_expand(self) -> bool:
        return self.inner_depth > self.in_depth

    @property
    def has_residual(self) -> bool:
        return self.stride == 1 and self.in_depth == self.out_depth


def expanded_convs(depth_of=scaled, prefix: str = SCOPE) -> list[ExpandedConv]:
    """The 17 blocks with depths ``depth_of(the source's depth)`` (the depth multiplier's rounding)."""
    out, depth = [], depth_of(STEM_DEPTH)
    for index, (stride, num_outputs) in enumerate(EXPANDED_CONVS):
        # the first block's expansion is expand_input(1, divisible_by=1): the input depth itself
        inner = depth if index == 0 else make_divisible(depth * EXPANSION)
        out.append(ExpandedConv(index, depth, inner, depth_of(num_outputs), stride, prefix))
        depth = depth_of(num_outputs)
    return out


def keras_name(scope: str, prefix: str = SCOPE) -> str:
    """``MobilenetV2/expanded_conv_3/depthwise`` -> ``expanded_conv_3_depthwise``."""
    return scope.removeprefix(f"{prefix}/").replace("/", "_")


def conv_entries(scope: str, weights: str = "weights", prefix: str = SCOPE) -> list[LayerWeights]:
    """A conv and its BatchNorm: the Keras layers (named without ``prefix``) and their variables."""
    name = keras_name(scope, prefix)
    return [LayerWeights(name, (f"{scope}/{weights}",)),
            LayerWeights(f"{name}_bn", tuple(f"{scope}/BatchNorm/{v}" for v in BN_VARIABLES))]


def backbone_plan(blocks: list[ExpandedConv], prefix: str = SCOPE) -> list[LayerWeights]:
    """``mobilenet_base``'s variables: Conv, the expanded_conv blocks, Conv_1."""
    plan = conv_entries(f"{prefix}/Conv", prefix=prefix)
    for block in blocks:
        if block.has_expand:
            plan += conv_entries(f"{block.scope}/expand", prefix=prefix)
        plan += (conv_entries(f"{block.scope}/depthwise", "depthwise_weights", prefix)
                 + conv_entries(f"{block.scope}/project", prefix=prefix))
    return plan + conv_entries(f"{prefix}/Conv_1", prefix=prefix)


def layer_plan() -> list[LayerWeights]:
    """Every Keras layer with weights and the slim variables that fill it."""
    logits = f"{SCOPE}/Logits/Conv2d_1c_1x1"
    return backbone_plan(expanded_convs()) + [LayerWeights(keras_name(logits), (f"{logits}/weights", f"{logits}/biases"))]


def bn(layers, x, scope: str, relu6: bool, prefix: str = SCOPE):
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{keras_name(scope, prefix)}_bn")(x)
    return layers.Activation("relu6", name=f"{keras_name(scope, prefix)}_relu6")(x) if relu6 else x


def conv_bn(layers, x, scope: str, depth: int, kernel: int = 1, stride: int = 1, relu6: bool = True,
            prefix: str = SCOPE):
    x = layers.Conv2D(depth, kernel, stride, padding="same", use_bias=False, name=keras_name(scope, prefix))(x)
    return bn(layers, x, scope, relu6, prefix)


def expanded_conv(layers, x, block: ExpandedConv):
    """conv_blocks.expanded_conv; returns (output, expansion output or None)."""
    inputs, expansion, prefix = x, None, block.prefix
    if block.has_expand:
        x = expansion = conv_bn(layers, x, f"{block.scope}/expand", block.inner_depth, prefix=prefix)
    scope = f"{block.scope}/depthwise"
    x = layers.DepthwiseConv2D(3, block.stride, padding="same", use_bias=False, name=keras_name(scope, prefix))(x)
    x = bn(layers, x, scope, relu6=True, prefix=prefix)
    x = conv_bn(layers, x, f"{block.scope}/project", block.out_depth, relu6=False, prefix=prefix)
    if block.has_residual:
        x = layers.Add(name=f"{keras_name(block.scope, prefix)}_add")([x, inputs])
    return x, expansion


def keras_mobilenet_v2_slim_architecture(input_size: int = 224):
    """The Keras architecture with freshly initialised weights (NHWC input, [N, 1001] logits)."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    layers = tf.keras.layers
    image = tf.keras.Input((input_size, input_size, 3), name="image")
    x = conv_bn(layers, image, f"{SCOPE}/Conv", scaled(STEM_DEPTH), 3, 2)
    for block in expanded_convs():
        x, _ = expanded_conv(layers, x, block)
    x = conv_bn(layers, x, f"{SCOPE}/Conv_1", scaled(HEAD_DEPTH))
    x = layers.GlobalAveragePooling2D(keepdims=True, name="Logits_global_pool")(x)
    x = layers.Conv2D(NUM_CLASSES, 1, name=keras_name(f"{SCOPE}/Logits/Conv2d_1c_1x1"))(x)
    logits = layers.Flatten(name="Logits_squeeze")(x)
    return tf.keras.Model(image, logits, name="mobilenet_v2_1.4")


def load_slim_variables(model, variables: dict, source="variables"):
    """Copy slim-named variables into ``model`` by name; return the model (untouched when refused)."""
    return assign_plan(model, layer_plan(), variables, source, "TF-slim MobileNet-v2-1.4", CHECKPOINT_FIX,
                       ignored=TF_BOOKKEEPING)


def build_keras_mobilenet_v2_slim(checkpoint: Path | None, input_size: int = 224):
    """The Keras MobileNet-v2-1.4, with the slim checkpoint's weights when one is given (its prefix,
    e.g. ``.../mobilenet_v2_1.4_224.ckpt``); None keeps Keras's initialisation (smoke tests)."""
    model = keras_mobilenet_v2_slim_architecture(input_size)
    if checkpoint is not None:
        load_slim_variables(model, read_tf_checkpoint(checkpoint), checkpoint)
    return model


# ----------------------------------------------------------------------------- inception_preprocessing (eval)
CENTRAL_FRACTION = 0.875


def central_crop_box(height: int, width: int, fraction: float = CENTRAL_FRACTION) -> tuple[int, int, int, int]:
    """tf.image.central_crop's box (top, left, height, width): start ``int((size - size * fraction) / 2)``
    in float64, size ``size - 2 * start``."""
    top = int((height - height * fraction) / 2)
    left = int((width - width * fraction) / 2)
    return top, left, height - 2 * top, width - 2 * left


def preprocess_mobilenet_v2_slim(image, size: int = 224) -> np.ndarray:
    """inception_preprocessing.preprocess_for_eval for a PIL image: to [0, 1] (convert_image_dtype),
    central crop of 87.5% (tf.image.central_crop), TF1 bilinear resize to 224x224 (no half-pixel
    centres), then ``(x - 0.5) * 2``. Returns float32 HWC in [-1, 1]; ``np.stack`` of several is the
    NHWC batch."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) * np.float32(1 / 255)
    top, left, height, width = central_crop_box(*pixels.shape[:2])
    resized = resize_bilinear_tf1(pixels[top:top + height, left:left + width], size, size)
    return ((resized - np.float32(0.5)) * np.float32(2.0)).astype(np.float32)


def build_keras_mobilenet_v2_140(checkpoint: Path | None):
    """A TF checkpoint is named by its prefix; the case pins the .index file beside the data shards."""
    return build_keras_mobilenet_v2_slim(checkpoint.with_suffix("") if checkpoint else None)


def inception_preprocess(image):
    return hwc_to_chw(preprocess_mobilenet_v2_slim(image))


def drop_background_class(outputs, _targets=None):
    """slim's 1001-way ImageNet logits -> the 1000 classes (index 0 is background)."""
    return [(logits[1:],) for logits in outputs[0]]


MODELS = (
    # slim inception_preprocessing eval: central crop 87.5 %, bilinear 224, [-1, 1]; 1001 classes
    ModelSpec("keras_mobilenet_v2_140_slim", build_keras_mobilenet_v2_140, inception_preprocess, 224,
              drop_background_class),
)
