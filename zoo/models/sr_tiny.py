"""A small x4 MSRResNet (modified SRResNet), module layout of open-mmlab/mmsr codes/models/archs/SRResNet_arch.py.

Same structure and state_dict keys as mmsr's ``MSRResNet(in_nc=3, out_nc=3, nf, nb, upscale=4)``:
``conv_first``, ``recon_trunk.{0..nb-1}.conv{1,2}`` (``ResidualBlock_noBN``: conv-ReLU-conv plus
identity, no BatchNorm; arch_util.py), ``upconv1``, ``upconv2`` (each conv to 4 nf channels,
PixelShuffle(2), LeakyReLU(0.1)), ``HRconv``, ``conv_last``; the output adds the bilinear
upsampling of the input (``align_corners=False``) as mmsr does. Only nf and nb are smaller than
mmsr's defaults (64, 16). Activations and the upsampler are modules (mmsr calls ``F.relu`` and
``F.interpolate``, in place), which holds no parameters, so the keys are unchanged and a
quantizer sees every activation.

Input: RGB in [0, 1], [N, 3, h, w]; output [N, 3, 4h, 4w] on the same scale, unclipped.
``to_uint8_image`` is mmsr's ``tensor2img`` for one RGB image (clamp to [0, 1], x255, round).
The committed weights (fixtures/sr/msrresnet_tiny.pth) are trained by fixtures/sr/train_tiny_sr.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

SCALE = 4
NF, NB = 16, 4  # the committed checkpoint's width and depth
FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sr"
CHECKPOINT = FIXTURE_DIR / "msrresnet_tiny.pth"


class ResidualBlockNoBN(nn.Module):
    """---Conv-ReLU-Conv-+-  with the identity; mmsr's ResidualBlock_noBN."""

    def __init__(self, nf: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNetX4(nn.Module):
    def __init__(self, nf: int = NF, nb: int = NB, in_nc: int = 3, out_nc: int = 3):
        super().__init__()
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.recon_trunk = nn.Sequential(*(ResidualBlockNoBN(nf) for _ in range(nb)))
        self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1, bias=True)
        self.upconv2 = nn.Conv2d(nf, nf * 4, 3, 1, 1, bias=True)
        self.pixel_shuffle = nn.PixelShuffle(2)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1, bias=True)
        self.lrelu_first, self.lrelu_up1, self.lrelu_up2, self.lrelu_hr = (nn.LeakyReLU(0.1) for _ in range(4))
        self.base = nn.Upsample(scale_factor=SCALE, mode="bilinear", align_corners=False)
        _mmsr_init(self)

    def forward(self, x):
        out = self.recon_trunk(self.lrelu_first(self.conv_first(x)))
        out = self.lrelu_up1(self.pixel_shuffle(self.upconv1(out)))
        out = self.lrelu_up2(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu_hr(self.HRconv(out)))
        return out + self.base(x)


def _mmsr_init(model: nn.Module, scale: float = 0.1) -> None:
    """mmsr's arch_util.initialize_weights(.., 0.1) on every conv: kaiming_normal_ (fan_in) x 0.1, zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data *= scale
            nn.init.zeros_(m.bias)


def build_sr_tiny(checkpoint: Path | None = CHECKPOINT) -> nn.Module:
    """MSRResNetX4(nf=16, nb=4) in eval mode; ``checkpoint`` None keeps the (seeded by the caller) init."""
    from zoo.checkpoints import load_state_dict, load_strict

    model = MSRResNetX4()
    if checkpoint is not None:
        load_strict(model, load_state_dict(Path(checkpoint)), Path(checkpoint))
    return model.eval()


def to_uint8_image(output: torch.Tensor) -> np.ndarray:
    """One SR output [3, H, W] (or [1, 3, H, W]) in [0, 1] -> HxWx3 uint8 RGB: clamp, x255, round (mmsr tensor2img)."""
    output = output.detach().float().cpu()
    if output.dim() == 4:
        if output.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {output.shape[0]}; index it first")
        output = output[0]
    if output.dim() != 3 or output.shape[0] != 3:
        raise ValueError(f"expected a [3, H, W] RGB tensor, got shape {tuple(output.shape)}")
    return (output.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
