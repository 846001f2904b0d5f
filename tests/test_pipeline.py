"""Evaluation errors name what to change."""
import pytest
import torch
from torch import nn

from zoo.backends.torch import TorchBackend
from zoo.pipeline import predict


class OutOfMemoryModel(nn.Module):
    def forward(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_cuda_out_of_memory_names_the_batch_size_and_the_fix():
    dataset = [(torch.zeros(3, 4, 4), 0)] * 3
    with pytest.raises(RuntimeError, match=r"case fp32: CUDA out of memory at batch size 2 .* zoo/families/"):
        device = torch.device("cpu")
        predict(TorchBackend.runner(OutOfMemoryModel(), device), dataset, 2, device, "case fp32")
