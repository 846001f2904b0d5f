"""The registry: frozen cases, unique ids, marks derived from data, every seed row present."""
import dataclasses

import pytest

from zoo.catalog import REGISTRY
from zoo.registry import Case, Checkpoint, Recipe, Registry

RECIPE = Recipe(name="w8a8", techniques=("bn_fold",))


def make(case_id="m.w8a8.photos", **kw):
    fields = dict(id=case_id, framework="torch", task="classification", model="m", dataset="photos",
                  metric="top1", checkpoint=Checkpoint(location="deterministic"), recipe=RECIPE, tier="embedded")
    fields.update(kw)
    return Case(**fields)


def test_duplicate_id_raises():
    registry = Registry()
    registry.add(make())
    with pytest.raises(ValueError, match="duplicate case id 'm.w8a8.photos'"):
        registry.add(make())


def test_cases_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(iter(REGISTRY)).metric = "top5"


def test_marks_come_from_data():
    case = make(tags=("slow",))
    assert case.marks == ("zoo", "embedded", "torch", "photos", "slow")


def test_undeclared_mark_and_bad_tier_are_refused():
    with pytest.raises(ValueError, match="not declared in MARKS"):
        make(tags=("fast",))
    with pytest.raises(ValueError, match="tier 'nightly'"):
        make(tier="nightly")


def test_ids_encode_architecture_recipe_dataset():
    for case in REGISTRY:
        arch, recipe, dataset = case.id.split(".")
        assert recipe == case.recipe.name and dataset == case.dataset


def test_knobs_record_adaround_only_when_used():
    assert RECIPE.knobs()["adaround_iterations"] == 0
    assert Recipe(name="r", techniques=("adaround",), adaround_iterations=7).knobs()["adaround_iterations"] == 7


def test_knobs_record_qat_settings_only_when_qat_runs():
    assert "qat_lr" not in RECIPE.knobs()
    knobs = Recipe(name="q", techniques=("qat",), quant_scheme="range_learning_tf_init", qat_steps=5).knobs()
    assert knobs["qat_steps"] == 5 and knobs["qat_learns"] == "weights and quantizer ranges"


def test_every_qat_case_is_selected_by_the_qat_mark():
    qat_cases = [case for case in REGISTRY if "qat" in case.recipe.techniques]
    assert qat_cases
    assert all("qat" in case.marks for case in qat_cases)


@pytest.mark.parametrize("seed_row", ["EfficientNet-lite0", "MobileNetV2"])
def test_pytorch_classification_seed_rows_have_published_and_embedded_cases(seed_row):
    tiers = {case.tier for case in REGISTRY if case.seed_row.endswith(f"PyTorch / {seed_row}")}
    assert tiers == {"published", "embedded"}
