"""What every backend offers the pipeline (the ``Backend`` protocol) and what a quantized model is."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

# an NCHW float batch (what every dataset yields) -> the model's outputs as a tuple of numpy arrays
Runner = Callable[[torch.Tensor], tuple[np.ndarray, ...]]


@dataclass
class Quantized:
    """A quantized model's runner and the recipe layer's account of what was done."""

    run: Runner
    backend: str
    applied: list[str]
    unavailable: dict[str, str]
    config_file: str
    encodings_sha256: str
    training_losses: list[float] = field(default_factory=list)  # per quantization-aware training step
    quantizers: list[dict] = field(default_factory=list)  # every enabled quantizer with its encodings
    layer_sqnr_db: dict[str, float] | None = None  # per quantized module; None where the backend cannot measure it


class Backend(Protocol):
    """The steps of a case, in the order the pipeline calls them (zoo/pipeline.py ``measure``)."""

    name: str
    PACKAGES: tuple[str, ...]  # distributions whose versions each row records, beyond aimet-torch and torch

    def seed(self, seed: int) -> None:
        """Seed the framework's generators, so seeded weights and calibration are reproducible."""

    def prepare(self, model, device: torch.device, calibration: list[torch.Tensor], seed: int | None):
        """The built model ready to evaluate on ``device``, and a note on its weights (None: as loaded);
        ``seed`` is set where the weights are seeded rather than loaded (smoke cases)."""

    def runner(self, model, device: torch.device) -> Runner:
        """Evaluate the FP32 model on a batch."""

    def export(self, model, spec):
        """The model in the form the recipe layer quantizes (torch: itself; Keras: an ONNX ModelProto)."""

    def quantize(self, model, spec, recipe, calibration: list[torch.Tensor], device: torch.device,
                 workdir: Path, training: list | None = None) -> Quantized:
        """Apply the AIMET recipe; the result's runner evaluates the quantization-simulated model. ``training``:
        (input, target) pairs of a training split, for quantization-aware training."""


def numpy_tuple(outputs) -> tuple[np.ndarray, ...]:
    if not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    return tuple(o.detach().float().cpu().numpy() if isinstance(o, torch.Tensor) else np.asarray(o)
                 for o in outputs)
