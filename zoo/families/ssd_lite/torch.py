"""MobileNetV2-SSD-Lite of qfgaohao/pytorch-ssd (commit 7a839cb), checkpoint ``mb2-ssd-lite-mp-0_686.pth``.

Pascal VOC, 21 classes (0 = background). Architecture as the source's
``create_mobilenetv2_ssd_lite(num_classes=21, width_mult=1.0)`` (vision/ssd/mobilenet_v2_ssd_lite.py),
so its state_dict keys and shapes are the source's: ``base_net.*`` (their MobileNetV2
``features``, the tonylins layout of zoo/families/mobilenet_v2/torch.py), ``extras.0-3.conv.*``,
``classification_headers.0-5.*``, ``regression_headers.0-5.*``.

The forward returns raw (confidences [B, 3000, 21], locations [B, 3000, 4]), the source's
``SSD.forward`` with ``is_test=False``; softmax, prior decoding and NMS (the ``is_test=True``
branch and ``Predictor``) stay outside the quantized graph in ``postprocess``.

``activation`` defaults to ReLU6, which every layer of this checkpoint uses (the source's README:
"not ONNX-Compatible, as it uses Relu6"). The source's ``onnx_compatible`` flag swaps only the
base net to ReLU; here one activation applies everywhere, for AIMET's cross-layer scaling.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.checkpoints import load_weights
from zoo.families.mobilenet_v2.torch import InvertedResidual, MobileNetV2
from zoo.metrics.detection import ImageDetections
from zoo.registry import ModelSpec

NUM_CLASSES = 21
BOXES_PER_LOCATION = 6  # 2 squares + 2 aspect ratios x 2 orientations

# vision/ssd/config/mobilenetv1_ssd_config.py (used by mobilenet_v2_ssd_lite.py)
IMAGE_SIZE = 300
IMAGE_MEAN = 127.0  # RGB, all channels
IMAGE_STD = 128.0
CENTER_VARIANCE = 0.1
SIZE_VARIANCE = 0.2
IOU_THRESHOLD = 0.45

# vision/ssd/predictor.py Predictor defaults as eval_ssd.py reaches them: predict(image) with
# top_k=-1 and prob_threshold=None -> filter_threshold 0.01; create_mobilenetv2_ssd_lite_predictor's
# candidate_size=200; eval_ssd.py --nms_method default "hard"
PROB_THRESHOLD = 0.01
CANDIDATE_SIZE = 200
TOP_K = -1

# the first head taps features[14] after conv[0..2] (expand 1x1 conv, BN, ReLU6): GraphPath(14, 'conv', 3)
TAP_LAYER, TAP_SUBLAYERS = 14, 3
HEAD_CHANNELS = (576, 1280, 512, 256, 256, 64)
# (in, out, expand_ratio) of the source's extras; all stride 2
EXTRAS = ((1280, 512, 0.2), (512, 256, 0.25), (256, 256, 0.5), (256, 64, 0.25))


@dataclass(frozen=True)
class SSDSpec:
    feature_map_size: int
    shrinkage: int
    min_size: float
    max_size: float
    aspect_ratios: tuple[int, ...] = (2, 3)


SPECS = (
    SSDSpec(19, 16, 60, 105), SSDSpec(10, 32, 105, 150), SSDSpec(5, 64, 150, 195),
    SSDSpec(3, 100, 195, 240), SSDSpec(2, 150, 240, 285), SSDSpec(1, 300, 285, 330),
)


def separable_conv(in_channels: int, out_channels: int, activation=nn.ReLU6) -> nn.Sequential:
    """The source's SeperableConv2d(kernel_size=3, padding=1): depthwise 3x3 (bias) + BN + act + pointwise 1x1 (bias)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels), nn.BatchNorm2d(in_channels),
        activation(), nn.Conv2d(in_channels, out_channels, 1),
    )


def _headers(outputs_per_box: int, activation) -> nn.ModuleList:
    out = BOXES_PER_LOCATION * outputs_per_box
    *separable, last = HEAD_CHANNELS
    return nn.ModuleList([*(separable_conv(c, out, activation) for c in separable), nn.Conv2d(last, out, 1)])


class MobileNetV2SSDLite(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, activation=nn.ReLU6):
        super().__init__()
        self.num_classes = num_classes
        self.base_net = MobileNetV2(activation=activation).features
        self.extras = nn.ModuleList([InvertedResidual(i, o, 2, t, activation) for i, o, t in EXTRAS])
        self.classification_headers = _headers(num_classes, activation)
        self.regression_headers = _headers(4, activation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # indexed loops, not Sequential slices: a slice is a new unregistered module, which fx tracing rejects
        for i in range(TAP_LAYER):
            x = self.base_net[i](x)
        tapped = self.base_net[TAP_LAYER].conv
        for i in range(TAP_SUBLAYERS):
            x = tapped[i](x)
        sources = [x]
        for i in range(TAP_SUBLAYERS, len(tapped)):  # features[14] has stride 2: no residual to add
            x = tapped[i](x)
        for i in range(TAP_LAYER + 1, len(self.base_net)):
            x = self.base_net[i](x)
        sources.append(x)
        for extra in self.extras:
            x = extra(x)
            sources.append(x)
        confidences = [self._flatten(head(s), self.num_classes) for head, s in zip(self.classification_headers, sources)]
        locations = [self._flatten(head(s), 4) for head, s in zip(self.regression_headers, sources)]
        return torch.cat(confidences, 1), torch.cat(locations, 1)

    @staticmethod
    def _flatten(x: torch.Tensor, per_box: int) -> torch.Tensor:
        """[B, boxes*per_box, H, W] -> [B, H*W*boxes, per_box], the source's compute_header order."""
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, per_box)


def generate_priors(specs: tuple[SSDSpec, ...] = SPECS, image_size: int = IMAGE_SIZE, clamp: bool = True) -> torch.Tensor:
    """[num_priors, 4] priors (cx, cy, w, h) relative to the image, vision/utils/box_utils.generate_ssd_priors.

    Per cell (row-major, y outer): min square, sqrt(min*max) square, then min scaled by
    (sqrt(r), 1/sqrt(r)) and (1/sqrt(r), sqrt(r)) per aspect ratio r.
    """
    priors = []
    for spec in specs:
        scale = image_size / spec.shrinkage
        small = spec.min_size / image_size
        big = math.sqrt(spec.max_size * spec.min_size) / image_size
        for y, x in itertools.product(range(spec.feature_map_size), repeat=2):
            cx, cy = (x + 0.5) / scale, (y + 0.5) / scale
            priors += [[cx, cy, small, small], [cx, cy, big, big]]
            for ratio in spec.aspect_ratios:
                r = math.sqrt(ratio)
                priors += [[cx, cy, small * r, small / r], [cx, cy, small / r, small * r]]
    priors = torch.tensor(priors)
    return priors.clamp(0.0, 1.0) if clamp else priors


def convert_locations_to_boxes(locations: torch.Tensor, priors: torch.Tensor, center_variance: float = CENTER_VARIANCE,
                               size_variance: float = SIZE_VARIANCE) -> torch.Tensor:
    """Regression outputs [..., N, 4] -> center-form boxes: c = l * cv * prior_wh + prior_c, wh = exp(l * sv) * prior_wh."""
    return torch.cat([
        locations[..., :2] * center_variance * priors[..., 2:] + priors[..., :2],
        torch.exp(locations[..., 2:] * size_variance) * priors[..., 2:],
    ], dim=-1)


def center_form_to_corner_form(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def iou_of(boxes0: torch.Tensor, boxes1: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """IoU of corner-form boxes, continuous coordinates (no +1 pixel), as box_utils.iou_of."""
    top_left = torch.max(boxes0[..., :2], boxes1[..., :2])
    bottom_right = torch.min(boxes0[..., 2:], boxes1[..., 2:])
    overlap = _area(top_left, bottom_right)
    return overlap / (_area(boxes0[..., :2], boxes0[..., 2:]) + _area(boxes1[..., :2], boxes1[..., 2:]) - overlap + eps)


def _area(top_left: torch.Tensor, bottom_right: torch.Tensor) -> torch.Tensor:
    wh = torch.clamp(bottom_right - top_left, min=0.0)
    return wh[..., 0] * wh[..., 1]


def hard_nms(box_scores: torch.Tensor, iou_threshold: float = IOU_THRESHOLD, top_k: int = TOP_K,
             candidate_size: int = CANDIDATE_SIZE) -> torch.Tensor:
    """Rows [x1, y1, x2, y2, score] kept by greedy NMS, as box_utils.hard_nms.

    Only the ``candidate_size`` highest scores compete; a box is dropped when its IoU with a kept
    box is > ``iou_threshold``; ``top_k`` <= 0 keeps all. Ties sort stably (the source's sort is not).
    """
    boxes, scores = box_scores[:, :4], box_scores[:, 4]
    order = torch.sort(scores, descending=True, stable=True).indices[:candidate_size]
    picked = []
    while len(order) > 0:
        current = order[0]
        picked.append(int(current))
        if 0 < top_k == len(picked):
            break
        order = order[1:]
        order = order[iou_of(boxes[order], boxes[current].unsqueeze(0)) <= iou_threshold]
    return box_scores[picked]


def preprocess(image: np.ndarray, size: int = IMAGE_SIZE) -> torch.Tensor:
    """RGB uint8 [H, W, 3] (or a PIL image) -> [3, size, size] float, data_preprocessing.PredictionTransform:
    cv2.resize to size x size (uint8; the source's 300), subtract 127, divide by 128."""
    image = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape} "
                         f"(convert with np.asarray(PIL.Image.open(path).convert('RGB')))")
    resized = cv2_resize_linear(image, size).astype(np.float32)
    return torch.from_numpy((resized - IMAGE_MEAN) / IMAGE_STD).permute(2, 0, 1).contiguous()


def cv2_resize_linear(image: np.ndarray, size: int) -> np.ndarray:
    """cv2.resize(image, (size, size)) with INTER_LINEAR on uint8, bit-exact, without OpenCV.

    OpenCV's 8-bit path is fixed point: 11-bit weights, an integer horizontal pass, and a SIMD
    vertical pass ((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16) + 2) >> 2. A float bilinear
    rounded to uint8 differs by one level on ~11% of pixels; this matched opencv-python-headless
    5.0.0.93 on every pixel of 10 images (down- and upscaling, 7x5 to 333x1001).
    """
    height, width = image.shape[:2]
    x0, x1, a0, a1 = _linear_taps(width, size, horizontal=True)
    y0, y1, b0, b1 = _linear_taps(height, size, horizontal=False)
    pixels = image.astype(np.int64)
    rows = pixels[:, x0] * a0[None, :, None] + pixels[:, x1] * a1[None, :, None]
    top, bottom = rows[y0] >> 4, rows[y1] >> 4
    out = (((b0[:, None, None] * top) >> 16) + ((b1[:, None, None] * bottom) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def _linear_taps(src: int, dst: int, horizontal: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output index: two source indices and their 11-bit weights (half-pixel centres).

    Outside the image OpenCV zeroes the horizontal fraction (the edge pixel alone) but keeps the
    vertical one on the clamped rows; the two differ after the truncating vertical pass.
    """
    pos = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first).astype(np.float32)
    if horizontal:
        frac[(first < 0) | (first >= src - 1)] = 0
    w1 = np.round(frac * np.float32(2048)).astype(np.int64)  # cvRound: half to even, as np.round
    w0 = np.round((np.float32(1) - frac) * np.float32(2048)).astype(np.int64)
    return np.clip(first, 0, src - 1), np.clip(first + 1, 0, src - 1), w0, w1


@dataclass(frozen=True)
class SSDDetections:
    """One image's detections as the source's Predictor.predict returns them."""

    boxes: np.ndarray   # [N, 4] x1, y1, x2, y2 in pixels of the original image, 0-based
    labels: np.ndarray  # [N] int, 1..20 (0 is background and never returned)
    scores: np.ndarray  # [N]


def postprocess(confidences: torch.Tensor, locations: torch.Tensor, width: int, height: int,
                priors: torch.Tensor | None = None, prob_threshold: float = PROB_THRESHOLD,
                iou_threshold: float = IOU_THRESHOLD, top_k: int = TOP_K,
                candidate_size: int = CANDIDATE_SIZE) -> SSDDetections:
    """Raw outputs of one image ([3000, 21], [3000, 4]) -> detections, as SSD(is_test=True) + Predictor.predict.

    Softmax over classes; per foreground class the priors with probability > ``prob_threshold``
    go through hard NMS; boxes are scaled from [0, 1] to the original ``width`` x ``height``
    (not clipped). Output order: by class, then by NMS pick order.
    """
    priors = generate_priors() if priors is None else priors
    probs = F.softmax(confidences, dim=-1)
    boxes = center_form_to_corner_form(convert_locations_to_boxes(locations, priors))
    picked, labels = [], []
    for label in range(1, probs.shape[-1]):
        mask = probs[:, label] > prob_threshold
        if not bool(mask.any()):
            continue
        kept = hard_nms(torch.cat([boxes[mask], probs[mask, label, None]], dim=1), iou_threshold, top_k, candidate_size)
        picked.append(kept)
        labels += [label] * len(kept)
    if not picked:
        return SSDDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))
    kept = torch.cat(picked)
    scale = torch.tensor([width, height, width, height], dtype=kept.dtype)
    return SSDDetections((kept[:, :4] * scale).numpy(), np.array(labels, dtype=np.int64), kept[:, 4].numpy())


def to_image_detections(detections: SSDDetections) -> ImageDetections:
    """Source convention -> zoo.metrics.detection's: labels - 1 (background slot dropped, VOC_CLASSES order)
    and boxes + 1, as eval_ssd.py writes them ("matlab's indexes start from 1") to match the XML's 1-based pixels."""
    return ImageDetections(np.asarray(detections.boxes, dtype=np.float64) + 1.0,
                           np.asarray(detections.labels, dtype=np.int64) - 1,
                           np.asarray(detections.scores, dtype=np.float64))


def build_ssd_lite(checkpoint: Path | None) -> nn.Module:
    return load_weights(MobileNetV2SSDLite(), checkpoint)


def decode_batch(outputs, _targets=None, priors: Callable[[], torch.Tensor] = generate_priors):
    """Per image: the source's Predictor output with boxes as fractions of the image (width = height = 1)."""
    priors = priors()
    confidences, locations = (torch.from_numpy(o) for o in outputs)
    decoded = [postprocess(c, loc, 1, 1, priors) for c, loc in zip(confidences, locations)]
    return [(d.boxes, d.labels, d.scores) for d in decoded]


MODELS = (
    # qfgaohao eval_ssd.py: cv2 resize to 300, (x - 127) / 128; decoding and NMS outside the quantized graph
    ModelSpec("ssd_mobilenet_v2_lite", build_ssd_lite, preprocess, 300, decode_batch),
)
