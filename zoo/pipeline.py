"""One case end to end: build, evaluate FP32, quantize with the recipe, evaluate, measure."""
from __future__ import annotations

import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from zoo import memory
from zoo.backends import BACKENDS
from zoo.backends.common import Runner
from zoo.cache import Fp32Cache, fp32_key
from zoo.catalog import MODELS
from zoo.checkpoints import verify
from zoo.data.base import select_samples
from zoo.data.catalog import dataset_spec
from zoo.devices import recipe_threads
from zoo.expected import Measurement
from zoo.tasks import FIDELITY_MAX_VALUES, FIDELITY_SAMPLES, Predictions, scorer


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
    # the quantizers with their encodings and the per-layer SQNR, for the layer-by-layer comparison
    layers: dict = field(default_factory=dict)


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


def open_dataset(name: str, data_dir: Path | None, preprocess):
    return dataset_spec(name).open(data_dir, preprocess)


def _collate(batch):
    """Inputs stacked into a batch; targets as a list (decoders that need per-image metadata read them)."""
    return torch.stack([sample[0] for sample in batch]), [sample[1] for sample in batch]


def split_samples(outputs: tuple[np.ndarray, ...], _targets=None) -> list[tuple[np.ndarray, ...]]:
    """A batch's outputs -> one tuple per sample (the default reduction: keep everything)."""
    return [tuple(o[i] for o in outputs) for i in range(len(outputs[0]))]


def predict(run: Runner, dataset, batch_size: int, device: torch.device, desc: str,
            reduce=split_samples, fidelity_outputs: tuple[int, ...] | None = None) -> Predictions:
    """Every sample's outputs, reduced per batch by the model spec, in dataset order; the raw values of
    ``fidelity_outputs`` (None: all) kept for SQNR."""
    from tqdm import tqdm

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_collate,
                                         num_workers=loader_workers(len(dataset)))
    samples, raw, kept_values = [], [], 0
    for images, targets in tqdm(loader, desc=desc, disable=len(loader) < 20, leave=False):
        try:
            outputs = run(images)
        except torch.cuda.OutOfMemoryError as e:
            raise RuntimeError(
                f"{desc}: CUDA out of memory at batch size {batch_size} on {device}; lower the case's "
                f"batch_size in zoo/families/<family>/cases.py or use a GPU with more memory") from e
        if len(samples) < FIDELITY_SAMPLES and kept_values < FIDELITY_MAX_VALUES:
            kept = outputs if fidelity_outputs is None else tuple(outputs[i] for i in fidelity_outputs)
            raw.append(tuple(o[:FIDELITY_SAMPLES - len(samples)] for o in kept))
            kept_values += sum(o.size for o in raw[-1])
        samples.extend(reduce(outputs, targets))
    # flattened: utterances (or images) of different sizes still give one vector per output
    return Predictions(samples, tuple(np.concatenate([p.ravel() for p in parts]) for parts in zip(*raw)))


def loader_workers(samples: int) -> int:
    """Decode images in parallel for real datasets; tiny embedded sets are faster in-process."""
    import os

    return 0 if samples < 256 else min(8, os.cpu_count() or 1)


def peak_memory_mb(device: torch.device) -> dict:
    """Peak resident memory of this test (the run guard resets the high-water mark when a test starts;
    outside pytest it is the process's), and the CUDA peak where a GPU ran."""
    peak = {"host_peak_rss_mb": memory.mb(memory.peak_bytes())}
    if device.type == "cuda":
        peak["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return peak


def versions(backend) -> dict:
    from importlib.metadata import version

    found = {"aimet_torch": version("aimet-torch"), "torch": torch.__version__, "python": platform.python_version()}
    found.update({name.replace("-", "_"): version(name) for name in backend.PACKAGES})
    return found


def measure(case, inputs: CaseInputs, device: torch.device, workdir: Path, expected_samples: int | None,
            fp32_cache: Fp32Cache | None = None, subset: int | None = None) -> Outcome:
    """Run ``case`` end to end. Raises on bad data/weights; never skips (that is decided earlier)."""
    timer, spec, recipe = StepTimer(), MODELS[case.model], case.recipe
    backend = BACKENDS[case.framework]
    info: dict = {"knobs": recipe.knobs(), "device": str(device), "versions": versions(backend)}
    with timer("load"):
        if inputs.checkpoint is not None:
            info["checkpoint_sha256"] = verify(inputs.checkpoint, case.checkpoint)
        subset = case.eval_samples or subset
        dataset = select_samples(open_dataset(case.dataset, inputs.data_dir, spec.preprocess), case.id,
                                 inputs.data_dir or "the embedded fixture", expected_samples, subset)
        info["subset"] = subset
        calibration = dataset.calibration_images(recipe.calibration_images, recipe.seed)
        backend.seed(recipe.seed)
        seeded = recipe.seed if case.checkpoint.location == "deterministic" else None
        model, weights_note = backend.prepare(spec.build(inputs.checkpoint), device, calibration, seeded)
        if weights_note:
            info["weights"] = weights_note
    reduce = spec.reduce or split_samples
    fp32_cache = fp32_cache or Fp32Cache(None)
    key = fp32_key(case, info.get("checkpoint_sha256"), dataset.fingerprint(), device)
    with timer("fp32_eval"):
        fp32 = fp32_cache.load(key)
        info["fp32_from_cache"] = fp32 is not None
        if fp32 is None:
            fp32 = predict(backend.runner(model, device), dataset, case.batch_size, device, f"{case.id} fp32",
                           reduce, spec.fidelity_outputs)
            fp32_cache.store(key, fp32)
    with timer("quantize"), recipe_threads(device):
        training = dataset.training_pairs(recipe.qat_samples, recipe.seed) if case.fine_tunes else None
        quantized = backend.quantize(model, spec, recipe, calibration, device, workdir, training)
    with timer("quantized_eval"):
        quant = predict(quantized.run, dataset, case.batch_size, device, f"{case.id} quantized", reduce,
                        spec.fidelity_outputs)
    with timer("score"):
        scores = scorer(case.task)(dataset, fp32, quant)
    per_sample = {"sample_ids": np.array(dataset.sample_ids()), **scores.per_sample}
    info.update(
        backend=quantized.backend, techniques_applied=quantized.applied,
        techniques_unavailable=quantized.unavailable, quantsim_config=quantized.config_file,
        encodings_sha256=quantized.encodings_sha256, qat_training_losses=quantized.training_losses,
        seconds=timer.seconds, peak_memory=peak_memory_mb(device),
    )
    layers = {"backend": quantized.backend, "quantizers": quantized.quantizers,
              "layer_sqnr_db": quantized.layer_sqnr_db}
    return Outcome(Measurement(len(dataset), scores.fp32, scores.quantized), info, per_sample, layers)
