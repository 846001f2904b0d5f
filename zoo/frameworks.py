"""The two halves of the zoo behind one interface: run a model on a batch, quantize it with AIMET.

A runner maps an NCHW float batch (what every dataset yields) to the model's outputs as a tuple
of numpy arrays. torch models run as they are; Keras models take NHWC; the TensorFlow half is
quantized through ONNX (zoo/recipes/onnx_ptq.py), so its quantized runner is the aimet-onnx sim.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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


def _numpy_tuple(outputs) -> tuple[np.ndarray, ...]:
    if not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    return tuple(o.detach().float().cpu().numpy() if isinstance(o, torch.Tensor) else np.asarray(o)
                 for o in outputs)


class TorchFramework:
    name = "torch"

    @staticmethod
    def seed(seed: int) -> None:
        torch.manual_seed(seed)

    @staticmethod
    def runner(model: torch.nn.Module, device: torch.device) -> Runner:
        model.eval()

        def run(batch: torch.Tensor) -> tuple[np.ndarray, ...]:
            with torch.no_grad():
                return _numpy_tuple(model(batch.to(device)))

        return run

    @classmethod
    def quantize(cls, model, spec, recipe, calibration, device, workdir: Path) -> Quantized:
        from zoo.recipes.torch_ptq import quantize

        q = quantize(model, recipe, calibration, device, workdir)
        return Quantized(cls.runner(q.model, device), q.backend, q.applied, q.unavailable, q.config_file,
                         q.encodings_sha256)


class KerasFramework:
    name = "tensorflow"

    @staticmethod
    def seed(seed: int) -> None:
        """Keras initialisers draw from TensorFlow's generator: seeded weights for smoke cases."""
        from zoo.models.keras_efficientnet_lite import import_tensorflow

        import_tensorflow().keras.utils.set_random_seed(seed)
        torch.manual_seed(seed)

    @staticmethod
    def runner(model, device=None) -> Runner:
        def run(batch: torch.Tensor) -> tuple[np.ndarray, ...]:
            return _numpy_tuple(model(batch.numpy().transpose(0, 2, 3, 1), training=False))

        return run

    @staticmethod
    def quantize(model, spec, recipe, calibration, device, workdir: Path) -> Quantized:
        from zoo.recipes.onnx_ptq import keras_to_onnx, quantize

        q = quantize(keras_to_onnx(model, spec.input_size or None), recipe, calibration, workdir)
        return Quantized(lambda batch: tuple(q.run_all(batch.numpy())), q.backend, q.applied, q.unavailable,
                         q.config_file, q.encodings_sha256)


FRAMEWORKS = {f.name: f for f in (TorchFramework, KerasFramework)}
