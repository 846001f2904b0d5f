"""Result rows: atomic, valid JSON even for non-finite values, readable back into a table."""
import json
import math

from zoo.results import read_rows, recipe_cell, table, write_row

ROW = {"case": "a.w8a8.photos", "tier": "embedded", "metric": "top1", "fp32": 87.5, "quantized": 75.0,
       "expected": 87.5, "delta": -12.5, "tolerance": 12.5, "verdict": "PASS",
       "metrics": {"top1": {"quantized": 75.0}, "sqnr_db": {"quantized": 16.1458}},
       "knobs": {"recipe": "w8a8"}, "techniques_applied": ["bn_fold", "cle"]}


def test_row_round_trip_and_no_temp_files_left(tmp_path):
    write_row(tmp_path, ROW)
    assert [p.name for p in tmp_path.iterdir()] == ["a.w8a8.photos.json"]
    assert read_rows(tmp_path) == [ROW]


def test_non_finite_values_stay_valid_json(tmp_path):
    path = write_row(tmp_path, {**ROW, "quantized": math.nan, "metrics": {"sqnr_db": {"quantized": math.inf}}})
    data = json.loads(path.read_text())
    assert data["quantized"] == "nan" and data["metrics"]["sqnr_db"]["quantized"] == "inf"


def test_unreadable_row_is_reported_not_fatal(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    write_row(tmp_path, ROW)
    verdicts = {row["case"]: row["verdict"] for row in read_rows(tmp_path)}
    assert verdicts == {"a.w8a8.photos": "PASS", "broken": "UNREADABLE"}


def test_table_lists_rows_other_metrics_and_missing_cases():
    text = table([ROW], missing=["b.w8a8.photos"])
    lines = text.splitlines()
    assert lines[0].startswith("| case | tier | recipe | metric | fp32 | quantized")
    assert "| a.w8a8.photos | embedded | w8a8: bn_fold+cle | top1 | 87.50 | 75.00 | 87.50 | -12.50 | 12.50 | PASS | sqnr_db 16.15 |" in text
    assert "b.w8a8.photos" in lines[-1] and "MISSING" in lines[-1]


def test_recipe_column_names_the_recipe_and_the_techniques_it_applied():
    qat = {**ROW, "knobs": {"recipe": "w4a8_qat"}, "techniques_applied": ["bn_fold", "cle", "qat"]}
    assert recipe_cell(qat) == "w4a8_qat: bn_fold+cle+qat"
    assert recipe_cell({**ROW, "techniques_applied": []}) == "w8a8: no techniques"
    assert recipe_cell({"case": "errored", "knobs": {"recipe": "w8a8"}}) == "w8a8"
    assert recipe_cell({"case": "errored"}) == ""


def test_junit_properties_are_builtin_types_that_xdist_can_ship():
    import numpy as np

    from zoo.session import junit_properties

    props = dict(junit_properties({**ROW, "quantized": np.float64(75.0), "delta": np.float32(-12.5),
                                   "gate_rule": "full dataset"}))
    assert type(props["quantized"]) is float and type(props["delta"]) is float
    assert props["verdict"] == "PASS" and props["gate_rule"] == "full dataset"
