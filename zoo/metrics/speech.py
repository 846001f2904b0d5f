"""Speech recognition metrics: transcript normalisation, greedy CTC decoding and corpus WER.

The conventions follow deepspeech.pytorch (SeanNaren): labels ``DEEPSPEECH_LABELS`` with the CTC
blank '_' at index 0 (its ``labels.json``), greedy decoding that collapses repeats and then drops
blanks (``GreedyDecoder``), and WER as the sum of word edit distances over the sum of reference
word counts, in percent (``WordErrorRate`` in ``validation.py``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

DEEPSPEECH_LABELS = "_'ABCDEFGHIJKLMNOPQRSTUVWXYZ "
DEEPSPEECH_BLANK_INDEX = 0


def normalize_transcript(text: str) -> str:
    """Upper-case; hyphens separate words ("ill-disposed" is "ILL DISPOSED", as LibriSpeech writes it); keep only
    A-Z, apostrophe and space (other characters are deleted); collapse whitespace."""
    text = re.sub(r"[\s-]+", " ", text.upper())  # tabs and newlines separate words too
    text = re.sub(r"[^A-Z' ]", "", text)
    return " ".join(text.split())


def word_edit_distance(ref_words: Sequence[str], hyp_words: Sequence[str]) -> int:
    """Levenshtein distance over words: fewest substitutions, insertions and deletions."""
    previous = list(range(len(hyp_words) + 1))
    for i, ref_word in enumerate(ref_words, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp_words, start=1):
            current.append(min(
                previous[j] + 1,                             # deletion of ref_word
                current[j - 1] + 1,                          # insertion of hyp_word
                previous[j - 1] + (ref_word != hyp_word),    # match or substitution
            ))
        previous = current
    return previous[-1]


def corpus_wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER in percent: total word edits / total reference words (not the mean of per-utterance WERs).

    Transcripts are split on whitespace as given; apply ``normalize_transcript`` first if needed.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    edits = sum(word_edit_distance(ref.split(), hyp.split()) for ref, hyp in zip(refs, hyps))
    words = sum(len(ref.split()) for ref in refs)
    if words == 0:
        raise ValueError("the references hold no words; WER is undefined")
    return 100.0 * edits / words


def greedy_ctc_decode(logits_or_argmax: np.ndarray, labels: Sequence[str], blank_index: int) -> str:
    """Best-path CTC decoding of one utterance: argmax per frame, collapse repeats, then drop blanks.

    Takes (T, C) scores (logits or probabilities, C = len(labels)) or (T,) label indices; pass only
    the utterance's valid frames (``out[i, :output_sizes[i]]``), not the batch padding.
    """
    scores = np.asarray(logits_or_argmax)
    if scores.ndim == 2:
        if scores.shape[1] != len(labels):
            raise ValueError(f"scores have {scores.shape[1]} classes but there are {len(labels)} labels")
        indices = scores.argmax(axis=1)
    elif scores.ndim == 1:
        if not np.issubdtype(scores.dtype, np.integer):
            raise ValueError(f"1-D input must hold integer label indices, got dtype {scores.dtype}")
        indices = scores
        if indices.size and (indices.min() < 0 or indices.max() >= len(labels)):
            raise ValueError(f"label indices span [{indices.min()}, {indices.max()}] but there are {len(labels)} labels")
    else:
        raise ValueError(f"expected (T, C) scores or (T,) indices for one utterance, got shape {scores.shape}")
    if not 0 <= blank_index < len(labels):
        raise ValueError(f"blank_index {blank_index} outside the {len(labels)} labels")
    decoded = []
    previous = None
    for index in indices.tolist():
        if index != previous and index != blank_index:
            decoded.append(labels[index])
        previous = index
    return "".join(decoded)
