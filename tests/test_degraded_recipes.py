"""A degraded recipe makes an embedded case fail its gate: the expected values catch a real quantization
regression, per task and framework, not only the hand-made numbers of tests/test_gate.py.

Each case below is measured again with 4-bit weights and without AdaRound (the kind of change a broken
AIMET release or a wrong recipe edit makes) and gated against its committed expected entry. The cases on
real pretrained weights also get the other breaks a release can bring: BN folding dropped (with CLE, which
folds too) and per-tensor weights where the recipe asks for per-channel.
"""
import dataclasses

import pytest

from zoo.catalog import REGISTRY
from zoo.expected import gate
from zoo.pipeline import measure

DEGRADED_CASES = (
    "pt_ssd_lite_tiny.w8a8.synthetic_voc2007",
    "pt_deeplab_tiny.w8a8.synthetic_voc2012",
    "pt_msrresnet_tiny_x4.w8a8.sr_photos",
    "pt_pose_tiny.w8a8.synthetic_pose",
    "tf_efficientnet_lite0.w8a8.photos",
    "pt_efficientnet_lite0.w8a8.photos",
    "pt_mobilenet_v2.w8a8.photo_views",
    "pt_realesrgan_x4plus.w8a8.sr_photos",
    "tf_selfie_segmentation.w8a8.voc_person_views",
    "tf_centernet_mobilenetv3.w8a8.voc_object_views",
    "tf_posenet_mobilenetv1.w8a8.pose_photo_views",
    # the longest test of the default run: 4-bit Whisper decodes every calibration clip and view to the 224-token
    # limit, 849 s alone on 2 cores (quantized eval 279 s, FP32 eval 27 s, the rest mostly calibration), peak RSS 3.56 GB; WER
    # 3.76 -> 100 %, encoder SQNR 25.52 -> 6.72 dB (2026-12-07)
    "pt_whisper_tiny_en.w8a16.speech_views",
    # seeded smoke cases whose SQNR gate sits under 10 dB: it must still catch a gross break
    "pt_ssd_mobilenet_v2_lite.w8a8.synthetic_voc2007",
    "pt_deeplabv3plus_mobilenet.w8a8.synthetic_voc2012",
    "tf_ssd_mobilenet_v2.w8a8.synthetic_coco",
)


def degraded(case):
    techniques = tuple(t for t in case.recipe.techniques if t != "adaround")
    return dataclasses.replace(case, recipe=dataclasses.replace(case.recipe, param_bw=4, techniques=techniques))


def without_bn_fold(case):
    techniques = tuple(t for t in case.recipe.techniques if t not in ("bn_fold", "cle"))
    return dataclasses.replace(case, recipe=dataclasses.replace(case.recipe, techniques=techniques))


def per_tensor(case):
    return dataclasses.replace(case, recipe=dataclasses.replace(case.recipe, per_channel=False))


# The real-weight cases and the breaks each must catch besides 4-bit weights. Per-tensor applies where the
# recipe is per-channel. Dropping the BN fold is observable only where no other step folds: aimet-torch's
# AdaRound folds the BNs of its copy itself, and the Keras -> ONNX export folds them before aimet-onnx sees the
# graph, so for both EfficientNet-Lite0 cases it changed nothing (SQNR equal to 4 decimals, 2026-12-07).
REAL_WEIGHT_MUTATIONS = {
    "pt_mobilenet_v2.w8a8.photo_views": (without_bn_fold,),
    "pt_efficientnet_lite0.w8a8.photos": (per_tensor,),
    "tf_efficientnet_lite0.w8a8.photos": (per_tensor,),
    "tf_centernet_mobilenetv3.w8a8.voc_object_views": (per_tensor,),
    "tf_posenet_mobilenetv1.w8a8.pose_photo_views": (per_tensor,),
    "pt_whisper_tiny_en.w8a16.speech_views": (per_tensor,),
}
# Real-ESRGAN x4plus (pt_realesrgan_x4plus.w8a8.sr_photos) has no BatchNorm and a per-tensor recipe, so only 4-bit
# weights apply to it. Plain min/max ranges instead of tf_enhanced is no break there: PSNR-Y 25.04 vs 24.98 dB,
# SSIM 0.6624 vs 0.6638, output SQNR 23.95 vs 24.23 dB, inside every gate (2026-12-07).
# MediaPipe's selfie segmenter (tf_selfie_segmentation.w8a8.voc_person_views) comes BN-folded in its TF Lite file and
# runs the per-tensor recipe, so again only 4-bit weights apply (mIoU 65.81 -> 34.48). Per-channel weights would not
# help it: mIoU 61.39, though the probability SQNR rises 7.54 -> 10.41 dB (2026-12-07).
# CenterNet MobileNetV3 (tf_centernet_mobilenetv3.w8a8.voc_object_views) comes BN-folded in its TF.js graph (each
# BatchNorm is the bias of a fused convolution), so dropping the fold changes nothing there; so does PoseNet
# MobileNetV1 (tf_posenet_mobilenetv1.w8a8.pose_photo_views), whose recipe has no fold to drop.
# Whisper tiny.en (pt_whisper_tiny_en.w8a16.speech_views) has LayerNorms, no BatchNorm, so no fold applies;
# per-tensor weights lower its encoder-output SQNR (24.7 against 33.5 dB on 3 views with tf_enhanced ranges, 2026-12-07).


def case_params():
    return [pytest.param(REGISTRY[case_id], id=case_id,
                         marks=[getattr(pytest.mark, m) for m in REGISTRY[case_id].marks])
            for case_id in DEGRADED_CASES]


def mutation_params():
    return [pytest.param(REGISTRY[case_id], mutation, id=f"{case_id}-{mutation.__name__}",
                         marks=[getattr(pytest.mark, m) for m in REGISTRY[case_id].marks])
            for case_id, mutations in REAL_WEIGHT_MUTATIONS.items() for mutation in mutations]


@pytest.mark.parametrize("case", case_params())
def test_four_bit_weights_fail_the_gate(case, case_inputs, expected_entry, device, tmp_path):
    outcome = measure(degraded(case), case_inputs, device, tmp_path, expected_entry.samples)

    verdict = gate(expected_entry, outcome.measurement, "<accept command>")

    assert not verdict.passed, f"{case.id} with 4-bit weights passed its gate: {outcome.measurement.quantized}"
    assert any("regression" in failure for failure in verdict.failures), verdict.failures


@pytest.mark.parametrize("case, mutation", mutation_params())
def test_a_broken_recipe_fails_the_gate_of_real_weight_cases(case, mutation, case_inputs, expected_entry, device,
                                                             tmp_path):
    outcome = measure(mutation(case), case_inputs, device, tmp_path, expected_entry.samples)

    verdict = gate(expected_entry, outcome.measurement, "<accept command>")

    assert not verdict.passed, f"{case.id} {mutation.__name__} passed its gate: {outcome.measurement.quantized}"
