"""MSRResNet, the SRGAN generator of andreas128/mmsr (commit a73b318, codes/models/archs/SRResNet_arch.py).

The AIMET zoo's SRGAN row (checkpoint ``MSRGANx4.pth`` from release ``srgan_mmsr_model``) builds
``MSRResNet(in_nc=3, out_nc=3, nf=64, nb=16, upscale=4)`` (options/test/test_SRGAN.yml). Keys and
shapes are the source's: ``conv_first``, ``recon_trunk.<i>.conv1/conv2`` (arch_util.ResidualBlock_noBN),
``upconv1``, ``upconv2`` (x4 only), ``HRconv``, ``conv_last``. The forward is the source's: LeakyReLU(0.1)
after conv_first, each pixel-shuffle stage and HRconv, plus a bilinear (align_corners=False) upsampling
of the input added to the output. Input and output are RGB in [0, 1], NCHW; the output is not clamped
(mmsr's tensor2img clamps, see ``to_uint8_image``).

Activations are modules, one per use: the AIMET zoo's srgan_eval.patch turns the residual blocks'
functional ReLU into ``nn.ReLU`` modules for quantsim; the source's single shared ``lrelu`` becomes
four modules here so that each use gets its own output quantizer. Neither changes the FP32 result
or the state_dict.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.checkpoints import load_state_dict, load_strict
from zoo.data.embedded.sr_photos import to_tensor
from zoo.data.real.super_resolution import lr_to_tensor
from zoo.registry import ModelSpec
from zoo.tasks.super_resolution import rgb01_to_uint8

LRELU_SLOPE = 0.1


class ResidualBlockNoBN(nn.Module):
    """conv1 - ReLU - conv2, plus the identity (arch_util.ResidualBlock_noBN)."""

    def __init__(self, nf: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


def _upsampling_stages(upscale: int) -> list[tuple[str, int]]:
    """(conv name, pixel-shuffle factor) per stage, as the source's ``upscale`` branches."""
    stages = {2: [("upconv1", 2)], 3: [("upconv1", 3)], 4: [("upconv1", 2), ("upconv2", 2)]}
    if upscale not in stages:
        raise ValueError(f"MSRResNet upscale={upscale} is not one the source builds; use 2, 3 or 4")
    return stages[upscale]


class MSRResNet(nn.Module):
    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, nb: int = 16, upscale: int = 4):
        super().__init__()
        self.upscale = upscale
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.lrelu_first = nn.LeakyReLU(LRELU_SLOPE)
        self.recon_trunk = nn.Sequential(*(ResidualBlockNoBN(nf) for _ in range(nb)))
        self.stages = _upsampling_stages(upscale)
        for name, factor in self.stages:
            self.add_module(name, nn.Conv2d(nf, nf * factor * factor, 3, 1, 1, bias=True))
        self.pixel_shuffle = nn.ModuleList(nn.PixelShuffle(factor) for _, factor in self.stages)
        self.lrelu_up = nn.ModuleList(nn.LeakyReLU(LRELU_SLOPE) for _ in self.stages)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.lrelu_hr = nn.LeakyReLU(LRELU_SLOPE)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1, bias=True)
        self.base_upsample = nn.Upsample(scale_factor=upscale, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.recon_trunk(self.lrelu_first(self.conv_first(x)))
        for (name, _), shuffle, lrelu in zip(self.stages, self.pixel_shuffle, self.lrelu_up):
            out = lrelu(shuffle(getattr(self, name)(out)))
        out = self.conv_last(self.lrelu_hr(self.HRconv(out)))
        return out + self.base_upsample(x)


def build_msrresnet(checkpoint: Path | None, nf: int = 64, nb: int = 16, upscale: int = 4) -> MSRResNet:
    """MSRResNet(3, 3, nf, nb, upscale) in eval mode, with the checkpoint's weights loaded strictly when given."""
    model = MSRResNet(nf=nf, nb=nb, upscale=upscale)
    if checkpoint is not None:
        load_strict(model, load_state_dict(checkpoint), checkpoint)
    return model.eval()


def to_uint8_image(output: torch.Tensor) -> np.ndarray:
    """One SR output [3, H, W] (or [1, 3, H, W]) -> RGB uint8 [H, W, 3], as mmsr's tensor2img:
    clamp to [0, 1], times 255, round half to even (numpy's round)."""
    image = output.detach().float().cpu().squeeze(0)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected one RGB output [3, H, W], got shape {tuple(output.shape)}")
    return np.round(image.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)


MODELS = (
    # mmsr MSRResNet x4: RGB in [0, 1] (benchmarks: MATLAB-bicubic LR as float; photos: PIL-bicubic uint8 LR)
    ModelSpec("msrresnet_x4", build_msrresnet, lr_to_tensor, None, rgb01_to_uint8),
    ModelSpec("msrresnet_x4_photos", build_msrresnet, to_tensor, None, rgb01_to_uint8),
)
