"""The embedded tier's small member of the DeepLabV3+ family, trained on the synthetic VOC tree.

``TinyDeepLab``: zoo/families/deeplab/torch.py DeepLab (MobileNetV2 backbone, ASPP, decoder) with smaller
channel counts (``TINY_DEEPLAB_SPEC``): [B, 3, 160, 160] -> logits [B, 21, 160, 160]. Preprocessing is
jfzhang95/pytorch-deeplab-xception's FixedResize + Normalize at 160 (image bilinear, mask nearest,
ImageNet mean/std); segmentation is scored on the resized 160x160 mask.

Weights: fixtures/voc/deeplab_tiny.pth, written with its hash and metrics into fixtures/voc/models.json
by fixtures/voc/train_embedded.py (see fixtures/voc/README.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from zoo.data.real.voc import IGNORE_INDEX
from zoo import paths
from zoo.checkpoints import load_weights
from zoo.families.deeplab.torch import NUM_CLASSES, DeepLab, DeepLabSpec, normalize
from zoo.registry import ModelSpec
from zoo.tasks.segmentation import argmax_masks

INPUT_SIZE = 160
DEEPLAB_WEIGHTS = paths.FIXTURES / "voc" / "deeplab_tiny.pth"

TINY_DEEPLAB_SPEC = DeepLabSpec(
    setting=((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 1, 1), (6, 160, 1, 2), (6, 320, 1, 1)),
    width_mult=0.5, stem_channels=32, low_level_layers=4,
    aspp_planes=32, aspp_dilations=(1, 2, 4, 6),  # rates for a 10x10 map (the source's 6/12/18 suit 33x33)
    low_level_planes=16, decoder_planes=32,
)


class TinyDeepLab(DeepLab):
    """DeepLab(mobilenet, output stride 16) with TINY_DEEPLAB_SPEC: [B, 3, 160, 160] -> logits [B, 21, 160, 160]."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__("mobilenet", 16, num_classes, TINY_DEEPLAB_SPEC)


def fixed_resize(image: Image.Image, mask: Image.Image, size: int = INPUT_SIZE) -> tuple[Image.Image, Image.Image]:
    """The source's FixedResize: both to size x size, image bilinear, mask nearest."""
    return image.resize((size, size), Image.BILINEAR), mask.resize((size, size), Image.NEAREST)


def preprocess_segmentation(image: Image.Image, mask: np.ndarray | Image.Image) -> tuple[torch.Tensor, np.ndarray]:
    """(RGB PIL image, class-index mask) -> ([3, 160, 160] tensor, uint8 [160, 160] mask to score against)."""
    mask = mask if isinstance(mask, Image.Image) else Image.fromarray(np.asarray(mask, dtype=np.uint8))
    if mask.size != image.size:
        raise ValueError(f"mask size {mask.size} differs from image size {image.size}; pass the SegmentationClass "
                         f"PNG of the same image id")
    image, mask = fixed_resize(image.convert("RGB"), mask)
    return normalize(image), np.array(mask, dtype=np.uint8)


def build_tiny_deeplab(checkpoint: Path | None) -> nn.Module:
    """TinyDeepLab in eval mode; pass DEEPLAB_WEIGHTS for the committed weights, None for the source's init."""
    return load_weights(TinyDeepLab(), checkpoint).eval()


def training_loss(outputs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy, 255 ignored: the source's SegmentationLosses('ce'), as the tiny DeepLab was
    trained with (fixtures/voc/train_embedded.py, which also weights the classes)."""
    return torch.nn.functional.cross_entropy(outputs, masks, ignore_index=IGNORE_INDEX)


MODELS = (
    # the embedded tier's small DeepLabV3+ (fixtures/voc): 160x160 input
    ModelSpec("deeplab_tiny", build_tiny_deeplab, preprocess_segmentation, INPUT_SIZE, argmax_masks,
              loss=training_loss),
)
