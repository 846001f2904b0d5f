"""Set5 / Set14 / BSD100 super-resolution benchmarks: HR images, LR inputs made the way mmsr makes them.

Accepted layouts of ``root`` (one benchmark directory, e.g. ``<data>/Set5`` or ``<data>/BSD100_SR``),
tried in this order:

- ``image_SRF_<scale>/*_HR.png`` (+ ``*_LR.png``): the SelfExSR zips the AIMET zoo's SRGAN.md links;
- ``HR/*.<image>``;
- ``*.<image>`` directly in ``root`` (mmsr's ``datasets/val_set5/Set5``).

As andreas128/mmsr's LQGTDataset (codes/data/LQGT_dataset.py, commit a73b318) in its test phase,
HR is cropped to a multiple of the scale (``modcrop``) and, without LR files, LR is
``imresize_np(HR, 1 / scale, antialiasing=True)`` (codes/data/util.py): MATLAB's bicubic
``imresize`` (Keys cubic, a = -0.5, kernel widened by 1 / scale to antialias, symmetric edge
padding), left as unrounded float in [0, 1]-ish (cubic overshoot is kept). That is how the AIMET
zoo's srgan_quanteval.py feeds BSD100, the published row (``lr_source="bicubic"``, the default); for
Set5 and Set14 it reads the zips' ``*_LR.png`` (``lr_source="files"``). Here the resize runs in
float64 as one weight matrix per axis; mmsr runs the same arithmetic in float32 (about 1e-7 apart).

Grey images are replicated to RGB, as the AIMET zoo's evaluate_generator repeats one channel to three.
"""
from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zoo.data.base import DatasetError

IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".ppm", ".tif", ".tiff"}
BENCHMARK_SIZES = {"Set5": 5, "Set14": 14, "BSD100": 100}
BENCHMARK_ALIASES = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "bsd100_sr": "BSD100", "b100": "BSD100"}
LR_SOURCES = ("bicubic", "files")
CUBIC_WIDTH = 4


# ----------------------------------------------------------------------------- MATLAB imresize (bicubic)

def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, MATLAB's ``cubic``."""
    absx = np.abs(x)
    absx2, absx3 = absx ** 2, absx ** 3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2)))


def _symmetric(indices: np.ndarray, length: int) -> np.ndarray:
    """0-based indices folded into [0, length) by mirroring with the edge repeated (MATLAB 'symmetric')."""
    period = indices % (2 * length)
    return np.where(period < length, period, 2 * length - 1 - period)


def resize_weights(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> np.ndarray:
    """[out_length, in_length] matrix of MATLAB imresize's bicubic weights along one axis (edges folded in)."""
    widen = scale < 1 and antialiasing
    kernel_width = CUBIC_WIDTH / scale if widen else CUBIC_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in 1-based input coordinates
    left = np.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(distance * scale) if widen else cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((out_length, in_length))
    rows = np.repeat(np.arange(out_length), taps)
    np.add.at(matrix, (rows, _symmetric(indices.astype(np.int64).ravel() - 1, in_length)), weights.ravel())
    return matrix


def imresize_matlab(image: np.ndarray, scale: float, antialiasing: bool = True) -> np.ndarray:
    """mmsr's imresize_np: HxWxC float image resized by ``scale`` (output ceil(H * scale) x ceil(W * scale)), unrounded."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {image.shape}")
    height, width = image.shape[:2]
    rows = resize_weights(height, math.ceil(height * scale), scale, antialiasing)
    cols = resize_weights(width, math.ceil(width * scale), scale, antialiasing)
    return np.einsum("oh,hwc,pw->opc", rows, image, cols).astype(np.float32)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right so both sides are multiples of ``scale``."""
    height, width = image.shape[:2]
    return image[:height - height % scale, :width - width % scale]


# ----------------------------------------------------------------------------- the benchmark folders

def benchmark_name(root: Path, benchmark: str | None) -> str:
    name = benchmark or Path(root).name
    canonical = BENCHMARK_ALIASES.get(name.lower())
    if canonical is None:
        raise DatasetError(f"{root}: cannot tell which benchmark {name!r} is; name the folder Set5, Set14, BSD100 "
                           f"(or BSD100_SR, B100) or pass benchmark= one of {sorted(BENCHMARK_SIZES)}")
    return canonical


def _images_in(folder: Path, suffix: str = "") -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.stem.endswith(suffix))


def find_pairs(root: Path, scale: int) -> tuple[str, list[tuple[Path, Path | None]]]:
    """(layout name, [(HR path, LR path or None)]) for the first layout ``root`` has."""
    srf = root / f"image_SRF_{scale}"
    if srf.is_dir():
        pairs = []
        for hr in _images_in(srf, "_HR"):
            lr = hr.with_name(hr.name.replace("_HR", "_LR"))
            pairs.append((hr, lr if lr.is_file() else None))
        return srf.name, pairs
    if (root / "HR").is_dir():
        return "HR", [(hr, None) for hr in _images_in(root / "HR")]
    if root.is_dir():
        return "flat", [(hr, None) for hr in _images_in(root)]
    raise DatasetError(f"{root}: benchmark folder missing; extract the Set5/Set14/BSD100 zip there")


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def lr_to_tensor(lr: np.ndarray) -> torch.Tensor:
    """LR image HxWx3 float (RGB, [0, 1] scale) -> [3, H, W] float32 tensor, MSRResNet's input."""
    return torch.from_numpy(np.ascontiguousarray(lr, dtype=np.float32)).permute(2, 0, 1).contiguous()


class SuperResolutionSet:
    """Map-style dataset: (preprocess(LR float HxWx3), HR uint8 HxWx3 cropped to a multiple of the scale)."""

    LIST_ACCESSORS = ()
    INDEX_ACCESSORS = ("hr_image",)
    SHARED_ATTRIBUTES = ("scale",)

    def __init__(self, root: Path, preprocess=lr_to_tensor, scale: int = 4, lr_source: str = "bicubic",
                 benchmark: str | None = None):
        if lr_source not in LR_SOURCES:
            raise ValueError(f"lr_source={lr_source!r}; use one of {LR_SOURCES}")
        self.root = Path(root)
        self.preprocess = preprocess
        self.scale = scale
        self.lr_source = lr_source
        self.benchmark = benchmark_name(self.root, benchmark)
        self.layout, self.pairs = find_pairs(self.root, scale)
        self._check_complete()

    def _check_complete(self) -> None:
        expected = BENCHMARK_SIZES[self.benchmark]
        if len(self.pairs) != expected:
            raise DatasetError(
                f"{self.root}: partial {self.benchmark} tree ({self.layout} layout): expected {expected} HR images, "
                f"found {len(self.pairs)}; extract the complete {self.benchmark} zip into {self.root}")
        if self.lr_source == "files":
            with_lr = sum(lr is not None for _, lr in self.pairs)
            if with_lr != expected:
                raise DatasetError(
                    f"{self.root}: lr_source='files' needs an *_LR partner for each of the {expected} HR images "
                    f"in image_SRF_{self.scale}/, found {with_lr}; use the SelfExSR zip or lr_source='bicubic'")

    def __len__(self):
        return len(self.pairs)

    def hr_image(self, i: int) -> np.ndarray:
        return modcrop(read_rgb(self.pairs[i][0]), self.scale)

    def lr_image(self, i: int, hr: np.ndarray | None = None) -> np.ndarray:
        """The LR input as float32 HxWx3 on the [0, 1] scale (cubic overshoot kept when generated)."""
        hr = self.hr_image(i) if hr is None else hr
        if self.lr_source == "bicubic":
            return imresize_matlab(hr.astype(np.float32) / 255.0, 1 / self.scale)
        lr_path = self.pairs[i][1]
        lr = read_rgb(lr_path).astype(np.float32) / 255.0
        if (lr.shape[0] * self.scale, lr.shape[1] * self.scale) != hr.shape[:2]:
            raise DatasetError(f"{lr_path}: {lr.shape[1]}x{lr.shape[0]} LR times {self.scale} is not the "
                               f"{hr.shape[1]}x{hr.shape[0]} (cropped) HR image; use lr_source='bicubic'")
        return lr

    def __getitem__(self, i) -> tuple[object, np.ndarray]:
        hr = self.hr_image(i)
        return self.preprocess(self.lr_image(i, hr)), hr

    def sample_ids(self) -> list[str]:
        return [str(hr.relative_to(self.root)) for hr, _ in self.pairs]

    def fingerprint(self) -> str:
        """Identifies the evaluated files (names and sizes), the LR source and the scale, for caching FP32 results."""
        digest = hashlib.sha256(f"{self.benchmark}:x{self.scale}:{self.lr_source}\n".encode())
        for hr, lr in self.pairs:
            used = [hr] + ([lr] if self.lr_source == "files" else [])
            for path in used:
                digest.update(f"{path.relative_to(self.root)}:{path.stat().st_size}\n".encode())
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """A seeded random sample of ``count`` preprocessed LR inputs (sizes differ per image)."""
        picks = random.Random(seed).sample(range(len(self)), min(count, len(self)))
        return [self[i][0] for i in picks]


# the AIMET zoo's SRGAN evaluation reads the zips' LR files for Set5 / Set14 and makes BSD100's LR itself
def open_set5(data_dir: Path, preprocess) -> SuperResolutionSet:
    return SuperResolutionSet(data_dir, preprocess, benchmark="Set5", lr_source="files")


def open_set14(data_dir: Path, preprocess) -> SuperResolutionSet:
    return SuperResolutionSet(data_dir, preprocess, benchmark="Set14", lr_source="files")


def open_bsd100(data_dir: Path, preprocess) -> SuperResolutionSet:
    return SuperResolutionSet(data_dir, preprocess, benchmark="BSD100")
