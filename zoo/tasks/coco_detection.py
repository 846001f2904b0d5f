"""Detection on COCO: box AP/AR through pycocotools COCOeval (``iouType='bbox'``), as fractions.

Each sample's prediction is the model spec's decoded detections ``(boxes, category_ids, scores)``:
boxes [K, 4] as (x1, y1, x2, y2) in the original image's pixels, COCO category ids, scores. They
become COCO results with ``bbox = [x1, y1, x2 - x1, y2 - y1]`` (keras-retinanet's coco_eval and the
TF object detection API's COCO tools both do so). The dataset gives ``image_ids()`` and its
``ground_truth`` (an instances JSON path or dict).
"""
from __future__ import annotations

import numpy as np

from zoo.metrics.coco import coco_bbox_evaluation, matching_arrays
from zoo.tasks import Predictions, Scores, raw_fidelity

# the seed's RetinaNet table reports all twelve COCOeval numbers; they are recorded per row as bbox_<stat>
METRIC_PREFIX = "bbox_"


def coco_results(predictions: Predictions, image_ids: list[int]) -> list[dict]:
    results = []
    for (boxes, categories, scores), image_id in zip(predictions.samples, image_ids, strict=True):
        for (x1, y1, x2, y2), category, score in zip(np.asarray(boxes, dtype=np.float64), categories, scores):
            results.append({"image_id": int(image_id), "category_id": int(category),
                            "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], "score": float(score)})
    return results


def _metrics(dataset, predictions: Predictions) -> tuple[dict, dict]:
    """The bbox_<stat> metrics and the per-detection matching arrays (for a paired bootstrap of AP)."""
    ids = dataset.image_ids()
    stats, matches = coco_bbox_evaluation(dataset.ground_truth, coco_results(predictions, ids), ids)
    return {f"{METRIC_PREFIX}{name}": value for name, value in stats.items()}, matching_arrays(matches, ids, "coco")


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    per_sample = {f"{side}.detections": np.array([len(s[0]) for s in p.samples])
                  for side, p in (("fp32", fp32), ("quantized", quantized))}
    quant_metrics, matching = _metrics(dataset, quantized)
    per_sample.update({f"quantized.{name}": values for name, values in matching.items()})
    return Scores(_metrics(dataset, fp32)[0], {**quant_metrics, **raw_fidelity(fp32, quantized)}, per_sample)
