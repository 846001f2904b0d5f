"""One case end to end: build, evaluate FP32, quantize with the recipe, evaluate, measure."""
from __future__ import annotations

import platform
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from zoo.cache import Fp32Cache, fp32_key
from zoo.checkpoints import verify
from zoo.datasets.imagenet import DatasetError, ImageNetVal
from zoo.datasets.photos import PhotoSet
from zoo.expected import Measurement
from zoo.metrics.classification import per_sample_sqnr_db, sqnr_db, top1_agreement, topk_accuracy, topk_correct
from zoo.models import MODELS, recalibrate_batchnorm

# dataset name -> constructor(data_dir, preprocess); embedded photos need no data directory
DATASETS = {"imagenet": ImageNetVal, "photos": lambda _data_dir, preprocess: PhotoSet(preprocess)}


@dataclass(frozen=True)
class CaseInputs:
    """What the fixtures located: dataset directory and checkpoint file (None where not needed)."""

    data_dir: Path | None
    checkpoint: Path | None


@dataclass
class Outcome:
    measurement: Measurement
    info: dict = field(default_factory=dict)
    # per-sample outcomes (same order as sample_ids) for paired comparisons between runs
    per_sample: dict = field(default_factory=dict)


class StepTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(time.perf_counter() - start, 3)


class SubsetView:
    """A fixed, seeded subset of a dataset's samples, in dataset order (``--subset N``)."""

    def __init__(self, dataset, size: int, seed: int = 0):
        import random

        self.dataset = dataset
        self.indices = sorted(random.Random(seed).sample(range(len(dataset)), size))

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.dataset[self.indices[i]]

    def label_sets(self):
        labels = self.dataset.label_sets()
        return [labels[i] for i in self.indices]

    def sample_ids(self):
        ids = self.dataset.sample_ids()
        return [ids[i] for i in self.indices]

    def fingerprint(self) -> str:
        return f"{self.dataset.fingerprint()}:subset:{','.join(map(str, self.indices))}"

    def calibration_images(self, count: int, seed: int):
        return self.dataset.calibration_images(count, seed)


def select_samples(dataset, case_id: str, where, expected_samples: int | None, subset: int | None):
    """The full dataset (whose size must match the expected count), or a seeded subset of it."""
    if subset:
        if len(dataset) < subset:
            raise DatasetError(f"{case_id}: --subset {subset} needs at least {subset} samples, "
                               f"found {len(dataset)} under {where}")
        return SubsetView(dataset, subset)
    if expected_samples is not None and len(dataset) != expected_samples:
        raise DatasetError(
            f"{case_id}: found {len(dataset)} samples under {where}, expected {expected_samples} "
            f"(full-dataset guard; the dataset is partial or different; --subset N evaluates a seeded subset)")
    return dataset


def open_dataset(name: str, data_dir: Path | None, preprocess):
    return DATASETS[name](data_dir, preprocess)


def predict(model: torch.nn.Module, dataset, batch_size: int, device: torch.device, desc: str) -> np.ndarray:
    """Logits for every sample, in dataset order."""
    from tqdm import tqdm

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=loader_workers(len(dataset)))
    outputs = []
    model.eval()
    with torch.no_grad():
        for images, _ in tqdm(loader, desc=desc, disable=len(loader) < 20, leave=False):
            try:
                outputs.append(model(images.to(device)).float().cpu().numpy())
            except torch.cuda.OutOfMemoryError as e:
                raise RuntimeError(
                    f"{desc}: CUDA out of memory at batch size {batch_size} on {device}; lower the case's "
                    f"batch_size in zoo/cases.py or use a GPU with more memory") from e
    return np.concatenate(outputs)


def loader_workers(samples: int) -> int:
    """Decode images in parallel for real datasets; tiny embedded sets are faster in-process."""
    import os

    return 0 if samples < 256 else min(8, os.cpu_count() or 1)


def classification_metrics(fp32: np.ndarray, quantized: np.ndarray, label_sets) -> tuple[dict, dict]:
    fp32_metrics = {"top1": topk_accuracy(fp32, label_sets, 1), "top5": topk_accuracy(fp32, label_sets, 5)}
    quant_metrics = {
        "top1": topk_accuracy(quantized, label_sets, 1),
        "top5": topk_accuracy(quantized, label_sets, 5),
        "agreement_top1": top1_agreement(fp32, quantized),
        "sqnr_db": sqnr_db(fp32, quantized),
    }
    return fp32_metrics, quant_metrics


def classification_per_sample(fp32: np.ndarray, quantized: np.ndarray, label_sets) -> dict:
    return {
        "fp32.top1_correct": topk_correct(fp32, label_sets, 1),
        "quantized.top1_correct": topk_correct(quantized, label_sets, 1),
        "fp32.top5_correct": topk_correct(fp32, label_sets, 5),
        "quantized.top5_correct": topk_correct(quantized, label_sets, 5),
        "quantized.agrees_top1": fp32.argmax(axis=1) == quantized.argmax(axis=1),
        "quantized.sqnr_db": per_sample_sqnr_db(fp32, quantized),
    }


def peak_memory_mb(device: torch.device) -> dict:
    peak = {"host_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.type == "cuda":
        peak["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peak


def versions() -> dict:
    from importlib.metadata import version

    return {"aimet_torch": version("aimet-torch"), "torch": torch.__version__, "python": platform.python_version()}


def measure(case, inputs: CaseInputs, device: torch.device, workdir: Path, expected_samples: int | None,
            fp32_cache: Fp32Cache | None = None, subset: int | None = None) -> Outcome:
    """Run ``case`` end to end. Raises on bad data/weights; never skips (that is decided earlier)."""
    from zoo.recipes.torch_ptq import quantize

    timer, spec, recipe = StepTimer(), MODELS[case.model], case.recipe
    info: dict = {"knobs": recipe.knobs(), "device": str(device), "versions": versions()}
    with timer("load"):
        if inputs.checkpoint is not None:
            info["checkpoint_sha256"] = verify(inputs.checkpoint, case.checkpoint)
        dataset = select_samples(open_dataset(case.dataset, inputs.data_dir, spec.preprocess), case.id,
                                 inputs.data_dir or "the embedded fixture", expected_samples, subset)
        info["subset"] = subset
        calibration = dataset.calibration_images(recipe.calibration_images, recipe.seed)
        torch.manual_seed(recipe.seed)
        model = spec.build(inputs.checkpoint)
        if case.checkpoint.location == "deterministic":
            recalibrate_batchnorm(model, calibration)
            info["weights"] = (f"torch.manual_seed({recipe.seed}) init, BatchNorm statistics recalibrated "
                               f"on the {len(calibration)} calibration crops")
        model = model.to(device)
    fp32_cache = fp32_cache or Fp32Cache(None)
    key = fp32_key(case, info.get("checkpoint_sha256"), dataset.fingerprint(), device)
    with timer("fp32_eval"):
        fp32_out = fp32_cache.load(key)
        info["fp32_from_cache"] = fp32_out is not None
        if fp32_out is None:
            fp32_out = predict(model, dataset, case.batch_size, device, f"{case.id} fp32")
            fp32_cache.store(key, fp32_out)
    with timer("quantize"):
        quantized = quantize(model, recipe, calibration, device, workdir)
    with timer("quantized_eval"):
        quant_out = predict(quantized.model, dataset, case.batch_size, device, f"{case.id} quantized")
    label_sets = dataset.label_sets()
    fp32_metrics, quant_metrics = classification_metrics(fp32_out, quant_out, label_sets)
    per_sample = {"sample_ids": np.array(dataset.sample_ids()),
                  **classification_per_sample(fp32_out, quant_out, label_sets)}
    info.update(
        backend=quantized.backend, techniques_applied=quantized.applied,
        techniques_unavailable=quantized.unavailable, quantsim_config=quantized.config_file,
        encodings_sha256=quantized.encodings_sha256, seconds=timer.seconds, peak_memory=peak_memory_mb(device),
    )
    return Outcome(Measurement(len(dataset), fp32_metrics, quant_metrics), info, per_sample)
