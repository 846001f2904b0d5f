"""A tiny single-person heatmap pose model for the embedded tier, trained by fixtures/pose/train_tiny_pose.py.

Layout of Simple Baselines (Xiao et al. 2018; microsoft/human-pose-estimation.pytorch, lib/models/pose_resnet.py
``PoseResNet``): a strided backbone, then transposed convolutions (4x4, stride 2, padding 1, no bias, BatchNorm,
ReLU) and a 1x1 convolution to one heatmap per COCO keypoint, here at stride 4 of the input. The backbone is
seven 3x3 conv-BN-ReLU layers (four of them stride 2) instead of a ResNet. The whole 128 x 96 image (H x W) of
``zoo.data.synthetic.pose`` is the input: one person per image, so no detector and no affine crop.

The heatmaps are logits of a spatial softmax per keypoint, trained with cross-entropy as Mask R-CNN's keypoint
head is (torchvision/models/detection/roi_heads.py ``keypointrcnn_loss``), but against a Gaussian centred on the
keypoint's sub-pixel position (DARK, Zhang et al. 2020; ilovepose/DarkPose lib/dataset/JointsDataset.py
``generate_target``) instead of a one-hot cell, so that the logits are a quadratic around the peak. Decoding is
the argmax, then DARK's second-order Taylor step on the log heatmap (lib/core/inference.py ``taylor``; the logits
are the log heatmap up to a constant), with 3-point second differences and without DARK's Gaussian blur. Heatmap
cell ``j`` covers image pixels ``[4j, 4j + 4)``: its centre is at continuous image coordinate ``4 (j + 0.5)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo import paths
from zoo.data.synthetic.pose import IMAGE_SIZE, KEYPOINT_NAMES
from zoo.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from zoo.registry import ModelSpec

NUM_KEYPOINTS = len(KEYPOINT_NAMES)
STRIDE = 4
INPUT_SIZE = IMAGE_SIZE  # (H, W)
HEATMAP_SIZE = (INPUT_SIZE[0] // STRIDE, INPUT_SIZE[1] // STRIDE)
SIGMA = 1.25             # target Gaussian's standard deviation in heatmap cells
BACKBONE = ((3, 16, 2), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 96, 2), (96, 96, 1))
DECONV = (64, 48)
CHECKPOINT = paths.FIXTURES / "pose" / "pose_tiny.pth"


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def _deconv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, output_padding=0, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class TinyPoseNet(nn.Module):
    """Image [N, 3, 128, 96] -> heatmaps [N, 17, 32, 24]."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(*(_conv_bn_relu(*layer) for layer in BACKBONE))
        widths = (BACKBONE[-1][1],) + DECONV
        self.deconv_layers = nn.Sequential(*(_deconv_bn_relu(a, b) for a, b in zip(widths, widths[1:])))
        self.final_layer = nn.Conv2d(DECONV[-1], NUM_KEYPOINTS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(self.backbone(x)))


def build_pose_tiny(checkpoint: Path | None) -> nn.Module:
    """The architecture, with the checkpoint's weights loaded strictly when one is given."""
    from zoo.checkpoints import load_state_dict, load_strict

    model = TinyPoseNet()
    return load_strict(model, load_state_dict(checkpoint), checkpoint) if checkpoint else model


# ---- input ----------------------------------------------------------------------------------------------------------

def to_input(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB [..., H, W, 3] -> float32 [..., 3, H, W] scaled to [0, 1] and normalised with ImageNet mean/std."""
    pixels = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32) / 255).movedim(-1, -3)
    return (pixels - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def preprocess(image) -> torch.Tensor:
    """PIL image of INPUT_SIZE -> the model's [3, H, W] input (no resize: decoding maps heatmaps to that size)."""
    height, width = INPUT_SIZE
    if image.size != (width, height):
        raise ValueError(f"pose_tiny takes the {width}x{height} (WxH) images of zoo.data.synthetic.pose, "
                         f"got {image.size[0]}x{image.size[1]}; its decoding maps heatmaps to that size")
    return to_input(np.asarray(image.convert("RGB")))


# ---- targets --------------------------------------------------------------------------------------------------------

def heatmap_targets(keypoints: np.ndarray, sigma: float = SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """COCO keypoints [17, 3] (x, y, v) -> (Gaussian heatmaps [17, h, w] float32, weights [17] float32).

    Labelled keypoints (v > 0) get a unit-peak Gaussian at (x / STRIDE - 0.5, y / STRIDE - 0.5) and weight 1;
    the training loss normalises each to a distribution over the cells.
    """
    height, width = HEATMAP_SIZE
    ys, xs = np.arange(height, dtype=np.float32)[:, None], np.arange(width, dtype=np.float32)[None, :]
    targets = np.zeros((len(keypoints), height, width), dtype=np.float32)
    labelled = keypoints[:, 2] > 0
    for k in np.flatnonzero(labelled):
        mx, my = keypoints[k, 0] / STRIDE - 0.5, keypoints[k, 1] / STRIDE - 0.5
        targets[k] = np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * sigma ** 2))
    return targets, labelled.astype(np.float32)


# ---- decoding -------------------------------------------------------------------------------------------------------

def _taylor_offsets(log_hm: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """DARK's Newton step -H^-1 g on a log heatmap (here the logits) at integer peaks, from central differences
    over the 3 x 3 neighbourhood (DARK's second derivatives span 5 cells; 3 reach one cell nearer the border);
    0 on the border cells or where the Hessian is singular; clamped to one cell."""
    m, height, width = log_hm.shape
    offsets = np.zeros((m, 2))
    inner = (px >= 1) & (px < width - 1) & (py >= 1) & (py < height - 1)
    i, x, y = np.flatnonzero(inner), px[inner], py[inner]
    h = lambda dy, dx: log_hm[i, y + dy, x + dx]  # noqa: E731
    gradient = np.stack([0.5 * (h(0, 1) - h(0, -1)), 0.5 * (h(1, 0) - h(-1, 0))], axis=1)
    dxx = h(0, 1) - 2 * h(0, 0) + h(0, -1)
    dyy = h(1, 0) - 2 * h(0, 0) + h(-1, 0)
    dxy = 0.25 * (h(1, 1) - h(-1, 1) - h(1, -1) + h(-1, -1))
    det = dxx * dyy - dxy ** 2
    ok = det != 0
    inverse = np.stack([np.stack([dyy, -dxy], 1), np.stack([-dxy, dxx], 1)], 1)[ok] / det[ok, None, None]
    offsets[i[ok]] = -np.einsum("nij,nj->ni", inverse, gradient[ok])
    return np.clip(offsets, -1.0, 1.0)


def heatmap_peaks(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """Heatmap logits [N, 17, h, w] -> [N, 17, 3]: x, y in input-image pixels (continuous) and the peak's
    spatial-softmax probability."""
    logits = logits.detach().cpu().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits)
    n, k, height, width = logits.shape
    flat = logits.reshape(n * k, height * width).astype(np.float64)
    index = flat.argmax(axis=1)
    px, py = index % width, index // width
    cells = np.stack([px, py], axis=1) + _taylor_offsets(flat.reshape(n * k, height, width), px, py)
    peak = flat.max(axis=1, keepdims=True)
    probability = 1 / np.exp(flat - peak).sum(axis=1, keepdims=True)  # softmax at the argmax
    return np.concatenate([(cells + 0.5) * STRIDE, probability], axis=1).reshape(n, k, 3)


def person_score(peak_probabilities: np.ndarray) -> float:
    return float(np.mean(peak_probabilities))


def coco_results(peaks: Sequence[np.ndarray], image_ids: Sequence[int]) -> list[dict]:
    """One COCO keypoint result per image: [x, y, peak probability] * 17, category 1 (person), and the person's
    score, the mean peak probability."""
    if len(peaks) != len(image_ids):
        raise ValueError(f"{len(peaks)} peak arrays for {len(image_ids)} image ids")
    return [{"image_id": int(image_id), "category_id": 1, "keypoints": np.asarray(p, dtype=np.float64).ravel().tolist(),
             "score": person_score(np.asarray(p)[:, 2])}
            for p, image_id in zip(peaks, image_ids, strict=True)]


def decode(logits: np.ndarray | torch.Tensor, image_ids: Sequence[int]) -> list[dict]:
    """The model's output for a batch -> COCO keypoint results for ``image_ids`` (the batch's images, in order)."""
    return coco_results(list(heatmap_peaks(logits)), image_ids)


def people_per_image(outputs: tuple[np.ndarray, ...], _targets=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """A ModelSpec ``reduce`` in zoo/tasks/pose.py's format: per image, its one person's keypoints [1, 51]
    (x, y, peak probability per keypoint) and score [1]; the same numbers as ``decode``."""
    return [(p.reshape(1, -1).astype(np.float64), np.array([person_score(p[:, 2])])) for p in heatmap_peaks(outputs[0])]


MODELS = (
    # the embedded tier's single-person heatmap net (fixtures/pose): 128x96 input, 17 heatmaps at stride 4
    ModelSpec("pose_tiny", build_pose_tiny, preprocess, None, people_per_image),
)
