"""Device choice: one GPU per xdist worker when CUDA is present, CPU otherwise."""
from __future__ import annotations

import os

import torch


class DeviceError(Exception):
    pass


def worker_index(worker_id: str) -> int:
    """``gw3`` -> 3; the controller or a run without xdist ('master') -> 0."""
    return int(worker_id[2:]) if worker_id.startswith("gw") and worker_id[2:].isdigit() else 0


def resolve_device(requested: str, worker_id: str, cuda_count: int | None = None) -> torch.device:
    cuda_count = torch.cuda.device_count() if cuda_count is None else cuda_count
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "auto":
        return torch.device("cuda", worker_index(worker_id) % cuda_count) if cuda_count else torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        if cuda_count == 0:
            raise DeviceError(f"--device {requested}: no CUDA device is visible; use --device cpu or auto")
        if requested == "cuda":
            return torch.device("cuda", worker_index(worker_id) % cuda_count)
        index = requested.split(":", 1)[1]
        if not index.isdigit() or int(index) >= cuda_count:
            raise DeviceError(f"--device {requested}: {cuda_count} CUDA device(s) visible (cuda:0..cuda:{cuda_count - 1})")
        return torch.device("cuda", int(index))
    raise DeviceError(f"--device {requested!r}: use auto, cpu, cuda or cuda:N")


def cpu_threads_per_worker() -> int:
    """Share the cores between xdist workers instead of oversubscribing them; ``ZOO_CPU_THREADS`` sets
    the count outright (benchmarks/noise.py measures the metrics under 1 and 2 threads with it)."""
    if os.environ.get("ZOO_CPU_THREADS"):
        return max(1, int(os.environ["ZOO_CPU_THREADS"]))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)
