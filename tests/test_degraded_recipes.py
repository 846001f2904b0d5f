"""A degraded recipe makes an embedded case fail its gate: the expected values catch a real quantization
regression, per task and framework, not only the hand-made numbers of tests/test_gate.py.

Each case below is measured again with 4-bit weights and without AdaRound (the kind of change a broken
AIMET release or a wrong recipe edit makes) and gated against its committed expected entry.
"""
import dataclasses

import pytest

from zoo.catalog import REGISTRY
from zoo.expected import gate
from zoo.pipeline import measure

DEGRADED_CASES = (
    "pt_ssd_lite_tiny.w8a8.synthetic_voc2007",
    "pt_deeplab_tiny.w8a8.synthetic_voc2012",
    "pt_msrresnet_tiny_x4.w8a8.sr_photos",
    "pt_pose_tiny.w8a8.synthetic_pose",
    "tf_efficientnet_lite0.w8a8.photos",
)


def degraded(case):
    techniques = tuple(t for t in case.recipe.techniques if t != "adaround")
    return dataclasses.replace(case, recipe=dataclasses.replace(case.recipe, param_bw=4, techniques=techniques))


def case_params():
    return [pytest.param(REGISTRY[case_id], id=case_id,
                         marks=[getattr(pytest.mark, m) for m in REGISTRY[case_id].marks])
            for case_id in DEGRADED_CASES]


@pytest.mark.parametrize("case", case_params())
def test_four_bit_weights_fail_the_gate(case, case_inputs, expected_entry, device, tmp_path):
    outcome = measure(degraded(case), case_inputs, device, tmp_path, expected_entry.samples)

    verdict = gate(expected_entry, outcome.measurement, "<accept command>")

    assert not verdict.passed, f"{case.id} with 4-bit weights passed its gate: {outcome.measurement.quantized}"
    assert any("regression" in failure for failure in verdict.failures), verdict.failures
