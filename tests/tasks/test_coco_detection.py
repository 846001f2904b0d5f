"""COCO box AP/AR (pycocotools), the COCO instances loader, the synthetic COCO tree and the detection scorer."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from zoo.data.real.coco import CocoImageSet, annotation_path
from zoo.data.base import DatasetError
from zoo.data.synthetic.coco import VOC_TO_COCO, embedded_tree
from zoo.data.real.voc import read_annotation, read_ids
from zoo.metrics.coco import BBOX_STATS, coco_bbox_stats
from zoo.tasks import Predictions
from zoo.tasks.coco_detection import coco_results, score

# two images; boxes [x, y, w, h]: a large person (area 120*150 > 96^2) and a medium dog
GT = {
    "images": [{"id": 1, "file_name": "a.jpg", "height": 200, "width": 200},
               {"id": 2, "file_name": "b.jpg", "height": 200, "width": 200}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 120, 150], "area": 18000, "iscrowd": 0},
                    {"id": 2, "image_id": 2, "category_id": 18, "bbox": [50, 50, 60, 40], "area": 2400, "iscrowd": 0}],
    "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
}


def _exact(shift: float = 0.0) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
             "bbox": [a["bbox"][0] + shift, a["bbox"][1], a["bbox"][2], a["bbox"][3]]} for a in GT["annotations"]]


def test_exact_boxes_score_one_and_empty_areas_minus_one():
    stats = coco_bbox_stats(GT, _exact())
    assert tuple(stats) == BBOX_STATS
    assert stats["ap"] == pytest.approx(1.0) and stats["ar100"] == pytest.approx(1.0)
    assert stats["ap_small"] == -1.0  # no small ground truth


def test_shifted_boxes_lose_ap_at_strict_iou():
    # dog shifted by 12 px of 60: IoU 48*40 / (2*2400 - 48*40) = 0.667, a hit at 0.5, a miss from 0.7 on
    stats = coco_bbox_stats(GT, _exact()[:1] + _exact(12.0)[1:])
    assert stats["ap50"] == pytest.approx(1.0)
    assert stats["ap75"] == pytest.approx(0.5, abs=1e-6)  # person hit, dog miss: mean over the two classes
    assert stats["ap"] < 1.0


def test_no_detections_score_zero():
    stats = coco_bbox_stats(GT, [])
    assert stats["ap"] == 0.0 and stats["ap_small"] == -1.0


@pytest.mark.parametrize("bad, message", [({"image_id": 1, "category_id": 1, "score": 1.0}, "lacks"),
                                          ({"image_id": 1, "category_id": 1, "score": 1.0, "bbox": [1, 2, 3]},
                                           "bbox values"),
                                          ({"image_id": 7, "category_id": 1, "score": 1.0, "bbox": [1, 2, 3, 4]},
                                           "not in the ground truth")])
def test_malformed_results_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        coco_bbox_stats(GT, [bad])


def test_results_convert_corners_to_coco_boxes():
    predictions = Predictions([(np.array([[10.0, 20.0, 130.0, 170.0]]), np.array([1]), np.array([0.5])),
                               (np.zeros((0, 4)), np.zeros(0, dtype=np.int64), np.zeros(0))])
    assert coco_results(predictions, [1, 2]) == [{"image_id": 1, "category_id": 1, "bbox": [10.0, 20.0, 120.0, 150.0],
                                                  "score": 0.5}]


def _tree(tmp_path, present: int = 2):
    (tmp_path / "val2017").mkdir()
    for image in GT["images"][:present]:
        Image.new("RGB", (image["width"], image["height"])).save(tmp_path / "val2017" / image["file_name"])
    path = annotation_path(tmp_path, "val2017", "instances")
    path.parent.mkdir()
    path.write_text(json.dumps(GT))
    return tmp_path


def test_instances_loader_and_scorer_end_to_end(tmp_path):
    data = CocoImageSet(_tree(tmp_path), lambda image: np.asarray(image).shape, kind="instances")
    assert data.image_ids() == [1, 2] and data[0][0] == (200, 200, 3) and data[1][1].image_id == 2
    truth = Predictions([(np.array([[10.0, 20.0, 130.0, 170.0]]), np.array([1]), np.array([0.9])),
                         (np.array([[50.0, 50.0, 110.0, 90.0]]), np.array([18]), np.array([0.9]))])
    none = Predictions([(np.zeros((0, 4)), np.zeros(0, dtype=np.int64), np.zeros(0))] * 2)
    scores = score(data, truth, none)
    assert scores.fp32["bbox_ap"] == pytest.approx(1.0) and scores.quantized["bbox_ap"] == 0.0
    assert list(scores.per_sample["fp32.detections"]) == [1, 1]


def test_partial_instances_tree_fails_with_counts(tmp_path):
    with pytest.raises(DatasetError, match=r"lists 2 images, found 1 .*b\.jpg"):
        CocoImageSet(_tree(tmp_path, present=1), lambda image: image, kind="instances")


def test_synthetic_coco_is_the_synthetic_voc_test_split():
    root = embedded_tree()
    voc = root.parent / root.name.removeprefix("synthetic_coco-") / "VOC2007"
    coco = json.loads(annotation_path(root, "test", "instances").read_text())
    test_ids = read_ids(voc, "ImageSets/Main/test.txt")
    assert [image["id"] for image in coco["images"]] == [int(i) for i in test_ids]
    first = read_annotation(voc / "Annotations" / f"{test_ids[0]}.xml")[0]
    xmin, ymin, xmax, ymax = first.bbox
    annotation = next(a for a in coco["annotations"] if a["image_id"] == int(test_ids[0]))
    assert annotation["bbox"] == [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]
    assert annotation["category_id"] == VOC_TO_COCO[first.name][0]
    assert len({c["id"] for c in coco["categories"]}) == 20


def test_synthetic_coco_calibrates_on_trainval_only():
    data = CocoImageSet(embedded_tree(), lambda image: image, split="test", kind="instances",
                        calibration_split="trainval")
    test_pixels = {data[i][0].tobytes() for i in range(len(data))}
    calibration = data.calibration_images(8, seed=0)
    assert len(calibration) == 8 and not test_pixels & {image.tobytes() for image in calibration}
