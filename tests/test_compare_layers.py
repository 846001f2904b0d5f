"""compare's layer-by-layer part (zoo/reports/layers.py) on a real row's layer report: the committed candidate
run of docs/release-validation (see its release.json)."""
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from zoo.__main__ import main
from zoo.reports import load_run
from zoo.reports.compare import compare_runs
from zoo.results import layers_path, read_layers

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "docs" / "release-validation"
CASE = "pt_mobilenet_v2.w8a8.photo_views"


def committed_run(side: str) -> Path:
    return REPO / json.loads((RELEASE / "release.json").read_text())[side]["run"]


def single_case_run(source: Path, destination: Path, case: str = CASE) -> Path:
    destination.mkdir(parents=True)
    for suffix in (".json", ".samples.npz", ".layers.json.gz"):
        shutil.copy(source / f"{case}{suffix}", destination / f"{case}{suffix}")
    return destination


def rewrite_layers(run: Path, change, case: str = CASE) -> dict:
    layers = read_layers(run, case)
    change(layers)
    layers_path(run, case).write_bytes(gzip.compress(json.dumps(layers).encode()))
    return layers


def test_the_committed_release_rows_carry_real_layer_reports():
    layers = read_layers(committed_run("candidate"), CASE)
    assert layers["backend"].startswith("aimet-torch")
    kinds = {q["kind"] for q in layers["quantizers"]}
    assert {"input", "output", "param"} <= kinds and len(layers["quantizers"]) > 100
    assert all(q["scale"] and q["bitwidth"] == 8 for q in layers["quantizers"])
    assert len(layers["layer_sqnr_db"]) > 50


def test_a_planted_scale_change_in_one_quantizer_is_named_first(tmp_path):
    base = single_case_run(committed_run("candidate"), tmp_path / "base")
    new = single_case_run(committed_run("candidate"), tmp_path / "new")
    rng = np.random.default_rng(0)
    target = "features.9.conv.0.param.weight"

    def jitter_all_and_move_one(layers):
        for q in layers["quantizers"]:  # float noise everywhere, far below the planted change
            q["scale"] = [s * (1 + 1e-4 * rng.standard_normal()) for s in q["scale"]]
            if q["quantizer"] == target:
                q["scale"] = [s * 1.03 for s in q["scale"]]

    rewrite_layers(new, jitter_all_and_move_one)
    (comparison,) = compare_runs(load_run(base), load_run(new))
    moved = comparison.layers.moved
    assert moved[0].quantizer == target and moved[0].scale_change == pytest.approx(0.03, rel=0.02)
    assert moved[1].scale_change < 1e-3 and comparison.layers.structure_changes == []

    assert main(["compare", str(base), str(new), "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "compare.md").read_text()
    moved_table = report.split("## Quantizers whose encodings moved most")[1]
    assert moved_table.split("\n| ")[2].startswith(f"{CASE} | 1 | {target} |")


def test_a_structural_change_is_flagged_even_when_accuracy_holds(tmp_path):
    base = single_case_run(committed_run("candidate"), tmp_path / "base")
    new = single_case_run(committed_run("candidate"), tmp_path / "new")

    def four_bit_classifier_and_no_input_quantizer(layers):
        for q in layers["quantizers"]:
            if q["quantizer"] == "classifier.param.weight":
                q["bitwidth"] = 4
        layers["quantizers"] = [q for q in layers["quantizers"] if q["quantizer"] != "features.0.0.input[0]"]

    rewrite_layers(new, four_bit_classifier_and_no_input_quantizer)
    (comparison,) = compare_runs(load_run(base), load_run(new))
    changes = comparison.layers.structure_changes
    assert "param int4: 0 -> 1" in changes and any(c.startswith("input int8: ") for c in changes)
    assert any(c.startswith("classifier.param.weight: int8 symmetric x1 -> int4") for c in changes)
    assert comparison.verdict != "regression"  # metrics identical: flagged, not failed
    assert main(["compare", str(base), str(new), "--out", str(tmp_path / "out")]) == 0
    assert f"- {CASE}: " in (tmp_path / "out" / "compare.md").read_text()


def test_fallen_layer_sqnr_is_ranked_largest_drop_first(tmp_path):
    base = single_case_run(committed_run("candidate"), tmp_path / "base")
    new = single_case_run(committed_run("candidate"), tmp_path / "new")

    def drop(layers):
        layers["layer_sqnr_db"]["features.5.conv.3"] -= 4.0
        layers["layer_sqnr_db"]["features.12.conv.3"] -= 1.0

    rewrite_layers(new, drop)
    (comparison,) = compare_runs(load_run(base), load_run(new))
    ranked = [(c.module, round(c.delta, 6)) for c in comparison.layers.sqnr_changes]
    assert ranked == [("features.5.conv.3", -4.0), ("features.12.conv.3", -1.0)]


def test_a_run_without_layer_reports_says_so(tmp_path):
    base = single_case_run(committed_run("candidate"), tmp_path / "base")
    new = single_case_run(committed_run("candidate"), tmp_path / "new")
    layers_path(new, CASE).unlink()
    (comparison,) = compare_runs(load_run(base), load_run(new))
    assert comparison.layers is None and any("no layer report" in note for note in comparison.notes)


def test_compare_runs_on_the_committed_release_rows(tmp_path, capsys):
    assert main(["compare", str(committed_run("baseline")), str(committed_run("candidate")),
                 "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    for section in ("## Task metrics, paired bootstrap", "## Structure", "## Quantizers whose encodings moved",
                    "## Layers whose SQNR"):
        assert section in printed
    assert (tmp_path / "compare.png").is_file()
