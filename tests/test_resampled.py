"""Task metrics recomputed per bootstrap resample (zoo/reports/resampled.py): with every weight 1 each equals the
metric code's value, a weight 0 equals leaving the image out, and compare judges planted per-sample changes."""
import json

import numpy as np
import pytest

from tests.metrics.test_keypoints_image_quality_speech import _person as keypoint_person
from zoo.__main__ import main
from zoo.metrics.coco import coco_bbox_evaluation, from_matching_arrays, matching_arrays, resampled_ap
from zoo.metrics.detection import ImageDetections, ImageGroundTruth, matched_detections, mean_ap, resampled_map
from zoo.metrics.keypoints import coco_keypoint_evaluation
from zoo.metrics.segmentation import ConfusionMatrix, miou_of_matrices
from zoo.metrics.speech import corpus_wer, word_edit_distance
from zoo.reports import load_run
from zoo.reports.compare import NO_CHANGE, REGRESSION, compare_runs
from zoo.reports.resampled import RESAMPLED_METRICS, draw_weights, paired_metric_bootstrap
from zoo.results import write_per_sample, write_row

def every(n: int) -> np.ndarray:
    return np.ones((1, n))


def without(n: int, *left_out: int) -> np.ndarray:
    weights = every(n)
    weights[0, list(left_out)] = 0
    return weights


# ------------------------------------------------------------------------------------------ detection (VOC)
def voc_images(seed: int = 1, images: int = 30, classes: int = 5):
    rng = np.random.default_rng(seed)
    detections, truths = [], []
    for _ in range(images):
        m = int(rng.integers(0, 4))
        corner = rng.uniform(0, 50, (m, 2))
        boxes = np.c_[corner, corner + rng.uniform(10, 40, (m, 2))]
        labels = rng.integers(0, classes, m)
        truths.append(ImageGroundTruth(boxes, labels, rng.random(m) < 0.15))
        found = rng.random(m) < 0.8
        noise = rng.uniform(0, 80, (3, 4))
        noise[:, 2:] = noise[:, :2] + 8
        detections.append(ImageDetections(np.r_[boxes[found] + rng.normal(0, 3, (int(found.sum()), 4)), noise],
                                          np.r_[labels[found], rng.integers(0, classes, 3)],
                                          rng.random(int(found.sum()) + 3)))
    return detections, truths


@pytest.mark.parametrize("use_07_metric", [True, False])
def test_resampled_voc_map_is_mean_ap_and_weight_zero_leaves_an_image_out(use_07_metric):
    detections, truths = voc_images()
    matches = matched_detections(detections, truths, 5)
    assert resampled_map(matches, every(30), use_07_metric)[0] == pytest.approx(
        mean_ap(detections, truths, 5, use_07_metric), abs=1e-9)
    kept = [i for i in range(30) if i not in (2, 5, 11)]
    assert resampled_map(matches, without(30, 2, 5, 11), use_07_metric)[0] == pytest.approx(
        mean_ap([detections[i] for i in kept], [truths[i] for i in kept], 5, use_07_metric), abs=1e-9)


# ------------------------------------------------------------------------------------------ COCO boxes, keypoints
def coco_boxes(seed: int = 0, images: int = 20):
    rng = np.random.default_rng(seed)
    annotations, results = [], []
    for image in range(1, images + 1):
        for _ in range(int(rng.integers(0, 4))):
            x, y = rng.uniform(0, 60, 2)
            w, h = rng.uniform(10, 40, 2)
            annotations.append({"id": len(annotations) + 1, "image_id": image, "category_id": int(rng.integers(1, 4)),
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    for a in annotations:
        if rng.random() < 0.8:
            results.append({"image_id": a["image_id"], "category_id": a["category_id"],
                            "bbox": list(np.array(a["bbox"]) + rng.normal(0, 3, 4)), "score": float(rng.random())})
    results += [{"image_id": int(rng.integers(1, images + 1)), "category_id": int(rng.integers(1, 4)),
                 "bbox": [10.0, 10.0, 20.0, 20.0], "score": float(rng.random())} for _ in range(15)]
    gt = {"images": [{"id": i, "width": 100, "height": 100} for i in range(1, images + 1)], "annotations": annotations,
          "categories": [{"id": c} for c in (1, 2, 3)]}
    return gt, results


def test_resampled_coco_ap_is_cocoeval_ap_and_weight_zero_leaves_an_image_out():
    gt, results = coco_boxes()
    stats, matches = coco_bbox_evaluation(gt, results)
    assert resampled_ap(matches, every(20))[0] == pytest.approx(stats["ap"], abs=1e-12)
    kept = [i for i in range(1, 21) if i != 4]
    stats_without, _ = coco_bbox_evaluation(gt, [r for r in results if r["image_id"] != 4], kept)
    assert resampled_ap(matches, without(20, 3))[0] == pytest.approx(stats_without["ap"], abs=1e-12)


def test_coco_matching_survives_the_per_sample_file_in_sample_order():
    gt, results = coco_boxes()
    stats, matches = coco_bbox_evaluation(gt, results)
    sample_order = list(range(20, 0, -1))  # the dataset's order need not be the image ids'
    arrays = matching_arrays(matches, sample_order, "quantized.coco")
    assert resampled_ap(from_matching_arrays(arrays, "quantized.coco"), every(20))[0] == pytest.approx(stats["ap"])


def test_resampled_keypoint_ap_is_cocoeval_keypoint_ap():
    rng = np.random.default_rng(3)
    annotations = [keypoint_person(i + 1, i // 2 + 1, 20 + 150 * (i % 2), 30, float(rng.uniform(40, 120))) for i in range(12)]
    gt = {"images": [{"id": i, "width": 400, "height": 300} for i in range(1, 7)], "annotations": annotations,
          "categories": [{"id": 1, "name": "person"}]}
    results = []
    for a in annotations:
        keypoints = np.array(a["keypoints"], dtype=float)
        keypoints[0::3] += rng.normal(0, rng.uniform(1, 8), 17)
        results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": keypoints.tolist(),
                        "score": float(rng.random())})
    stats, matches = coco_keypoint_evaluation(gt, results)
    assert 0 < stats["ap"] < 1
    assert resampled_ap(matches, every(6))[0] == pytest.approx(stats["ap"], abs=1e-12)


# ------------------------------------------------------------------------------------------ segmentation, speech
def test_miou_of_summed_per_image_matrices_is_the_dataset_miou():
    rng = np.random.default_rng(0)
    total, per_image = ConfusionMatrix(5), []
    for _ in range(6):
        target, prediction = rng.integers(0, 5, (20, 20)), rng.integers(0, 5, (20, 20))
        agree = rng.random((20, 20)) < 0.6
        prediction[agree] = target[agree]
        image = ConfusionMatrix(5)
        image.update(prediction, target)
        total.update(prediction, target)
        per_image.append(image.matrix)
    assert miou_of_matrices(np.sum(per_image, axis=0)) == pytest.approx(total.miou())
    (miou,) = (m for m in RESAMPLED_METRICS if m.metric == "miou")
    assert miou.value({"quantized.confusion": np.stack(per_image)}, every(6))[0] == pytest.approx(total.miou())


def test_resampled_wer_is_the_corpus_wer():
    references = ["the cat sat", "on the mat today", "hello"]
    hypotheses = ["the cat sat down", "on a mat", ""]
    arrays = {"quantized.word_edits": np.array([word_edit_distance(r.split(), h.split())
                                                for r, h in zip(references, hypotheses)]),
              "reference_words": np.array([len(r.split()) for r in references])}
    (wer,) = (m for m in RESAMPLED_METRICS if m.metric == "wer")
    assert wer.value(arrays, every(3))[0] == pytest.approx(corpus_wer(references, hypotheses))


def test_draw_weights_are_counts_of_draws_with_replacement():
    weights = draw_weights(7, 500, np.random.default_rng(0))
    assert weights.shape == (500, 7) and np.all(weights.sum(axis=1) == 7)
    assert 0.9 < weights.mean(axis=0).min() and weights.mean(axis=0).max() < 1.1


def test_identical_runs_give_p_one_and_a_zero_interval():
    (psnr,) = (m for m in RESAMPLED_METRICS if m.metric == "psnr_y")
    arrays = {"quantized.psnr_y": np.random.default_rng(0).normal(28, 2, 40)}
    result = paired_metric_bootstrap(psnr, arrays, arrays, 40, 0.05, 2000, 0)
    assert result.p_value == 1.0 and result.ci_low == result.ci_high == 0.0


# ------------------------------------------------------------------------------------------ planted regressions
SEGMENTATION_CASE = "pt_planted.w8a8.synthetic_voc2012"


def segmentation_run(directory, confusion: np.ndarray):
    directory.mkdir()
    miou = float(miou_of_matrices(confusion.sum(axis=0)))
    write_row(directory, {"case": SEGMENTATION_CASE, "tier": "embedded", "metric": "miou", "verdict": "PASS",
                          "run_id": directory.name, "quantized": miou,
                          "metrics": {"miou": {"quantized": miou, "fp32": None}}})
    write_per_sample(directory, SEGMENTATION_CASE, {"sample_ids": np.array([f"img{i:03d}" for i in range(len(confusion))]),
                                                    "quantized.confusion": confusion})
    return directory


def per_image_confusions(images: int = 100, classes: int = 4, seed: int = 0) -> np.ndarray:
    """Each image: 1000 pixels, about 80% right, the rest spread over the other classes."""
    rng = np.random.default_rng(seed)
    matrices = np.zeros((images, classes, classes), dtype=np.int64)
    for i in range(images):
        for target in range(classes):
            right = int(rng.integers(180, 220))
            matrices[i, target, target] = right
            matrices[i, target] += rng.multinomial(250 - right, [1 / classes] * classes)
    return matrices


def worsened(confusion: np.ndarray, images: list[int], pixels: int) -> np.ndarray:
    """Move ``pixels`` of class 1 from right to class 2 in each listed image."""
    confusion = confusion.copy()
    for i in images:
        confusion[i, 1, 1] -= pixels
        confusion[i, 1, 2] += pixels
    return confusion


def test_a_planted_significant_miou_regression_fails_compare(tmp_path):
    confusion = per_image_confusions()
    base = segmentation_run(tmp_path / "base", confusion)
    new = segmentation_run(tmp_path / "new", worsened(confusion, list(range(0, 100, 2)), 20))

    (comparison,) = compare_runs(load_run(base), load_run(new))
    (test,) = comparison.metric_tests
    assert test.metric == "miou" and test.delta < -1 and test.ci_high < 0
    assert comparison.metric_verdicts["miou"] == REGRESSION and comparison.verdict == REGRESSION
    assert main(["compare", str(base), str(new), "--out", str(tmp_path / "out")]) == 1
    report = (tmp_path / "out" / "compare.md").read_text()
    assert f"| {SEGMENTATION_CASE} | miou |" in report and (tmp_path / "out" / "compare.png").is_file()


def test_a_planted_insignificant_miou_change_passes_compare(tmp_path):
    confusion = per_image_confusions()
    base = segmentation_run(tmp_path / "base", confusion)
    new = segmentation_run(tmp_path / "new", worsened(confusion, [7], 5))

    (comparison,) = compare_runs(load_run(base), load_run(new))
    assert comparison.metric_tests[0].delta < 0  # a real, tiny drop
    assert comparison.verdict == NO_CHANGE
    assert main(["compare", str(base), str(new), "--out", str(tmp_path / "out")]) == 0


def test_task_metric_tests_join_the_holm_family(tmp_path):
    confusion = per_image_confusions()
    base_dir, new_dir = tmp_path / "base", tmp_path / "new"
    segmentation_run(base_dir, confusion)
    segmentation_run(new_dir, worsened(confusion, list(range(0, 100, 10)), 4))
    alone = compare_runs(load_run(base_dir), load_run(new_dir))[0]
    for i in range(15):  # fifteen unchanged cases join the family
        for directory in (base_dir, new_dir):
            row = json.loads((directory / f"{SEGMENTATION_CASE}.json").read_text())
            write_row(directory, {**row, "case": f"pt_other{i}.w8a8.synthetic_voc2012"})
            write_per_sample(directory, f"pt_other{i}.w8a8.synthetic_voc2012",
                             {"sample_ids": np.array([f"img{k:03d}" for k in range(100)]),
                              "quantized.confusion": confusion})
    together = {c.case: c for c in compare_runs(load_run(base_dir), load_run(new_dir))}[SEGMENTATION_CASE]
    # the other 15 tests have p = 1, so Holm multiplies the smallest p by the 16 tests in the family
    assert together.metric_p_holm["miou"] == pytest.approx(min(1.0, 16 * alone.metric_p_holm["miou"]))
