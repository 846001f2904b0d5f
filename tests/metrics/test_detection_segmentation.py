"""VOC detection AP and segmentation mIoU on hand-computed answers, AP cross-checked against pycocotools."""
import contextlib
import io

import numpy as np
import pytest

from zoo.metrics.detection import (ImageDetections, ImageGroundTruth, average_precision_per_class, box_iou, mean_ap,
                                   precision_recall, voc_ap)
from zoo.metrics.segmentation import ConfusionMatrix


def box(x, y, size=100):
    """A size x size pixel box with its top-left pixel at (x, y), inclusive coordinates."""
    return [x, y, x + size - 1, y + size - 1]


def dets(*rows):
    """rows: (box, label, score)."""
    if not rows:
        return ImageDetections(np.zeros((0, 4)), np.zeros(0, dtype=int), np.zeros(0))
    boxes, labels, scores = zip(*rows)
    return ImageDetections(np.array(boxes, dtype=float), np.array(labels), np.array(scores, dtype=float))


def gts(*rows):
    """rows: (box, label) or (box, label, difficult)."""
    rows = [r if len(r) == 3 else (*r, False) for r in rows]
    boxes, labels, difficult = zip(*rows)
    return ImageGroundTruth(np.array(boxes, dtype=float), np.array(labels), np.array(difficult))


FAR = box(400, 400)  # overlaps no ground truth below


# ---- IoU and voc_ap ----------------------------------------------------------------------------------------------

def test_iou_uses_the_plus_one_pixel_convention():
    # 10x10 pixel boxes sharing 5 columns: 50 / (100 + 100 - 50); without +1 it would be 36/126
    assert box_iou(np.array([0, 0, 9, 9.0]), np.array([[5, 0, 14, 9.0]]))[0] == pytest.approx(1 / 3)
    assert box_iou(np.array([0, 0, 9, 9.0]), np.array([[10, 0, 19, 9.0]]))[0] == 0.0  # adjacent, no shared pixel


def test_eleven_point_and_all_point_differ_where_they_should():
    recall, precision = np.array([0.0, 0.5]), np.array([0.0, 0.5])  # an FP, then a TP of 2 GTs
    assert voc_ap(recall, precision, use_07_metric=False) == pytest.approx(0.25)  # 0.5 recall x 0.5 precision
    assert voc_ap(recall, precision, use_07_metric=True) == pytest.approx(6 * 0.5 / 11)  # t = 0, .1, ..., .5


def test_all_point_integrates_the_monotone_envelope():
    # precision 1, 0.5, 2/3 at recall .5, .5, 1: the envelope lifts the dip to 2/3
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]), False) == pytest.approx(0.5 + 0.5 * 2 / 3)


# ---- matching -----------------------------------------------------------------------------------------------------

def test_the_same_detections_through_both_metrics():
    d = [dets((FAR, 0, 0.9), (box(0, 0), 0, 0.8))]
    g = [gts((box(0, 0), 0), (box(200, 0), 0))]
    assert mean_ap(d, g, 1, use_07_metric=False) == pytest.approx(25.0)
    assert mean_ap(d, g, 1, use_07_metric=True) == pytest.approx(300 / 11)


def test_perfect_detections_give_100():
    g = [gts((box(0, 0), 0), (box(200, 0), 1)), gts((box(0, 200), 1))]
    d = [dets((box(0, 0), 0, 0.9), (box(200, 0), 1, 0.8)), dets((box(0, 200), 1, 0.7))]
    for use_07 in (True, False):
        assert average_precision_per_class(d, g, 2, use_07).tolist() == [100.0, 100.0]


def test_a_detection_on_a_difficult_gt_is_neither_tp_nor_fp_and_difficult_gts_are_not_in_npos():
    g = [gts((box(0, 0), 0), (box(200, 0), 0, True))]
    d = [dets((box(200, 0), 0, 0.9), (box(0, 0), 0, 0.8), (FAR, 0, 0.7))]
    recall, precision, npos = precision_recall(d, g, 0)
    assert npos == 1
    assert recall.tolist() == [0.0, 1.0, 1.0]       # counted as FP it would be precision 0, .5, 1/3
    assert precision.tolist() == [0.0, 1.0, 0.5]    # counted in npos recall would stop at 0.5
    assert mean_ap(d, g, 1, use_07_metric=False) == 100.0


def test_only_difficult_detections_score_zero_not_half():
    g = [gts((box(0, 0), 0), (box(200, 0), 0, True))]
    assert mean_ap([dets((box(200, 0), 0, 0.9))], g, 1, use_07_metric=False) == 0.0


def test_a_second_detection_of_one_gt_is_a_false_positive():
    g = [gts((box(0, 0), 0), (box(200, 0), 0))]
    d = [dets((box(0, 0), 0, 0.9), (box(5, 5), 0, 0.8), (box(200, 0), 0, 0.7))]
    recall, precision, _ = precision_recall(d, g, 0)
    assert recall.tolist() == [0.5, 0.5, 1.0]
    assert precision == pytest.approx([1.0, 0.5, 2 / 3])
    assert mean_ap(d, g, 1, use_07_metric=False) == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))


def test_iou_threshold_is_strict_and_a_detection_goes_to_its_best_gt_only():
    exactly_half = [0, 0, 99, 199]  # 100x200 against a 100x100 GT: IoU 0.5, not > 0.5
    assert mean_ap([dets((exactly_half, 0, 0.9))], [gts((box(0, 0), 0))], 1, False) == 0.0
    # two GTs 20 px apart; the second detection's best GT is already taken: FP although IoU with the other > 0.5
    g = [gts((box(0, 0), 0), (box(20, 0), 0))]
    d = [dets((box(0, 0), 0, 0.9), (box(5, 0), 0, 0.8))]
    assert precision_recall(d, g, 0)[1].tolist() == [1.0, 0.5]


def test_labels_and_images_are_kept_apart():
    g = [gts((box(0, 0), 0)), gts((box(0, 0), 1))]
    wrong_image = [dets(), dets((box(0, 0), 0, 0.9))]
    assert average_precision_per_class(wrong_image, g, 2, False).tolist() == [0.0, 0.0]


def test_a_class_without_non_difficult_gt_is_nan_and_left_out_of_the_mean():
    g = [gts((box(0, 0), 0), (box(200, 0), 1), (box(0, 200), 1), (box(200, 200), 3, True))]
    d = [dets((box(0, 0), 0, 0.9), (FAR, 1, 0.8), (box(200, 0), 1, 0.7), (box(0, 300), 2, 0.95))]
    aps = average_precision_per_class(d, g, 4, use_07_metric=False)
    assert aps[:2] == pytest.approx([100.0, 25.0]) and np.isnan(aps[2:]).all()
    assert mean_ap(d, g, 4, use_07_metric=False) == pytest.approx(62.5)


def test_length_mismatch_and_empty_ground_truth_are_errors():
    with pytest.raises(ValueError, match="2 images of detections but 1 of ground truth"):
        mean_ap([dets(), dets()], [gts((box(0, 0), 0))], 1, False)
    with pytest.raises(ValueError, match="no class has a non-difficult ground-truth box"):
        mean_ap([dets()], [gts((box(0, 0), 0, True))], 1, False)


# ---- cross-check against pycocotools --------------------------------------------------------------------------------

def coco_scene(seed=0, images=6, classes=3):
    """GTs on a 200 px grid (no two near each other), detections that overlap at most one GT: tight hits
    (IoU >= 0.7), loose misses (IoU < 0.3), duplicates, background FPs, and an extra class with FPs only."""
    rng = np.random.default_rng(seed)
    d_all, g_all = [], []
    for _ in range(images):
        cells = [(x, y) for x in range(0, 1000, 200) for y in range(0, 600, 200)]
        rng.shuffle(cells)
        g_rows, d_rows = [], []
        for x, y in cells[:5]:
            size, label = int(rng.integers(60, 121)), int(rng.integers(classes))
            g_rows.append((box(x, y, size), label))
            for _ in range(int(rng.choice([0, 1, 1, 2]))):  # none, one, or a duplicate
                jx, jy = rng.integers(-4, 5, size=2)
                d_rows.append((box(x + jx, y + jy, size), label, rng.random()))
            if rng.random() < 0.3:
                d_rows.append((box(x + size // 2, y + size // 2, size), label, rng.random()))
        for x, y in cells[5:8]:
            d_rows.append((box(x, y, 80), int(rng.integers(classes + 1)), rng.random()))
        g_all.append(gts(*g_rows))
        d_all.append(dets(*d_rows))
    return d_all, g_all


def coco_eval(d_all, g_all, num_classes):
    """COCOeval precision [101 recall thresholds, class] at IoU 0.5, area all, 100 detections per image.

    Boxes go in as [x1 - 1, y1 - 1, w + 1, h + 1]: an inclusive pixel box covers that continuous
    square, so COCO's IoU equals the VOC +1 IoU exactly and only the interpolation differs."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [b[0] - 1, b[1] - 1, b[2] - b[0] + 1, b[3] - b[1] + 1]

    gt = {"images": [{"id": i, "width": 1000, "height": 600} for i in range(len(g_all))],
          "categories": [{"id": c} for c in range(num_classes)],
          "annotations": [{"id": len(g_all) * 100 + i * 50 + j, "image_id": i, "category_id": int(label),
                           "bbox": xywh(b), "area": float(xywh(b)[2] * xywh(b)[3]), "iscrowd": 0}
                          for i, g in enumerate(g_all) for j, (b, label) in enumerate(zip(g.boxes.tolist(), g.labels))]}
    results = [{"image_id": i, "category_id": int(label), "bbox": xywh(b), "score": float(s)}
               for i, d in enumerate(d_all) for b, label, s in zip(d.boxes.tolist(), d.labels, d.scores)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        evaluator.params.iouThrs = np.array([0.5])
        evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ["all"]
        evaluator.params.maxDets = [100]
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"][0, :, :, 0, 0]


def coco_interpolated_ap(recall, precision):
    """COCO's 101-point AP (cocoeval.accumulate) from a VOC precision/recall curve."""
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
    return float(np.mean([envelope[i] if i < len(envelope) else 0.0 for i in index]))


def test_matching_agrees_with_pycocotools_and_all_point_ap_within_1_point():
    d_all, g_all = coco_scene()
    precision_101 = coco_eval(d_all, g_all, num_classes=4)
    assert (precision_101[:, 3] == -1).all()  # COCO also leaves out the class without GT
    coco_ap = 100 * precision_101[:, :3].mean(axis=0)
    assert 20 < coco_ap.min() and coco_ap.max() < 95  # a scene with misses and duplicates, not a trivial one

    # same TP/FP sequence: COCO's interpolation of our curve reproduces COCO to rounding
    ours_101 = [100 * coco_interpolated_ap(*precision_recall(d_all, g_all, c)[:2]) for c in range(3)]
    assert ours_101 == pytest.approx(coco_ap, abs=1e-9)

    # for a monotone envelope the 101-point mean and the exact area differ by at most 1/100 of the range
    aps = average_precision_per_class(d_all, g_all, 4, use_07_metric=False)
    assert np.isnan(aps[3]) and aps[:3] == pytest.approx(coco_ap, abs=1.0)
    assert mean_ap(d_all, g_all, 4, use_07_metric=False) == pytest.approx(coco_ap.mean(), abs=1.0)


# ---- segmentation ---------------------------------------------------------------------------------------------------

def test_miou_known_confusion_matrix_with_ignore_and_absent_class():
    target = np.array([[0, 0, 1], [1, 1, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])  # the class-2 prediction lies on an ignored pixel
    cm = ConfusionMatrix(num_classes=3)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 0]]
    iou = cm.iou_per_class()
    assert iou[:2] == pytest.approx([100 / 3, 50.0]) and np.isnan(iou[2])  # 1/(2+2-1), 2/(3+3-2)
    assert cm.miou() == pytest.approx((100 / 3 + 50) / 2)  # counting the ignored pixel: (33.3 + 50 + 0) / 3
    assert cm.pixel_accuracy() == pytest.approx(60.0)


def test_a_class_only_predicted_counts_as_zero():
    cm = ConfusionMatrix(num_classes=3)
    cm.update(np.array([0, 2]), np.array([0, 0]))
    assert cm.iou_per_class()[0] == pytest.approx(50.0) and cm.iou_per_class()[2] == 0.0
    assert cm.miou() == pytest.approx(25.0)


def test_accumulating_two_updates_equals_one_update_on_the_concatenation():
    rng = np.random.default_rng(0)
    targets = [rng.choice([0, 1, 2, 5, 255], size=(7, 9)), rng.choice([0, 3, 20, 255], size=(5, 9))]
    preds = [rng.integers(0, 21, size=t.shape) for t in targets]
    twice, once = ConfusionMatrix(), ConfusionMatrix()
    for p, t in zip(preds, targets):
        twice.update(p, t)
    once.update(np.concatenate(preds), np.concatenate(targets))
    assert (twice.matrix == once.matrix).all() and twice.matrix.sum() == sum(int((t != 255).sum()) for t in targets)
    assert twice.miou() == once.miou()
    mean_of_images = []
    for p, t in zip(preds, targets):
        single = ConfusionMatrix()
        single.update(p, t)
        mean_of_images.append(single.miou())
    assert twice.miou() != pytest.approx(np.mean(mean_of_images))  # dataset-level, not a mean of per-image mIoUs


def test_out_of_range_classes_and_empty_matrix_are_errors():
    cm = ConfusionMatrix(num_classes=21)
    with pytest.raises(ValueError, match="target holds class 38 outside 0..20"):
        cm.update(np.zeros(2, dtype=np.uint8), np.array([0, 38], dtype=np.uint8))
    with pytest.raises(ValueError, match="prediction shape"):
        cm.update(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="no labelled pixels"):
        cm.miou()
