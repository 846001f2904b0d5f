"""MobileNetV2 with the module layout of tonylins/pytorch-mobilenet-v2 (commit 99f2136).

State_dict keys: features.0.{0,1}.* (stem), features.{1..17}.conv.* (inverted residuals),
features.18.{0,1}.* (1x1 head), classifier.* (Linear), so the source checkpoint
``mobilenetv2_1.0-f2a8633.pth.tar`` loads unchanged.

``activation`` defaults to ReLU6 (the source); the AIMET zoo's MobileNetV2 replaces it with
ReLU because AIMET's cross-layer scaling does not scale conv-ReLU6-conv pairs (aimet-torch
>= 2.4 no longer swaps them itself). Activations hold no parameters, so keys are unchanged.
"""
from __future__ import annotations

import math
from pathlib import Path

from torch import nn

from zoo.checkpoints import load_weights
from zoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from zoo.registry import ModelSpec

# expansion t, output channels c, repeats n, first stride s
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x * 1.0 / divisor) * divisor)


def conv_bn(inp: int, oup: int, stride: int, activation=nn.ReLU6) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), activation(inplace=True))


def conv_1x1_bn(inp: int, oup: int, activation=nn.ReLU6) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), activation(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, activation=nn.ReLU6):
        super().__init__()
        hidden = int(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        expand = [] if expand_ratio == 1 else [
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), activation(inplace=True),
        ]
        self.conv = nn.Sequential(
            *expand,
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            activation(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        )

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, n_class: int = 1000, width_mult: float = 1.0, activation=nn.ReLU6):
        super().__init__()
        input_channel = 32
        self.last_channel = make_divisible(1280 * width_mult) if width_mult > 1.0 else 1280
        layers = [conv_bn(3, input_channel, 2, activation)]
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            output_channel = make_divisible(c * width_mult) if t > 1 else c
            for i in range(n):
                layers.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t, activation))
                input_channel = output_channel
        layers.append(conv_1x1_bn(input_channel, self.last_channel, activation))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(self.last_channel, n_class)
        self._initialize_weights()

    def forward(self, x):
        x = self.features(x)
        x = x.mean(3).mean(2)
        return self.classifier(x)

    def _initialize_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0, 0.01)
                m.bias.data.zero_()


def build_mobilenet_v2(checkpoint: Path | None) -> nn.Module:
    """The AIMET zoo's variant (ReLU instead of ReLU6, see the module docstring), weights from ``checkpoint``."""
    return load_weights(MobileNetV2(activation=nn.ReLU), checkpoint)


MODELS = (
    # tonylins README: Resize(int(224 / 0.875)) + CenterCrop(224), bilinear, ImageNet mean/std
    ModelSpec("mobilenet_v2", build_mobilenet_v2, Preprocess(256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
)
