"""The embedded smoke case run twice in one process gives identical metrics and AIMET encodings."""
import numpy as np
import pytest
import torch

from zoo.availability import Roots, locate_checkpoint, locate_dataset
from zoo.catalog import REGISTRY
from zoo.pipeline import CaseInputs, measure

SMOKE = REGISTRY["pt_mobilenet_v2.w8a8.photos"]


@pytest.mark.zoo
@pytest.mark.slow
def test_smoke_case_is_deterministic_on_cpu(tmp_path):
    roots = Roots(None, None)
    inputs = CaseInputs(locate_dataset(SMOKE.dataset, roots), locate_checkpoint(SMOKE.checkpoint, roots))
    first = measure(SMOKE, inputs, torch.device("cpu"), tmp_path / "a", None)
    second = measure(SMOKE, inputs, torch.device("cpu"), tmp_path / "b", None)
    assert first.info["encodings_sha256"] == second.info["encodings_sha256"]
    assert first.measurement == second.measurement
    np.testing.assert_array_equal(first.per_sample["quantized.sqnr_db"], second.per_sample["quantized.sqnr_db"])


FAST = REGISTRY["pt_msrresnet_tiny_x4.w8a8.sr_photos"]


@pytest.mark.zoo
@pytest.mark.slow
def test_one_and_two_threads_give_the_same_encodings_and_both_pass_the_gate(tmp_path, zoo_session, pytestconfig):
    """`pytest -n 0` evaluates on 2 threads, each `-n 2` worker on 1: the verdicts must not depend on it.
    The recipe runs on zoo.devices.RECIPE_THREADS whatever the count, so the encodings are the same, and
    FP32 evaluation noise stays inside each metric's fp32_tol (FP32 recomputed here, no cache)."""
    from zoo.expected import gate
    from zoo.session import accept_command

    roots = Roots(None, None)
    inputs = CaseInputs(locate_dataset(FAST.dataset, roots), locate_checkpoint(FAST.checkpoint, roots))
    entry = zoo_session.entries[FAST.id]
    before = torch.get_num_threads()
    outcomes = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outcomes[threads] = measure(FAST, inputs, torch.device("cpu"), tmp_path / str(threads), entry.samples)
    finally:
        torch.set_num_threads(before)
    assert outcomes[1].info["encodings_sha256"] == outcomes[2].info["encodings_sha256"]
    for threads, outcome in outcomes.items():
        verdict = gate(entry, outcome.measurement, accept_command(FAST, pytestconfig), device_type="cpu")
        assert verdict.passed, f"{threads} thread(s): {verdict.failures}"
