"""Classification: top-1/top-5 against each sample's label set, plus FP32-vs-quantized fidelity."""
from __future__ import annotations

from zoo.metrics.classification import per_sample_sqnr_db, sqnr_db, top1_agreement, topk_accuracy, topk_correct
from zoo.tasks import Predictions, Scores


def score(dataset, fp32: Predictions, quantized: Predictions) -> Scores:
    label_sets = dataset.label_sets()
    reference, test = fp32.stacked(), quantized.stacked()
    fp32_metrics = {"top1": topk_accuracy(reference, label_sets, 1), "top5": topk_accuracy(reference, label_sets, 5)}
    quant_metrics = {
        "top1": topk_accuracy(test, label_sets, 1),
        "top5": topk_accuracy(test, label_sets, 5),
        "agreement_top1": top1_agreement(reference, test),
        "sqnr_db": sqnr_db(reference, test),
    }
    per_sample = {
        "fp32.top1_correct": topk_correct(reference, label_sets, 1),
        "quantized.top1_correct": topk_correct(test, label_sets, 1),
        "fp32.top5_correct": topk_correct(reference, label_sets, 5),
        "quantized.top5_correct": topk_correct(test, label_sets, 5),
        "quantized.agrees_top1": reference.argmax(axis=1) == test.argmax(axis=1),
        "quantized.sqnr_db": per_sample_sqnr_db(reference, test),
    }
    return Scores(fp32_metrics, quant_metrics, per_sample)
