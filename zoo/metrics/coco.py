"""COCO AP/AR through pycocotools' ``COCOeval``: boxes (``iouType='bbox'``) and person keypoints (``'keypoints'``).

Values are COCOeval's ``stats`` in [0, 1]. COCOeval reports -1 for an area range without any
ground truth (e.g. ``ap_small`` when every object is large) and 0 where objects exist but nothing
was detected; an empty result list follows the same rule instead of crashing in ``COCO.loadRes``
(which indexes ``anns[0]``).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import Any

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

GroundTruth = Mapping[str, Any] | str | PathLike

# Order of COCOeval.summarize()'s ``stats`` per iouType
BBOX_STATS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large",
              "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")
KEYPOINT_STATS = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")
STATS = {"bbox": BBOX_STATS, "keypoints": KEYPOINT_STATS}


def load_ground_truth(gt: GroundTruth) -> COCO:
    if isinstance(gt, Mapping):
        dataset = copy.deepcopy(dict(gt))  # COCOeval writes 'ignore' into the annotations
    else:
        with open(gt) as f:
            dataset = json.load(f)
    missing = [key for key in ("images", "annotations", "categories") if key not in dataset]
    if missing:
        raise ValueError(f"COCO ground truth lacks {missing}; expected a COCO annotation file")
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def _empty_results(gt: COCO) -> COCO:
    coco = COCO()
    coco.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                    "annotations": []}
    coco.createIndex()
    return coco


def _evaluated_ids(image_ids: Iterable[int] | None, gt_image_ids: set[int]) -> list[int]:
    if image_ids is None:
        return sorted(gt_image_ids)
    ids = sorted(set(image_ids))
    unknown = sorted(set(ids) - gt_image_ids)
    if unknown:
        raise ValueError(f"image ids not in the ground truth: {unknown[:10]}")
    if not ids:
        raise ValueError("image_ids is empty; pass None to evaluate every ground-truth image")
    return ids


def coco_stats(gt: GroundTruth, results: Sequence[Mapping[str, Any]], iou_type: str, check_result,
               image_ids: Iterable[int] | None = None) -> dict[str, float]:
    """COCOeval's summary over ``image_ids`` (default: every ground-truth image), keyed by ``STATS[iou_type]``.

    ``check_result(i, result)`` raises ValueError for a malformed result."""
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary table
        coco_gt = load_ground_truth(gt)
        gt_image_ids = set(coco_gt.getImgIds())
        for i, result in enumerate(results):
            check_result(i, result)
        unknown = sorted({r["image_id"] for r in results} - gt_image_ids)
        if unknown:
            raise ValueError(f"results name image ids not in the ground truth: {unknown[:10]}")
        evaluated = _evaluated_ids(image_ids, gt_image_ids)
        coco_dt = coco_gt.loadRes(copy.deepcopy(list(results))) if results else _empty_results(coco_gt)
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        evaluator.params.imgIds = evaluated
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(STATS[iou_type], evaluator.stats, strict=True)}


def _check_box_result(i: int, result: Mapping[str, Any]) -> None:
    missing = [key for key in ("image_id", "category_id", "bbox", "score") if key not in result]
    if missing:
        raise ValueError(f"box result {i} lacks {missing}")
    if len(result["bbox"]) != 4:
        raise ValueError(f"box result {i} has {len(result['bbox'])} bbox values; expected [x, y, width, height]")


def coco_bbox_stats(gt: GroundTruth, results: Sequence[Mapping[str, Any]],
                    image_ids: Iterable[int] | None = None) -> dict[str, float]:
    """COCO box AP/AR (keyed by BBOX_STATS) of results ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``."""
    return coco_stats(gt, results, "bbox", _check_box_result, image_ids)
