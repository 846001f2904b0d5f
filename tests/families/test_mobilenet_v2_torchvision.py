"""torchvision's MobileNetV2 weights load into tonylins' layout by position and reproduce torchvision's outputs."""
import pytest
import torch
import torchvision
from torch import nn

from zoo.checkpoints import CheckpointError
from zoo.families.mobilenet_v2.torch import MobileNetV2, build_mobilenet_v2_torchvision


def test_torchvision_state_dict_reproduces_torchvision_in_the_relu6_source_network(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2().eval()
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2)
    torch.save(reference.state_dict(), tmp_path / "mobilenet_v2.pth")

    relu_variant = build_mobilenet_v2_torchvision(tmp_path / "mobilenet_v2.pth").eval()
    source = MobileNetV2().eval()  # tonylins with its ReLU6: the network torchvision trained
    source.load_state_dict(relu_variant.state_dict())

    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(source(x), reference(x), rtol=1e-5, atol=1e-5)
    assert all(not isinstance(m, nn.ReLU6) for m in relu_variant.modules())


def test_another_networks_weights_are_refused_naming_the_tensor(tmp_path):
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), tmp_path / "v3.pth")
    with pytest.raises(CheckpointError, match="v3.pth: "):
        build_mobilenet_v2_torchvision(tmp_path / "v3.pth")
