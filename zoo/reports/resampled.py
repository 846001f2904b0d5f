"""Paired bootstrap over samples of each task's own metric, recomputed per resample from per-sample parts.

A resample draws the case's samples with replacement; the same draw weights both runs, so the interval is
that of the paired difference new - base. Each task metric is recomputed from what the task scorer wrote per
sample (zoo/tasks/): mIoU from per-image confusion matrices, VOC mAP and COCO box/keypoint AP from the
per-detection matching with every image weighted by its draw count, WER as total word edits over total
reference words, PSNR/SSIM as the mean over images. With every weight 1 each reproduces the row's metric
(tests/test_resampled.py checks it against the metric code).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from zoo.metrics.coco import from_matching_arrays, resampled_ap
from zoo.metrics.detection import MatchedDetections, resampled_map
from zoo.metrics.segmentation import miou_of_matrices

# values drawn per bootstrap chunk (indices or draw counts [R, N]), so 50 000 samples x 10 000 resamples or a
# 5000-image detection set do not need gigabytes at once
CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class ResampledMetric:
    metric: str  # the row's metric it recomputes
    needs: tuple[str, ...]  # per-sample arrays, all present in both runs' files
    value: Callable[[dict, np.ndarray], np.ndarray]  # (arrays, weights [R, N]) -> [R]
    max_resamples: int | None = None  # AP recomputation is costlier per resample


@dataclass(frozen=True)
class MetricBootstrap:
    metric: str
    base: float
    new: float
    ci_low: float  # of new - base
    ci_high: float
    p_value: float
    samples: int
    resamples: int  # resamples where both values are defined
    seed: int

    @property
    def delta(self) -> float:
        return self.new - self.base


def mean_of(key: str, arrays: dict, weights: np.ndarray) -> np.ndarray:
    values = np.asarray(arrays[key], dtype=np.float64)
    return weights @ values / weights.sum(axis=1)


def percent_of(key: str, arrays: dict, weights: np.ndarray) -> np.ndarray:
    return 100.0 * mean_of(key, arrays, weights)


def word_error_rate(arrays: dict, weights: np.ndarray) -> np.ndarray:
    words = weights @ np.asarray(arrays["reference_words"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(words > 0, 100.0 * (weights @ np.asarray(arrays["quantized.word_edits"], np.float64)) / words,
                        np.nan)


def miou(arrays: dict, weights: np.ndarray) -> np.ndarray:
    confusion = np.asarray(arrays["quantized.confusion"], dtype=np.float64)
    n, classes = confusion.shape[0], confusion.shape[-1]
    summed = weights @ confusion.reshape(n, classes * classes)
    return miou_of_matrices(summed.reshape(-1, classes, classes))


VOC_KEYS = ("quantized.voc.images", "quantized.voc.labels", "quantized.voc.tp", "quantized.voc.fp", "voc.positives")


def voc_map(use_07_metric: bool, arrays: dict, weights: np.ndarray) -> np.ndarray:
    matches = MatchedDetections(*(np.asarray(arrays[key]) for key in VOC_KEYS))
    return resampled_map(matches, weights, use_07_metric)


def coco_keys(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{name}" for name in ("images", "categories", "scores", "matched", "ignored", "gt_counts"))


def coco_ap(prefix: str, arrays: dict, weights: np.ndarray) -> np.ndarray:
    """COCO AP as the rows store it: a fraction."""
    return resampled_ap(from_matching_arrays(arrays, prefix), weights)


AP_RESAMPLES = 2_000
RESAMPLED_METRICS = (
    # top-1 has its exact McNemar test; these are the classification metrics it does not cover
    ResampledMetric("top5", ("quantized.top5_correct",), partial(percent_of, "quantized.top5_correct")),
    ResampledMetric("agreement_top1", ("quantized.agrees_top1",), partial(percent_of, "quantized.agrees_top1")),
    ResampledMetric("agreement_pixels", ("quantized.agreement_pixels",), partial(mean_of, "quantized.agreement_pixels")),
    ResampledMetric("psnr_y", ("quantized.psnr_y",), partial(mean_of, "quantized.psnr_y")),
    ResampledMetric("ssim_y", ("quantized.ssim_y",), partial(mean_of, "quantized.ssim_y")),
    ResampledMetric("wer", ("quantized.word_edits", "reference_words"), word_error_rate),
    ResampledMetric("miou", ("quantized.confusion",), miou),
    ResampledMetric("map_voc07", VOC_KEYS, partial(voc_map, True), AP_RESAMPLES),
    ResampledMetric("map_voc", VOC_KEYS, partial(voc_map, False), AP_RESAMPLES),
    ResampledMetric("bbox_ap", coco_keys("quantized.coco"), partial(coco_ap, "quantized.coco"), AP_RESAMPLES),
    ResampledMetric("kp_ap", coco_keys("quantized.oks"), partial(coco_ap, "quantized.oks"), AP_RESAMPLES),
)


def applicable(base: dict, new: dict) -> list[ResampledMetric]:
    return [m for m in RESAMPLED_METRICS if all(key in base and key in new for key in m.needs)]


def draw_weights(samples: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw counts [resamples, samples] of ``resamples`` bootstrap resamples."""
    draws = rng.integers(0, samples, size=(resamples, samples)) + samples * np.arange(resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=resamples * samples).reshape(resamples, samples).astype(np.float64)


def interval_and_p(differences: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Percentile interval of bootstrap differences (new - base) and the two-sided p: twice the smaller share of
    resamples at or beyond zero, with the +1 correction."""
    low, high = np.quantile(differences, [alpha / 2, 1 - alpha / 2])
    tail = min(np.sum(differences <= 0), np.sum(differences >= 0))
    return float(low), float(high), float(min(1.0, 2.0 * (tail + 1) / (differences.size + 1)))


def paired_metric_bootstrap(metric: ResampledMetric, base: dict, new: dict, samples: int, alpha: float,
                            resamples: int, seed: int) -> MetricBootstrap:
    """Bootstrap of ``metric``'s paired difference new - base; two-sided p as the SQNR bootstrap's."""
    resamples = min(resamples, metric.max_resamples or resamples)
    everyone = np.ones((1, samples))
    observed_base, observed_new = float(metric.value(base, everyone)[0]), float(metric.value(new, everyone)[0])
    rng, differences = np.random.default_rng(seed), []
    # a resample's cost grows with the largest per-sample array (detections for mAP, not images)
    largest = max([samples] + [len(np.asarray(base[key])) for key in metric.needs])
    chunk = max(1, CHUNK_ELEMENTS // largest)
    for start in range(0, resamples, chunk):
        weights = draw_weights(samples, min(chunk, resamples - start), rng)
        differences.append(metric.value(new, weights) - metric.value(base, weights))
    differences = np.concatenate(differences)
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return MetricBootstrap(metric.metric, observed_base, observed_new, float("nan"), float("nan"), 1.0, samples,
                               0, seed)
    low, high, p_value = interval_and_p(differences, alpha)
    return MetricBootstrap(metric.metric, observed_base, observed_new, low, high, p_value, samples,
                           int(differences.size), seed)
