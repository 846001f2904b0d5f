"""Speech recognition: corpus WER after ``normalize_transcript``, plus FP32-vs-quantized agreement.

Each sample's prediction is the model spec's greedy transcript as UTF-8 bytes (uint8 array), so it
travels through the FP32 cache like any other output. ``wer_vs_fp32`` scores the quantized
transcripts against the FP32 ones: the fidelity measure where the weights are not trained.
"""
from __future__ import annotations

import numpy as np

from zoo.metrics.speech import corpus_wer, normalize_transcript, word_edit_distance
from zoo.tasks import Predictions, Scores, raw_fidelity


def transcript_bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def transcripts(predictions: Predictions) -> list[str]:
    return [normalize_transcript(bytes(sample[0]).decode("utf-8")) for sample in predictions.samples]


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    references = [normalize_transcript(t) for t in dataset.transcripts()]
    reference_hyps, test_hyps = transcripts(fp32), transcripts(quantized)
    per_sample = {
        side: np.array([word_edit_distance(r.split(), h.split()) for r, h in zip(references, hyps)])
        for side, hyps in (("fp32.word_edits", reference_hyps), ("quantized.word_edits", test_hyps))
    }
    per_sample["reference_words"] = np.array([len(r.split()) for r in references])
    quant_metrics = {"wer": corpus_wer(references, test_hyps), **raw_fidelity(fp32, quantized)}
    if any(h.split() for h in reference_hyps):  # WER against an empty reference is undefined
        quant_metrics["wer_vs_fp32"] = corpus_wer(reference_hyps, test_hyps)
    return Scores({"wer": corpus_wer(references, reference_hyps)}, quant_metrics, per_sample)
