"""The embedded smoke case run twice in one process gives identical metrics and AIMET encodings."""
import numpy as np
import pytest
import torch

from zoo.availability import Roots, locate_checkpoint, locate_dataset
from zoo.cases import REGISTRY
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
