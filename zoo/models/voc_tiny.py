"""Small models of the two VOC seed families for the embedded tier, trained on the synthetic VOC tree.

- ``TinySSDLite``: a narrow MobileNetV2 (zoo/models/mobilenet_v2.py blocks) with SSD-Lite heads
  (zoo/models/ssd_lite.separable_conv) over five feature maps of a 160x160 input and priors of its
  own spec (``TINY_SSD_SPECS``); decoding and NMS are ssd_lite.postprocess with these priors.
- ``TinyDeepLab``: zoo/models/deeplab.DeepLab (MobileNetV2 backbone, ASPP, decoder) with smaller
  channel counts (``TINY_DEEPLAB_SPEC``).

Both take [B, 3, 160, 160] and return plain tensors (SSD: confidences [B, 3228, 21] and locations
[B, 3228, 4]; DeepLab: logits [B, 21, 160, 160]); post-processing stays outside the quantized graph.
Preprocessing is each family's own at 160: qfgaohao/pytorch-ssd's PredictionTransform (cv2 linear
resize, (x - 127) / 128) and jfzhang95/pytorch-deeplab-xception's FixedResize + Normalize (image
bilinear, mask nearest, ImageNet mean/std); segmentation is scored on the resized 160x160 mask.

Weights: fixtures/voc/ssd_lite_tiny.pth and fixtures/voc/deeplab_tiny.pth, written with their hashes
and metrics into fixtures/voc/models.json by fixtures/voc/train_embedded.py (see fixtures/voc/README.md).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from zoo.metrics.detection import ImageDetections
from zoo.models.deeplab import DeepLab, DeepLabSpec, normalize
from zoo.models.mobilenet_v2 import InvertedResidual, conv_bn
from zoo.models.ssd_lite import (BOXES_PER_LOCATION, NUM_CLASSES, MobileNetV2SSDLite, SSDSpec, generate_priors,
                                 postprocess, separable_conv, to_image_detections)
from zoo.models.ssd_lite import preprocess as ssd_preprocess

INPUT_SIZE = 160
VOC_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "voc"
SSD_WEIGHTS = VOC_FIXTURES / "ssd_lite_tiny.pth"
DEEPLAB_WEIGHTS = VOC_FIXTURES / "deeplab_tiny.pth"
MODELS_JSON = VOC_FIXTURES / "models.json"

# ---- TinySSDLite ------------------------------------------------------------------------------------------------------

STEM_CHANNELS = 16
# (expansion t, output channels c, repeats n, first stride s) after the stride-2 stem: 80 -> 40 -> 20 -> 10 -> 5;
# expansion 4 at 80x80 and 40x40, where the expanded maps cost the most time on CPU
TINY_SSD_BACKBONE = ((1, 8, 1, 1), (4, 16, 1, 2), (4, 24, 2, 2), (6, 48, 3, 2), (6, 96, 2, 2))
TAPS = (4, 7, 9)  # base_net indices whose outputs feed heads: 24 ch at 20x20, 48 at 10x10, 96 at 5x5
# (in, out, expand_ratio) of the stride-2 extras, 5x5 -> 3x3 -> 2x2, as the source's InvertedResidual extras
TINY_SSD_EXTRAS = ((96, 64, 0.5), (64, 64, 0.5))
TINY_HEAD_CHANNELS = (24, 48, 96, 64, 64)
TINY_SSD_SPECS = (
    SSDSpec(20, 8, 16, 40), SSDSpec(10, 16, 40, 72), SSDSpec(5, 32, 72, 104), SSDSpec(3, 53, 104, 136),
    SSDSpec(2, 80, 136, 168),
)


class TinySSDLite(nn.Module):
    """forward(x [B, 3, 160, 160]) -> (confidences [B, 3228, 21], locations [B, 3228, 4]), the source's is_test=False."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        self.base_net = nn.Sequential(*_tiny_backbone())
        self.extras = nn.ModuleList([InvertedResidual(i, o, 2, t) for i, o, t in TINY_SSD_EXTRAS])
        self.classification_headers = _tiny_headers(num_classes)
        self.regression_headers = _tiny_headers(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sources = []
        for i in range(len(self.base_net)):  # indexed: fx tracing rejects unregistered Sequential slices
            x = self.base_net[i](x)
            if i in TAPS:
                sources.append(x)
        for extra in self.extras:
            x = extra(x)
            sources.append(x)
        flatten = MobileNetV2SSDLite._flatten
        confidences = [flatten(head(s), self.num_classes) for head, s in zip(self.classification_headers, sources)]
        locations = [flatten(head(s), 4) for head, s in zip(self.regression_headers, sources)]
        return torch.cat(confidences, 1), torch.cat(locations, 1)


def _tiny_backbone() -> list[nn.Module]:
    layers, channels = [conv_bn(3, STEM_CHANNELS, 2)], STEM_CHANNELS
    for t, c, n, s in TINY_SSD_BACKBONE:
        for i in range(n):
            layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
            channels = c
    return layers


def _tiny_headers(outputs_per_box: int) -> nn.ModuleList:
    """The source's layout: separable convs on every map but the last, a plain 1x1 conv there."""
    out = BOXES_PER_LOCATION * outputs_per_box
    *separable, last = TINY_HEAD_CHANNELS
    return nn.ModuleList([*(separable_conv(c, out) for c in separable), nn.Conv2d(last, out, 1)])


@lru_cache(maxsize=1)
def tiny_ssd_priors() -> torch.Tensor:
    """[3228, 4] center-form priors of TINY_SSD_SPECS at 160 (6 per cell of 20^2 + 10^2 + 5^2 + 3^2 + 2^2)."""
    return generate_priors(TINY_SSD_SPECS, INPUT_SIZE)


def preprocess_detection(image: np.ndarray | Image.Image) -> torch.Tensor:
    """RGB uint8 [H, W, 3] (or a PIL image) -> [3, 160, 160]: the source's PredictionTransform at 160."""
    return ssd_preprocess(image, INPUT_SIZE)


def tiny_ssd_detections(confidences: torch.Tensor, locations: torch.Tensor, width: int, height: int) -> ImageDetections:
    """One image's raw outputs ([3228, 21], [3228, 4]) -> ImageDetections in the original image's 1-based pixels."""
    return to_image_detections(postprocess(confidences, locations, width, height, priors=tiny_ssd_priors()))


# ---- TinyDeepLab ------------------------------------------------------------------------------------------------------

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


# ---- builders ---------------------------------------------------------------------------------------------------------

def _build(model: nn.Module, checkpoint: Path | None) -> nn.Module:
    from zoo.checkpoints import load_state_dict, load_strict

    if checkpoint is not None:
        load_strict(model, load_state_dict(Path(checkpoint)), Path(checkpoint))
    return model.eval()


def build_tiny_ssd_lite(checkpoint: Path | None) -> nn.Module:
    """TinySSDLite in eval mode; pass SSD_WEIGHTS for the committed weights, None for torch's default init."""
    return _build(TinySSDLite(), checkpoint)


def build_tiny_deeplab(checkpoint: Path | None) -> nn.Module:
    """TinyDeepLab in eval mode; pass DEEPLAB_WEIGHTS for the committed weights, None for the source's init."""
    return _build(TinyDeepLab(), checkpoint)
