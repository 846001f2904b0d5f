"""COCO: the images of ``annotations/<kind>_<split>.json`` and that file as ground truth.

``kind`` is ``person_keypoints`` (pose) or ``instances`` (detection). Every image the annotation
file lists is a sample, annotated or not, sorted by image id: the AIMET zoo's pose evaluation
(pose_estimation_quanteval.py, COCOWrapper.get_images) and keras-retinanet's coco_eval run on all
of them and score them with COCOeval over the same ids. Images live in ``<root>/<split>/`` (the layout of
the COCO zips) or ``<root>/images/<split>/`` (the layout the AIMET zoo's script expects). The
default split is val2017; the AIMET zoo's published pose numbers are on val2014 (``split="val2014"``).
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from zoo.data.base import DatasetError

SHOWN_MISSING = 5


@dataclass(frozen=True)
class CocoImage:
    """The target of one sample: what decoding and COCOeval need about the image."""

    image_id: int
    file_name: str
    height: int
    width: int


def annotation_path(root: Path, split: str, kind: str = "person_keypoints") -> Path:
    return Path(root) / "annotations" / f"{kind}_{split}.json"


def read_images(path: Path) -> list[CocoImage]:
    """The annotation file's image entries, sorted by id."""
    if not path.is_file():
        raise DatasetError(f"{path}: COCO annotations missing; extract annotations_trainval<year>.zip "
                           f"into {path.parent.parent} (it holds annotations/{path.name})")
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not valid JSON ({error}); re-extract the annotations zip") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DatasetError(f"{path}: lacks 'images' or 'annotations'; expected a COCO annotation file")
    return sorted((CocoImage(int(i["id"]), i["file_name"], int(i["height"]), int(i["width"])) for i in data["images"]),
                  key=lambda image: image.image_id)


def image_dir(root: Path, split: str) -> Path:
    """``<root>/<split>`` or ``<root>/images/<split>``, whichever exists (the former when both do)."""
    candidates = [Path(root) / split, Path(root) / "images" / split]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DatasetError(f"{root}: no image folder {' or '.join(str(c) for c in candidates)}; "
                       f"extract {split}.zip into {root}")


class CocoImageSet:
    """Map-style dataset: (preprocessed RGB image, CocoImage) for every image of the annotation file."""

    LIST_ACCESSORS = ("image_ids",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ("ground_truth",)

    def __init__(self, root: Path, preprocess, split: str = "val2017", kind: str = "person_keypoints",
                 calibration_split: str | None = None):
        self.root = Path(root)
        self.split = split
        self.kind = kind
        self.calibration_split = calibration_split  # None: calibrate on a seeded sample of the evaluated images
        self.preprocess = preprocess
        self.ground_truth = annotation_path(self.root, split, kind)
        self.images = read_images(self.ground_truth)
        self.image_dir = image_dir(self.root, split)
        self._check_complete()

    def _check_complete(self) -> None:
        missing = [image.file_name for image in self.images if not (self.image_dir / image.file_name).is_file()]
        if missing:
            raise DatasetError(
                f"{self.image_dir}: partial COCO {self.split} tree: {self.ground_truth.name} lists {len(self.images)} "
                f"images, found {len(self.images) - len(missing)} (missing {len(missing)}, first: "
                f"{', '.join(missing[:SHOWN_MISSING])}); extract the complete {self.split}.zip")

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i) -> tuple[object, CocoImage]:
        return self._load(self.image_dir, self.images[i]), self.images[i]

    def image_ids(self) -> list[int]:
        return [image.image_id for image in self.images]

    def sample_ids(self) -> list[str]:
        return [image.file_name for image in self.images]

    def fingerprint(self) -> str:
        """Identifies the evaluated files (names and sizes) and the ground truth, for caching FP32 results."""
        digest = hashlib.sha256(f"{self.ground_truth.name}:{self.ground_truth.stat().st_size}\n".encode())
        for image in self.images:
            digest.update(f"{image.file_name}:{(self.image_dir / image.file_name).stat().st_size}\n".encode())
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """A seeded random sample of ``count`` preprocessed images of the calibration split (their sizes follow
        each image's orientation)."""
        if self.calibration_split is None:
            images, folder = self.images, self.image_dir
        else:
            images = read_images(annotation_path(self.root, self.calibration_split, self.kind))
            folder = image_dir(self.root, self.calibration_split)
        picks = random.Random(seed).sample(range(len(images)), min(count, len(images)))
        return [self._load(folder, images[i]) for i in picks]

    def _load(self, folder: Path, image: CocoImage):
        with Image.open(folder / image.file_name) as pil:
            return self.preprocess(pil.convert("RGB"))


def open_keypoints_val2014(data_dir: Path, preprocess) -> CocoImageSet:
    """``data_dir`` holds val2014/ and annotations/person_keypoints_val2014.json (the AIMET zoo's pose
    evaluation, which produced the seed's numbers, scores all of val2014)."""
    return CocoImageSet(data_dir, preprocess, split="val2014")


def open_instances_val2017(data_dir: Path, preprocess) -> CocoImageSet:
    """``data_dir`` holds val2017/ and annotations/instances_val2017.json (5000 images; the split
    keras-retinanet's and the TF object detection API's COCO evaluations use)."""
    return CocoImageSet(data_dir, preprocess, split="val2017", kind="instances")
