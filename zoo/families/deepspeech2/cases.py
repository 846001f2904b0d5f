"""DeepSpeech2 (deepspeech.pytorch V2) cases: LibriSpeech test-clean, and the smoke case on fixtures/speech."""
from __future__ import annotations

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

CASES = [
    # AIMET zoo DeepSpeech2 docs: post-training W8A8, tf_enhanced. Utterances differ in length: batches of one.
    Case(
        id="pt_deepspeech2.w8a8.librispeech", framework="torch", task="speech", model="deepspeech2",
        dataset="librispeech", metric="wer", tier="published",
        checkpoint=Checkpoint(
            location="checkpoint_root", filename="librispeech_pretrained_v2.pth",
            origin="https://github.com/SeanNaren/deepspeech.pytorch/releases/download/v2.0/librispeech_pretrained_v2.pth; "
                   "the source publishes no hash, so the row records the file's sha256"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=64, calibration_batch_size=1),
        source="SeanNaren/deepspeech.pytorch", seed_row=f"{SEED_README}: PyTorch / DeepSpeech2", tags=("gpu", "slow"),
        batch_size=1,
    ),
    # No pretrained speech model ships in a registry package in a form torch loads without extra runtime
    # (see fixtures/speech/README.md), so the embedded level is the smoke case: seeded weights with BatchNorm
    # statistics recalibrated on the calibration clips, gated on FP32-vs-quantized output and transcript fidelity.
    Case(
        id="pt_deepspeech2.w8a8.speech_fixture", framework="torch", task="speech", model="deepspeech2",
        dataset="speech_fixture", metric="sqnr_db", tier="embedded",
        checkpoint=Checkpoint(location="deterministic", note="seeded init + BN statistics recalibrated on the clips"),
        recipe=Recipe(name="w8a8", techniques=(), quant_scheme="tf_enhanced", per_channel=False,
                      calibration_images=3, calibration_batch_size=1),
        source="SeanNaren/deepspeech.pytorch (architecture only)", seed_row=f"{SEED_README}: PyTorch / DeepSpeech2",
        tags=("smoke",), batch_size=1,
    ),
]
