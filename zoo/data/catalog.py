"""Datasets by name: how each is opened, where it lives under --data-root, and its pytest mark.

Every dataset follows the ``Dataset`` protocol (zoo/data/base.py): ``(input tensor, target)`` pairs
with a model's preprocessing, ``sample_ids()``, ``fingerprint()``, ``calibration_images(count, seed)``,
and ground-truth accessors declared by kind for the task scorers. Real layouts load from
``zoo/data/real/``, the embedded sets from ``zoo/data/embedded/``, generated trees from ``zoo/data/synthetic/``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zoo.data.base import Dataset
from zoo.data.embedded import photos, pose_photos, speech_fixture, sr_photos, voc_objects, voc_person
from zoo.data.real import coco, imagenet, librispeech, super_resolution, voc
from zoo.data.synthetic import coco as synthetic_coco
from zoo.data.synthetic import pose as synthetic_pose
from zoo.data.synthetic import voc as synthetic_voc


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    opener: Callable[[Path | None, Callable], Dataset]  # (data_dir, preprocess) -> the dataset
    mark: str                   # the pytest mark of the dataset's family (-m voc)
    layout: tuple[str, str] | None = None  # (directory under --data-root, what it must hold); None: embedded
    # the same for the training split quantization-aware training reads, where it is a directory of its own
    training_layout: tuple[str, str] | None = None

    @property
    def embedded(self) -> bool:
        return self.layout is None

    def open(self, data_dir: Path | None, preprocess) -> Dataset:
        return self.opener(data_dir, preprocess)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("imagenet", imagenet.ImageNetVal, "imagenet",
                    ("imagenet/val", "ImageNet validation images as imagenet/val/<wnid>/*.JPEG"),
                    ("imagenet/train", "ImageNet training images as imagenet/train/<wnid>/*.JPEG")),
        DatasetSpec("photos", photos.open_photos, "photos"),
        DatasetSpec("photo_views", photos.open_photo_views, "photos"),
        DatasetSpec("voc2007", voc.open_voc2007_test, "voc",
                    ("VOCdevkit/VOC2007", "VOCdevkit/VOC2007 (JPEGImages, Annotations, ImageSets/Main/test.txt)")),
        DatasetSpec("voc2012", voc.open_voc2012_val, "voc",
                    ("VOCdevkit/VOC2012", "VOCdevkit/VOC2012 (JPEGImages, SegmentationClass, "
                                          "ImageSets/Segmentation/val.txt)")),
        DatasetSpec("synthetic_voc2007", synthetic_voc.open_synthetic_voc2007_test, "synthetic_voc"),
        DatasetSpec("synthetic_voc2012", synthetic_voc.open_synthetic_voc2012_val, "synthetic_voc"),
        DatasetSpec("set5", super_resolution.open_set5, "sr",
                    ("Set5", "Set5 in the SelfExSR layout (Set5/image_SRF_4/*_HR.png and *_LR.png)")),
        DatasetSpec("set14", super_resolution.open_set14, "sr",
                    ("Set14", "Set14 in the SelfExSR layout (Set14/image_SRF_4/*_HR.png and *_LR.png)")),
        DatasetSpec("bsd100", super_resolution.open_bsd100, "sr", ("BSD100", "BSD100 HR images "
                    "(BSD100/HR/*.png or the SelfExSR layout BSD100/image_SRF_4/*_HR.png)")),
        DatasetSpec("sr_photos", sr_photos.open_sr_photos, "sr_photos"),
        DatasetSpec("voc_person_views", voc_person.open_voc_person_views, "voc_image"),
        DatasetSpec("voc_object_views", voc_objects.open_voc_object_views, "voc_image"),
        DatasetSpec("pose_photo_views", pose_photos.open_pose_photo_views, "photos"),
        DatasetSpec("librispeech", librispeech.open_test_clean, "librispeech",
                    ("LibriSpeech", "LibriSpeech/test-clean/<speaker>/<chapter>/*.flac with *.trans.txt")),
        DatasetSpec("coco_keypoints", coco.open_keypoints_val2014, "coco",
                    ("coco", "COCO val2014 as coco/val2014/*.jpg with coco/annotations/person_keypoints_val2014.json")),
        DatasetSpec("coco2017", coco.open_instances_val2017, "coco",
                    ("coco", "COCO val2017 as coco/val2017/*.jpg with coco/annotations/instances_val2017.json")),
        DatasetSpec("synthetic_coco", synthetic_coco.open_synthetic_coco, "synthetic_coco"),
        DatasetSpec("synthetic_pose", synthetic_pose.open_synthetic_pose, "synthetic_pose"),
        DatasetSpec("speech_fixture", speech_fixture.open_speech_fixture, "speech_fixture"),
        DatasetSpec("speech_views", speech_fixture.open_speech_views, "speech_fixture"),
    )
}


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)} (zoo/data/catalog.py)") from None
