"""The SRGAN generator of krasserm/super-resolution in Keras (tf.keras), holding the weights of its
``weights/srgan/gan_generator.h5`` (written by ``generator.save_weights``).

Follows krasserm/super-resolution model/srgan.py (``sr_resnet`` = ``generator``, ``res_block``,
``upsample``) and model/common.py (``normalize_01``, ``denormalize_m11``, ``pixel_shuffle``), as of
commit 179320c:

- input: the low-resolution RGB image as float 0..255 (any height and width), scaled to [0, 1]
  inside the model (``normalize_01``);
- ``Conv2D(64, 9)`` + PReLU (alpha shared over height and width), 16 residual blocks
  (``Conv2D(64, 3)`` + BN + PReLU + ``Conv2D(64, 3)`` + BN, added to the block's input), ``Conv2D(64, 3)``
  + BN added to the first PReLU's output, two upsamplers (``Conv2D(256, 3)``, pixel shuffle x2
  = ``tf.nn.depth_to_space``, PReLU), ``Conv2D(3, 9, tanh)``, then ``(x + 1) * 127.5``
  (``denormalize_m11``): the x4 super-resolved image on the 0..255 scale, unclipped. Every conv
  has a bias and 'same' padding; BN keeps Keras's epsilon 1e-3 (momentum 0.8 is training only).

The Lambda layers of the source become ``Rescaling`` layers and a ``PixelShuffle`` layer (one
``tf.nn.depth_to_space``, exported as ONNX DepthToSpace), so the model needs no Python lambdas.

Weights: ``save_weights`` in the h5 format stores, per Keras layer, a group holding a
``weight_names`` list (``conv2d_7/kernel:0``, ...) and one dataset per name. The layer names carry
per-session counters (``conv2d_37`` when other models were built first), so, as Keras's own
``load_weights`` does for an h5 file, layers are matched by their order in the file's
``layer_names`` (the model's topological order), and each match is checked: the layer family
(conv2d / batch_normalization / p_re_lu), the weight names and every shape. The generator has
**89 weighted layers** (conv + PReLU, 16 x (conv, BN, PReLU, conv, BN), conv + BN, 2 x (conv,
PReLU), conv) holding **225 arrays**: 37 convs x (kernel, bias) + 33 BNs x 4 + 19 PReLUs x alpha.
A missing, extra or mis-shaped layer or array raises
CheckpointError naming it. Nothing in the file is executed (h5py reads arrays only; a full-model
h5's serialized config, with its lambdas, is never deserialized).

Evaluation as in the AIMET zoo's srgan_quanteval.py: the output clipped to 0..255, rounded, uint8
(``sr_to_uint8``), PSNR/SSIM on the Y channel with a 4-pixel border cropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from zoo.backends.keras_weights import LayerWeights, assign_plan, read_keras2_h5
from zoo.checkpoints import CheckpointError
from zoo.data.transforms import hwc_to_chw
from zoo.registry import ModelSpec
from zoo.tasks.super_resolution import rgb255_nhwc_to_uint8

NUM_FILTERS, NUM_RES_BLOCKS, SCALE = 64, 16, 4
# h5 weight names of each layer family, in the order Keras keeps the layer's weights
FAMILY_WEIGHTS = {
    "conv2d": ("kernel:0", "bias:0"),
    "batch_normalization": ("gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"),
    "p_re_lu": ("alpha:0",),
}
NUM_WEIGHTED_LAYERS, NUM_ARRAYS = 89, 225
CHECKPOINT_FIX = ("use gan_generator.h5 (or pre_generator.h5) of krasserm/super-resolution, written by "
                  "model.save_weights in the Keras 2 h5 format")


@dataclass(frozen=True)
class Weighted:
    """One layer with weights of the generator: its Keras name here and its family in the h5 file."""

    name: str
    family: str


def layer_order() -> list[Weighted]:
    """The generator's layers with weights, in ``sr_resnet``'s (topological) order."""
    order = [Weighted("conv_in", "conv2d"), Weighted("prelu_in", "p_re_lu")]
    for b in range(NUM_RES_BLOCKS):
        order += [Weighted(f"res{b}_conv1", "conv2d"), Weighted(f"res{b}_bn1", "batch_normalization"),
                  Weighted(f"res{b}_prelu", "p_re_lu"), Weighted(f"res{b}_conv2", "conv2d"),
                  Weighted(f"res{b}_bn2", "batch_normalization")]
    order += [Weighted("conv_mid", "conv2d"), Weighted("bn_mid", "batch_normalization")]
    for u in (1, 2):
        order += [Weighted(f"up{u}_conv", "conv2d"), Weighted(f"up{u}_prelu", "p_re_lu")]
    return order + [Weighted("conv_out", "conv2d")]


@lru_cache(maxsize=1)
def pixel_shuffle_layer():
    """The ``PixelShuffle`` Keras layer class (defined once TensorFlow is imported, registered once)."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    @tf.keras.utils.register_keras_serializable(package="zoo")
    class PixelShuffle(tf.keras.layers.Layer):
        """model/common.py ``pixel_shuffle``: ``tf.nn.depth_to_space`` (DepthToSpace in ONNX)."""

        def __init__(self, block_size: int, **kwargs):
            super().__init__(**kwargs)
            self.block_size = block_size

        def call(self, x):
            return tf.nn.depth_to_space(x, self.block_size)

        def get_config(self):
            return {**super().get_config(), "block_size": self.block_size}

    return PixelShuffle


def keras_srgan_architecture(input_size: int | None = None):
    """The generator with freshly initialised weights: NHWC 0..255 input (square ``input_size``, or
    any size when None), x4 output on the 0..255 scale."""
    from zoo.backends.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    layers, pixel_shuffle = tf.keras.layers, pixel_shuffle_layer()

    def conv(x, filters, kernel, name, activation=None):
        return layers.Conv2D(filters, kernel, padding="same", activation=activation, name=name)(x)

    def prelu(x, name):
        return layers.PReLU(shared_axes=[1, 2], name=name)(x)

    image = tf.keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 255, name="normalize_01")(image)
    x = x_1 = prelu(conv(x, NUM_FILTERS, 9, "conv_in"), "prelu_in")
    for b in range(NUM_RES_BLOCKS):
        block_in = x
        x = layers.BatchNormalization(name=f"res{b}_bn1")(conv(x, NUM_FILTERS, 3, f"res{b}_conv1"))
        x = prelu(x, f"res{b}_prelu")
        x = layers.BatchNormalization(name=f"res{b}_bn2")(conv(x, NUM_FILTERS, 3, f"res{b}_conv2"))
        x = layers.Add(name=f"res{b}_add")([block_in, x])
    x = layers.BatchNormalization(name="bn_mid")(conv(x, NUM_FILTERS, 3, "conv_mid"))
    x = layers.Add(name="add_mid")([x_1, x])
    for u in (1, 2):
        x = pixel_shuffle(2, name=f"up{u}_shuffle")(conv(x, NUM_FILTERS * 4, 3, f"up{u}_conv"))
        x = prelu(x, f"up{u}_prelu")
    x = conv(x, 3, 9, "conv_out", activation="tanh")
    sr = layers.Rescaling(127.5, offset=127.5, name="denormalize_m11")(x)
    return tf.keras.Model(image, sr, name="srgan_generator")


# ----------------------------------------------------------------------------- the h5 weights
def family(layer_name: str) -> str:
    """``conv2d_37`` -> ``conv2d``: the Keras auto-name without its per-session counter."""
    return re.sub(r"_\d+$", "", layer_name)


def read_h5_layers(path: Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(layer name, {weight name: array}) for each layer with weights, in the file's layer order."""
    return [(name, dict(weights)) for name, weights in read_keras2_h5(path, CHECKPOINT_FIX)]


def h5_plan(layers: list[tuple[str, dict]], source) -> tuple[list[LayerWeights], dict[str, np.ndarray]]:
    """Match the file's weighted layers to ``layer_order()`` by position, checking each layer's
    family and weight names; return the plan and its tensors keyed ``<file layer>/<weight name>``."""
    order = layer_order()
    if len(layers) != len(order):
        extra = [name for name, _ in layers[len(order):]]
        missing = [w.name for w in order[len(layers):]]
        raise CheckpointError(f"{source}: {len(layers)} layers with weights, the SRGAN generator has {len(order)} "
                              f"(file layers beyond the generator: {extra}; generator layers with no file layer: "
                              f"{missing}); {CHECKPOINT_FIX}")
    plan, tensors = [], {}
    for position, (wanted, (name, weights)) in enumerate(zip(order, layers)):
        expected = tuple(f"{name}/{w}" for w in FAMILY_WEIGHTS[wanted.family])
        found = tuple(f"{name}/{w.split('/')[-1]}" for w in weights)
        if family(name) != wanted.family or found != expected:
            raise CheckpointError(f"{source}: weighted layer #{position} is {name} with {list(weights)}, the "
                                  f"generator's {wanted.name} needs a {wanted.family} layer with "
                                  f"{list(FAMILY_WEIGHTS[wanted.family])}; {CHECKPOINT_FIX}")
        tensors.update({key: weights[w] for key, w in zip(found, weights)})
        plan.append(LayerWeights(wanted.name, expected))
    return plan, tensors


def load_h5_layers(model, layers: list[tuple[str, dict]], source="layers"):
    """Copy the h5 layers into ``model`` (checked first; untouched when refused); return the model."""
    plan, tensors = h5_plan(layers, source)
    return assign_plan(model, plan, tensors, source, "SRGAN generator", CHECKPOINT_FIX)


def build_keras_srgan(checkpoint: Path | None, input_size: int | None = None):
    """The Keras SRGAN generator, with the h5 file's weights when one is given; None keeps Keras's
    initialisation (smoke tests). ``input_size`` fixes a square input; None accepts any size."""
    model = keras_srgan_architecture(input_size)
    if checkpoint is not None:
        load_h5_layers(model, read_h5_layers(checkpoint), checkpoint)
    return model


# ----------------------------------------------------------------------------- pre/post-processing
def preprocess_srgan(image) -> np.ndarray:
    """The low-resolution PIL image as the generator takes it: RGB float32 HWC on the 0..255 scale
    (the model normalises itself); ``np.stack`` of same-sized images is the NHWC batch."""
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def sr_to_uint8(sr: np.ndarray) -> np.ndarray:
    """model/common.py ``resolve``: clip to 0..255, round, uint8."""
    return np.round(np.clip(sr, 0, 255)).astype(np.uint8)


def lr_float_to_0_255(lr):
    """krasserm's generator takes the LR image on the 0..255 scale and normalises itself."""
    return hwc_to_chw(lr * 255.0)


MODELS = (
    # krasserm sr_resnet: LR on 0..255, output on 0..255 (any input size)
    ModelSpec("keras_srgan", build_keras_srgan, lr_float_to_0_255, None, rgb255_nhwc_to_uint8),
    ModelSpec("keras_srgan_photos", build_keras_srgan, hwc_to_chw, None, rgb255_nhwc_to_uint8),
)
