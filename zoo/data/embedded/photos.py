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


@dataclass(frozen=True)
class View:
    """A crop box (left, top, right, bottom) of one photo, mirrored or not."""

    photo: int
    box: tuple[int, int, int, int]
    mirrored: bool


def seeded_views(sizes: list[tuple[int, int]], per_photo: int, seed: int) -> list[View]:
    """``per_photo`` views of each photo: the whole photo, then seeded crops keeping 40-100 % of its area
    (aspect 3:4 to 4:3), half of them mirrored; a crop that small can lose the labelled object, which the
    FP32 top-1 on the views shows."""
    rng = random.Random(seed)
    views = []
    for index, (w, h) in enumerate(sizes):
        views.append(View(index, (0, 0, w, h), False))
        for _ in range(per_photo - 1):
            area, aspect = rng.uniform(0.4, 1.0) * w * h, rng.uniform(3 / 4, 4 / 3)
            cw, ch = min(w, int(round((area * aspect) ** 0.5))), min(h, int(round((area / aspect) ** 0.5)))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            views.append(View(index, (x, y, x + cw, y + ch), rng.random() < 0.5))
    return views


class PhotoViewSet(PhotoSet):
    """The labelled photos seen as many views each (seeded crops and mirrors), each scored against its photo's
    labels: enough samples that a 1-point change in top-1 agreement is a couple of samples, not one of 8."""

    VIEWS_PER_PHOTO = 24
    SEED = 0

    def __init__(self, preprocess, fixture: Path = FIXTURE):
        super().__init__(preprocess, fixture)
        sizes = []
        for photo in self.photos:
            with Image.open(photo.path) as image:
                sizes.append(image.size)
        self.views = seeded_views(sizes, self.VIEWS_PER_PHOTO, self.SEED)

    def __len__(self):
        return len(self.views)

    def __getitem__(self, i):
        view = self.views[i]
        with Image.open(self.photos[view.photo].path) as image:
            crop = image.convert("RGB").crop(view.box)
        if view.mirrored:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return self.preprocess(crop), min(self.photos[view.photo].labels)

    def label_sets(self) -> list[frozenset[int]]:
        return [self.photos[v.photo].labels for v in self.views]

    def sample_ids(self) -> list[str]:
        return [f"{self.photos[v.photo].name}@{','.join(map(str, v.box))}{'~' if v.mirrored else ''}" for v in self.views]

    def fingerprint(self) -> str:
        return f"{super().fingerprint()}:views:{self.VIEWS_PER_PHOTO}:{self.SEED}"


def open_photo_views(_data_dir, preprocess) -> PhotoViewSet:
    return PhotoViewSet(preprocess)


def open_photos(_data_dir, preprocess) -> PhotoSet:
    """The DATASETS opener: the photos ship in wheels, so there is no data directory."""
    return PhotoSet(preprocess)

