"""DeepLabV3+ MobileNetV2 (jfzhang95/pytorch-deeplab-xception @ 9135e10): keys, shapes, outputs, preprocessing.

Reference facts were read off the source's own DeepLab(backbone='mobilenet', output_stride=16,
num_classes=21, sync_bn=False) and its dataloaders/custom_transforms.py at that commit (ImageNet
weight download stubbed out, torch 2.14.1).
"""
import hashlib
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from zoo.checkpoints import CheckpointError, load_strict
from zoo.families.deeplab.torch import DeepLab, build_deeplab, fix_scale_crop, predicted_mask, preprocess

# 668 entries: 306 backbone.features.* plus the same tensors again under the registered slices
# (54 low_level_features.0-3, 252 high_level_features.4-17), 56 aspp.*, 20 decoder.*
SOURCE_KEY_COUNT = 668
SOURCE_ELEMENTS = 7_695_061     # over the 668 entries less num_batches_tracked, aliases counted twice
SOURCE_PARAMETERS = 5_816_053   # distinct parameters
# sha256 of "\n".join(f"{key} {tuple(shape)}") over the source state_dict, in its order
SOURCE_KEYS_SHA256 = "5e98dcb8f1e0cf1b3186d6ef12f8218f9b4d401df781f6b8a21be16219b0b9ae"
SOURCE_SAMPLE_SHAPES = {
    "backbone.features.0.0.weight": (32, 3, 3, 3),
    "backbone.features.1.conv.0.weight": (32, 1, 3, 3),          # t = 1: no expand conv
    "backbone.features.17.conv.3.weight": (960, 1, 3, 3),         # the dilation-2 depthwise
    "backbone.low_level_features.3.conv.0.weight": (144, 24, 1, 1),
    "backbone.high_level_features.4.conv.0.weight": (144, 24, 1, 1),  # slices keep their indices
    "aspp.aspp4.atrous_conv.weight": (256, 320, 3, 3),
    "aspp.global_avg_pool.1.weight": (256, 320, 1, 1),
    "aspp.conv1.weight": (256, 1280, 1, 1),
    "decoder.conv1.weight": (48, 24, 1, 1),
    "decoder.last_conv.0.weight": (256, 304, 3, 3),
    "decoder.last_conv.8.weight": (21, 256, 1, 1),
    "decoder.last_conv.8.bias": (21,),
}
# (stride, dilation) of each inverted residual's depthwise conv, features[1..17], output stride 16
SOURCE_DEPTHWISE = [(1, 1), (2, 1), (1, 1), (2, 1), (1, 1), (1, 1), (2, 1), (1, 1), (1, 1), (1, 1),
                    (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 2)]
# the source's output for deterministic_fill weights on probe_input(129): sums and two pixels' 21 logits
SOURCE_SUM, SOURCE_ABS_SUM = -2491.078767750878, 110265.46073221462
SOURCE_CENTRE = [0.388161, -0.583018, 0.494529, -0.465139, 0.598602, -0.393761, 0.513975, -0.446667, 0.314031,
                 -0.443649, 0.214573, -0.251801, 0.223293, -0.015314, 0.137456, 0.072319, -0.107043, 0.076284,
                 -0.315536, 0.198248, -0.343717]
SOURCE_TOP_EDGE = [0.28894, -0.391331, 0.213571, -0.099596, 0.154568, 0.121359, -0.063642, 0.183817, -0.358806,
                   0.260322, -0.508793, 0.478899, -0.502557, 0.693584, -0.542669, 0.712329, -0.696268, 0.6049,
                   -0.774726, 0.580357, -0.642374]  # pixel (0, 128): depends on the padding semantics


def deterministic_fill(model: nn.Module) -> nn.Module:
    """Every distinct parameter and BN statistic from sin(), by sorted name: no RNG involved."""
    tensors = dict(model.named_parameters()) | {
        k: v for k, v in model.named_buffers() if not k.endswith("num_batches_tracked")}
    with torch.no_grad():
        for i, name in enumerate(sorted(tensors)):
            t = tensors[name]
            wave = torch.sin(torch.arange(t.numel(), dtype=torch.float64) * 0.7 + i).reshape(t.shape)
            if name.endswith("running_var"):
                value = 1.0 + 0.5 * wave.abs()
            elif name.endswith("running_mean") or name.endswith("bias"):
                value = 0.1 * wave
            elif t.dim() == 1:  # BN weight
                value = 1.0 + 0.2 * wave
            else:
                value = wave * math.sqrt(2.0 / t[0].numel())
            t.copy_(value.to(t.dtype))
    return model


def probe_input(size: int = 129) -> torch.Tensor:
    return torch.sin(torch.arange(3 * size * size, dtype=torch.float64) * 0.013).reshape(1, 3, size, size).float()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DeepLab().eval()


def test_state_dict_matches_the_source(model):
    sd = model.state_dict()
    assert len(sd) == SOURCE_KEY_COUNT
    assert sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked")) == SOURCE_ELEMENTS
    assert sum(p.numel() for p in model.parameters()) == SOURCE_PARAMETERS
    listing = "\n".join(f"{k} {tuple(v.shape)}" for k, v in sd.items())
    assert hashlib.sha256(listing.encode()).hexdigest() == SOURCE_KEYS_SHA256
    assert {k: tuple(sd[k].shape) for k in SOURCE_SAMPLE_SHAPES} == SOURCE_SAMPLE_SHAPES
    # the aliases are the same tensors, not copies
    assert sd["backbone.features.4.conv.0.weight"].data_ptr() == sd["backbone.high_level_features.4.conv.0.weight"].data_ptr()
    assert sd["backbone.features.3.conv.1.running_var"].data_ptr() == sd["backbone.low_level_features.3.conv.1.running_var"].data_ptr()


def test_backbone_strides_dilations_and_activations(model):
    depthwise = [next(c for c in block.conv if isinstance(c, nn.Conv2d) and c.groups > 1)
                 for block in list(model.backbone.features)[1:]]
    assert [(c.stride[0], c.dilation[0]) for c in depthwise] == SOURCE_DEPTHWISE
    assert all(c.padding == (0, 0) for c in depthwise)  # the block pads its input instead
    assert sum(isinstance(m, nn.ReLU6) for m in model.modules()) == 34
    assert sum(type(m) is nn.ReLU for m in model.modules()) == 9


def test_output_equals_the_sources_on_deterministic_weights():
    model = deterministic_fill(DeepLab()).eval()
    with torch.no_grad():
        logits = model(probe_input(129)).double()
    assert logits.shape == (1, 21, 129, 129)
    assert logits.sum().item() == pytest.approx(SOURCE_SUM, rel=1e-5)
    assert logits.abs().sum().item() == pytest.approx(SOURCE_ABS_SUM, rel=1e-5)
    np.testing.assert_allclose(logits[0, :, 64, 64].numpy(), SOURCE_CENTRE, atol=2e-5)
    np.testing.assert_allclose(logits[0, :, 0, 128].numpy(), SOURCE_TOP_EDGE, atol=2e-5)


@pytest.mark.parametrize("size", [64, 97])
def test_output_is_upsampled_to_the_input_size(model, size):
    with torch.no_grad():
        assert model(torch.zeros(2, 3, size, size)).shape == (2, 21, size, size)


def test_checkpoint_round_trip_and_key_mismatch(model, tmp_path):
    path = tmp_path / "deeplab-mobilenet.pth.tar"
    torch.save({"epoch": 1, "state_dict": model.state_dict(), "best_pred": 0.7}, path)  # train.py's layout
    loaded = build_deeplab(path)
    assert not loaded.training
    x = probe_input(65)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    deduplicated = {k: v for k, v in model.state_dict().items() if "_level_features" not in k}
    with pytest.raises(CheckpointError, match=r"deduplicated.pth.*missing \['backbone.high_level_features.10"):
        load_strict(loaded, deduplicated, tmp_path / "deduplicated.pth")


def test_build_without_checkpoint_keeps_the_init():
    built = build_deeplab(None)
    assert isinstance(built, DeepLab) and not built.training
    assert built.decoder.last_conv[1].running_var.eq(1).all()  # untouched BN statistics


def test_fix_scale_crop_by_hand():
    # w > h: short side 4 -> 9 x 4, no resampling; x1 = round(2.5) = 2 (half to even), not 3
    columns = Image.fromarray(np.tile(np.arange(9, dtype=np.uint8), (4, 1)))
    image, mask = fix_scale_crop(columns.convert("RGB"), columns, crop_size=4)
    assert np.array(mask)[0].tolist() == [2, 3, 4, 5] and image.size == (4, 4)
    # h > w, 2x upscale: nearest repeats each mask row twice; 3 x 8 -> 6 x 16, y1 = round(5.0) = 5
    rows = Image.fromarray(np.repeat(np.arange(8, dtype=np.uint8)[:, None], 3, axis=1))
    _, mask = fix_scale_crop(rows.convert("RGB"), rows, crop_size=6)
    assert np.array(mask)[:, 0].tolist() == [2, 3, 3, 4, 4, 5]


def test_preprocess_known_answer():
    colour = (255, 0, 128)
    image = Image.new("RGB", (6, 3), colour)
    mask = np.zeros((3, 6), np.uint8)
    mask[:, 3:] = 12
    mask[0, 0] = 255
    tensor, cropped = preprocess(image, mask, crop_size=6)  # 6 x 3 -> 12 x 6, crop x1 = 3
    assert tensor.shape == (3, 6, 6) and tensor.dtype == torch.float32 and cropped.dtype == np.uint8
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    np.testing.assert_allclose(tensor[:, 2, 2].numpy(), expected, rtol=1e-6)
    assert cropped[2].tolist() == [0, 0, 0, 12, 12, 12]
    assert cropped[0, 0] == 0 and np.count_nonzero(cropped == 255) == 0  # the 255 pixel fell in the cropped-off columns
    with pytest.raises(ValueError, match="mask size"):
        preprocess(image, mask[:, :5])


def test_predicted_mask_is_the_argmax():
    logits = torch.zeros(21, 2, 3)
    logits[7, 0, 1] = 1.0
    logits[20, 1, 2] = 0.5
    assert predicted_mask(logits).tolist() == [[0, 7, 0], [0, 0, 20]]
