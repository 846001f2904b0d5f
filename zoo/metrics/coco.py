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
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
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


@dataclass(frozen=True)
class MatchedDetections:
    """COCOeval's per-detection matching (area range 'all', at most ``maxDets[-1]`` per image and category), the
    parts a resampled AP needs: per detection its image id, category index, score, and per IoU/OKS threshold
    whether it matched a ground truth and whether it is ignored (matched a crowd/ignored one); per image and
    category the number of ground truths that count."""

    image_ids: np.ndarray  # [D]
    categories: np.ndarray  # [D] index into the evaluated category ids
    scores: np.ndarray  # [D]
    matched: np.ndarray  # [D, T] bool
    ignored: np.ndarray  # [D, T] bool
    gt_image_ids: np.ndarray  # [N] the evaluated images, rows of gt_counts
    gt_counts: np.ndarray  # [N, K] ground truths that count, per image and category


def matching_arrays(matches: MatchedDetections, image_ids: Sequence[int], prefix: str) -> dict[str, np.ndarray]:
    """``matches`` as named arrays for a per-sample file, images as indices into ``image_ids`` (sample order)."""
    row_of = {int(image_id): i for i, image_id in enumerate(image_ids)}
    gt_counts = np.zeros((len(image_ids), matches.gt_counts.shape[1]), dtype=np.int64)
    for counts, image_id in zip(matches.gt_counts, matches.gt_image_ids):
        gt_counts[row_of[int(image_id)]] += counts
    return {f"{prefix}.images": np.array([row_of[int(i)] for i in matches.image_ids], dtype=np.int64),
            f"{prefix}.categories": matches.categories, f"{prefix}.scores": matches.scores,
            f"{prefix}.matched": matches.matched, f"{prefix}.ignored": matches.ignored,
            f"{prefix}.gt_counts": gt_counts}


def from_matching_arrays(arrays: Mapping[str, np.ndarray], prefix: str) -> MatchedDetections:
    """Inverse of ``matching_arrays``: images are the sample indices."""
    gt_counts = np.asarray(arrays[f"{prefix}.gt_counts"])
    return MatchedDetections(np.asarray(arrays[f"{prefix}.images"]), np.asarray(arrays[f"{prefix}.categories"]),
                             np.asarray(arrays[f"{prefix}.scores"]), np.asarray(arrays[f"{prefix}.matched"], bool),
                             np.asarray(arrays[f"{prefix}.ignored"], bool), np.arange(len(gt_counts)), gt_counts)


def matched_detections(evaluator: COCOeval) -> MatchedDetections:
    params = evaluator.params
    images, categories = list(params.imgIds), list(params.catIds)
    thresholds, max_dets = len(params.iouThrs), params.maxDets[-1]
    columns = {name: [] for name in ("image_ids", "categories", "scores", "matched", "ignored")}
    gt_counts = np.zeros((len(images), len(categories)), dtype=np.int64)
    all_area = params.areaRng[0]
    for e in evaluator.evalImgs:
        if e is None or list(e["aRng"]) != list(all_area):
            continue
        row, k = images.index(e["image_id"]), categories.index(e["category_id"])
        gt_counts[row, k] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
        kept = min(len(e["dtIds"]), max_dets)
        columns["image_ids"] += [e["image_id"]] * kept
        columns["categories"] += [k] * kept
        columns["scores"] += list(e["dtScores"][:kept])
        columns["matched"].append(np.asarray(e["dtMatches"]).reshape(thresholds, -1)[:, :kept].T > 0)
        columns["ignored"].append(np.asarray(e["dtIgnore"]).reshape(thresholds, -1)[:, :kept].T.astype(bool))
    empty = np.zeros((0, thresholds), dtype=bool)
    return MatchedDetections(np.asarray(columns["image_ids"], dtype=np.int64),
                             np.asarray(columns["categories"], dtype=np.int64),
                             np.asarray(columns["scores"], dtype=np.float64),
                             np.concatenate(columns["matched"] or [empty]), np.concatenate(columns["ignored"] or [empty]),
                             np.asarray(images, dtype=np.int64), gt_counts)


def resampled_ap(matches: MatchedDetections, weights: np.ndarray) -> np.ndarray:
    """COCO AP (IoU/OKS 0.5:0.95, 101 recall points, area 'all') with every image weighted: ``weights`` [R, N]
    per row of ``gt_counts`` (a bootstrap resample's draw counts) -> [R]. With all weights 1 it is COCOeval's AP
    (``stats[0]``); an image drawn twice counts its detections and ground truths twice."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    row_of = {int(image_id): i for i, image_id in enumerate(matches.gt_image_ids)}
    det_rows = np.array([row_of[int(i)] for i in matches.image_ids], dtype=np.int64)
    recall_points = np.linspace(0.0, 1.0, 101)
    per_category = []
    for k in range(matches.gt_counts.shape[1]):
        npig = weights @ matches.gt_counts[:, k]  # [R]
        pick = np.flatnonzero(matches.categories == k)
        order = pick[np.argsort(-matches.scores[pick], kind="mergesort")]
        w = weights[:, det_rows[order]][:, None, :]  # [R, 1, D]
        counted = ~matches.ignored[order].T[None]  # [1, T, D]
        tp = np.cumsum(w * (matches.matched[order].T[None] & counted), axis=-1)
        fp = np.cumsum(w * (~matches.matched[order].T[None] & counted), axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = tp / npig[:, None, None]
        precision = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[..., ::-1], axis=-1)[..., ::-1]
        # rows with npig = 0 are dropped below; clipping keeps their inf/nan from unsorting the lookup
        recall = np.clip(np.nan_to_num(recall, nan=0.0, posinf=1.0), 0.0, 1.0)
        ap = interpolated_precision(recall, precision, recall_points).mean(axis=-1)
        per_category.append(np.where(npig[:, None] > 0, ap, np.nan))
    stacked = np.stack(per_category, axis=-1) if per_category else np.full((weights.shape[0], 1, 1), np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmean(stacked.reshape(stacked.shape[0], -1), axis=1)


def interpolated_precision(recall: np.ndarray, precision: np.ndarray, points: np.ndarray) -> np.ndarray:
    """COCOeval's ``np.searchsorted(rc, recThrs, side='left')`` lookup on every row of [..., D] curves at once:
    precision at the first detection reaching each recall point, 0 past the last; -> [..., len(points)]."""
    rows, length = int(np.prod(recall.shape[:-1])), recall.shape[-1]
    if length == 0:
        return np.zeros((*recall.shape[:-1], points.size))
    flat_recall, flat_precision = recall.reshape(rows, length), precision.reshape(rows, length)
    offsets = 2.0 * np.arange(rows)[:, None]  # recall lies in [0, 1]: shifted rows stay sorted end to end
    index = np.searchsorted((flat_recall + offsets).ravel(), (points[None, :] + offsets).ravel(), side="left")
    index = index.reshape(rows, points.size) - length * np.arange(rows)[:, None]
    found = index < length
    values = np.where(found, np.take_along_axis(flat_precision, np.minimum(index, length - 1), axis=1), 0.0)
    return values.reshape(*recall.shape[:-1], points.size)


def coco_evaluation(gt: GroundTruth, results: Sequence[Mapping[str, Any]], iou_type: str, check_result,
                    image_ids: Iterable[int] | None = None) -> tuple[dict[str, float], MatchedDetections]:
    """COCOeval's summary over ``image_ids`` (default: every ground-truth image), keyed by ``STATS[iou_type]``,
    and its per-detection matching. ``check_result(i, result)`` raises ValueError for a malformed result."""
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
    stats = {name: float(value) for name, value in zip(STATS[iou_type], evaluator.stats, strict=True)}
    return stats, matched_detections(evaluator)


def coco_stats(gt: GroundTruth, results: Sequence[Mapping[str, Any]], iou_type: str, check_result,
               image_ids: Iterable[int] | None = None) -> dict[str, float]:
    """COCOeval's summary alone (see coco_evaluation)."""
    return coco_evaluation(gt, results, iou_type, check_result, image_ids)[0]


def _check_box_result(i: int, result: Mapping[str, Any]) -> None:
    missing = [key for key in ("image_id", "category_id", "bbox", "score") if key not in result]
    if missing:
        raise ValueError(f"box result {i} lacks {missing}")
    if len(result["bbox"]) != 4:
        raise ValueError(f"box result {i} has {len(result['bbox'])} bbox values; expected [x, y, width, height]")


def coco_bbox_evaluation(gt: GroundTruth, results: Sequence[Mapping[str, Any]],
                         image_ids: Iterable[int] | None = None) -> tuple[dict[str, float], MatchedDetections]:
    """COCO box AP/AR (keyed by BBOX_STATS) of results ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``,
    and the per-detection matching."""
    return coco_evaluation(gt, results, "bbox", _check_box_result, image_ids)


def coco_bbox_stats(gt: GroundTruth, results: Sequence[Mapping[str, Any]],
                    image_ids: Iterable[int] | None = None) -> dict[str, float]:
    return coco_bbox_evaluation(gt, results, image_ids)[0]
