"""The PyTorch half's backend: models run as they are, quantized with aimet-torch (zoo/recipes/torch_ptq.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.backends.common import Quantized, Runner, numpy_tuple


def recalibrate_batchnorm(model: nn.Module, images: list[torch.Tensor], batch_size: int = 16) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``images`` (cumulative average).

    Seeded random weights give activations that shrink layer by layer to ~1e-9 at the
    logits of a deep network, which quantizes to zero; with statistics measured on real
    images every BN output is normalized again, so the network is well-conditioned.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    if len({tuple(image.shape) for image in images}) > 1:
        batch_size = 1  # inputs of different lengths (utterances) cannot share a batch
    model.train()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            model(torch.stack(images[i:i + batch_size]))
    return model.eval()


class TorchBackend:
    name = "torch"
    PACKAGES = ()  # aimet-torch and torch are recorded for every case

    @staticmethod
    def seed(seed: int) -> None:
        torch.manual_seed(seed)

    @staticmethod
    def prepare(model: nn.Module, device: torch.device, calibration: list[torch.Tensor], seed: int | None):
        note = None
        if seed is not None:
            recalibrate_batchnorm(model, calibration)
            note = (f"torch.manual_seed({seed}) init, BatchNorm statistics recalibrated on the {len(calibration)} "
                    f"calibration samples")
        return model.to(device), note

    @staticmethod
    def runner(model: nn.Module, device: torch.device) -> Runner:
        model.eval()

        def run(batch: torch.Tensor) -> tuple[np.ndarray, ...]:
            with torch.no_grad():
                return numpy_tuple(model(batch.to(device)))

        return run

    @staticmethod
    def export(model, spec):
        return model

    @classmethod
    def quantize(cls, model, spec, recipe, calibration, device, workdir: Path, training=None) -> Quantized:
        from zoo.recipes.torch_ptq import quantize

        q = quantize(cls.export(model, spec), recipe, calibration, device, workdir, training, spec.loss,
                     spec.fold_weights)
        return Quantized(cls.runner(q.model, device), q.backend, q.applied, q.unavailable, q.config_file,
                         q.encodings_sha256, q.training_losses, q.quantizers, q.layer_sqnr_db)
