"""The embedded tier's small x4 MSRResNet: mmsr's ``MSRResNet(in_nc=3, out_nc=3, nf=16, nb=4, upscale=4)``
(zoo/families/srgan/torch.py, the published case's architecture with the source's state_dict keys),
narrower and shallower than mmsr's defaults (64, 16).

Input: RGB in [0, 1], [N, 3, h, w]; output [N, 3, 4h, 4w] on the same scale, unclipped.
The committed weights (fixtures/sr/msrresnet_tiny.pth) are trained by fixtures/sr/train_tiny_sr.py,
starting from mmsr's ``initialize_weights(.., 0.1)``.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from torch import nn

from zoo import paths
from zoo.data.embedded.sr_photos import to_tensor
from zoo.families.srgan.torch import MSRResNet, build_msrresnet, to_uint8_image  # noqa: F401  (re-exported)
from zoo.registry import ModelSpec
from zoo.tasks.super_resolution import rgb01_to_uint8

SCALE = 4
NF, NB = 16, 4  # the committed checkpoint's width and depth
FIXTURE_DIR = paths.FIXTURES / "sr"
CHECKPOINT = FIXTURE_DIR / "msrresnet_tiny.pth"

MSRResNetX4 = partial(MSRResNet, upscale=SCALE)


def mmsr_init(model: nn.Module, scale: float = 0.1) -> nn.Module:
    """mmsr's arch_util.initialize_weights(.., 0.1) on every conv: kaiming_normal_ (fan_in) x 0.1, zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data *= scale
            nn.init.zeros_(m.bias)
    return model


def build_sr_tiny(checkpoint: Path | None = CHECKPOINT) -> nn.Module:
    """MSRResNet(nf=16, nb=4, x4) in eval mode; ``checkpoint`` None gives mmsr's init (seeded by the caller)."""
    if checkpoint is None:
        return mmsr_init(MSRResNetX4(nf=NF, nb=NB)).eval()
    return build_msrresnet(Path(checkpoint), nf=NF, nb=NB, upscale=SCALE)


MODELS = (ModelSpec("msrresnet_tiny_x4", build_sr_tiny, to_tensor, None, rgb01_to_uint8),)
