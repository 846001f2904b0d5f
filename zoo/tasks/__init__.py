"""Task scorers: turn FP32 and quantized predictions into metrics and per-sample outcomes.

A scorer is ``score(dataset, fp32: Predictions, quantized: Predictions) -> Scores``; it reads the
ground truth through the dataset's accessors. Scorers are named ``module:callable`` and imported
only when a case of the task runs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

# raw model outputs kept per side for output-fidelity metrics (SQNR) of tasks whose
# per-sample predictions are reduced (boxes, masks, transcripts)
FIDELITY_SAMPLES = 32
FIDELITY_MAX_VALUES = 2**24  # per side; segmentation logits at 513 x 513 fill this after 3 images


@dataclass
class Predictions:
    """One side's outputs: per sample, the model spec's reduced outputs; plus the raw outputs of the
    first FIDELITY_SAMPLES samples, flattened (one vector per model output)."""

    samples: list[tuple[np.ndarray, ...]]
    raw: tuple[np.ndarray, ...] = ()

    def __len__(self):
        return len(self.samples)

    def stacked(self, output: int = 0) -> np.ndarray:
        """Output ``output`` of every sample stacked on a new first axis (equal shapes required)."""
        return np.stack([sample[output] for sample in self.samples])


@dataclass
class Scores:
    fp32: dict
    quantized: dict
    per_sample: dict = field(default_factory=dict)


TASKS = {
    "classification": "zoo.tasks.classification:score",
    "detection": "zoo.tasks.detection:score",
    "coco_detection": "zoo.tasks.coco_detection:score",
    "segmentation": "zoo.tasks.segmentation:score",
    "super_resolution": "zoo.tasks.super_resolution:score",
    "speech": "zoo.tasks.speech:score",
    "pose": "zoo.tasks.pose:score",
}


def scorer(task: str):
    try:
        module, _, attribute = TASKS[task].partition(":")
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {sorted(TASKS)} (zoo/tasks/__init__.py)") from None
    return getattr(importlib.import_module(module), attribute)


def raw_fidelity(fp32: Predictions, quantized: Predictions) -> dict:
    """SQNR of the quantized raw outputs against FP32's, all outputs flattened together."""
    from zoo.metrics.classification import sqnr_db

    if not fp32.raw:
        return {}
    return {"sqnr_db": sqnr_db(np.concatenate(fp32.raw), np.concatenate(quantized.raw))}
