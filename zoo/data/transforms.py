"""Evaluation preprocessing, described by data so each source model states its own."""
from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side to ``resize``, center-crop ``crop``, scale to [0,1], normalize."""

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def transform(self):
        from torchvision import transforms as T

        modes = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}
        return T.Compose([
            T.Resize(self.resize, interpolation=modes[self.interpolation]),
            T.CenterCrop(self.crop),
            T.ToTensor(),
            T.Normalize(self.mean, self.std),
        ])

    def __call__(self, image: Image.Image):
        return self.transform()(image.convert("RGB"))


def hwc_to_chw(array):
    """An HWC array -> a float32 CHW tensor: the datasets yield CHW; the Keras runner transposes batches back."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=np.float32).transpose(2, 0, 1)))
