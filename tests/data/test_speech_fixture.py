"""Speech fixture: the committed WAVs match the manifest, read as 16 kHz float32, and the loader refuses bad files."""
import hashlib
import json
import shutil
import wave

import numpy as np
import pytest

from zoo.data.base import DatasetError
from zoo.data.embedded.speech_fixture import (FIXTURE, PCM_SCALE, SAMPLE_RATE, SpeechFixture, load_manifest,
                                         open_speech_fixture, read_wav, verified_waveform)
from zoo.metrics.speech import DEEPSPEECH_LABELS, normalize_transcript

MANIFEST = json.loads(FIXTURE.read_text())
ENTRIES = MANIFEST["eval"] + MANIFEST["calibration_pool"]


def write_wav(path, pcm, rate=SAMPLE_RATE, channels=1):
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(channels)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["id"] for e in ENTRIES])
def test_each_file_matches_its_manifest_entry(entry):
    path = FIXTURE.parent / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    with wave.open(str(path)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 16000)
        assert audio.getnframes() == entry["samples"]
    assert entry["duration_s"] == pytest.approx(entry["samples"] / 16000, abs=1e-6)
    assert 1.0 < entry["duration_s"] < 10.0
    assert normalize_transcript(entry["transcript"]) == entry["transcript"].upper()  # already a-z, ' and spaces
    assert len(entry["transcript"].split()) >= 2


def test_the_fixture_is_small_and_its_groups_are_disjoint():
    eval_set, pool = load_manifest()
    assert MANIFEST["sample_rate"] == SAMPLE_RATE == 16000
    assert len(eval_set) == 5 and len(pool) == 3
    assert {u.path for u in eval_set}.isdisjoint(u.path for u in pool)
    assert sum(u.path.stat().st_size for u in eval_set + pool) <= 1_000_000
    assert sum(u.duration_s for u in eval_set) == pytest.approx(24.73)


def test_items_are_float32_waveforms_with_their_transcripts():
    dataset = open_speech_fixture(None, None)
    assert len(dataset) == 5
    waveform, transcript = dataset[1]
    assert transcript == "he was not an ill disposed young man"
    assert waveform.dtype == np.float32 and waveform.shape == (47840,)
    assert 0.01 < np.abs(waveform).max() <= 1.0 and np.sqrt(np.mean(waveform ** 2)) > 1e-3  # speech, not silence
    assert dataset.sample_ids()[1] == "sense_and_sensibility_01_austen_64kb-0880"
    assert dataset.transcripts()[1] == transcript
    assert all(set(normalize_transcript(t)) <= set(DEEPSPEECH_LABELS) for t in dataset.transcripts())


def test_preprocess_is_applied_to_items_and_calibration_clips():
    dataset = SpeechFixture(preprocess=lambda w: ("pre", w.size))
    assert dataset[0] == (("pre", 113600), dataset.transcripts()[0])
    assert all(tag == "pre" for tag, _ in dataset.calibration_images(4, seed=0))


def test_read_wav_round_trips_pcm_with_deepspeech_scaling(tmp_path):
    pcm = np.array([0, 1, -1, 32767, -32768, 12345], dtype=np.int16)
    write_wav(tmp_path / "known.wav", pcm)
    np.testing.assert_array_equal(read_wav(tmp_path / "known.wav"), pcm.astype(np.float32) / np.float32(32767))
    assert PCM_SCALE == 32767.0


@pytest.mark.parametrize("rate, channels", [(8000, 1), (16000, 2)])
def test_read_wav_refuses_other_formats(tmp_path, rate, channels):
    write_wav(tmp_path / "other.wav", np.zeros(16 * channels, dtype=np.int16), rate, channels)
    with pytest.raises(DatasetError, match="convert it with sox"):
        read_wav(tmp_path / "other.wav")


def copied_fixture(tmp_path):
    folder = tmp_path / "speech"
    shutil.copytree(FIXTURE.parent, folder)
    return folder / FIXTURE.name


def test_a_changed_file_is_refused_by_its_hash(tmp_path):
    manifest = copied_fixture(tmp_path)
    utterance = load_manifest(manifest)[0][0]
    data = bytearray(utterance.path.read_bytes())
    data[-1] ^= 1
    utterance.path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="sha256"):
        verified_waveform(utterance)


def test_fingerprint_follows_audio_and_transcripts(tmp_path):
    manifest = copied_fixture(tmp_path)
    assert SpeechFixture(fixture=manifest).fingerprint() == SpeechFixture().fingerprint()
    data = json.loads(manifest.read_text())
    data["eval"][0]["transcript"] += " indeed"
    manifest.write_text(json.dumps(data))
    assert SpeechFixture(fixture=manifest).fingerprint() != SpeechFixture().fingerprint()


def test_calibration_clips_are_seeded_pieces_of_the_pool_only():
    dataset = SpeechFixture()
    clips = dataset.calibration_waveforms(6, seed=3)
    again = dataset.calibration_waveforms(6, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(clips, again))
    assert any(not np.array_equal(a, b) for a, b in zip(clips, dataset.calibration_waveforms(6, seed=4)))
    pool = [verified_waveform(u) for u in dataset.pool]
    for k, clip in enumerate(clips):
        source = pool[k % len(pool)]
        assert source.size / 2 <= clip.size <= source.size
        starts = [i for i in range(source.size - clip.size + 1) if source[i] == clip[0]]
        assert any(np.array_equal(source[i:i + clip.size], clip) for i in starts)
