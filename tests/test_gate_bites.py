"""The gate catches a regression on a real measurement, not only on hand-made numbers."""
import dataclasses

import pytest

from zoo.catalog import REGISTRY
from zoo.expected import gate
from zoo.session import accept_command

LITE0 = REGISTRY["pt_efficientnet_lite0.w8a8.photos"]


# same xdist group as the case itself, so its measurement is reused, not repeated
@pytest.mark.parametrize("case", [pytest.param(LITE0, id=LITE0.id, marks=[
    *(getattr(pytest.mark, m) for m in LITE0.marks), pytest.mark.xdist_group(LITE0.id)])])
def test_embedded_lite0_fails_against_expected_raised_by_twice_its_tolerance(
        case, case_inputs, expected_entry, measured, pytestconfig):
    outcome = measured(case, case_inputs)
    top1 = expected_entry.metrics["top1"]
    raised_value = top1["quantized"] + 2 * top1["max_drop"]
    raised = dataclasses.replace(expected_entry, metrics={"top1": {**top1, "quantized": raised_value}})
    command = accept_command(case, pytestconfig)

    verdict = gate(raised, outcome.measurement, command)

    assert not verdict.passed
    (message,) = verdict.failures
    assert "regression" in message and f"{raised_value:.4g}" in message and command in message
