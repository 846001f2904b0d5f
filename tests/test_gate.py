"""Gate semantics on hand-made entries: each rule can pass and each can fail."""
import math
from pathlib import Path

import pytest

from zoo.expected import ExpectedEntry, Measurement, gate, wilson_margins

ACCEPT = "pytest tests/test_zoo.py::test_case[x] --update-expected"


def entry(samples=100, **metric):
    spec = {"fp32": 75.0, "fp32_tol": 0.1, "quantized": 74.5, "max_drop": 0.5, "max_gain": 1.0}
    spec.update(metric)
    return ExpectedEntry("x", Path("expected/imagenet.json"), samples, {"top1": spec}, {"kind": "measured"})


def run(fp32=75.0, quantized=74.5, samples=100, **metric):
    return gate(entry(**metric), Measurement(samples, {"top1": fp32}, {"top1": quantized}), ACCEPT)


def test_pass_within_tolerances():
    verdict = run(fp32=75.05, quantized=74.1)
    assert verdict.passed, verdict.failures
    assert verdict.deltas["top1"] == pytest.approx(-0.4)


def test_drop_beyond_tolerance_fails_with_value_expected_delta_tolerance_and_accept_command():
    verdict = run(quantized=73.9)
    assert not verdict.passed
    (message,) = verdict.failures
    for part in ("73.9", "74.5", "-0.6", "allowed drop 0.5", "regression", ACCEPT):
        assert part in message


def test_drop_exactly_at_tolerance_passes():
    assert run(quantized=74.0).passed


def test_fp32_drift_fails_even_when_quantized_is_fine():
    verdict = run(fp32=74.8)
    assert not verdict.passed
    assert "FP32 drifted" in verdict.failures[0] and "±0.1" in verdict.failures[0]


def test_improvement_beyond_sanity_bound_is_flagged():
    verdict = run(quantized=75.6)
    assert not verdict.passed
    assert "unexplained improvement" in verdict.failures[0] and ACCEPT in verdict.failures[0]


def test_improvement_within_bound_passes():
    assert run(quantized=75.4).passed


def test_sample_count_mismatch_fails_with_counts():
    verdict = run(samples=99)
    assert not verdict.passed
    assert "evaluated 99 samples, expected 100" in verdict.failures[0]


def test_floor_relative_to_fp32():
    assert run(quantized=74.3, min_fraction_of_fp32=0.99).passed  # floor 74.25
    verdict = run(quantized=74.3, min_fraction_of_fp32=0.995)  # floor 74.625
    assert not verdict.passed and "floor" in verdict.failures[0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_metric_fails(bad):
    verdict = run(quantized=bad)
    assert not verdict.passed and "not finite" in verdict.failures[0]


def test_metric_expected_but_not_measured_fails():
    verdict = gate(entry(), Measurement(100, {}, {"top5": 90.0}), ACCEPT)
    assert not verdict.passed and "not measured" in verdict.failures[0]


def test_fidelity_metric_without_fp32_value():
    e = ExpectedEntry("x", Path("e.json"), 8, {"sqnr_db": {"quantized": 20.0, "max_drop": 1.0}}, {"kind": "measured"})
    assert gate(e, Measurement(8, {}, {"sqnr_db": 19.5}), ACCEPT).passed
    assert not gate(e, Measurement(8, {}, {"sqnr_db": 18.9}), ACCEPT).passed


def test_wilson_margins_known_answer():
    down, up = wilson_margins(50.0, 100)
    # 95% Wilson interval of 50/100 is [40.38%, 59.62%]
    assert down == pytest.approx(9.62, abs=0.01) and up == pytest.approx(9.62, abs=0.01)
    down, up = wilson_margins(100.0, 8)
    assert down == pytest.approx(100 - 67.56, abs=0.01) and up == pytest.approx(0.0, abs=1e-9)


def test_subset_widens_proportion_tolerances_and_replaces_the_sample_guard():
    e = entry(samples=50000)
    # 1000-sample subset of a 74.5% metric: Wilson margin about 2.7 points
    verdict = gate(e, Measurement(1000, {"top1": 75.0}, {"top1": 72.5}), ACCEPT, subset=1000)
    assert verdict.passed, verdict.failures
    assert "Wilson" in verdict.rule and "n=1000" in verdict.rule
    assert not gate(e, Measurement(1000, {"top1": 75.0}, {"top1": 71.0}), ACCEPT, subset=1000).passed
    full = gate(e, Measurement(1000, {"top1": 75.0}, {"top1": 74.5}), ACCEPT)
    assert not full.passed and "evaluated 1000 samples, expected 50000" in full.failures[0]
    assert "full dataset" in full.rule


def test_subset_run_must_evaluate_the_subset_size():
    verdict = gate(entry(samples=50000), Measurement(900, {"top1": 75.0}, {"top1": 74.5}), ACCEPT, subset=1000)
    assert not verdict.passed and "expected 1000 (the --subset size)" in verdict.failures[0]


def test_subset_leaves_non_proportion_metrics_alone():
    e = ExpectedEntry("x", Path("e.json"), 50000, {"sqnr_db": {"quantized": 20.0, "max_drop": 1.0}}, {"kind": "m"})
    assert not gate(e, Measurement(100, {}, {"sqnr_db": 18.9}), ACCEPT, subset=100).passed


def test_fp32_keeps_its_own_tolerance_on_the_device_type_that_measured_it():
    e = ExpectedEntry("x", Path("e.json"), 100, {"top1": {"fp32": 75.0, "fp32_tol": 0.01, "quantized": 74.5,
                                                          "max_drop": 1.0}}, {"kind": "measured", "device": "cpu"})
    drifted = Measurement(100, {"top1": 74.96}, {"top1": 74.5})
    assert not gate(e, drifted, ACCEPT, device_type="cpu").passed
    on_gpu = gate(e, drifted, ACCEPT, device_type="cuda")
    assert on_gpu.passed and "measured on cpu, run on cuda" in on_gpu.rule
    # across devices the FP32 allowance is the metric's max_drop, no more
    assert not gate(e, Measurement(100, {"top1": 73.9}, {"top1": 74.5}), ACCEPT, device_type="cuda").passed
