"""Detection on VOC: mAP at IoU 0.5, VOC2007 11-point and all-point, difficult objects ignored.

Each sample's prediction is the model spec's decoded detections ``(boxes, labels, scores)``:
boxes as fractions of the image (x1, y1, x2, y2, 0-based), labels 1..20 (0 = background),
the source's ``Predictor.predict`` output before scaling to pixels.
"""
from __future__ import annotations

import numpy as np

from zoo.metrics.detection import ImageDetections, MatchedDetections, matched_detections, mean_of_class_aps
from zoo.tasks import Predictions, Scores, raw_fidelity

VOC_FOREGROUND_CLASSES = 20


def to_pixels(prediction: tuple[np.ndarray, ...], width: int, height: int) -> ImageDetections:
    """Fractional 0-based boxes -> the metric's 1-based inclusive pixels (eval_ssd.py adds 1, as the XML)."""
    boxes, labels, scores = prediction
    scale = np.array([width, height, width, height], dtype=np.float64)
    return ImageDetections(np.asarray(boxes, dtype=np.float64) * scale + 1.0, np.asarray(labels, dtype=np.int64) - 1,
                           np.asarray(scores, dtype=np.float64))


def matching(predictions: Predictions, ground_truths, sizes) -> MatchedDetections:
    detections = [to_pixels(p, w, h) for p, (w, h) in zip(predictions.samples, sizes)]
    return matched_detections(detections, ground_truths, VOC_FOREGROUND_CLASSES)


def _metrics(matches: MatchedDetections) -> dict:
    return {"map_voc07": mean_of_class_aps(matches, use_07_metric=True),
            "map_voc": mean_of_class_aps(matches, use_07_metric=False)}


def matching_arrays(m: MatchedDetections) -> dict[str, np.ndarray]:
    """The quantized side's per-detection matching, so that a paired bootstrap over images can recompute mAP."""
    return {"quantized.voc.images": m.images, "quantized.voc.labels": m.labels, "quantized.voc.tp": m.tp,
            "quantized.voc.fp": m.fp, "voc.positives": m.positives}


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    ground_truths, sizes = dataset.ground_truths(), dataset.image_sizes()
    fp32_matches, quantized_matches = matching(fp32, ground_truths, sizes), matching(quantized, ground_truths, sizes)
    per_sample = {"fp32.detections": np.array([len(p[0]) for p in fp32.samples]),
                  "quantized.detections": np.array([len(p[0]) for p in quantized.samples]),
                  **matching_arrays(quantized_matches)}
    return Scores(_metrics(fp32_matches), {**_metrics(quantized_matches), **raw_fidelity(fp32, quantized)}, per_sample)
