"""Model builders by name: architecture, checkpoint loading and each source model's preprocessing."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zoo.datasets.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocess


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[Path | None], nn.Module]
    preprocess: Preprocess
    input_size: int = 224


def _efficientnet_lite0(checkpoint):
    from zoo.models.efficientnet_lite import efficientnet_lite0

    return efficientnet_lite0(checkpoint)


def _tf_efficientnet_lite0(checkpoint):
    from zoo.models.efficientnet_lite import tf_efficientnet_lite0

    return tf_efficientnet_lite0(checkpoint)


def _mobilenet_v2(checkpoint):
    from zoo.checkpoints import load_state_dict, load_strict
    from zoo.models.mobilenet_v2 import MobileNetV2

    model = MobileNetV2(activation=nn.ReLU)  # the AIMET zoo's variant, see zoo/models/mobilenet_v2.py
    return load_strict(model, load_state_dict(checkpoint), checkpoint) if checkpoint else model


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # AIMET zoo eval_efficientnetlite0: Resize(256) + CenterCrop(224), bilinear, ImageNet mean/std
        ModelSpec("efficientnet_lite0", _efficientnet_lite0, Preprocess(256, 224, "bilinear")),
        # TF-ported weights take (x - 127) / 128; timm's tf_ cfg: crop_pct 0.875, bicubic
        ModelSpec("tf_efficientnet_lite0", _tf_efficientnet_lite0,
                  Preprocess(256, 224, "bicubic", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)),
        # ReLU variant of the AIMET zoo. tonylins README: Resize(int(224 / 0.875)) + CenterCrop(224), bilinear, ImageNet mean/std
        ModelSpec("mobilenet_v2", _mobilenet_v2, Preprocess(256, 224, "bilinear", IMAGENET_MEAN, IMAGENET_STD)),
    )
}


def recalibrate_batchnorm(model: nn.Module, images: list[torch.Tensor], batch_size: int = 16) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``images`` (cumulative average).

    Seeded random weights give activations that shrink layer by layer to ~1e-9 at the
    logits of a deep network, which quantizes to zero; with statistics measured on real
    images every BN output is normalized again, so the network is well-conditioned.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            model(torch.stack(images[i:i + batch_size]))
    return model.eval()
