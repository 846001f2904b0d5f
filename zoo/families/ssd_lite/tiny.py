"""The embedded tier's small member of the SSD-Lite family, trained on the synthetic VOC tree.

``TinySSDLite``: a narrow MobileNetV2 (zoo/families/mobilenet_v2/torch.py blocks) with SSD-Lite heads
(zoo/families/ssd_lite/torch.py separable_conv) over five feature maps of a 160x160 input and priors of
its own spec (``TINY_SSD_SPECS``); decoding and NMS are ssd_lite.postprocess with these priors. It takes
[B, 3, 160, 160] and returns plain tensors (confidences [B, 3228, 21], locations [B, 3228, 4]);
post-processing stays outside the quantized graph. Preprocessing is qfgaohao/pytorch-ssd's
PredictionTransform at 160 (cv2 linear resize, (x - 127) / 128).

Weights: fixtures/voc/ssd_lite_tiny.pth, written with its hash and metrics into fixtures/voc/models.json
by fixtures/voc/train_embedded.py (see fixtures/voc/README.md).
"""
from __future__ import annotations

from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from zoo import paths
from zoo.checkpoints import load_weights
from zoo.families.mobilenet_v2.torch import InvertedResidual, conv_bn
from zoo.families.ssd_lite.torch import (
    BOXES_PER_LOCATION,
    NUM_CLASSES,
    MobileNetV2SSDLite,
    SSDSpec,
    decode_batch,
    generate_priors,
    postprocess,
    separable_conv,
    to_image_detections,
)
from zoo.families.ssd_lite.torch import preprocess as ssd_preprocess
from zoo.metrics.detection import ImageDetections
from zoo.registry import ModelSpec

INPUT_SIZE = 160
VOC_FIXTURES = paths.FIXTURES / "voc"
SSD_WEIGHTS = VOC_FIXTURES / "ssd_lite_tiny.pth"
MODELS_JSON = VOC_FIXTURES / "models.json"

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


def build_tiny_ssd_lite(checkpoint: Path | None) -> nn.Module:
    """TinySSDLite in eval mode; pass SSD_WEIGHTS for the committed weights, None for torch's default init."""
    return load_weights(TinySSDLite(), checkpoint).eval()


MODELS = (
    # the embedded tier's small SSD-Lite (fixtures/voc): 160x160 input
    ModelSpec("ssd_lite_tiny", build_tiny_ssd_lite, preprocess_detection, INPUT_SIZE,
              partial(decode_batch, priors=tiny_ssd_priors)),
)
