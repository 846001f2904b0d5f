"""SSD MobileNet-v2 (TF object detection API) cases."""
from __future__ import annotations

from dataclasses import replace

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

# AIMET zoo ssd_mobilenet_v2_quanteval.py / SSDMobileNetV2.md (TF): BN fold, then quantsim over the feature
# extractor and box predictors ('tf' scheme, i.e. min-max; default per-tensor config), calibrated on the first
# 50 validation images at batch 1; COCO val2017, all 5000 images, COCOeval bbox AP@[.5:.95]
SSD_RECIPE = Recipe(name="w8a8", techniques=("bn_fold",), quant_scheme="tf", per_channel=False, calibration_images=50,
                    calibration_batch_size=1)

CASES = [
    Case(
        id="tf_ssd_mobilenet_v2.w8a8.coco2017", framework="tensorflow", task="coco_detection",
        model="keras_ssd_mobilenet_v2", dataset="coco2017", metric="bbox_ap", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="ssd_mobilenet_v2_quantized_300x300_coco_2019_01_03/model.ckpt.index",
            origin="http://download.tensorflow.org/models/object_detection/ssd_mobilenet_v2_quantized_300x300_coco_2019_01_03"
                   ".tar.gz (extracted: model.ckpt.index beside its .data shard); no published hash, so the row records "
                   "the .index file's sha256"),
        recipe=SSD_RECIPE,
        source="tensorflow/models research/object_detection", seed_row=f"{SEED_README}: TensorFlow / SSD MobileNet-v2",
        tags=("gpu", "slow"), batch_size=16,
    ),
    Case(
        id="tf_ssd_mobilenet_v2.w8a8.synthetic_coco", framework="tensorflow", task="coco_detection",
        model="keras_ssd_mobilenet_v2", dataset="synthetic_coco", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic",
                              note="Keras initialisation, seeded; BN statistics measured on synthetic images"),
        recipe=replace(SSD_RECIPE, calibration_images=8, calibration_batch_size=4),
        source="tensorflow/models research/object_detection (architecture only)",
        seed_row=f"{SEED_README}: TensorFlow / SSD MobileNet-v2", tags=("smoke",), batch_size=8, eval_samples=8,
    ),
]
