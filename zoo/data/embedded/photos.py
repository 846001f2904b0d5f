"""Embedded photos: real images shipped in dependency wheels, labelled in fixtures/photos/photos.json."""
from __future__ import annotations

import importlib.util
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from zoo import paths

FIXTURE = paths.FIXTURES / "photos" / "photos.json"


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    labels: frozenset[int] = frozenset()


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed; run pip install -e .")
    return Path(spec.submodule_search_locations[0])


def wheel_file(package: str, file: str, owner: str, readme: str) -> Path:
    """A data file inside an installed wheel; a missing one names the module that wants it and the README
    that records the versions the fixture was made with."""
    path = _package_dir(package) / file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {file!r}, used by {owner}, is missing from the installed {package} wheel; "
                                f"pin the version {readme} names")
    return path


def _photo(raw: dict) -> Photo:
    path = _package_dir(raw["package"]) / raw["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{FIXTURE}: photo {raw['name']!r}: {path} is missing from the installed "
                                f"{raw['package']} wheel; pin the version this fixture was made with")
    return Photo(raw["name"], path, frozenset(raw.get("labels", ())))


def load_manifest(fixture: Path = FIXTURE) -> tuple[list[Photo], list[Photo]]:
    data = json.loads(Path(fixture).read_text())
    return [_photo(r) for r in data["eval"]], [_photo(r) for r in data["calibration_pool"]]


class PhotoSet:
    """Map-style dataset of the labelled photos: (preprocessed image, label set)."""

    LIST_ACCESSORS = ("label_sets",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ()

    def __init__(self, preprocess, fixture: Path = FIXTURE):
        self.photos, self.pool = load_manifest(fixture)
        self.preprocess = preprocess

    def __len__(self):
        return len(self.photos)

    def __getitem__(self, i):
        with Image.open(self.photos[i].path) as image:
            return self.preprocess(image), min(self.photos[i].labels)

    def label_sets(self) -> list[frozenset[int]]:
        return [p.labels for p in self.photos]

    def sample_ids(self) -> list[str]:
        return [p.name for p in self.photos]

    def fingerprint(self) -> str:
        """Identifies the evaluated photos and labels (file bytes included), for caching FP32 results."""
        import hashlib

        digest = hashlib.sha256()
        for photo in self.photos:
            digest.update(f"{photo.name}:{sorted(photo.labels)}:".encode() + photo.path.read_bytes())
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """Seeded random crops (scale 0.2-1.0, flips) of the unlabelled pool photos."""
        from torchvision import transforms as T

        rng = random.Random(seed)
        crops = []
        images = [Image.open(p.path).convert("RGB") for p in self.pool]
        for k in range(count):
            image = images[k % len(images)]
            w, h = image.size
            scale = rng.uniform(0.2, 1.0)
            cw, ch = max(16, int(w * scale ** 0.5)), max(16, int(h * scale ** 0.5))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            crop = image.crop((x, y, x + cw, y + ch))
            if rng.random() < 0.5:
                crop = T.functional.hflip(crop)
            crops.append(self.preprocess(crop))
        return crops


def open_photos(_data_dir, preprocess) -> PhotoSet:
    """The DATASETS opener: the photos ship in wheels, so there is no data directory."""
    return PhotoSet(preprocess)

