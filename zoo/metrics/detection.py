"""Pascal VOC detection AP, as py-faster-rcnn's voc_eval.py (the convention of qfgaohao/pytorch-ssd).

Boxes are (xmin, ymin, xmax, ymax) in inclusive pixel coordinates, so a box spans
x2 - x1 + 1 pixels. Labels are 0-based class indices (zoo.data.real.voc.VOC_CLASSES order).
Per class: detections of all images sorted by descending score (stable, so ties keep input
order; voc_eval's np.argsort leaves tie order unspecified); each is matched to the GT of its
image with the highest IoU; IoU > threshold (strict, as voc_eval.py) and that GT not yet taken
gives a TP, a GT already taken gives an FP (duplicate), a difficult GT gives neither; otherwise FP.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageDetections:
    boxes: np.ndarray   # [N, 4]
    labels: np.ndarray  # [N] int
    scores: np.ndarray  # [N]


@dataclass(frozen=True)
class ImageGroundTruth:
    boxes: np.ndarray      # [M, 4]
    labels: np.ndarray     # [M] int
    difficult: np.ndarray  # [M] bool


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box against [M, 4] boxes with the VOC +1 pixel convention."""
    iw = np.maximum(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]) + 1.0, 0.0)
    ih = np.maximum(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]) + 1.0, 0.0)
    inter = iw * ih
    area = (box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0)
    areas = (boxes[:, 2] - boxes[:, 0] + 1.0) * (boxes[:, 3] - boxes[:, 1] + 1.0)
    return inter / (area + areas - inter)


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    """AP as a fraction: VOC2007 11-point (max precision at recall >= 0, 0.1, ..., 1) or
    all-point (VOC2010+: area under the monotone precision envelope)."""
    recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        points = [precision[recall >= t].max() if np.any(recall >= t) else 0.0 for t in np.arange(0.0, 1.1, 0.1)]
        return float(np.sum(points) / 11.0)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def match_class(detections: Sequence[ImageDetections], ground_truths: Sequence[ImageGroundTruth], label: int,
                iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One class's detections over the dataset in descending score order: (image index, score, tp, fp) per
    detection (a detection matched to a difficult GT is neither), and the non-difficult GT count per image."""
    if len(detections) != len(ground_truths):
        raise ValueError(f"{len(detections)} images of detections but {len(ground_truths)} of ground truth")
    gt_boxes = [np.asarray(g.boxes, dtype=np.float64).reshape(-1, 4)[np.asarray(g.labels) == label] for g in ground_truths]
    gt_difficult = [np.asarray(g.difficult, dtype=bool)[np.asarray(g.labels) == label] for g in ground_truths]
    positives = np.array([int((~d).sum()) for d in gt_difficult], dtype=np.int64)

    image_of, boxes, scores = [], [np.zeros((0, 4))], [np.zeros(0)]
    for i, d in enumerate(detections):
        keep = np.asarray(d.labels) == label
        boxes.append(np.asarray(d.boxes, dtype=np.float64).reshape(-1, 4)[keep])
        scores.append(np.asarray(d.scores, dtype=np.float64)[keep])
        image_of += [i] * int(keep.sum())
    scores = np.concatenate(scores)
    order = np.argsort(-scores, kind="stable")
    image_of, boxes, scores = np.array(image_of, dtype=np.int64)[order], np.concatenate(boxes)[order], scores[order]

    taken = [np.zeros(len(b), dtype=bool) for b in gt_boxes]
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for k, (i, box) in enumerate(zip(image_of, boxes)):
        overlaps = box_iou(box, gt_boxes[i]) if len(gt_boxes[i]) else np.zeros(0)
        if len(overlaps) == 0 or overlaps.max() <= iou_threshold:
            fp[k] = 1.0
            continue
        j = int(overlaps.argmax())
        if gt_difficult[i][j]:
            continue
        if taken[i][j]:
            fp[k] = 1.0
        else:
            tp[k], taken[i][j] = 1.0, True
    return image_of, scores, tp, fp, positives


def cumulative_curves(tp: np.ndarray, fp: np.ndarray, npos: int) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) along one class's detections in score order."""
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / float(npos)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return recall, precision


def precision_recall(detections: Sequence[ImageDetections], ground_truths: Sequence[ImageGroundTruth],
                     label: int, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, int]:
    """(recall, precision, npos) of one class over the dataset; npos counts non-difficult GTs."""
    _, _, tp, fp, positives = match_class(detections, ground_truths, label, iou_threshold)
    npos = int(positives.sum())
    return (*cumulative_curves(tp, fp, npos), npos)


@dataclass(frozen=True)
class MatchedDetections:
    """Every class's detections in descending score order with their matching (``match_class``), the parts a
    resampled mAP needs."""

    images: np.ndarray  # [D] image index
    labels: np.ndarray  # [D]
    tp: np.ndarray  # [D]
    fp: np.ndarray  # [D]
    positives: np.ndarray  # [N, classes] non-difficult GT per image and class


def matched_detections(detections: Sequence[ImageDetections], ground_truths: Sequence[ImageGroundTruth],
                       num_classes: int, iou_threshold: float = 0.5) -> MatchedDetections:
    parts = [match_class(detections, ground_truths, label, iou_threshold) for label in range(num_classes)]
    return MatchedDetections(np.concatenate([p[0] for p in parts]),
                             np.concatenate([np.full(len(p[0]), label) for label, p in enumerate(parts)]),
                             np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]),
                             np.stack([p[4] for p in parts], axis=1))


def resampled_map(matches: MatchedDetections, weights: np.ndarray, use_07_metric: bool) -> np.ndarray:
    """mAP (percent) with every image weighted: ``weights`` [R, N] (a bootstrap resample's draw counts) -> [R].
    With all weights 1 it is ``mean_ap``; classes without a non-difficult GT in a resample are left out.

    The curves are evaluated at the true positives only: a false positive keeps the recall of the true positive
    before it at a lower precision, so it moves neither the precision envelope nor the 11 points, and the false
    positives between two true positives enter as one weighted count (``weights @ counts``)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    aps = []
    for label in range(matches.positives.shape[1]):
        pick = np.flatnonzero(matches.labels == label)
        npos = weights @ matches.positives[:, label]  # [R]
        tp_at, fp_between = true_positive_segments(matches.images[pick], matches.tp[pick] > 0, matches.fp[pick] > 0,
                                                   weights.shape[1])
        tp = np.cumsum(weights[:, tp_at], axis=1)
        fp = np.cumsum(weights @ fp_between.T, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = tp / npos[:, None]
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        aps.append(np.where(npos > 0, 100.0 * weighted_voc_ap(recall, precision, use_07_metric), np.nan))
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.stack(aps, axis=1), axis=1)


def true_positive_segments(images: np.ndarray, tp: np.ndarray, fp: np.ndarray, num_images: int):
    """For one class's detections in score order: the image of each true positive [J], and per true positive the
    false positives since the previous one, counted per image [J, N]; those after the last are dropped."""
    segment = np.cumsum(tp) - tp  # true positives before each detection
    counts = np.zeros((int(tp.sum()), num_images))
    keep = fp & (segment < len(counts))
    np.add.at(counts, (segment[keep], images[keep]), 1.0)
    return images[tp], counts


def weighted_voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> np.ndarray:
    """``voc_ap`` of each row of [R, D] recall/precision curves -> [R] fractions."""
    if use_07_metric:
        points = [np.where(recall >= t, precision, -np.inf).max(axis=1, initial=-np.inf)
                  for t in np.arange(0.0, 1.1, 0.1)]
        return np.sum([np.where(np.isfinite(p), p, 0.0) for p in points], axis=0) / 11.0
    rows = recall.shape[0]
    mrec = np.concatenate([np.zeros((rows, 1)), recall, np.ones((rows, 1))], axis=1)
    mpre = np.concatenate([np.zeros((rows, 1)), precision, np.zeros((rows, 1))], axis=1)
    mpre = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]
    return np.sum((mrec[:, 1:] - mrec[:, :-1]) * mpre[:, 1:], axis=1)


def class_aps(matches: MatchedDetections, use_07_metric: bool) -> np.ndarray:
    """AP in percent per class index from the matching; NaN for a class without a non-difficult GT."""
    aps = np.full(matches.positives.shape[1], np.nan)
    for label in range(len(aps)):
        npos = int(matches.positives[:, label].sum())
        if npos > 0:
            pick = matches.labels == label
            aps[label] = 100.0 * voc_ap(*cumulative_curves(matches.tp[pick], matches.fp[pick], npos), use_07_metric)
    return aps


def mean_of_class_aps(matches: MatchedDetections, use_07_metric: bool) -> float:
    """mAP in percent: mean of the per-class APs over classes with at least one non-difficult GT.

    Classes with no non-difficult GT are excluded from the mean (their detections are not
    penalised anywhere); on the full VOC2007 test set every one of the 20 classes has GTs.
    """
    aps = class_aps(matches, use_07_metric)
    if np.all(np.isnan(aps)):
        raise ValueError("no class has a non-difficult ground-truth box; mAP is undefined")
    return float(np.nanmean(aps))


def average_precision_per_class(detections: Sequence[ImageDetections], ground_truths: Sequence[ImageGroundTruth],
                                num_classes: int, use_07_metric: bool, iou_threshold: float = 0.5) -> np.ndarray:
    """AP in percent per class index; NaN for a class without a non-difficult GT (its AP is undefined)."""
    return class_aps(matched_detections(detections, ground_truths, num_classes, iou_threshold), use_07_metric)


def mean_ap(detections: Sequence[ImageDetections], ground_truths: Sequence[ImageGroundTruth],
            num_classes: int, use_07_metric: bool, iou_threshold: float = 0.5) -> float:
    """``mean_of_class_aps`` of the dataset's matching (match once and call that for both AP variants)."""
    return mean_of_class_aps(matched_detections(detections, ground_truths, num_classes, iou_threshold), use_07_metric)
