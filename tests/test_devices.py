"""Device choice: auto, explicit CUDA, one GPU per xdist worker, clear errors."""
import pytest
import torch

from zoo.devices import DeviceError, resolve_device, worker_index


def test_worker_index():
    assert worker_index("gw0") == 0 and worker_index("gw7") == 7 and worker_index("master") == 0


def test_auto_is_cpu_without_cuda():
    assert resolve_device("auto", "gw3", cuda_count=0) == torch.device("cpu")


@pytest.mark.parametrize("worker, expected", [("gw0", 0), ("gw1", 1), ("gw5", 1), ("master", 0)])
def test_one_gpu_per_worker(worker, expected):
    assert resolve_device("auto", worker, cuda_count=4 if worker != "gw5" else 2) == torch.device("cuda", expected)
    assert resolve_device("cuda", worker, cuda_count=4 if worker != "gw5" else 2) == torch.device("cuda", expected)


def test_explicit_index_and_errors():
    assert resolve_device("cuda:1", "gw0", cuda_count=2) == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="no CUDA device"):
        resolve_device("cuda", "gw0", cuda_count=0)
    with pytest.raises(DeviceError, match="2 CUDA device"):
        resolve_device("cuda:2", "gw0", cuda_count=2)
    with pytest.raises(DeviceError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("tpu", "gw0", cuda_count=0)
