"""COCO person keypoints: the images of ``annotations/person_keypoints_<split>.json`` and that file as ground truth.

Every image the annotation file lists is a sample, persons or not, sorted by image id: the AIMET
zoo's pose evaluation (pose_estimation_quanteval.py, COCOWrapper.get_images) runs on all of them
and scores them with COCOeval over the same ids. Images live in ``<root>/<split>/`` (the layout of
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

from zoo.datasets.imagenet import DatasetError

SHOWN_MISSING = 5


@dataclass(frozen=True)
class CocoImage:
    """The target of one sample: what decoding and COCOeval need about the image."""

    image_id: int
    file_name: str
    height: int
    width: int


def annotation_path(root: Path, split: str) -> Path:
    return Path(root) / "annotations" / f"person_keypoints_{split}.json"


def read_images(path: Path) -> list[CocoImage]:
    """The annotation file's image entries, sorted by id."""
    if not path.is_file():
        raise DatasetError(f"{path}: keypoint annotations missing; extract annotations_trainval<year>.zip "
                           f"into {path.parent.parent} (it holds annotations/person_keypoints_*.json)")
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not valid JSON ({error}); re-extract the annotations zip") from None
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise DatasetError(f"{path}: lacks 'images' or 'annotations'; expected COCO person_keypoints format")
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


class CocoKeypoints:
    """Map-style dataset: (preprocessed RGB image, CocoImage) for every image of the annotation file."""

    def __init__(self, root: Path, preprocess, split: str = "val2017"):
        self.root = Path(root)
        self.split = split
        self.preprocess = preprocess
        self.ground_truth = annotation_path(self.root, split)
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
        image = self.images[i]
        with Image.open(self.image_dir / image.file_name) as pil:
            return self.preprocess(pil.convert("RGB")), image

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
        """A seeded random sample of ``count`` preprocessed images (their sizes follow each image's orientation)."""
        picks = random.Random(seed).sample(range(len(self)), min(count, len(self)))
        return [self[i][0] for i in picks]


def open_val2014(data_dir: Path, preprocess) -> CocoKeypoints:
    """The DATASETS opener: ``data_dir`` holds val2014/ and annotations/person_keypoints_val2014.json
    (the AIMET zoo's pose evaluation, which produced the seed's numbers, scores all of val2014)."""
    return CocoKeypoints(data_dir, preprocess, split="val2014")
