"""Classification metrics on known answers."""
import math

import numpy as np
import pytest

from zoo.metrics import metric_info
from zoo.metrics.classification import sqnr_db, top1_agreement, topk_accuracy, topk_correct

LOGITS = np.array([
    [0.1, 0.9, 0.0, 0.0],   # top-1 = 1, top-2 = {1, 0}
    [0.5, 0.1, 0.3, 0.2],   # top-1 = 0, top-2 = {0, 2}
    [0.0, 0.1, 0.2, 0.7],   # top-1 = 3, top-2 = {3, 2}
])


def test_topk_with_single_labels():
    labels = [frozenset({1}), frozenset({2}), frozenset({0})]
    assert topk_correct(LOGITS, labels, 1).tolist() == [True, False, False]
    assert topk_accuracy(LOGITS, labels, 1) == pytest.approx(100 / 3)
    assert topk_accuracy(LOGITS, labels, 2) == pytest.approx(200 / 3)
    assert topk_accuracy(LOGITS, labels, 4) == 100.0


def test_topk_with_label_sets():
    labels = [frozenset({5, 1}), frozenset({2, 0}), frozenset({9})]
    assert topk_accuracy(LOGITS, labels, 1) == pytest.approx(200 / 3)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 outputs but 2 label sets"):
        topk_accuracy(LOGITS, [frozenset({1})] * 2, 1)


def test_agreement():
    flipped = LOGITS.copy()
    flipped[2] = [0.9, 0, 0, 0]
    assert top1_agreement(LOGITS, LOGITS) == 100.0
    assert top1_agreement(LOGITS, flipped) == pytest.approx(200 / 3)


def test_sqnr_known_answer():
    reference = np.ones(100)
    assert sqnr_db(reference, reference * 1.1) == pytest.approx(20.0)  # noise 0.01 per element
    assert sqnr_db(reference, reference * 1.01) == pytest.approx(40.0)
    assert math.isinf(sqnr_db(reference, reference))


def test_metric_directions_and_unknown_metric():
    assert metric_info("top1").higher_is_better and metric_info("sqnr_db").unit == "dB"
    with pytest.raises(KeyError, match="unknown metric 'wer1'"):
        metric_info("wer1")
