"""Pascal VOC in the devkit layout: VOCdevkit/VOC2007 for detection, VOCdevkit/VOC2012 for segmentation.

Class index = position in ``VOC_CLASSES`` (0..19, no background slot). Boxes stay as the XML
writes them: 1-based inclusive pixel coordinates, the convention the VOC AP in
zoo/metrics/detection.py expects.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.base import DatasetError, TrainingPairs, seeded_sample

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
IGNORE_INDEX = 255
SHOWN_MISSING = 5


@dataclass(frozen=True)
class VocObject:
    name: str
    label: int
    bbox: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax as in the XML
    difficult: bool = False


def _text(element: ET.Element, tag: str, xml_path: Path) -> str:
    found = element.find(tag)
    if found is None or found.text is None:
        raise DatasetError(f"{xml_path}: an <object> has no <{tag}>; the annotation is truncated or not VOC")
    return found.text.strip()


def _object(element: ET.Element, xml_path: Path) -> VocObject:
    name = _text(element, "name", xml_path)
    if name not in VOC_CLASSES:
        raise DatasetError(f"{xml_path}: {name!r} is not one of the 20 VOC classes (expected e.g. 'dog')")
    box = element.find("bndbox")
    if box is None:
        raise DatasetError(f"{xml_path}: object {name!r} has no <bndbox>")
    bbox = tuple(float(_text(box, tag, xml_path)) for tag in ("xmin", "ymin", "xmax", "ymax"))
    difficult = element.find("difficult")  # absent in some VOC2012 files: not difficult
    is_difficult = difficult is not None and (difficult.text or "0").strip() == "1"
    return VocObject(name, VOC_CLASSES.index(name), bbox, is_difficult)


def read_annotation(xml_path: Path) -> list[VocObject]:
    """The objects of one Annotations/<id>.xml, in file order."""
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as error:
        raise DatasetError(f"{xml_path}: not valid XML ({error}); re-extract the VOC tar") from None
    return [_object(element, xml_path) for element in root.iter("object")]


def objects_as_arrays(objects: list[VocObject]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes float64 [N, 4], labels int64 [N], difficult bool [N]) for the detection metric."""
    boxes = np.array([o.bbox for o in objects], dtype=np.float64).reshape(-1, 4)
    return boxes, np.array([o.label for o in objects], dtype=np.int64), np.array([o.difficult for o in objects], dtype=bool)


def read_ids(root: Path, split_file: str) -> list[str]:
    path = Path(root) / split_file
    if not path.is_file():
        raise DatasetError(f"{path}: split file missing; root must be a VOCdevkit/VOC20xx directory "
                           f"(the one holding ImageSets/, JPEGImages/)")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def check_complete(root: Path, split_file: str, ids: list[str], layout: tuple[tuple[str, str], ...]) -> None:
    """Raise DatasetError if any listed id lacks one of its files (layout: (folder, suffix) pairs)."""
    missing = [root / folder / f"{i}{suffix}" for i in ids for folder, suffix in layout
               if not (root / folder / f"{i}{suffix}").is_file()]
    if missing:
        ids_missing = len({p.stem for p in missing})
        shown = ", ".join(str(p) for p in missing[:SHOWN_MISSING])
        raise DatasetError(
            f"{root}: partial VOC tree: {split_file} lists {len(ids)} ids, {ids_missing} of them lack files "
            f"({len(missing)} missing files, first: {shown}); extract the complete VOC tar into {root} "
            f"or pass the split file that matches the tree")


class _VocSplit:
    """The ids of a split file, checked against the files ``LAYOUT`` requires for each id."""

    LAYOUT: tuple[tuple[str, str], ...] = ()

    def __init__(self, root: Path, split_file: str):
        self.root = Path(root)
        self.image_ids = read_ids(self.root, split_file)
        check_complete(self.root, split_file, self.image_ids, self.LAYOUT)

    def __len__(self):
        return len(self.image_ids)

    def image(self, image_id: str) -> Image.Image:
        with Image.open(self.root / "JPEGImages" / f"{image_id}.jpg") as image:
            return image.convert("RGB")


class VocDetection(_VocSplit):
    """Map-style dataset: (RGB PIL image, list[VocObject]) per id of the split file."""

    LAYOUT = (("JPEGImages", ".jpg"), ("Annotations", ".xml"))

    def __init__(self, root: Path, split_file: str = "ImageSets/Main/test.txt"):
        super().__init__(root, split_file)

    def __getitem__(self, i) -> tuple[Image.Image, list[VocObject]]:
        image_id = self.image_ids[i]
        return self.image(image_id), read_annotation(self.root / "Annotations" / f"{image_id}.xml")


def read_mask(png_path: Path) -> np.ndarray:
    """Class index per pixel (uint8, 255 = ignore). The PNG's palette indices, never its RGB rendering."""
    with Image.open(png_path) as mask:
        if mask.mode not in ("P", "L"):
            raise DatasetError(f"{png_path}: mode {mask.mode}, expected a palette (P) PNG of class indices; "
                               f"use the original SegmentationClass PNGs, not a colour-converted copy")
        return np.array(mask, dtype=np.uint8)


class VocSegmentation(_VocSplit):
    """Map-style dataset: (RGB PIL image, uint8 mask [H, W]) per id of the split file."""

    LAYOUT = (("JPEGImages", ".jpg"), ("SegmentationClass", ".png"))

    def __init__(self, root: Path, split_file: str = "ImageSets/Segmentation/val.txt"):
        super().__init__(root, split_file)

    def __getitem__(self, i) -> tuple[Image.Image, np.ndarray]:
        image_id = self.image_ids[i]
        return self.image(image_id), read_mask(self.root / "SegmentationClass" / f"{image_id}.png")


# ---- the pipeline's view: preprocessed inputs per id, ground truth through accessors -------------------------------

def _names_and_sizes_digest(paths) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.parent.name}/{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


class _PipelineSet:
    """Calibration images come from ``calibration_split`` (a training split), never from the evaluated one."""

    def __init__(self, split: _VocSplit, preprocess, calibration_split: str):
        self.split, self.preprocess, self.calibration_split = split, preprocess, calibration_split

    def __len__(self):
        return len(self.split)

    def sample_ids(self) -> list[str]:
        return list(self.split.image_ids)

    def image_paths(self, ids=None) -> list[Path]:
        return [self.split.root / "JPEGImages" / f"{i}.jpg" for i in (self.split.image_ids if ids is None else ids)]

    def calibration_images(self, count: int, seed: int) -> list:
        import random

        ids = read_ids(self.split.root, self.calibration_split)
        picks = sorted(random.Random(seed).sample(ids, min(count, len(ids))))
        return [self._input(self.split.image(i), i) for i in picks]

    def _input(self, image: Image.Image, image_id: str):
        return self.preprocess(image)


class VocDetectionSet(_PipelineSet):
    """(preprocessed image, index) per id of VOC2007 test; boxes, difficult flags and sizes by accessor."""

    LIST_ACCESSORS = ("ground_truths", "image_sizes")
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ()

    def __init__(self, root: Path, preprocess, split_file: str = "ImageSets/Main/test.txt",
                 calibration_split: str = "ImageSets/Main/trainval.txt"):
        super().__init__(VocDetection(root, split_file), preprocess, calibration_split)

    def __getitem__(self, i):
        return self.preprocess(self.split.image(self.split.image_ids[i])), i

    def ground_truths(self) -> list:
        from zoo.metrics.detection import ImageGroundTruth

        root = self.split.root / "Annotations"
        return [ImageGroundTruth(*objects_as_arrays(read_annotation(root / f"{i}.xml"))) for i in self.split.image_ids]

    def image_sizes(self) -> list[tuple[int, int]]:
        """(width, height) per image, read from the JPEG headers."""
        sizes = []
        for path in self.image_paths():
            with Image.open(path) as image:
                sizes.append(image.size)
        return sizes

    def fingerprint(self) -> str:
        ids = self.split.image_ids
        return _names_and_sizes_digest(self.image_paths() + [self.split.root / "Annotations" / f"{i}.xml" for i in ids])


class VocSegmentationSet(_PipelineSet):
    """(preprocessed image, index) per id of VOC2012 Segmentation val. ``preprocess(image, mask)`` returns the
    model input and the mask it is scored against (a crop or resize must treat both alike)."""

    LIST_ACCESSORS = ()
    INDEX_ACCESSORS = ("target_mask",)
    SHARED_ATTRIBUTES = ()

    def __init__(self, root: Path, preprocess, split_file: str = "ImageSets/Segmentation/val.txt",
                 calibration_split: str = "ImageSets/Segmentation/train.txt"):
        super().__init__(VocSegmentation(root, split_file), preprocess, calibration_split)

    def __getitem__(self, i):
        image, mask = self.split[i]
        return self.preprocess(image, mask)[0], i

    def _input(self, image: Image.Image, image_id: str):
        return self.preprocess(image, np.zeros(image.size[::-1], dtype=np.uint8))[0]

    def training_pairs(self, count: int, seed: int) -> TrainingPairs:
        """``count`` seeded (input, mask) pairs of the calibration (training) split, for quantization-aware
        training, read when indexed; the mask as int64 class indices, 255 where ignored."""
        ids = sorted(seeded_sample(read_ids(self.split.root, self.calibration_split), count, seed))
        return TrainingPairs(ids, self._training_pair)

    def _training_pair(self, image_id: str):
        import torch

        mask = read_mask(self.split.root / "SegmentationClass" / f"{image_id}.png")
        tensor, target = self.preprocess(self.split.image(image_id), mask)
        return tensor, torch.from_numpy(np.asarray(target, dtype=np.int64))

    def target_mask(self, i: int) -> np.ndarray:
        """The mask image ``i`` is scored against (one at a time: VOC val masks at full size are large)."""
        image, mask = self.split[i]
        return self.preprocess(image, mask)[1]

    def fingerprint(self) -> str:
        ids = self.split.image_ids
        masks = [self.split.root / "SegmentationClass" / f"{i}.png" for i in ids]
        return _names_and_sizes_digest(self.image_paths() + masks)


def open_voc2007_test(data_dir: Path, preprocess) -> VocDetectionSet:
    return VocDetectionSet(data_dir, preprocess)


def open_voc2012_val(data_dir: Path, preprocess) -> VocSegmentationSet:
    return VocSegmentationSet(data_dir, preprocess)
