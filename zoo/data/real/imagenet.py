"""ImageNet validation set in the standard synset-folder layout: val/<wnid>/*.JPEG, and the training
split beside it (train/<wnid>/*.JPEG) for quantization-aware training.

Class index = position of the wnid in the canonical sorted list of 1000 synsets (the
order every ImageNet classifier uses), so a tree holding a subset of classes still
gets the right labels.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from zoo.data.base import DatasetError, TrainingPairs, seeded_sample

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
VAL_SAMPLES = 50000


@lru_cache(maxsize=1)
def synsets() -> tuple[str, ...]:
    from timm.data import ImageNetInfo

    return tuple(ImageNetInfo().label_names())


def scan(root: Path) -> list[tuple[Path, int]]:
    """(image path, class index) for every image under root/<wnid>/, sorted by path."""
    index = {wnid: i for i, wnid in enumerate(synsets())}
    samples = []
    for class_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if class_dir.name not in index:
            raise DatasetError(f"{class_dir}: {class_dir.name!r} is not an ImageNet synset id (expected e.g. n01440764)")
        samples += [(f, index[class_dir.name]) for f in sorted(class_dir.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    return samples


class ImageNetVal:
    """Map-style dataset: (preprocessed image, frozenset({class index}))."""

    LIST_ACCESSORS = ("label_sets",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ()

    def __init__(self, root: Path, preprocess):
        self.root = Path(root)
        self.samples = scan(self.root)
        self.preprocess = preprocess

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self._load(self.samples[i])

    def _load(self, sample: tuple[Path, int]):
        from PIL import Image

        path, label = sample
        with Image.open(path) as image:
            return self.preprocess(image), label

    def label_sets(self) -> list[frozenset[int]]:
        return [frozenset({label}) for _, label in self.samples]

    def sample_ids(self) -> list[str]:
        return [str(path.relative_to(self.root)) for path, _ in self.samples]

    def fingerprint(self) -> str:
        """Identifies the evaluated files (names and sizes), for caching FP32 results."""
        import hashlib

        digest = hashlib.sha256()
        for path, label in self.samples:
            digest.update(f"{path.relative_to(self.root)}:{path.stat().st_size}:{label}\n".encode())
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """A seeded random sample of ``count`` preprocessed images from the set."""
        import random

        rng = random.Random(seed)
        picks = rng.sample(range(len(self)), min(count, len(self)))
        return [self[i][0] for i in picks]

    def training_pairs(self, count: int, seed: int) -> TrainingPairs:
        """``count`` seeded samples of the training split beside val (imagenet/train/<wnid>/*.JPEG), with the
        evaluation preprocessing, as the AIMET zoo's MobileNetV2 scripts fine-tune; 0 or more than there are:
        all of them."""
        train = self.root.parent / "train"
        if not train.is_dir():
            raise DatasetError(f"{train}: quantization-aware training needs the ImageNet training split there "
                               f"(train/<wnid>/*.JPEG beside val/)")
        return TrainingPairs(seeded_sample(scan(train), count, seed), self._load)
