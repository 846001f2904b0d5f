"""Semantic segmentation on VOC: mIoU and pixel accuracy from dataset-level confusion matrices.

Each sample's prediction is the argmax class mask (uint8) at the scored mask's size.
"""
from __future__ import annotations

import numpy as np

from zoo.metrics.segmentation import ConfusionMatrix
from zoo.tasks import Predictions, Scores, raw_fidelity

VOC_CLASSES_WITH_BACKGROUND = 21


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    matrices = {"fp32": ConfusionMatrix(VOC_CLASSES_WITH_BACKGROUND), "quantized": ConfusionMatrix(VOC_CLASSES_WITH_BACKGROUND)}
    agreement, per_image = [], []
    for i, ((reference,), (test,)) in enumerate(zip(fp32.samples, quantized.samples)):
        target = dataset.target_mask(i)
        matrices["fp32"].update(reference, target)
        image = ConfusionMatrix(VOC_CLASSES_WITH_BACKGROUND)
        image.update(test, target)
        matrices["quantized"].matrix += image.matrix
        per_image.append(image.matrix.astype(np.int32))  # 513 x 513 pixels fit
        agreement.append(100.0 * float(np.mean(reference == test)))
    metrics = {side: {"miou": m.miou(), "pixel_acc": m.pixel_accuracy()} for side, m in matrices.items()}
    metrics["quantized"].update(agreement_pixels=float(np.mean(agreement)), **raw_fidelity(fp32, quantized))
    # per-image confusion matrices, so that a paired bootstrap over images can recompute mIoU
    per_sample = {"quantized.agreement_pixels": np.array(agreement), "quantized.confusion": np.stack(per_image)}
    return Scores(metrics["fp32"], metrics["quantized"], per_sample)


def argmax_masks(outputs: tuple[np.ndarray, ...], _targets=None) -> list[tuple[np.ndarray]]:
    """The model spec reduction for segmentation logits [B, C, H, W]: one uint8 class mask per sample."""
    return [(mask,) for mask in outputs[0].argmax(axis=1).astype(np.uint8)]
