"""expected/*.json: schema errors name the file and the key; coverage of the registry both ways."""
import json

import pytest

from zoo import expected as exp
from zoo.catalog import REGISTRY
from zoo.session import EXPECTED_DIR

GOOD = {"schema_version": 1, "cases": {"a.w8a8.photos": {
    "samples": 8, "metrics": {"top1": {"fp32": 75.0, "fp32_tol": 0.1, "quantized": 75.0, "max_drop": 12.5}},
    "provenance": {"kind": "measured"}}}}


def write(tmp_path, data, name="photos.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_shipped_expected_files_are_valid_and_cover_the_registry():
    entries = exp.load_dir(EXPECTED_DIR)
    exp.check_coverage(REGISTRY.ids(), entries, EXPECTED_DIR)
    for case in REGISTRY:
        assert entries[case.id].path.name == f"{case.dataset}.json"


def test_published_entries_quote_the_seed():
    for case in REGISTRY:
        if case.tier == "published":
            provenance = exp.load_dir(EXPECTED_DIR)[case.id].provenance
            assert provenance["kind"] == "published" and "model-zoo-README.md" in provenance["source"]


def test_embedded_entries_record_what_their_weights_are():
    entries = exp.load_dir(EXPECTED_DIR)
    for case in REGISTRY:
        if case.tier == "embedded":
            recorded = entries[case.id].provenance.get("weights")
            assert recorded == case.checkpoint.weights, (
                f"{entries[case.id].path}: cases/{case.id}/provenance/weights is {recorded}, the case's checkpoint "
                f"says {case.checkpoint.weights}; re-measure the case with --update-expected")
            if recorded["kind"] == "pretrained":
                assert recorded["sha256"] and recorded["package"] and recorded["version"]


def test_valid_file_loads(tmp_path):
    entries = exp.load_file(write(tmp_path, GOOD))
    assert entries["a.w8a8.photos"].metrics["top1"]["max_drop"] == 12.5


@pytest.mark.parametrize("fp32_tol", [0.0, None])
def test_exact_fp32_equality_is_refused_naming_the_key_and_the_fix(tmp_path, fp32_tol):
    bad = json.loads(json.dumps(GOOD))
    spec = bad["cases"]["a.w8a8.photos"]["metrics"]["top1"]
    spec.pop("fp32_tol") if fp32_tol is None else spec.update(fp32_tol=fp32_tol)
    with pytest.raises(exp.ExpectedError, match=r"cases/a.w8a8.photos/metrics/top1: fp32_tol is 0 or absent.*"
                                                r"benchmarks/noise.py"):
        exp.load_file(write(tmp_path, bad))


def test_not_json_names_the_file(tmp_path):
    path = write(tmp_path, "{not json")
    with pytest.raises(exp.ExpectedError, match=f"{path}: not valid JSON"):
        exp.load_file(path)


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["cases"]["a.w8a8.photos"]["metrics"]["top1"].pop("max_drop"), "cases/a.w8a8.photos/metrics/top1"),
    (lambda d: d["cases"]["a.w8a8.photos"].update(samples=0), "cases/a.w8a8.photos/samples"),
    (lambda d: d["cases"]["a.w8a8.photos"].update(colour="red"), "cases/a.w8a8.photos"),
    (lambda d: d["cases"]["a.w8a8.photos"]["metrics"]["top1"].update(max_drop="1"), "max_drop"),
    (lambda d: d.update(schema_version=2), "schema_version"),
])
def test_schema_error_names_file_and_key(tmp_path, mutate, key):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(exp.ExpectedError) as info:
        exp.load_file(path)
    assert str(path) in str(info.value) and key in str(info.value)


def test_unknown_metric_is_an_error(tmp_path):
    data = json.loads(json.dumps(GOOD))
    data["cases"]["a.w8a8.photos"]["metrics"]["top7"] = {"quantized": 1.0, "max_drop": 1.0}
    with pytest.raises(exp.ExpectedError, match="cases/a.w8a8.photos/metrics/top7: unknown metric"):
        exp.load_file(write(tmp_path, data))


def test_case_id_in_two_files_is_an_error(tmp_path):
    write(tmp_path, GOOD, "photos.json")
    write(tmp_path, GOOD, "other.json")
    with pytest.raises(exp.ExpectedError, match="already defined in"):
        exp.load_dir(tmp_path)


def test_case_without_entry_and_entry_without_case(tmp_path):
    entries = exp.load_file(write(tmp_path, GOOD))
    with pytest.raises(exp.ExpectedError) as info:
        exp.check_coverage(["b.w8a8.photos"], entries, tmp_path)
    message = str(info.value)
    assert "case 'b.w8a8.photos' has no entry" in message
    assert "key cases/a.w8a8.photos: no such case" in message


def test_update_keeps_tolerances_and_gated_metrics_and_records_provenance(tmp_path):
    path = write(tmp_path, GOOD)
    old = exp.load_file(path)["a.w8a8.photos"]
    measured = exp.Measurement(8, {"top1": 62.5}, {"top1": 50.0, "sqnr_db": 12.0})
    new = exp.updated_entry({"metrics": old.metrics, "samples": 8}, measured, {"date": "2026-11-27"})
    exp.write_entry(path, "a.w8a8.photos", new)
    reloaded = exp.load_file(path)["a.w8a8.photos"]
    assert reloaded.metrics == {"top1": {"fp32": 62.5, "fp32_tol": 0.1, "quantized": 50.0, "max_drop": 12.5}}
    assert reloaded.provenance == {"kind": "measured", "date": "2026-11-27"}


def test_new_entry_gates_every_measured_metric_with_default_tolerances():
    measured = exp.Measurement(8, {"top1": 62.5}, {"top1": 50.0, "sqnr_db": 12.0})
    new = exp.updated_entry(None, measured, {})
    assert new["metrics"] == {"top1": {"max_drop": 1.0, "max_gain": 2.0, "quantized": 50.0, "fp32": 62.5,
                                       "fp32_tol": 0.01},
                              "sqnr_db": {"max_drop": 1.0, "max_gain": 3.0, "quantized": 12.0}}
    assert new["samples"] == 8


def test_every_metric_has_default_tolerances_and_a_nonzero_fp32_tolerance():
    from zoo.metrics import METRICS

    for info in METRICS.values():
        defaults = info.default_tolerances(has_fp32=True)
        assert defaults["max_drop"] > 0 and 0 < defaults["fp32_tol"] < defaults["max_drop"], info.name


def write_overlay(directory, version, overrides):
    overlays = directory / "overlays"
    overlays.mkdir(exist_ok=True)
    path = overlays / f"aimet-{version}.json"
    path.write_text(json.dumps({"schema_version": 1, "overrides": overrides}))
    return path


def test_overlays_apply_in_version_order_up_to_the_installed_aimet(tmp_path):
    write(tmp_path, GOOD)
    write_overlay(tmp_path, "2.41.0", {"a.w8a8.photos": {"reason": "older", "metrics": {"top1": {"quantized": 70.0}}}})
    write_overlay(tmp_path, "2.42.0", {"a.w8a8.photos": {"reason": "AdaRound change", "metrics": {
        "top1": {"quantized": 72.0, "max_drop": 1.0}}}})
    known = {"kind": "metric", "metrics": ["top1"], "reference": "quic/aimet#1", "reason": "known bug"}
    write_overlay(tmp_path, "2.50.0", {"a.w8a8.photos": {"reason": "future", "known_issue": known}})
    entry = exp.load_dir(tmp_path, aimet_version="2.42.0")["a.w8a8.photos"]
    assert entry.metrics["top1"]["quantized"] == 72.0 and entry.metrics["top1"]["max_drop"] == 1.0
    assert entry.metrics["top1"]["fp32"] == 75.0 and entry.known_issue is None
    assert entry.overlays == ("aimet-2.41.0.json: older", "aimet-2.42.0.json: AdaRound change")
    assert exp.load_dir(tmp_path, aimet_version="2.50.1")["a.w8a8.photos"].known_issue.reason == "known bug"
    assert exp.load_dir(tmp_path)["a.w8a8.photos"].overlays == ()


@pytest.mark.parametrize("overrides, message", [
    ({"b.w8a8.photos": {"reason": "r"}}, "overrides/b.w8a8.photos: no expected entry to override"),
    ({"a.w8a8.photos": {"metrics": {}}}, "'reason' is a required property"),
    ({"a.w8a8.photos": {"reason": "r", "metrics": {"top5": {"quantized": 1.0}}}}, "gates no such metric"),
])
def test_bad_overlay_names_file_and_key(tmp_path, overrides, message):
    write(tmp_path, GOOD)
    path = write_overlay(tmp_path, "2.42.0", overrides)
    with pytest.raises(exp.ExpectedError) as info:
        exp.load_dir(tmp_path, aimet_version="2.42.0")
    assert str(path) in str(info.value) and message in str(info.value)


def test_overlay_file_name_must_carry_a_version(tmp_path):
    write(tmp_path, GOOD)
    (tmp_path / "overlays").mkdir()
    (tmp_path / "overlays" / "next.json").write_text("{}")
    with pytest.raises(exp.ExpectedError, match="named aimet-<version>.json"):
        exp.load_dir(tmp_path, aimet_version="2.42.0")
