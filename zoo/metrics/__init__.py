"""Metric definitions: unit and direction, shared by the gate and the reports."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str
    higher_is_better: bool = True
    description: str = ""


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("top1", "%", description="top-1 accuracy against the sample's label set"),
        MetricInfo("top5", "%", description="top-5 accuracy against the sample's label set"),
        MetricInfo("agreement_top1", "%", description="quantized top-1 equals FP32 top-1"),
        MetricInfo("sqnr_db", "dB", description="SQNR of quantized vs FP32 outputs"),
    )
}


def metric_info(name: str) -> MetricInfo:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {sorted(METRICS)} (zoo/metrics/__init__.py)") from None
