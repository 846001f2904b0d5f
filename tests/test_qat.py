"""Quantization-aware training: the recovery gate (``recovers`` in expected/*.json) on hand-made entries, the
committed QAT case's entry, a broken QAT (learning rate 0) failing it, and seeded determinism of the fine-tune."""
import dataclasses
from pathlib import Path

import pytest

from zoo.catalog import REGISTRY
from zoo.expected import ExpectedEntry, ExpectedError, Measurement, gate, resolve_recovery_references
from zoo.pipeline import measure

ACCEPT = "pytest tests/test_zoo.py::test_case[qat] --update-expected"
QAT_CASE = "pt_deeplab_tiny.w4a8_qat.synthetic_voc2012"
PTQ_CASE = "pt_deeplab_tiny.w4a8.synthetic_voc2012"


def entries(qat_quantized=41.0, min_fraction=0.5, ptq_quantized=36.0, ptq_case="ptq"):
    def entry(case_id, quantized, **extra):
        metric = {"fp32": 44.0, "fp32_tol": 0.01, "quantized": quantized, "max_drop": 10.0, "max_gain": 10.0, **extra}
        return ExpectedEntry(case_id, Path("expected/x.json"), 100, {"miou": metric}, {"kind": "measured"})

    return {"ptq": entry("ptq", ptq_quantized),
            "qat": entry("qat", qat_quantized, recovers={"ptq_case": ptq_case, "min_fraction": min_fraction})}


def gate_qat(quantized, fp32=44.0, **kwargs):
    qat = resolve_recovery_references(entries(**kwargs))["qat"]
    return gate(qat, Measurement(100, {"miou": fp32}, {"miou": quantized}), ACCEPT)


def test_recovery_reference_copies_the_ptq_cases_expected_value():
    resolved = resolve_recovery_references(entries(ptq_quantized=35.5))
    assert resolved["qat"].metrics["miou"]["recovers"]["ptq_quantized"] == 35.5
    assert "recovers" not in resolved["ptq"].metrics["miou"]


def test_recovering_enough_of_the_ptq_loss_passes():
    # FP32 44, PTQ 36: 8 points lost; 40 wins back 4 of them, exactly the required half
    assert gate_qat(40.0).passed


def test_recovering_too_little_fails_naming_fraction_values_and_ptq_case():
    verdict = gate_qat(39.0)  # 3 of 8 points: 38 %
    assert not verdict.passed
    (message,) = verdict.failures
    for part in ("recovered 38%", "FP32 44", "PTQ 36", "expected for ptq", "QAT 39", "at least 50%"):
        assert part in message, message


def test_qat_worse_than_ptq_fails():
    assert not gate_qat(30.0).passed


def test_a_missing_ptq_case_is_an_error_naming_the_key():
    with pytest.raises(ExpectedError, match="qat/metrics/miou/recovers/ptq_case: no expected entry 'nope'"):
        resolve_recovery_references(entries(ptq_case="nope"))


def test_a_ptq_case_that_loses_nothing_cannot_gate_recovery():
    with pytest.raises(ExpectedError, match="post-training quantization loses nothing"):
        gate_qat(44.0, ptq_quantized=44.5)


def test_the_committed_qat_case_is_gated_on_recovery_against_its_ptq_case(zoo_session):
    recovers = zoo_session.entries[QAT_CASE].metrics["miou"]["recovers"]
    assert recovers["ptq_case"] == PTQ_CASE
    assert 0 < recovers["min_fraction"] <= 1
    assert "qat" in REGISTRY[QAT_CASE].recipe.techniques
    assert "qat" not in REGISTRY[PTQ_CASE].recipe.techniques
    assert REGISTRY[QAT_CASE].recipe.param_bw == REGISTRY[PTQ_CASE].recipe.param_bw == 4


def qat_params():
    case = REGISTRY[QAT_CASE]
    return [pytest.param(case, id=case.id, marks=[getattr(pytest.mark, m) for m in case.marks])]


@pytest.mark.slow
@pytest.mark.parametrize("case", qat_params())
def test_qat_at_learning_rate_zero_fails_the_recovery_gate(case, case_inputs, expected_entry, device, tmp_path):
    broken = dataclasses.replace(case, recipe=dataclasses.replace(case.recipe, qat_lr=0.0))
    outcome = measure(broken, case_inputs, device, tmp_path, expected_entry.samples)

    verdict = gate(expected_entry, outcome.measurement, "<accept command>")

    assert not verdict.passed, f"QAT at lr 0 passed its gate: {outcome.measurement.quantized}"
    assert any("quantization-aware training recovered" in failure for failure in verdict.failures), verdict.failures


@pytest.mark.slow
@pytest.mark.parametrize("case", qat_params())
def test_the_same_seed_gives_the_same_fine_tune_and_encodings(case, case_inputs, device, tmp_path):
    """A short fine-tune (8 steps) run twice with the global RNG disturbed in between, and once with another seed."""
    import torch

    short = dataclasses.replace(case, recipe=dataclasses.replace(case.recipe, qat_steps=8, qat_samples=16))
    reseeded = dataclasses.replace(short, recipe=dataclasses.replace(short.recipe, seed=1))
    first = measure(short, case_inputs, device, tmp_path / "a", None)
    torch.rand(1000)
    second = measure(short, case_inputs, device, tmp_path / "b", None)
    other = measure(reseeded, case_inputs, device, tmp_path / "c", None)

    assert first.info["qat_training_losses"] == second.info["qat_training_losses"]
    assert first.info["encodings_sha256"] == second.info["encodings_sha256"]
    assert first.measurement == second.measurement
    assert other.info["qat_training_losses"] != first.info["qat_training_losses"]
    assert other.info["encodings_sha256"] != first.info["encodings_sha256"]
