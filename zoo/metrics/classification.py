"""Classification metrics on per-sample outputs. Label sets allow several acceptable classes."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def topk_correct(logits: np.ndarray, label_sets: Sequence[frozenset[int]], k: int) -> np.ndarray:
    """Boolean per sample: does any of the k highest-scoring classes lie in the sample's label set."""
    if len(logits) != len(label_sets):
        raise ValueError(f"{len(logits)} outputs but {len(label_sets)} label sets")
    topk = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return np.array([bool(labels.intersection(row.tolist())) for row, labels in zip(topk, label_sets)])


def topk_accuracy(logits: np.ndarray, label_sets: Sequence[frozenset[int]], k: int) -> float:
    """Top-k accuracy in percent."""
    return 100.0 * float(topk_correct(logits, label_sets, k).mean())


def top1_agreement(reference_logits: np.ndarray, logits: np.ndarray) -> float:
    """Percent of samples whose top-1 class matches the reference's top-1 class."""
    return 100.0 * float((reference_logits.argmax(axis=1) == logits.argmax(axis=1)).mean())


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``test`` against ``reference`` in dB."""
    reference = reference.astype(np.float64)
    noise = float(np.sum((reference - test.astype(np.float64)) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0.0:
        return float("inf")
    return float(10.0 * np.log10(signal / noise))


def per_sample_sqnr_db(reference: np.ndarray, test: np.ndarray) -> np.ndarray:
    """SQNR of each sample's output vector in dB (inf where a sample's output is unchanged)."""
    reference = reference.astype(np.float64)
    noise = np.sum((reference - test.astype(np.float64)) ** 2, axis=1)
    signal = np.sum(reference**2, axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(signal / noise)
