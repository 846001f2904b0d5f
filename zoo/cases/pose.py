"""PyTorch pose cases: the AIMET zoo's OpenPose-style pose estimation on COCO val2017 keypoints."""
from __future__ import annotations

from zoo.cases import REGISTRY, SEED
from zoo.registry import Case, Checkpoint, Recipe

# AIMET zoo PoseEstimation.md (PyTorch): post-training W8A8, tf_enhanced. Images keep their orientation,
# so inputs are 496x384 or 384x496: calibration and evaluation run in batches of one.
REGISTRY.add(Case(
    id="pt_pose_estimation.w8a8.coco_keypoints", framework="torch", task="pose", model="pose_estimation",
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

# The full architecture with seeded weights on a few synthetic figures: fidelity only (random heatmaps
# decode to few or no people, so AP is recorded, not gated)
REGISTRY.add(Case(
    id="pt_pose_estimation.w8a8.synthetic_pose", framework="torch", task="pose", model="pose_estimation",
    dataset="synthetic_pose", metric="sqnr_db", tier="embedded",
    checkpoint=Checkpoint(location="deterministic", note="seeded init + BN statistics recalibrated on real images"),
    recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                  calibration_images=4, calibration_batch_size=4),
    source="AIMET model zoo pose estimation (architecture only)", seed_row=f"{SEED}: PyTorch / Pose Estimation",
    tags=("smoke",), batch_size=4, eval_samples=4,
))
# A small heatmap network trained by fixtures/pose/train_tiny_pose.py, scored by pycocotools
REGISTRY.add(Case(
    id="pt_pose_tiny.w8a8.synthetic_pose", framework="torch", task="pose", model="pose_tiny",
    dataset="synthetic_pose", metric="kp_ap", tier="embedded",
    checkpoint=Checkpoint(location="fixture", filename="pose/pose_tiny.pth",
                          sha256="4c8cfa4ee922ef33d2cdb89415195fd0ccacf5b6988d210516c901851032dc95",
                          origin="fixtures/pose/train_tiny_pose.py (see fixtures/pose/models.json)"),
    recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
                  calibration_images=64, calibration_batch_size=16),
    source="Simple-Baselines-style heatmap net, trained by this project", seed_row=f"{SEED}: PyTorch / Pose Estimation",
    batch_size=16,
))
