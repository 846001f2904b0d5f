"""Human pose: COCO keypoint AP and AR (OKS, pycocotools COCOeval ``iouType='keypoints'``), as fractions.

Each sample's prediction is the model spec's decoded people: keypoints [K, 51] (x, y, v per COCO
keypoint, in the original image's pixels) and scores [K]. The dataset gives ``image_ids()`` and its
``ground_truth`` (a person_keypoints JSON path or dict).
"""
from __future__ import annotations

import numpy as np

from zoo.metrics.coco import matching_arrays
from zoo.metrics.keypoints import coco_keypoint_evaluation
from zoo.tasks import Predictions, Scores, raw_fidelity

PERSON = 1


def people_arrays(results: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """COCO result dicts of one image -> (keypoints [K, 51], scores [K]) for the predictions store."""
    keypoints = np.array([r["keypoints"] for r in results], dtype=np.float64).reshape(len(results), 51)
    return keypoints, np.array([r["score"] for r in results], dtype=np.float64)


def coco_results(predictions: Predictions, image_ids: list[int]) -> list[dict]:
    return [{"image_id": int(image_id), "category_id": PERSON, "keypoints": person.tolist(), "score": float(score)}
            for (keypoints, scores), image_id in zip(predictions.samples, image_ids)
            for person, score in zip(keypoints, scores)]


def _metrics(dataset, predictions: Predictions) -> tuple[dict, dict]:
    """kp_ap and kp_ar, and the per-person OKS matching arrays (for a paired bootstrap of keypoint AP)."""
    ids = dataset.image_ids()
    stats, matches = coco_keypoint_evaluation(dataset.ground_truth, coco_results(predictions, ids), ids)
    return {"kp_ap": stats["ap"], "kp_ar": stats["ar"]}, matching_arrays(matches, ids, "oks")


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    per_sample = {f"{side}.people": np.array([len(s[1]) for s in p.samples])
                  for side, p in (("fp32", fp32), ("quantized", quantized))}
    quant_metrics, matching = _metrics(dataset, quantized)
    per_sample.update({f"quantized.{name}": values for name, values in matching.items()})
    return Scores(_metrics(dataset, fp32)[0], {**quant_metrics, **raw_fidelity(fp32, quantized)}, per_sample)
