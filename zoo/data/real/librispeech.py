"""LibriSpeech in the layout of the openslr tarballs: LibriSpeech/<split>/<speaker>/<chapter>/*.flac + *.trans.txt.

Each line of a ``<speaker>-<chapter>.trans.txt`` names an utterance and its transcript; every listed
utterance needs its ``<utterance>.flac`` and every FLAC a line. Samples are sorted by utterance id
(the order does not change a corpus WER). Audio is read as deepspeech.pytorch's load_audio reads it
(int16 / 32767, channels averaged); its V2 librispeech.py converts the FLACs with
``sox -r 16000 -b 16 -c 1``, which leaves LibriSpeech's 16 kHz mono 16-bit audio unchanged, so
other sample rates are refused rather than resampled. References are the transcripts upper-cased
with only the model's label characters kept (``normalize_transcript``), as its parse_transcript and
target decoder leave them.

Reading FLAC needs the ``soundfile`` package (libsndfile); scanning the tree does not.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.base import DatasetError
from zoo.metrics.speech import normalize_transcript

SPLIT_UTTERANCES = {"test-clean": 2620, "test-other": 2939, "dev-clean": 2703, "dev-other": 2864}
SAMPLE_RATE = 16000
INT16_SCALE = 32767.0  # deepspeech.pytorch's load_audio (not 32768)
SHOWN_MISSING = 5


@dataclass(frozen=True)
class Utterance:
    utterance_id: str
    audio_path: Path
    transcript: str  # as written in the .trans.txt


def split_dir(root: Path, split: str) -> Path:
    """``root/<split>`` when it exists, else ``root`` itself when it is named ``<split>``."""
    root = Path(root)
    if (root / split).is_dir():
        return root / split
    if root.name == split and root.is_dir():
        return root
    raise DatasetError(f"{root}: no LibriSpeech {split} folder (looked for {root / split}); extract "
                       f"{split}.tar.gz from openslr.org/12 into the folder above {root}")


def read_transcripts(folder: Path) -> dict[str, str]:
    """utterance id -> transcript, from every <speaker>/<chapter>/*.trans.txt under ``folder``."""
    transcripts = {}
    for path in sorted(folder.glob("*/*/*.trans.txt")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            utterance_id, _, text = line.strip().partition(" ")
            if not text:
                raise DatasetError(f"{path}:{number}: {line!r} has no transcript after the utterance id")
            transcripts[utterance_id] = text
    return transcripts


def scan(folder: Path, expected: int | None) -> list[Utterance]:
    """Utterances with both a transcript line and a FLAC, sorted by id; DatasetError on any mismatch."""
    transcripts = read_transcripts(folder)
    audio = {path.stem: path for path in folder.glob("*/*/*.flac")}
    without_audio = sorted(set(transcripts) - set(audio))
    without_text = sorted(set(audio) - set(transcripts))
    complete = len(set(transcripts) & set(audio))
    if without_audio or without_text:
        raise DatasetError(
            f"{folder}: partial LibriSpeech tree: {len(transcripts)} transcript lines, {len(audio)} FLAC files, "
            f"{len(without_audio)} lines without audio (first: {without_audio[:SHOWN_MISSING]}), "
            f"{len(without_text)} FLACs without a line (first: {without_text[:SHOWN_MISSING]}); "
            f"re-extract the complete tarball")
    if expected is not None and complete != expected:
        raise DatasetError(f"{folder}: partial LibriSpeech tree: expected {expected} utterances, found {complete} "
                           f"(whole chapters missing); re-extract the complete tarball")
    return [Utterance(u, audio[u], transcripts[u]) for u in sorted(transcripts)]


def read_audio(path: Path) -> np.ndarray:
    """Mono float32 samples = int16 / 32767, as deepspeech.pytorch's load_audio."""
    try:
        import soundfile
    except ImportError:
        raise DatasetError(f"{path}: reading FLAC needs the 'soundfile' package (libsndfile), which is not "
                           f"installed; pip install soundfile") from None
    samples, rate = soundfile.read(str(path), dtype="int16")
    if rate != SAMPLE_RATE:
        raise DatasetError(f"{path}: {rate} Hz audio; LibriSpeech and DeepSpeech2 use {SAMPLE_RATE} Hz")
    samples = samples.astype(np.float32) / INT16_SCALE
    return samples.mean(axis=1) if samples.ndim > 1 else samples


class LibriSpeech:
    """Map-style dataset: (preprocess(float32 samples), reference transcript) per utterance."""

    LIST_ACCESSORS = ("transcripts",)
    INDEX_ACCESSORS = ()
    SHARED_ATTRIBUTES = ()

    def __init__(self, root: Path, preprocess, split: str = "test-clean", expected_utterances: int | None = None):
        self.root = split_dir(root, split)
        self.split = split
        self.preprocess = preprocess
        expected = SPLIT_UTTERANCES.get(split) if expected_utterances is None else expected_utterances
        self.utterances = scan(self.root, expected)

    def __len__(self):
        return len(self.utterances)

    def __getitem__(self, i) -> tuple[object, str]:
        utterance = self.utterances[i]
        return self.preprocess(read_audio(utterance.audio_path)), normalize_transcript(utterance.transcript)

    def transcripts(self) -> list[str]:
        return [normalize_transcript(u.transcript) for u in self.utterances]

    def sample_ids(self) -> list[str]:
        return [u.utterance_id for u in self.utterances]

    def fingerprint(self) -> str:
        """Identifies the evaluated files (names and sizes) and transcripts, for caching FP32 results."""
        digest = hashlib.sha256()
        for u in self.utterances:
            digest.update(f"{u.audio_path.relative_to(self.root)}:{u.audio_path.stat().st_size}:{u.transcript}\n"
                          .encode())
        return digest.hexdigest()

    def calibration_images(self, count: int, seed: int) -> list:
        """A seeded random sample of ``count`` preprocessed utterances (their lengths differ)."""
        picks = random.Random(seed).sample(range(len(self)), min(count, len(self)))
        return [self[i][0] for i in picks]


def open_test_clean(data_dir: Path, preprocess) -> LibriSpeech:
    """The DATASETS opener: ``data_dir`` is the LibriSpeech directory under --data-root."""
    return LibriSpeech(data_dir, preprocess)
