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

import torch
from torch import nn

from zoo.checkpoints import load_state_dict, load_strict, load_weights, map_by_position
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


def build_mobilenet_v2_torchvision(checkpoint: Path | None) -> nn.Module:
    """The AIMET zoo's ReLU variant with torchvision's ImageNet weights (IMAGENET1K_V1). The two are one network:
    the same tensors in the same order, torchvision nesting each conv + BN + ReLU6 as a module
    (features.1.conv.0.0.weight is tonylins' features.1.conv.0.weight, classifier.1 the Linear), so keys pair
    by position."""
    model = MobileNetV2(activation=nn.ReLU)
    if checkpoint is not None:
        path = Path(checkpoint)
        load_strict(model, map_by_position(load_state_dict(path), model.state_dict(), path), path)
    return model


def fold_batchnorm_structure(model: nn.Module) -> nn.Module:
    """The module layout AIMET's BN fold leaves: every Conv2d followed by a BatchNorm2d gains a bias and the
    BatchNorm becomes an Identity. Only the structure: the values come from a checkpoint folded by AIMET."""
    for sequential in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        children = list(sequential.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                conv.bias = nn.Parameter(conv.weight.new_zeros(conv.out_channels))
                setattr(sequential, bn_name, nn.Identity())
    return model


# the AIMET zoo's QAT state dict was saved while the classifier was Sequential(Dropout, Linear); its
# model_definition.py renames these keys before loading (aimet_zoo_torch/mobilenetv2/model/model_definition.py)
QAT_KEY_RENAMES = {"classifier.1.weight": "classifier.weight", "classifier.1.bias": "classifier.bias"}


def build_mobilenet_v2_qat(checkpoint: Path | None) -> nn.Module:
    """The AIMET zoo's fine-tuned MobileNetV2 (torch_mobilenetv2_w8a8_state_dict.pth): BN-folded and
    equalized by AIMET before quantization-aware training, so it loads into the folded layout."""
    model = fold_batchnorm_structure(MobileNetV2(activation=nn.ReLU))
    if checkpoint is not None:
        state = {QAT_KEY_RENAMES.get(k, k): v for k, v in load_state_dict(Path(checkpoint)).items()}
        load_strict(model, state, Path(checkpoint))
    return model


def classification_loss(logits, labels):
    return nn.functional.cross_entropy(logits, torch.as_tensor(labels, device=logits.device))


MODELS = (
    # tonylins README: Resize(int(224 / 0.875)) + CenterCrop(224), bilinear, ImageNet mean/std
    ModelSpec("mobilenet_v2", build_mobilenet_v2, Preprocess(256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
              loss=classification_loss),
    # torchvision's weights, evaluated with tonylins' preprocessing (torchvision's IMAGENET1K_V1 transforms are
    # the same: Resize(256) + CenterCrop(224), bilinear, ImageNet mean/std)
    ModelSpec("mobilenet_v2_torchvision", build_mobilenet_v2_torchvision,
              Preprocess(256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD), loss=classification_loss),
    # the AIMET zoo's evaluation (aimet_zoo_torch/mobilenetv2/dataloader/dataloaders_and_eval_func.py and the
    # seed's zoo_torch/examples/eval_mobilenetv2.py): Resize(image_size + 24) + CenterCrop(224), bilinear
    ModelSpec("mobilenet_v2_qat", build_mobilenet_v2_qat, Preprocess(248, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
              loss=classification_loss),
)
