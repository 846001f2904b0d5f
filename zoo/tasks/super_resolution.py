"""Super-resolution: PSNR and SSIM on the BT.601 Y channel, borders shaved by the scale (mmsr's
``crop_border = scale``), averaged over images; plus FP32-vs-quantized output fidelity.

Each sample's prediction is the model spec's super-resolved image as uint8 RGB [H, W, 3]; the
dataset gives the HR image of the same size through ``hr_image(i)`` and its ``scale``.
"""
from __future__ import annotations

import numpy as np

from zoo.metrics.image_quality import psnr_y, ssim_y
from zoo.tasks import Predictions, Scores, raw_fidelity


def _per_image(dataset, predictions: Predictions) -> dict[str, np.ndarray]:
    pairs = [(sample[0], dataset.hr_image(i)) for i, sample in enumerate(predictions.samples)]
    return {"psnr_y": np.array([psnr_y(sr, hr, shave=dataset.scale) for sr, hr in pairs]),
            "ssim_y": np.array([ssim_y(sr, hr, shave=dataset.scale) for sr, hr in pairs])}


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    sides = {"fp32": _per_image(dataset, fp32), "quantized": _per_image(dataset, quantized)}
    means = {side: {name: float(values.mean()) for name, values in per_image.items()}
             for side, per_image in sides.items()}
    means["quantized"].update(raw_fidelity(fp32, quantized))
    per_sample = {f"{side}.{name}": values for side, per_image in sides.items() for name, values in per_image.items()}
    return Scores(means["fp32"], means["quantized"], per_sample)


def rgb01_to_uint8(outputs: tuple[np.ndarray, ...], _targets=None) -> list[tuple[np.ndarray]]:
    """Model spec reduction for SR nets that output RGB in [0, 1], NCHW (mmsr): clamp, x255, round, HWC uint8."""
    images = np.clip(outputs[0], 0.0, 1.0) * 255.0
    return [(np.round(image).astype(np.uint8).transpose(1, 2, 0),) for image in images]


def rgb255_nhwc_to_uint8(outputs: tuple[np.ndarray, ...], _targets=None) -> list[tuple[np.ndarray]]:
    """Model spec reduction for SR nets that output RGB on 0..255, NHWC (krasserm's Keras generator)."""
    return [(np.round(np.clip(image, 0.0, 255.0)).astype(np.uint8),) for image in outputs[0]]
