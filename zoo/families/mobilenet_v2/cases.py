"""MobileNetV2 (PyTorch, tonylins) and MobileNet-v2-1.4 (TF-slim) cases."""
from __future__ import annotations

from dataclasses import replace

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

# The seed's INT8 number comes from DFQ (BN fold + CLE) followed by QAT; QAT weights are
# not public as a state_dict of this architecture, so the published case runs the DFQ part.
# AIMET zoo MobilenetV2.md: DFQ (BN fold + CLE), per-tensor W8A8, on the ReLU variant (torch.py).
MOBILENET_V2_RECIPE = Recipe(
    name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
    calibration_images=2000, calibration_batch_size=64,
)

CASES = [
    Case(
        id="pt_mobilenet_v2.w8a8.imagenet", framework="torch", task="classification",
        model="mobilenet_v2", dataset="imagenet", metric="top1", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="mobilenetv2_1.0-f2a8633.pth.tar", sha256_prefix="f2a8633",
            origin="tonylins/pytorch-mobilenet-v2 README (Google Drive id 1jlto6HRVD3ipNkAl1lNhDbkBp7HylaqR)"),
        recipe=MOBILENET_V2_RECIPE, source="tonylins/pytorch-mobilenet-v2",
        seed_row=f"{SEED_README}: PyTorch / MobileNetV2", tags=("gpu", "slow"),
    ),
    Case(
        id="pt_mobilenet_v2.w8a8.photos", framework="torch", task="classification",
        model="mobilenet_v2", dataset="photos", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="seeded init + BN statistics recalibrated on real crops"),
        recipe=replace(MOBILENET_V2_RECIPE, calibration_images=64, calibration_batch_size=16),
        source="tonylins/pytorch-mobilenet-v2 (architecture only)", seed_row=f"{SEED_README}: PyTorch / MobileNetV2",
        tags=("smoke",), batch_size=8,
    ),
    # The seed's quantized model is a QAT checkpoint of the AIMET zoo; the case runs PTQ (BN fold + CLE) on
    # the FP32 slim checkpoint, as the PyTorch MobileNetV2 case does.
    Case(
        id="tf_mobilenet_v2_140.w8a8.imagenet", framework="tensorflow", task="classification",
        model="keras_mobilenet_v2_140_slim", dataset="imagenet", metric="top1", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="mobilenet_v2_1.4_224.ckpt.index",
            origin="https://storage.googleapis.com/mobilenet_v2/checkpoints/mobilenet_v2_1.4_224.tgz (extracted: the "
                   ".index beside its .data shard); no published hash, so the row records the .index file's sha256"),
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=2000, calibration_batch_size=32),
        source="tensorflow/models research/slim", seed_row=f"{SEED_README}: TensorFlow / MobileNet-v2-1.4", tags=("gpu", "slow"),
    ),
]
