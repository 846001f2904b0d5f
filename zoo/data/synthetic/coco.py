"""The embedded synthetic VOC2007 tree (zoo.data.synthetic.voc) as a COCO detection tree.

The same images and objects, written as ``annotations/instances_<split>.json`` for the splits
``test`` (evaluated) and ``trainval`` (calibration), so the COCO detection cases of the embedded
tier go through the published tier's loader (zoo.data.real.coco.CocoImageSet) and scorer
(pycocotools COCOeval) unchanged. Each VOC class maps to its COCO category (all 20 exist in
COCO); only those 20 categories are listed, so COCOeval scores only them. Boxes convert from
VOC's 1-based inclusive pixels to COCO's [x, y, width, height]: x = xmin - 1, width = xmax - xmin + 1.
VOC's "difficult" has no COCO counterpart: those objects are ordinary ground truth here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from zoo.data.real.coco import CocoImageSet, annotation_path
from zoo.data.real.voc import read_annotation, read_ids

# VOC class -> (COCO category id, COCO name), from COCO 2017's instances categories
VOC_TO_COCO = {
    "aeroplane": (5, "airplane"), "bicycle": (2, "bicycle"), "bird": (16, "bird"), "boat": (9, "boat"),
    "bottle": (44, "bottle"), "bus": (6, "bus"), "car": (3, "car"), "cat": (17, "cat"), "chair": (62, "chair"),
    "cow": (21, "cow"), "diningtable": (67, "dining table"), "dog": (18, "dog"), "horse": (19, "horse"),
    "motorbike": (4, "motorcycle"), "person": (1, "person"), "pottedplant": (64, "potted plant"),
    "sheep": (20, "sheep"), "sofa": (63, "couch"), "train": (7, "train"), "tvmonitor": (72, "tv"),
}
SPLITS = {"test": "ImageSets/Main/test.txt", "trainval": "ImageSets/Main/trainval.txt"}


def coco_instances(voc_root: Path, split_file: str) -> dict:
    """The COCO instances dictionary of one VOC split: image ids are the VOC ids as integers."""
    from PIL import Image

    images, annotations = [], []
    for voc_id in read_ids(voc_root, split_file):
        with Image.open(voc_root / "JPEGImages" / f"{voc_id}.jpg") as image:
            width, height = image.size
        images.append({"id": int(voc_id), "file_name": f"{voc_id}.jpg", "height": height, "width": width})
        for obj in read_annotation(voc_root / "Annotations" / f"{voc_id}.xml"):
            xmin, ymin, xmax, ymax = obj.bbox
            box = [xmin - 1.0, ymin - 1.0, xmax - xmin + 1.0, ymax - ymin + 1.0]
            annotations.append({"id": len(annotations) + 1, "image_id": int(voc_id),
                                "category_id": VOC_TO_COCO[obj.name][0], "bbox": box, "area": box[2] * box[3],
                                "iscrowd": 0})
    categories = [{"id": cid, "name": name, "supercategory": ""} for cid, name in sorted(VOC_TO_COCO.values())]
    return {"info": {"description": "zoo.data.synthetic.coco: the embedded synthetic VOC2007 tree as COCO"},
            "images": images, "annotations": annotations, "categories": categories}


def embedded_tree() -> Path:
    """``<cache>/synthetic_coco-<voc tree>/``: annotations/instances_{test,trainval}.json and, per split, a
    link to the VOC tree's JPEGImages; written once (atomically) beside the synthetic VOC tree."""
    from zoo.data.synthetic import voc as synthetic_voc

    voc = synthetic_voc.embedded_tree()
    root = voc.parent / f"synthetic_coco-{voc.name}"
    for split, split_file in SPLITS.items():
        target = annotation_path(root, split, "instances")
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".partial{os.getpid()}")
            partial.write_text(json.dumps(coco_instances(voc / "VOC2007", split_file)))
            partial.replace(target)
        link = root / split
        if not link.exists():
            try:
                link.symlink_to(os.path.relpath(voc / "VOC2007" / "JPEGImages", root))
            except FileExistsError:  # another xdist worker made it
                pass
    return root


def open_synthetic_coco(_data_dir, preprocess) -> CocoImageSet:
    return CocoImageSet(embedded_tree(), preprocess, split="test", kind="instances", calibration_split="trainval")
