"""Semantic segmentation metrics from a confusion matrix accumulated over the whole dataset.

mIoU is computed once from the dataset-level matrix (the VOC / torchvision-reference
convention), not averaged over per-image IoUs.
"""
from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    """matrix[target, pred] pixel counts; pixels whose target is ``ignore_index`` are skipped."""

    def __init__(self, num_classes: int = 21, ignore_index: int = 255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {pred.shape} but target shape {target.shape}")
        keep = target != self.ignore_index
        pred, target = pred[keep].astype(np.int64), target[keep].astype(np.int64)
        for name, values in (("target", target), ("prediction", pred)):
            if values.size and (values.min() < 0 or values.max() >= self.num_classes):
                raise ValueError(f"{name} holds class {values.min() if values.min() < 0 else values.max()} outside "
                                 f"0..{self.num_classes - 1} (ignore {self.ignore_index}); a mask read as RGB, "
                                 f"or logits not argmax-ed?")
        n = self.num_classes
        self.matrix += np.bincount(n * target + pred, minlength=n * n).reshape(n, n)

    def _require_pixels(self) -> None:
        if self.matrix.sum() == 0:
            raise ValueError("no labelled pixels accumulated; call update() with at least one non-ignored pixel")

    def iou_per_class(self) -> np.ndarray:
        """IoU in percent per class; NaN for a class absent from both ground truth and prediction."""
        self._require_pixels()
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, 100.0 * tp / union, np.nan)

    def miou(self) -> float:
        """Mean IoU in percent over the classes present in ground truth or prediction."""
        return float(np.nanmean(self.iou_per_class()))

    def pixel_accuracy(self) -> float:
        """Percent of non-ignored pixels whose predicted class is right."""
        self._require_pixels()
        return 100.0 * float(np.diag(self.matrix).sum() / self.matrix.sum())


def miou_of_matrices(matrices: np.ndarray) -> np.ndarray:
    """``ConfusionMatrix.miou`` of each matrix in a stack [..., C, C] (e.g. bootstrap resamples' summed
    per-image matrices) -> [...] percent."""
    matrices = np.asarray(matrices, dtype=np.float64)
    tp = np.diagonal(matrices, axis1=-2, axis2=-1)
    union = matrices.sum(axis=-2) + matrices.sum(axis=-1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, 100.0 * tp / union, np.nan)
        return np.nanmean(iou, axis=-1)
