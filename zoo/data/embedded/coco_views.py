"""Seeded views of photos scored as COCO images: the base of the embedded detection and pose sets.

A subclass gives the views (zoo.data.embedded.photos.View), the COCO ground truth of those views (one image per
view, ``file_name`` its sample id) and each photo's pixels; this class serves (preprocessed view, CocoImage) pairs
and calibration crops of other photos (the SR training photos), never the evaluated ones.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from zoo.data.embedded.photos import View
from zoo.data.embedded.sr_photos import training_patches
from zoo.data.real.coco import CocoImage

CALIBRATION_SIDE = 256


def clipped_box(box, view: View) -> list[float] | None:
    """[x, y, w, h] of ``box`` ([x, y, w, h] in the photo) inside the view's crop, mirrored with it; None when
    nothing of it is inside."""
    x0, y0, x1, y1 = view.box
    bx, by, bw, bh = box
    left, top = max(bx - x0, 0), max(by - y0, 0)
    right, bottom = min(bx + bw - x0, x1 - x0), min(by + bh - y0, y1 - y0)
    if right <= left or bottom <= top:
        return None
    if view.mirrored:
        left, right = (x1 - x0) - right, (x1 - x0) - left
    return [float(left), float(top), float(right - left), float(bottom - top)]


def views_ground_truth(views, sample_id, view_annotations, categories: list[dict], description: str) -> dict:
    """COCO ground truth with one image per view (id = position + 1, ``file_name`` its sample id) and the
    annotations ``view_annotations(view, image_id, first_annotation_id)`` gives for it."""
    images, annotations = [], []
    for index, view in enumerate(views):
        x0, y0, x1, y1 = view.box
        images.append({"id": index + 1, "file_name": sample_id(view), "height": y1 - y0, "width": x1 - x0})
        annotations += view_annotations(view, index + 1, len(annotations) + 1)
    return {"info": {"description": description}, "images": images, "annotations": annotations,
            "categories": categories}


class CocoViews:
    LIST_ACCESSORS = ("image_ids",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ("ground_truth",)

    def __init__(self, views: tuple[View, ...], ground_truth: dict, preprocess):
        self.views, self.ground_truth, self.preprocess = views, ground_truth, preprocess

    def photo_pixels(self, photo: int) -> np.ndarray:
        raise NotImplementedError

    def __len__(self):
        return len(self.views)

    def view(self, i: int) -> Image.Image:
        v = self.views[i]
        image = Image.fromarray(self.photo_pixels(v.photo)).crop(v.box)
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if v.mirrored else image

    def __getitem__(self, i) -> tuple[object, CocoImage]:
        meta = self.ground_truth["images"][i]
        return self.preprocess(self.view(i)), CocoImage(meta["id"], meta["file_name"], meta["height"], meta["width"])

    def image_ids(self) -> list[int]:
        return [image["id"] for image in self.ground_truth["images"]]

    def sample_ids(self) -> list[str]:
        return [image["file_name"] for image in self.ground_truth["images"]]

    def calibration_images(self, count: int, seed: int) -> list:
        return [self.preprocess(Image.fromarray(p)) for p in training_patches(count, CALIBRATION_SIDE, seed)]
