"""Embedded speech: real utterances from Debian's pocketsphinx-testdata, listed in fixtures/speech/utterances.json.

The ``eval`` utterances (LibriVox read speech) are scored; the ``calibration_pool`` ones (the
package's ``cards`` phrases) feed calibration only. Every file is 16 kHz mono 16-bit PCM WAV, read
with the standard library's ``wave`` and scaled to float32 by 1/32767, as deepspeech.pytorch's
``load_audio`` does (SeanNaren/deepspeech.pytorch, deepspeech_pytorch/loader/data_loader.py:
soundfile ``dtype='int16'`` then ``/ 32767``; its pretrained models were trained on that scale).
Transcripts are kept as the package writes them; ``zoo.metrics.speech.normalize_transcript``
maps them to a model's label set. Provenance and licences: fixtures/speech/README.md.
"""
from __future__ import annotations

import hashlib
import json
import random
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo import paths
from zoo.checkpoints import sha256_of
from zoo.data.base import DatasetError

FIXTURE = paths.FIXTURES / "speech" / "utterances.json"
SAMPLE_RATE = 16000
PCM_SCALE = 32767.0  # deepspeech.pytorch's divisor (its TODO notes 32768 would be exact; kept for its models)
MIN_CALIBRATION_FRACTION = 0.5  # a calibration clip keeps at least half of its pool utterance


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    transcript: str
    sha256: str
    samples: int

    @property
    def duration_s(self) -> float:
        return self.samples / SAMPLE_RATE


def _utterance(raw: dict, folder: Path) -> Utterance:
    return Utterance(raw["id"], folder / raw["file"], raw["transcript"], raw["sha256"], int(raw["samples"]))


def load_manifest(fixture: Path = FIXTURE) -> tuple[list[Utterance], list[Utterance]]:
    """(eval utterances, calibration pool) as the manifest lists them."""
    fixture = Path(fixture)
    if not fixture.is_file():
        raise FileNotFoundError(f"{fixture}: speech manifest missing; restore fixtures/speech/ from git")
    data = json.loads(fixture.read_text())
    if data.get("sample_rate") != SAMPLE_RATE:
        raise DatasetError(f"{fixture}: sample_rate {data.get('sample_rate')} but the loader reads {SAMPLE_RATE} Hz")
    return ([_utterance(r, fixture.parent) for r in data["eval"]],
            [_utterance(r, fixture.parent) for r in data["calibration_pool"]])


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit PCM WAV as float32 samples / ``PCM_SCALE``; other formats are refused, not resampled."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: audio file missing; restore fixtures/speech/ from git")
    with wave.open(str(path), "rb") as audio:
        layout = (audio.getnchannels(), audio.getsampwidth(), audio.getframerate())
        if layout != (1, 2, SAMPLE_RATE):
            raise DatasetError(f"{path}: {layout[0]} channel(s), {8 * layout[1]}-bit, {layout[2]} Hz; "
                               f"the fixture holds mono 16-bit {SAMPLE_RATE} Hz PCM only (convert it with sox)")
        pcm = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / np.float32(PCM_SCALE)


def verified_waveform(utterance: Utterance) -> np.ndarray:
    """The utterance's samples after checking its file against the manifest's sha256 and length."""
    found = sha256_of(utterance.path)
    if found != utterance.sha256:
        raise DatasetError(f"{utterance.path}: sha256 {found} differs from {utterance.sha256} in {FIXTURE.name}; "
                           "restore the file from git (fixtures/speech/README.md says how it was made)")
    waveform = read_wav(utterance.path)
    if waveform.size != utterance.samples:
        raise DatasetError(f"{utterance.path}: {waveform.size} samples but the manifest says {utterance.samples}")
    return waveform


class SpeechFixture:
    """Map-style dataset of the eval utterances: (preprocess(waveform), transcript).

    ``preprocess`` is the model's front end (e.g. a spectrogram); None yields the float32 waveform.
    """

    LIST_ACCESSORS = ("transcripts",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ()

    def __init__(self, preprocess=None, fixture: Path = FIXTURE):
        self.utterances, self.pool = load_manifest(fixture)
        self.preprocess = preprocess

    def __len__(self):
        return len(self.utterances)

    def __getitem__(self, i):
        return self._prepared(verified_waveform(self.utterances[i])), self.utterances[i].transcript

    def _prepared(self, waveform: np.ndarray):
        return waveform if self.preprocess is None else self.preprocess(waveform)

    def waveform(self, i: int) -> np.ndarray:
        return verified_waveform(self.utterances[i])

    def transcripts(self) -> list[str]:
        return [u.transcript for u in self.utterances]

    def sample_ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    def fingerprint(self) -> str:
        """Identifies the evaluated audio and transcripts (file bytes included), for caching FP32 results."""
        digest = hashlib.sha256()
        for utterance in self.utterances:
            digest.update(f"{utterance.id}:{utterance.transcript}:".encode() + utterance.path.read_bytes())
        return digest.hexdigest()

    def calibration_waveforms(self, count: int, seed: int) -> list[np.ndarray]:
        """Seeded random clips (50-100% of the length) of the pool utterances, which are never scored."""
        rng = random.Random(seed)
        pool = [verified_waveform(u) for u in self.pool]
        clips = []
        for k in range(count):
            waveform = pool[k % len(pool)]
            length = int(waveform.size * rng.uniform(MIN_CALIBRATION_FRACTION, 1.0))
            start = rng.randint(0, waveform.size - length)
            clips.append(waveform[start:start + length])
        return clips

    def calibration_images(self, count: int, seed: int) -> list:
        """The dataset contract's calibration inputs: preprocessed ``calibration_waveforms``."""
        return [self._prepared(clip) for clip in self.calibration_waveforms(count, seed)]


def open_speech_fixture(_data_dir, preprocess) -> SpeechFixture:
    """The DATASETS opener: the utterances ship in fixtures/, so there is no data directory."""
    return SpeechFixture(preprocess)


# Seeded views of the eval utterances, so a speech case scores several hundred words rather than 71
# (one word of 71 is 1.4 WER points). View 0 of each utterance is the recording itself; the others
# change its level, start and background as a recording chain would, never its words.
VIEWS_PER_UTTERANCE = 6
VIEW_SEED = 20261207
VIEW_GAIN_DB = (-6.0, 6.0)
VIEW_LEAD_S = (0.0, 1.5)  # silence before the speech
VIEW_NOISE_SNR_DB = (20.0, 40.0)  # white noise against the utterance's mean power


@dataclass(frozen=True)
class SpeechView:
    utterance: int
    view: int
    gain_db: float = 0.0
    lead_samples: int = 0
    snr_db: float | None = None  # None: no added noise

    def apply(self, waveform: np.ndarray) -> np.ndarray:
        """The view's waveform; its noise is seeded by the view, so every run hears the same samples."""
        audio = waveform.astype(np.float64) * 10 ** (self.gain_db / 20)
        audio = np.concatenate([np.zeros(self.lead_samples), audio])
        if self.snr_db is not None:
            noise = np.random.default_rng([VIEW_SEED, self.utterance, self.view]).standard_normal(audio.size)
            audio = audio + noise * np.sqrt(np.mean(audio ** 2) / 10 ** (self.snr_db / 10))
        return np.clip(audio, -1.0, 1.0).astype(np.float32)


def seeded_speech_views(utterances: int, per_utterance: int = VIEWS_PER_UTTERANCE,
                        seed: int = VIEW_SEED) -> tuple[SpeechView, ...]:
    rng = random.Random(seed)
    views = []
    for u in range(utterances):
        views.append(SpeechView(u, 0))
        views += [SpeechView(u, v, round(rng.uniform(*VIEW_GAIN_DB), 2),
                             int(rng.uniform(*VIEW_LEAD_S) * SAMPLE_RATE), round(rng.uniform(*VIEW_NOISE_SNR_DB), 1))
                  for v in range(1, per_utterance)]
    return tuple(views)


class SpeechViews(SpeechFixture):
    """The eval utterances as ``VIEWS_PER_UTTERANCE`` seeded views each: (preprocess(view waveform), transcript)."""

    def __init__(self, preprocess=None, fixture: Path = FIXTURE):
        super().__init__(preprocess, fixture)
        self.views = seeded_speech_views(len(self.utterances))

    def __len__(self):
        return len(self.views)

    def __getitem__(self, i):
        view = self.views[i]
        return self._prepared(self.waveform(i)), self.utterances[view.utterance].transcript

    def waveform(self, i: int) -> np.ndarray:
        view = self.views[i]
        return view.apply(verified_waveform(self.utterances[view.utterance]))

    def transcripts(self) -> list[str]:
        return [self.utterances[view.utterance].transcript for view in self.views]

    def sample_ids(self) -> list[str]:
        return [f"{self.utterances[view.utterance].id}:view{view.view}" for view in self.views]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(super().fingerprint().encode())
        digest.update(repr(self.views).encode())
        return digest.hexdigest()


def open_speech_views(_data_dir, preprocess) -> SpeechViews:
    return SpeechViews(preprocess)
