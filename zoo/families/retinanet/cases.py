"""RetinaNet ResNet-50 (fizyr/keras-retinanet) cases."""
from __future__ import annotations

from dataclasses import replace

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

# AIMET zoo retinanet_quanteval.py / RetinaNet.md (TF): BN fold, then quantsim tf_enhanced W8A8 with the
# default per-tensor config, calibrated on 10 images at batch 1; COCO val2017, all images, min side 800.
# The zoo's quantsim ends at P3..P7 (the heads stay FP32); this suite's ONNX route quantizes the heads too.
RETINANET_RECIPE = Recipe(name="w8a8", techniques=("bn_fold",), quant_scheme="tf_enhanced", per_channel=False,
                          calibration_images=10, calibration_batch_size=1)

CASES = [
    Case(
        id="tf_retinanet_resnet50.w8a8.coco2017", framework="tensorflow", task="coco_detection",
        model="keras_retinanet_resnet50", dataset="coco2017", metric="bbox_ap", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="resnet50_coco_best_v2.1.0.h5",
            origin="https://github.com/fizyr/keras-retinanet/releases/download/0.5.1/resnet50_coco_best_v2.1.0.h5; "
                   "no published hash, so the row records the file's sha256"),
        recipe=RETINANET_RECIPE,
        source="fizyr/keras-retinanet 0.5.1", seed_row=f"{SEED_README}: TensorFlow / RetinaNet", tags=("gpu", "slow"),
        batch_size=1,
    ),
    Case(
        id="tf_retinanet_resnet50.w8a8.synthetic_coco", framework="tensorflow", task="coco_detection",
        model="keras_retinanet_resnet50_192", dataset="synthetic_coco", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="seeded initialisation (zoo/families/retinanet/keras.py)"),
        recipe=replace(RETINANET_RECIPE, calibration_images=2),
        source="fizyr/keras-retinanet 0.5.1 (architecture only)", seed_row=f"{SEED_README}: TensorFlow / RetinaNet",
        tags=("smoke",), batch_size=1, eval_samples=4,
        # Measured peaks (2026-12-06, 2 cores): 5.76-6.55 GB in the default run (-n 2), 6.41-6.70 GB under
        # `pytest -n 0 -m embedded --fp32-cache off`, where one process has run every case before it and
        # starts at 3.3-3.5 GB (the TensorFlow, aimet-onnx and onnxruntime state the first Keras case leaves,
        # ~2.3 GB, is not returned). Its own growth, 3.2 GB, is tf2onnx's export of the 36M-parameter
        # network at dynamic size (freezing + grappler: 1.7 -> 5.2 GB in a fresh process). Fresh-clone default runs
        # of 2026-12-07: 6.13, 6.81 and 6.97 GB, depending on which Keras cases ran before it in its worker, so the
        # budget is 7.5 GB (two workers at their budgets still fit the 24 GB machine with room to spare).
        memory_budget_gb=7.5,
    ),
]
