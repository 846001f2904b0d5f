"""DeepLabV3+ with the MobileNetV2 backbone of jfzhang95/pytorch-deeplab-xception (commit 9135e10).

``DeepLab(backbone='mobilenet', output_stride=16, num_classes=21)`` as the source's
modeling/deeplab.py with ``sync_bn=False`` (plain BatchNorm2d; SynchronizedBatchNorm2d has the
same keys), so the released ``deeplab-mobilenet.pth.tar`` (``{'state_dict': ...}``) loads
unchanged through zoo.checkpoints. Keys follow the source's modules:

- ``backbone.features.0-17.*`` (modeling/backbone/mobilenet.py: conv_bn stem and 17 dilated
  inverted residuals, no 1280-channel head). The source also registers the slices
  ``low_level_features = features[0:4]`` and ``high_level_features = features[4:]`` as
  submodules, so every backbone tensor appears twice in its state_dict, under
  ``backbone.low_level_features.0-3.*`` or ``backbone.high_level_features.4-17.*`` as well
  (slices keep their indices); 668 entries in all.
- ``aspp.aspp1-4.*``, ``aspp.global_avg_pool.{1,2}.*``, ``aspp.conv1``, ``aspp.bn1``
  (modeling/aspp.py), ``decoder.conv1``, ``decoder.bn1``, ``decoder.last_conv.{0,1,4,5,8}.*``
  (modeling/decoder.py).

Activations are the source's: ReLU6 in the backbone, ReLU in ASPP and decoder. Each inverted
residual zero-pads its *input* (``fixed_padding``) and every conv inside uses padding 0, as the
source: the pad passes through the 1x1 expand conv, BN and ReLU6 before the depthwise conv, so the
depthwise border sees ReLU6(BN(0)), not zeros; padding inside the depthwise conv would change a
trained network's output along the borders.

``preprocess`` is the source's validation transform (dataloaders/datasets/pascal.py
``transform_val``: FixScaleCrop(513), Normalize, ToTensor), applied to image and mask together;
mIoU is computed on the cropped 513x513 mask, as the source's Evaluator does.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from zoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from zoo.families.mobilenet_v2.torch import INVERTED_RESIDUAL_SETTING, conv_bn
from zoo.registry import ModelSpec
from zoo.tasks.segmentation import argmax_masks

NUM_CLASSES = 21
CROP_SIZE = 513  # train.py --crop-size default, used by transform_val
# modeling/aspp.py: rates of the three 3x3 branches (after the 1x1 branch) per output stride
ASPP_DILATIONS = {16: (1, 6, 12, 18), 8: (1, 12, 24, 36)}


@dataclass(frozen=True)
class DeepLabSpec:
    """Channel counts of the network; the defaults are the source's DeepLab(backbone='mobilenet')."""

    setting: tuple[tuple[int, int, int, int], ...] = INVERTED_RESIDUAL_SETTING  # (t, c, n, s)
    width_mult: float = 1.0
    stem_channels: int = 32
    low_level_layers: int = 4  # features[0:4] feed the decoder (stride 4)
    aspp_planes: int = 256
    aspp_dilations: tuple[int, int, int, int] | None = None  # None: ASPP_DILATIONS[output_stride]
    low_level_planes: int = 48
    decoder_planes: int = 256


class DilatedInvertedResidual(nn.Module):
    """modeling/backbone/mobilenet.py InvertedResidual: hidden = round(inp * t), input zero-padded by ``dilation``."""

    def __init__(self, inp: int, oup: int, stride: int, dilation: int, expand_ratio: float):
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        expand = [] if expand_ratio == 1 else [
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
        ]
        self.conv = nn.Sequential(
            *expand,
            nn.Conv2d(hidden, hidden, 3, stride, 0, dilation, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        )
        self.dilation = dilation

    def forward(self, x):
        padded = F.pad(x, [self.dilation] * 4)  # fixed_padding(x, 3, dilation): (3 - 1) * dilation, split evenly
        return x + self.conv(padded) if self.use_res_connect else self.conv(padded)


def dilated_layers(setting, output_stride: int, width_mult: float, stem_channels: int) -> list[nn.Module]:
    """The source's stride bookkeeping: once the running stride reaches ``output_stride``, a stage keeps
    stride 1 and uses the rate accumulated so far, then multiplies the rate by its own stride. So with
    output stride 16 the 160-channel stage still has dilation 1 and only the 320-channel one dilation 2."""
    channels = int(stem_channels * width_mult)
    layers: list[nn.Module] = [conv_bn(3, channels, 2)]
    current_stride, rate = 2, 1
    for t, c, n, s in setting:
        if current_stride == output_stride:
            stride, dilation, rate = 1, rate, rate * s
        else:
            stride, dilation, current_stride = s, 1, current_stride * s
        out = int(c * width_mult)
        for i in range(n):
            layers.append(DilatedInvertedResidual(channels, out, stride if i == 0 else 1, dilation, t))
            channels = out
    return layers


class MobileNetV2Backbone(nn.Module):
    """Returns (high-level features, low-level features); the two slices are registered as in the source."""

    def __init__(self, output_stride: int = 16, spec: DeepLabSpec = DeepLabSpec()):
        super().__init__()
        self.features = nn.Sequential(*dilated_layers(spec.setting, output_stride, spec.width_mult, spec.stem_channels))
        self.low_level_features = self.features[:spec.low_level_layers]
        self.high_level_features = self.features[spec.low_level_layers:]
        self.low_level_channels = _out_channels(self.low_level_features)
        self.out_channels = _out_channels(self.features)

    def forward(self, x):
        low_level = self.low_level_features(x)
        return self.high_level_features(low_level), low_level


def _out_channels(layers: nn.Sequential) -> int:
    return [m for m in layers.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


class ASPPBranch(nn.Module):
    """modeling/aspp.py _ASPPModule: conv (no bias) + BN + ReLU."""

    def __init__(self, inplanes: int, planes: int, kernel_size: int, dilation: int):
        super().__init__()
        padding = 0 if kernel_size == 1 else dilation
        self.atrous_conv = nn.Conv2d(inplanes, planes, kernel_size, 1, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.atrous_conv(x)))


class ASPP(nn.Module):
    """1x1 branch, three dilated 3x3 branches and image pooling, concatenated, 1x1 projection, dropout 0.5."""

    def __init__(self, inplanes: int = 320, planes: int = 256, dilations: tuple[int, ...] = ASPP_DILATIONS[16]):
        super().__init__()
        self.aspp1 = ASPPBranch(inplanes, planes, 1, dilations[0])
        self.aspp2 = ASPPBranch(inplanes, planes, 3, dilations[1])
        self.aspp3 = ASPPBranch(inplanes, planes, 3, dilations[2])
        self.aspp4 = ASPPBranch(inplanes, planes, 3, dilations[3])
        self.global_avg_pool = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Conv2d(inplanes, planes, 1, bias=False),
                                             nn.BatchNorm2d(planes), nn.ReLU())
        self.conv1 = nn.Conv2d(5 * planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        pooled = F.interpolate(self.global_avg_pool(x), size=x.shape[2:], mode="bilinear", align_corners=True)
        x = torch.cat((self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x), pooled), dim=1)
        return self.dropout(self.relu(self.bn1(self.conv1(x))))


class Decoder(nn.Module):
    """modeling/decoder.py: 1x1 reduction of the low-level features, concat with the upsampled ASPP
    output, two 3x3 conv-BN-ReLU (dropout 0.5, 0.1), 1x1 classifier with bias."""

    def __init__(self, num_classes: int = NUM_CLASSES, low_level_inplanes: int = 24, low_level_planes: int = 48,
                 aspp_planes: int = 256, planes: int = 256):
        super().__init__()
        self.conv1 = nn.Conv2d(low_level_inplanes, low_level_planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(low_level_planes)
        self.relu = nn.ReLU()
        self.last_conv = nn.Sequential(
            nn.Conv2d(aspp_planes + low_level_planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(planes, num_classes, 1),
        )

    def forward(self, x, low_level):
        low_level = self.relu(self.bn1(self.conv1(low_level)))
        x = F.interpolate(x, size=low_level.shape[2:], mode="bilinear", align_corners=True)
        return self.last_conv(torch.cat((x, low_level), dim=1))


class DeepLab(nn.Module):
    """forward(x [B, 3, H, W]) -> logits [B, num_classes, H, W] (bilinear, align_corners=True, as the source)."""

    def __init__(self, backbone: str = "mobilenet", output_stride: int = 16, num_classes: int = NUM_CLASSES,
                 spec: DeepLabSpec = DeepLabSpec()):
        super().__init__()
        if backbone != "mobilenet":
            raise ValueError(f"backbone={backbone!r}: only the source's 'mobilenet' backbone is implemented here")
        if output_stride not in ASPP_DILATIONS:
            raise ValueError(f"output_stride={output_stride}: the source supports {sorted(ASPP_DILATIONS)}")
        self.backbone = MobileNetV2Backbone(output_stride, spec)
        self.aspp = ASPP(self.backbone.out_channels, spec.aspp_planes,
                         spec.aspp_dilations or ASPP_DILATIONS[output_stride])
        self.decoder = Decoder(num_classes, self.backbone.low_level_channels, spec.low_level_planes, spec.aspp_planes,
                               spec.decoder_planes)
        _kaiming_init(self)

    def forward(self, x):
        features, low_level = self.backbone(x)
        logits = self.decoder(self.aspp(features), low_level)
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)


def _kaiming_init(model: nn.Module) -> None:
    """The source's _init_weight / _initialize_weights: kaiming_normal_ convs, BN weight 1 and bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_deeplab(checkpoint: Path | None) -> nn.Module:
    """DeepLab(mobilenet, output stride 16, 21 classes) in eval mode; ``checkpoint`` None keeps the init."""
    from zoo.checkpoints import load_state_dict, load_strict

    model = DeepLab()
    if checkpoint is not None:
        load_strict(model, load_state_dict(Path(checkpoint)), Path(checkpoint))
    return model.eval()


# ---- evaluation preprocessing (dataloaders/custom_transforms.py) -------------------------------------------------------

def fix_scale_crop(image: Image.Image, mask: Image.Image, crop_size: int = CROP_SIZE) -> tuple[Image.Image, Image.Image]:
    """FixScaleCrop: short side to ``crop_size`` (image bilinear, mask nearest; the long side truncated
    by int()), then a centred crop_size square at round((w - crop) / 2) (Python's half-to-even round)."""
    w, h = image.size
    if w > h:
        ow, oh = int(1.0 * w * crop_size / h), crop_size
    else:
        ow, oh = crop_size, int(1.0 * h * crop_size / w)
    image = image.resize((ow, oh), Image.BILINEAR)
    mask = mask.resize((ow, oh), Image.NEAREST)
    x1, y1 = int(round((ow - crop_size) / 2.0)), int(round((oh - crop_size) / 2.0))
    box = (x1, y1, x1 + crop_size, y1 + crop_size)
    return image.crop(box), mask.crop(box)


def normalize(image: Image.Image, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Normalize + ToTensor with the source's numpy steps: float32 / 255 (float32), then - mean and / std
    with float64 tuples, stored back in float32; HWC -> CHW."""
    array = np.array(image).astype(np.float32)
    array /= 255.0
    array -= mean
    array /= std
    return torch.from_numpy(array.transpose((2, 0, 1)).copy()).float()


def preprocess(image: Image.Image, mask: np.ndarray | Image.Image,
               crop_size: int = CROP_SIZE) -> tuple[torch.Tensor, np.ndarray]:
    """transform_val: (RGB PIL image, class-index mask) -> ([3, crop, crop] float tensor, uint8 [crop, crop] mask).

    Score with ``zoo.metrics.segmentation.ConfusionMatrix().update(logits.argmax(0), mask)``
    (255 ignored), as the source's Evaluator.
    """
    mask = mask if isinstance(mask, Image.Image) else Image.fromarray(np.asarray(mask, dtype=np.uint8))
    if mask.size != image.size:
        raise ValueError(f"mask size {mask.size} differs from image size {image.size}; pass the SegmentationClass "
                         f"PNG of the same image id")
    image, mask = fix_scale_crop(image.convert("RGB"), mask, crop_size)
    return normalize(image), np.array(mask, dtype=np.uint8)


def predicted_mask(logits: torch.Tensor) -> np.ndarray:
    """Logits [num_classes, H, W] (one image) -> uint8 class-index mask [H, W], the argmax over classes."""
    return logits.argmax(dim=0).to(torch.uint8).cpu().numpy()


def source_training_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The source's training loss, SegmentationLosses(batch_average=True).CrossEntropyLoss (utils/loss.py):
    per-pixel cross-entropy averaged over the labelled pixels (255 ignored), then divided by the batch size."""
    return F.cross_entropy(logits, masks, ignore_index=255) / logits.shape[0]


MODELS = (
    # jfzhang95 transform_val: FixScaleCrop(513), ImageNet mean/std; the smoke case crops 257 (same network)
    ModelSpec("deeplab_v3plus_mobilenet", build_deeplab, preprocess, 513, argmax_masks, loss=source_training_loss),
    ModelSpec("deeplab_v3plus_mobilenet_257", build_deeplab, partial(preprocess, crop_size=257), 257, argmax_masks),
)
