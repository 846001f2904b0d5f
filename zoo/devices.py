"""Device choice: one GPU per xdist worker when CUDA is present, CPU otherwise."""
from __future__ import annotations

import os
from contextlib import contextmanager

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


# the thread count of the quantize step on CPU, whatever the worker count: see recipe_threads()
RECIPE_THREADS = 1
_pinned: list[int] = []


def cpu_threads_per_worker() -> int:
    """Share the cores between xdist workers instead of oversubscribing them; ``ZOO_CPU_THREADS`` sets
    the count outright (benchmarks/noise.py measures the metrics under 1 and 2 threads with it)."""
    if _pinned:
        return _pinned[-1]
    if os.environ.get("ZOO_CPU_THREADS"):
        return max(1, int(os.environ["ZOO_CPU_THREADS"]))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, (os.cpu_count() or 1) // workers)


def onnxruntime_threads() -> dict:
    """onnxruntime sessions take every core by default: under ``-n N`` each xdist worker gets its share."""
    threads = cpu_threads_per_worker()
    return {"intra_op_num_threads": threads, "inter_op_num_threads": threads}


@contextmanager
def recipe_threads(device: torch.device):
    """Run the recipe (calibration, AdaRound) on RECIPE_THREADS CPU threads, torch's and onnxruntime's.

    A float sum reduced over another number of threads differs in its last bits, and calibration and
    AdaRound carry such differences into the encodings: quantizing with 2 threads (``-n 0`` on 2 cores)
    instead of 1 (each worker of ``-n 2``) moved the tiny DeepLab's quantized mIoU by 0.17 points and its
    SQNR by 0.16 dB, while no FP32 value moved by more than 3e-7 (benchmarks/noise.py,
    docs/noise/2026-12-06.json). Pinned, the encodings are the same under every ``-n``."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    _pinned.append(RECIPE_THREADS)
    torch.set_num_threads(RECIPE_THREADS)
    try:
        yield
    finally:
        _pinned.pop()
        torch.set_num_threads(before)
