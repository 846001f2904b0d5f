"""Super-resolution PSNR and SSIM on the luma (Y) channel, the convention of SR papers.

Y is ITU-R BT.601 studio-range luma as MATLAB's ``rgb2ycbcr``:
Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], so Y lies in [16, 235] on the
0-255 scale. It is kept as unrounded float, as BasicSR's ``to_y_channel`` does (MATLAB rounds
uint8 output; the difference is about 0.01 dB). ``shave`` pixels are removed from every border
before scoring; SR evaluations set it to the scale factor.
"""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma on the 0-255 scale (float64) of an HxWx3 RGB image: uint8 in [0, 255] or float in [0, 1]."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if image.dtype == np.uint8:
        unit = image.astype(np.float64) / 255.0
    elif np.issubdtype(image.dtype, np.floating):
        if image.size and (image.min() < 0.0 or image.max() > 1.0):
            raise ValueError(
                f"float image values span [{image.min()}, {image.max()}] but must lie in [0, 1]; "
                "clip to [0, 1], or round(x * 255) to uint8 as SR evaluations do"
            )
        unit = image.astype(np.float64)
    else:
        raise TypeError(f"image dtype {image.dtype} not supported; pass uint8 [0, 255] or float [0, 1]")
    return 16.0 + unit @ _Y_WEIGHTS


def _shaved_y_pair(sr: np.ndarray, hr: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    sr, hr = np.asarray(sr), np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR image shape {sr.shape} differs from HR image shape {hr.shape}; crop HR to the SR size")
    height, width = sr.shape[:2]
    if shave < 0 or 2 * shave >= min(height, width):
        raise ValueError(f"shave={shave} leaves nothing of a {height}x{width} image")
    window = (slice(shave, height - shave), slice(shave, width - shave))
    return rgb_to_y(sr)[window], rgb_to_y(hr)[window]


def psnr_y(sr: np.ndarray, hr: np.ndarray, *, shave: int) -> float:
    """PSNR in dB on Y (peak 255) after shaving ``shave`` border pixels; inf for identical images."""
    sr_y, hr_y = _shaved_y_pair(sr, hr, shave)
    if np.array_equal(sr_y, hr_y):
        return float("inf")  # skimage would divide by a zero MSE
    return float(peak_signal_noise_ratio(hr_y, sr_y, data_range=255))


def ssim_y(sr: np.ndarray, hr: np.ndarray, *, shave: int) -> float:
    """SSIM on Y after shaving, with Wang et al. 2004's settings: 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03."""
    sr_y, hr_y = _shaved_y_pair(sr, hr, shave)
    return float(structural_similarity(
        hr_y, sr_y, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    ))
