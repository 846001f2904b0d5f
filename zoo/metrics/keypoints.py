"""COCO keypoint AP/AR (person keypoints, OKS) through pycocotools' ``COCOeval(iouType='keypoints')``.

Values are COCOeval's ``stats`` in [0, 1], with zoo.metrics.coco's conventions for empty results
and area ranges without ground truth.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zoo.metrics.coco import KEYPOINT_STATS, GroundTruth, MatchedDetections, coco_evaluation

__all__ = ["KEYPOINT_STATS", "NUM_KEYPOINTS", "coco_keypoint_evaluation", "coco_keypoint_stats"]

NUM_KEYPOINTS = 17  # COCOeval's OKS sigmas are defined for the 17 COCO person keypoints


def _check_keypoint_result(i: int, result: Mapping[str, Any]) -> None:
    missing = [key for key in ("image_id", "category_id", "keypoints", "score") if key not in result]
    if missing:
        raise ValueError(f"keypoint result {i} lacks {missing}")
    if len(result["keypoints"]) != 3 * NUM_KEYPOINTS:
        raise ValueError(
            f"keypoint result {i} has {len(result['keypoints'])} keypoint values; "
            f"expected {3 * NUM_KEYPOINTS} ([x, y, v] for each of the {NUM_KEYPOINTS} COCO keypoints)"
        )


def coco_keypoint_evaluation(gt: GroundTruth, results: Sequence[Mapping[str, Any]],
                             image_ids: Iterable[int] | None = None) -> tuple[dict[str, float], MatchedDetections]:
    """COCO keypoint AP/AR over ``image_ids`` (default: every ground-truth image), keyed by KEYPOINT_STATS, and
    the per-detection OKS matching."""
    return coco_evaluation(gt, results, "keypoints", _check_keypoint_result, image_ids)


def coco_keypoint_stats(gt: GroundTruth, results: Sequence[Mapping[str, Any]],
                        image_ids: Iterable[int] | None = None) -> dict[str, float]:
    return coco_keypoint_evaluation(gt, results, image_ids)[0]
