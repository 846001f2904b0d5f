"""ResNet-50 v1 (TF-slim) cases."""
from __future__ import annotations

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

CASES = [
    # AIMET zoo ResNet50.md (TF): BN fold + CLE + bias correction, W8A8; aimet-onnx has no bias correction,
    # which the row reports as unavailable
    Case(
        id="tf_resnet50_v1.w8a8.imagenet", framework="tensorflow", task="classification",
        model="keras_resnet50_v1_slim", dataset="imagenet", metric="top1", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="resnet_v1_50.ckpt",
            origin="http://download.tensorflow.org/models/resnet_v1_50_2016_08_28.tar.gz (extracted); no published hash, "
                   "so the row records the file's sha256"),
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle", "bias_correction"), quant_scheme="tf_enhanced",
                      per_channel=False, calibration_images=2000, calibration_batch_size=32),
        source="tensorflow/models research/slim", seed_row=f"{SEED_README}: TensorFlow / ResNet-50 (v1)", tags=("gpu", "slow"),
    ),
]
