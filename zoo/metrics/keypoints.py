"""COCO keypoint AP/AR (person keypoints, OKS) through pycocotools' ``COCOeval(iouType='keypoints')``.

Values are COCOeval's ``stats`` in [0, 1]. COCOeval reports -1 for an area range without any
ground-truth person (e.g. ``ap_medium`` when every person is large) and 0 where persons exist but
nothing was detected; an empty result list follows the same rule instead of crashing in
``COCO.loadRes`` (which indexes ``anns[0]``).
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

# Order of COCOeval.summarize()'s ``stats`` for iouType='keypoints' (maxDets=20, areas all/medium/large).
KEYPOINT_STATS = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")
NUM_KEYPOINTS = 17  # COCOeval's OKS sigmas are defined for the 17 COCO person keypoints


def _load_gt(gt: Mapping[str, Any] | str | PathLike) -> COCO:
    if isinstance(gt, Mapping):
        dataset = copy.deepcopy(dict(gt))  # COCOeval writes 'ignore' into the annotations
    else:
        with open(gt) as f:
            dataset = json.load(f)
    missing = [key for key in ("images", "annotations", "categories") if key not in dataset]
    if missing:
        raise ValueError(f"keypoint ground truth lacks {missing}; expected COCO person_keypoints format")
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def _check_results(results: Sequence[Mapping[str, Any]], gt_image_ids: set[int]) -> None:
    for i, result in enumerate(results):
        missing = [key for key in ("image_id", "category_id", "keypoints", "score") if key not in result]
        if missing:
            raise ValueError(f"keypoint result {i} lacks {missing}")
        if len(result["keypoints"]) != 3 * NUM_KEYPOINTS:
            raise ValueError(
                f"keypoint result {i} has {len(result['keypoints'])} keypoint values; "
                f"expected {3 * NUM_KEYPOINTS} ([x, y, v] for each of the {NUM_KEYPOINTS} COCO keypoints)"
            )
    unknown = sorted({r["image_id"] for r in results} - gt_image_ids)
    if unknown:
        raise ValueError(f"results name image ids not in the ground truth: {unknown[:10]}")


def _empty_results(gt: COCO) -> COCO:
    coco = COCO()
    coco.dataset = {"images": list(gt.dataset["images"]), "categories": copy.deepcopy(gt.dataset["categories"]),
                    "annotations": []}
    coco.createIndex()
    return coco


def coco_keypoint_stats(
    gt: Mapping[str, Any] | str | PathLike,
    results: Sequence[Mapping[str, Any]],
    image_ids: Iterable[int] | None = None,
) -> dict[str, float]:
    """COCO keypoint AP/AR over ``image_ids`` (default: every ground-truth image), keyed by KEYPOINT_STATS."""
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary table
        coco_gt = _load_gt(gt)
        gt_image_ids = set(coco_gt.getImgIds())
        _check_results(results, gt_image_ids)
        if image_ids is None:
            image_ids = sorted(gt_image_ids)
        else:
            image_ids = sorted(set(image_ids))
            unknown = sorted(set(image_ids) - gt_image_ids)
            if unknown:
                raise ValueError(f"image ids not in the ground truth: {unknown[:10]}")
            if not image_ids:
                raise ValueError("image_ids is empty; pass None to evaluate every ground-truth image")
        coco_dt = coco_gt.loadRes(copy.deepcopy(list(results))) if results else _empty_results(coco_gt)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(KEYPOINT_STATS, evaluator.stats, strict=True)}
