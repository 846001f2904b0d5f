"""MediaPipe's selfie segmenter, a sibling of the seed's DeepLabV3+ for semantic segmentation: a small
MobileNetV3-style encoder-decoder (hard-swish, squeeze-excitation) that maps a 256 x 256 RGB image in [0, 1] to a
per-pixel person probability (NHWC [1, 256, 256, 1], sigmoid). Its released TensorFlow Lite file
(``mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite``, MediaPipe 0.10.14, Apache-2.0) converts to
ONNX with tf2onnx plus one custom op (zoo/backends/onnx_export.py ``tflite_to_onnx``) and is quantized on the
TensorFlow half's route, aimet-onnx. The graph fixes the batch at 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.data.embedded.voc_person import PERSON, SIZE, to_tensor
from zoo.registry import ModelSpec

THRESHOLD = 0.5


def build_selfie_segmentation(checkpoint: Path | None):
    """The ONNX model (NCHW input) converted from the .tflite checkpoint; there is no architecture without it."""
    from zoo.backends.onnx_export import tflite_to_onnx

    if checkpoint is None:
        raise ValueError("the selfie segmenter is defined by its .tflite file; pass the checkpoint")
    return tflite_to_onnx(checkpoint, "selfie_segmentation")


def person_masks(outputs: tuple[np.ndarray, ...], _targets=None) -> list[tuple[np.ndarray]]:
    """Person probability [B, H, W, 1] -> VOC class masks (0 background, 15 person), uint8."""
    return [(np.where(p[..., 0] > THRESHOLD, PERSON, 0).astype(np.uint8),) for p in outputs[0]]


MODELS = (
    ModelSpec("selfie_segmentation", build_selfie_segmentation, to_tensor, SIZE, person_masks),
)
