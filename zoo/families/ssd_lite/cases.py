"""MobileNetV2-SSD-Lite (qfgaohao/pytorch-ssd) cases: VOC2007 test mAP, and the embedded tiny SSD-Lite."""
from __future__ import annotations

from zoo.registry import SEED_README, SEEDED_RECALIBRATED, Case, Checkpoint, Recipe

SSD_TINY_SHA256 = "c68b0057ba10267b09d14fa195d174f8f3b3e5387ec10ef5861cf45f8522bb40"
# AIMET zoo SSD-Lite docs: CLE + AdaRound, tf_enhanced, W8A8 (per-tensor weights, the zoo's default config)
SSD_LITE_RECIPE = Recipe(
    name="w8a8", techniques=("bn_fold", "cle", "adaround"), quant_scheme="tf_enhanced", per_channel=False,
    calibration_images=500, calibration_batch_size=32, adaround_batches=16, adaround_iterations=10000,
)
# Trained by fixtures/voc/train_embedded.py on the synthetic VOC train splits; seed recipes: SSD-Lite
# CLE + AdaRound, DeepLab BN fold + CLE + AdaRound (the tiny nets are cheap enough for a few iterations)
TINY_VOC_RECIPE = Recipe(name="w8a8", techniques=("bn_fold", "cle", "adaround"), quant_scheme="tf_enhanced",
                         per_channel=False, calibration_images=32, calibration_batch_size=8, adaround_batches=1,
                         adaround_iterations=20)

CASES = [
    Case(
        id="pt_ssd_mobilenet_v2_lite.w8a8.voc2007", framework="torch", task="detection",
        model="ssd_mobilenet_v2_lite", dataset="voc2007", metric="map_voc07", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="mb2-ssd-lite-mp-0_686.pth",
            origin="qfgaohao/pytorch-ssd README (mb2-ssd-lite-mp-0_686.pth); the source publishes no hash, so the "
                   "row records the file's sha256"),
        recipe=SSD_LITE_RECIPE, source="qfgaohao/pytorch-ssd", seed_row=f"{SEED_README}: PyTorch / MobileNetV2-SSD-Lite",
        tags=("gpu", "slow"),
    ),
    Case(
        id="pt_ssd_mobilenet_v2_lite.w8a8.synthetic_voc2007", framework="torch", task="detection",
        model="ssd_mobilenet_v2_lite", dataset="synthetic_voc2007", metric="sqnr_db", tier="embedded",
        checkpoint=SEEDED_RECALIBRATED,
        # The seed recipe without AdaRound: on CPU, aimet-torch's AdaRound re-runs the FP32 and quantized
        # networks layer by layer. Measured on 2 cores shared with other jobs, AdaRound on 1 batch of 2 x 2
        # iterations: quantize step 765 s here, 525 s for the DeepLab smoke case (81 s without AdaRound; 14 s
        # and 12 s without it on idle cores). AdaRound runs in the published cases and the tiny and Lite0 cases.
        recipe=Recipe(name="w8a8", techniques=("bn_fold", "cle"), quant_scheme="tf_enhanced",
                      per_channel=False, calibration_images=16, calibration_batch_size=8),
        source="qfgaohao/pytorch-ssd (architecture only)", seed_row=f"{SEED_README}: PyTorch / MobileNetV2-SSD-Lite",
        tags=("smoke",), batch_size=8, eval_samples=8,
    ),
    Case(
        id="pt_ssd_lite_tiny.w8a8.synthetic_voc2007", framework="torch", task="detection", model="ssd_lite_tiny",
        dataset="synthetic_voc2007", metric="map_voc07", tier="embedded",
        checkpoint=Checkpoint(location="fixture", filename="voc/ssd_lite_tiny.pth", sha256=SSD_TINY_SHA256,
                              origin="fixtures/voc/train_embedded.py (see fixtures/voc/models.json)"),
        recipe=TINY_VOC_RECIPE,
        source="qfgaohao SSD-Lite family, trained by this project", seed_row=f"{SEED_README}: PyTorch / MobileNetV2-SSD-Lite",
        batch_size=16,
    ),
]
