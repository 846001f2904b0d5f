"""PyTorch pose cases: the AIMET zoo's OpenPose-style pose estimation on COCO val2017 keypoints."""
from __future__ import annotations

from zoo.cases import REGISTRY, SEED
from zoo.registry import Case, Checkpoint, Recipe

# AIMET zoo PoseEstimation.md (PyTorch): post-training W8A8, tf_enhanced. Images keep their orientation,
# so inputs are 496x384 or 384x496: calibration and evaluation run in batches of one.
REGISTRY.add(Case(
    id="pt_pose_estimation.w8a8.coco", framework="torch", task="pose", model="pose_estimation",
    dataset="coco_keypoints", metric="kp_ap", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="pe_weights.pth",
        origin="AIMET model zoo release pose_estimation_pytorch (pose_estimation_pytorch.gz, extracted); no published "
               "hash, so the row records the file's sha256"),
    recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                  calibration_images=100, calibration_batch_size=1),
    source="AIMET model zoo (based on CMU OpenPose)", seed_row=f"{SEED}: PyTorch / Pose Estimation",
    tags=("gpu", "slow"), batch_size=1,
))
