"""Whisper tiny.en pieces (zoo.families.deepspeech2.whisper) checked without the checkpoint: attention against
torch's reference, greedy decoding rules, the Slaney mel filters, the log-mel front end and byte-level decoding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.checkpoints import CheckpointError
from zoo.families.deepspeech2 import whisper

SMALL = whisper.WhisperDims(n_mels=80, n_audio_ctx=1500, n_state=16, n_head=2, n_audio_layer=1, n_vocab=64,
                            n_text_ctx=32, n_text_layer=2)
SMALL_SPECIAL = whisper.SpecialTokens(eot=50, sot=51, no_timestamps=52)


def small_model(suppress=(3, 7), suppress_begin=(SMALL_SPECIAL.eot,), max_new_tokens=12) -> whisper.WhisperGreedy:
    torch.manual_seed(0)
    model = whisper.WhisperGreedy(SMALL, SMALL_SPECIAL, suppress, suppress_begin, max_new_tokens)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    return model.eval()


@pytest.mark.parametrize("causal", [False, True])
def test_attention_is_scaled_dot_product_attention(causal):
    torch.manual_seed(1)
    attention = whisper.Attention(16, 2, cross=False).eval()
    x = torch.randn(2, 5, 16)
    q, k, v = (attention._heads(p) for p in attention.qkv(x).chunk(3, dim=-1))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
    expected = attention.out(expected.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attention(x, past=[] if causal else None), expected, atol=1e-5, rtol=1e-5)


def test_cached_attention_one_position_at_a_time_is_causal_attention():
    torch.manual_seed(2)
    attention = whisper.Attention(16, 2, cross=False).eval()
    x = torch.randn(1, 6, 16)
    past = []
    stepwise = torch.cat([attention(x[:, :2], past=past)] + [attention(x[:, i:i + 1], past=past) for i in range(2, 6)],
                         dim=1)
    torch.testing.assert_close(stepwise, attention(x, past=[]), atol=1e-5, rtol=1e-5)
    assert past[0].shape == (1, 2, 6, 8)


def test_greedy_decoding_follows_the_suppression_rules_and_pads_with_eot():
    model = small_model()
    mel = torch.randn(3, 80, 3000)
    with torch.no_grad():
        features, tokens = model(mel)
    assert features.shape == (3, 1500, 16) and tokens.shape == (3, 12)
    assert not torch.isin(tokens, torch.tensor([3, 7])).any()
    assert (tokens[:, 0] != SMALL_SPECIAL.eot).all()
    for row in tokens.tolist():
        if SMALL_SPECIAL.eot in row:
            first = row.index(SMALL_SPECIAL.eot)
            assert set(row[first:]) == {SMALL_SPECIAL.eot}


def test_each_utterance_decodes_as_it_would_alone():
    model = small_model()
    mel = torch.randn(2, 80, 3000)
    with torch.no_grad():
        together = model(mel)[1]
        alone = torch.cat([model(mel[i:i + 1])[1] for i in range(2)])
    torch.testing.assert_close(together, alone)


def test_cached_greedy_decoding_is_the_argmax_of_the_full_prefix_at_every_step():
    model = small_model(suppress=(), suppress_begin=())
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        features, tokens = model(mel)
        memory = model.decoder.memory(features)
        prefix = torch.tensor([SMALL_SPECIAL.prompt])
        for expected in tokens[0].tolist()[:6]:
            chosen = int(model.decoder.last_logits(prefix, memory).argmax())
            assert chosen == expected
            if chosen == SMALL_SPECIAL.eot:
                break
            prefix = torch.cat([prefix, torch.tensor([[chosen]])], dim=1)


def test_slaney_mel_scale_known_points():
    assert whisper._hz_to_slaney_mel(np.array(1000.0)) == pytest.approx(15.0)
    assert whisper._hz_to_slaney_mel(np.array(200.0)) == pytest.approx(3.0)
    hz = np.array([0.0, 440.0, 1000.0, 3000.0, 8000.0])
    np.testing.assert_allclose(whisper._slaney_mel_to_hz(whisper._hz_to_slaney_mel(hz)), hz, atol=1e-9)


def test_mel_filters_are_area_normalised_triangles_in_order():
    filters = whisper.mel_filters()
    assert filters.shape == (80, 201) and (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()
    bin_hz = 16000 / 400
    # Slaney normalisation: unit area in Hz, up to the sampling of each triangle by the 40 Hz FFT bins
    np.testing.assert_allclose(filters[20:].sum(axis=1) * bin_hz, 1.0, rtol=0.1)
    # librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), as openai/whisper's mel_filters.npz stores it
    np.testing.assert_allclose(filters[0, :3], [0.0, 0.02486259, 0.0], atol=1e-7)
    np.testing.assert_allclose(filters[1, :3], [0.0, 0.00199082, 0.02287177], atol=1e-7)


def test_log_mel_of_silence_and_tone():
    preprocess = whisper.LogMelPreprocess()
    assert preprocess(np.zeros(16000, np.float32)).shape == (80, 3000)
    t = np.arange(16000) / 16000
    mel = preprocess((0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)).numpy()
    band = mel[:, 10:90].mean(axis=1).argmax()
    assert whisper.mel_filters()[band].argmax() == pytest.approx(1000 / 40, abs=1)
    assert mel[:, 200:].max() == pytest.approx(mel.max() - 2.0)  # the floor: max - 8 in log10, / 4
    with pytest.raises(ValueError, match="at most 30 s"):
        preprocess(np.zeros(31 * 16000, np.float32))


def test_byte_level_vocabulary_decodes_spaces_and_drops_special_tokens(tmp_path):
    tokens = ["x"] * SMALL.n_vocab
    tokens[:4] = ["He", "Ġwas", "Ġnot", "Ċ"]
    path = tmp_path / "vocabulary.txt"
    path.write_text("\n".join(tokens + ["<|endoftext|>"] * (whisper.WhisperDims.n_vocab - SMALL.n_vocab)) + "\n")
    vocabulary = whisper.ByteLevelVocabulary(path)
    assert vocabulary.decode([0, 1, 2, whisper.SpecialTokens.eot, 3]) == "He was not"
    path.write_text("a\nb\n")
    with pytest.raises(CheckpointError, match="2 tokens"):
        whisper.ByteLevelVocabulary(path)


def test_build_without_checkpoint_is_refused():
    with pytest.raises(CheckpointError, match="no seeded variant"):
        whisper.build_whisper(None)
