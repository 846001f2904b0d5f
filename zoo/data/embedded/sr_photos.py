"""Embedded x4 super-resolution data: seeded crops of real photos that ship in dependency wheels.

HR images are square crops of photos in the scikit-image and scikit-learn wheels whose licence the
package states (``SOURCES``; see fixtures/sr/README.md). Photos are split by name, so no evaluated
pixel is ever trained on or calibrated with:

- ``EVAL_PHOTOS``: ``EVAL_CROPS_PER_PHOTO`` seeded ``EVAL_SIZE`` x ``EVAL_SIZE`` crops each, the
  scored set (``SrPhotos``);
- ``TRAIN_PHOTOS``: the pool of seeded random crops for training (fixtures/sr/train_tiny_sr.py)
  and for calibration.

LR = the HR crop downscaled x4 with Pillow's ``Image.Resampling.BICUBIC`` (a = -0.5 cubic whose
support widens with the scale, i.e. anti-aliased like MATLAB's ``imresize``, but not identical to
it). The bicubic baseline upscales LR with the same filter. Crops whose luma changes by less than
``MIN_DETAIL`` per pixel on average (flat sky, blurred background, black space) are redrawn, so each
crop has detail for SR to recover.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zoo.data.embedded.photos import wheel_file
from zoo.metrics.image_quality import rgb_to_y

SCALE = 4
EVAL_SIZE = 96
EVAL_CROPS_PER_PHOTO = 2
EVAL_SEED = 0
MIN_DETAIL = 6.0     # least mean |Y difference| (0-255) between neighbouring pixels for a crop to be kept
CROP_TRIES = 100
RESAMPLE = Image.Resampling.BICUBIC

# name: (package, file inside it, licence as the package states it). Photos with no stated licence
# (matplotlib's grace_hopper.jpg, skimage's motorcycle_*.png, moon.png, page.png, color.png) are not used, nor is
# skimage's retina.jpg (CC0, but almost no 64x64 crop of it has MIN_DETAIL).
SOURCES = {
    "astronaut": ("skimage", "data/astronaut.png", "NASA; no known copyright restrictions, public domain"),
    "chelsea": ("skimage", "data/chelsea.png", "CC0 by the photographer (Stefan van der Walt)"),
    "coffee": ("skimage", "data/coffee.png", "CC0 by the photographer (Rachel Michetti)"),
    "china": ("sklearn", "datasets/images/china.jpg", "CC BY 2.0, danielbuechele (flickr 6061409035)"),
    "rocket": ("skimage", "data/rocket.jpg", "SpaceX, released into the public domain"),
    "flower": ("sklearn", "datasets/images/flower.jpg", "CC BY 2.0, flickr 6056698931 (credited to danielbuechele)"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg", "NASA, may be freely used in the public domain"),
    "immunohistochemistry": ("skimage", "data/ihc.png", "CMMI; no known copyright restrictions"),
    "camera": ("skimage", "data/camera.png", "CC0 by the photographer (Lav Varshney)"),
    "coins": ("skimage", "data/coins.png", "Brooklyn Museum; no known copyright restrictions"),
    "brick": ("skimage", "data/brick.png", "CC0Textures (Bricks25), CC0"),
    "grass": ("skimage", "data/grass.png", "DeviantArt (linolafett, Grass-01), CC0"),
    "gravel": ("skimage", "data/gravel.png", "CC0Textures (Gravel04), CC0"),
}
EVAL_PHOTOS = ("astronaut", "chelsea", "coffee", "china")
TRAIN_PHOTOS = tuple(name for name in SOURCES if name not in EVAL_PHOTOS)


@dataclass(frozen=True)
class Crop:
    photo: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in the photo's pixels

    @property
    def id(self) -> str:
        left, top, _, _ = self.box
        return f"{self.photo}_x{left}_y{top}"


def source_path(name: str) -> Path:
    package, file, _ = SOURCES[name]
    return wheel_file(package, file, "zoo/data/embedded/sr_photos.py", "fixtures/sr/README.md")


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """The whole photo as HxWx3 uint8 RGB (greyscale ones replicated to three channels)."""
    with Image.open(source_path(name)) as image:
        return np.array(image.convert("RGB"))


def detail(rgb: np.ndarray) -> float:
    """Mean absolute difference of luma between vertical neighbours plus that between horizontal ones."""
    y = rgb_to_y(rgb)
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


def random_crop(name: str, size: int, rng: np.random.Generator) -> Crop:
    """A uniformly placed size x size crop of the photo with enough detail (redrawn up to CROP_TRIES times)."""
    image = photo(name)
    height, width = image.shape[:2]
    for _ in range(CROP_TRIES):
        left, top = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
        crop = Crop(name, (left, top, left + size, top + size))
        if detail(hr_pixels(crop)) >= MIN_DETAIL:
            return crop
    raise ValueError(f"photo {name!r}: no {size}x{size} crop with detail >= {MIN_DETAIL} in {CROP_TRIES} tries")


def hr_pixels(crop: Crop) -> np.ndarray:
    left, top, right, bottom = crop.box
    return photo(crop.photo)[top:bottom, left:right]


def downscale(hr: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """LR of an HxWx3 uint8 HR image (H, W multiples of scale): Pillow bicubic, antialiased."""
    height, width = hr.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"HR size {height}x{width} is not a multiple of the scale {scale}; crop it first")
    return np.array(Image.fromarray(hr).resize((width // scale, height // scale), RESAMPLE))


def bicubic_upscale(lr: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """The bicubic baseline: LR upscaled with the same Pillow filter."""
    height, width = lr.shape[:2]
    return np.array(Image.fromarray(lr).resize((width * scale, height * scale), RESAMPLE))


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB -> [3, H, W] float32 in [0, 1] (mmsr's input scale)."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float().div_(255.0)


def eval_crops(seed: int = EVAL_SEED, per_photo: int = EVAL_CROPS_PER_PHOTO, size: int = EVAL_SIZE) -> list[Crop]:
    """The scored crops: ``per_photo`` per eval photo, each photo on its own seeded stream."""
    crops = []
    for index, name in enumerate(EVAL_PHOTOS):
        rng = np.random.default_rng([seed, index])
        crops += [random_crop(name, size, rng) for _ in range(per_photo)]
    return crops


def training_patches(count: int, size: int, seed: int) -> list[np.ndarray]:
    """``count`` seeded size x size HR crops of the training photos (cycled), half of them mirrored."""
    rng = np.random.default_rng(seed)
    patches = []
    for k in range(count):
        hr = hr_pixels(random_crop(TRAIN_PHOTOS[k % len(TRAIN_PHOTOS)], size, rng))
        patches.append(np.ascontiguousarray(hr[:, ::-1]) if rng.random() < 0.5 else hr.copy())
    return patches


class SrPhotos:
    """Map-style dataset of the eval crops: (preprocess(LR uint8 HxWx3), HR uint8 HxWx3)."""

    LIST_ACCESSORS = ()
    INDEX_ACCESSORS = ("hr_image",)
    SHARED_ATTRIBUTES = ("scale",)

    scale = SCALE

    def __init__(self, preprocess=to_tensor, crops: list[Crop] | None = None):
        self.crops = eval_crops() if crops is None else crops
        self.preprocess = preprocess

    def __len__(self):
        return len(self.crops)

    def __getitem__(self, i):
        hr = self.hr_image(i)
        return self.preprocess(downscale(hr)), hr

    def hr_image(self, i: int) -> np.ndarray:
        return hr_pixels(self.crops[i])

    def lr(self, i: int) -> np.ndarray:
        return downscale(self.hr_image(i))

    def bicubic(self, i: int) -> np.ndarray:
        return bicubic_upscale(self.lr(i))

    def sample_ids(self) -> list[str]:
        return [crop.id for crop in self.crops]

    def fingerprint(self) -> str:
        """Identifies the scored crops by id and HR pixels, for caching FP32 results."""
        digest = hashlib.sha256()
        for i, crop in enumerate(self.crops):
            digest.update(crop.id.encode() + b"\0" + self.hr_image(i).tobytes())
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """Preprocessed LR of seeded crops of the training photos (never of the eval photos)."""
        return [self.preprocess(downscale(hr)) for hr in training_patches(count, EVAL_SIZE, seed)]


def open_sr_photos(_data_dir, preprocess) -> SrPhotos:
    """The DATASETS opener: the photos ship in wheels, so there is no data directory."""
    return SrPhotos(to_tensor if preprocess is None else preprocess)
