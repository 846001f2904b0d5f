"""The AIMET zoo's fine-tuned MobileNetV2 (torch_mobilenetv2_w8a8_state_dict.pth) loads into our folded layout.

The zoo saves the state dict of a model that AIMET BN-folded and equalized, with the classifier under
``classifier.1.*``, wrapped as ``{"state_dict": ...}``. A seeded model passed through AIMET the same way and
saved in that format must load through build_mobilenet_v2_qat and give the same outputs."""
import pytest
import torch
from torch import nn

from zoo.checkpoints import CheckpointError
from zoo.families.mobilenet_v2.torch import QAT_KEY_RENAMES, MobileNetV2, build_mobilenet_v2_qat


def aimet_equalized_mobilenet_v2() -> nn.Module:
    from aimet_torch.cross_layer_equalization import equalize_model  # folds the BNs, then scales

    torch.manual_seed(0)
    model = MobileNetV2(activation=nn.ReLU).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.bias.data.uniform_(-0.5, 0.5)
    equalize_model(model, dummy_input=torch.randn(1, 3, 224, 224))
    return model


def save_as_the_zoo_does(model: nn.Module, path):
    renamed = {old: new for new, old in ((v, k) for k, v in QAT_KEY_RENAMES.items())}
    state = {renamed.get(k, k): v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state}, path)


def test_aimet_folded_weights_load_with_identical_outputs(tmp_path):
    reference = aimet_equalized_mobilenet_v2()
    save_as_the_zoo_does(reference, tmp_path / "torch_mobilenetv2_w8a8_state_dict.pth")

    loaded = build_mobilenet_v2_qat(tmp_path / "torch_mobilenetv2_w8a8_state_dict.pth").eval()

    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x), rtol=0, atol=0)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in loaded.modules())


def test_an_unfolded_fp32_checkpoint_is_refused_naming_the_keys(tmp_path):
    torch.save(MobileNetV2(activation=nn.ReLU).state_dict(), tmp_path / "fp32.pth")
    with pytest.raises(CheckpointError, match=r"fp32.pth: state_dict keys do not match.*missing \['features.0.0.bias'"):
        build_mobilenet_v2_qat(tmp_path / "fp32.pth")
