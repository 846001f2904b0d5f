"""Reports over run directories (python -m zoo report|trend|compare), on the committed fixture runs.

The fixture runs come from fixtures/results/make_fixture_runs.py (the real pipeline): base/, base_repeat/
(identical rerun) and degraded_w4/ (4-bit weights) of pt_mobilenet_v2.w8a8.photos.
"""
import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.__main__ import main
from zoo.reports import load_run
from zoo.reports.compare import (ADDED, NO_CHANGE, NOT_TESTABLE, REGRESSION, REMOVED, SampleMismatchError,
                                 compare_runs, mcnemar, mcnemar_exact_p, paired_bootstrap)
from zoo.reports.trend import histories, order_runs
from zoo.results import read_per_sample, write_per_sample, write_row

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures" / "results"
BASE, REPEAT, DEGRADED = FIXTURES / "base", FIXTURES / "base_repeat", FIXTURES / "degraded_w4"
CASE = "pt_mobilenet_v2.w8a8.photos"


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def copy_run(source: Path, destination: Path) -> Path:
    return Path(shutil.copytree(source, destination))


# ------------------------------------------------------------------------------------------ fixtures
def test_fixture_runs_are_what_the_tests_assume():
    base, degraded = load_run(BASE).rows[CASE], load_run(DEGRADED).rows[CASE]
    assert base["verdict"] == "PASS" and degraded["verdict"] == "FAIL"
    assert base["knobs"]["param_bw"] == 8 and degraded["knobs"]["param_bw"] == 4
    base_samples, repeat_samples = read_per_sample(BASE, CASE), read_per_sample(REPEAT, CASE)
    for key, values in base_samples.items():
        np.testing.assert_array_equal(values, repeat_samples[key], err_msg=key)


# ------------------------------------------------------------------------------------------- report
def test_report_writes_csv_markdown_and_png(tmp_path, capsys):
    assert main(["report", str(BASE), "--out", str(tmp_path)]) == 0

    paths = capsys.readouterr().out.split()
    assert paths == [str(tmp_path / name) for name in ("results.csv", "results.md", "fp32_vs_quantized.png")]
    (line,) = read_csv(tmp_path / "results.csv")
    row = load_run(BASE).rows[CASE]
    assert line["case"] == CASE and line["metric"] == "sqnr_db" and line["verdict"] == "PASS"
    assert float(line["quantized"]) == row["quantized"]
    for metric in ("top1", "top5", "agreement_top1", "sqnr_db"):
        assert float(line[f"metrics.{metric}.quantized"]) == row["metrics"][metric]["quantized"]
    assert line["metrics.top1.fp32"] == str(row["metrics"]["top1"]["fp32"])
    assert line["knobs.param_bw"] == "8" and "expected_provenance.date" not in line

    markdown = (tmp_path / "results.md").read_text().splitlines()
    assert "## PyTorch models" in markdown
    assert "| model | case | recipe | metric | FP32 | quantized | expected | delta | verdict |" in markdown
    assert f"| mobilenet_v2 | {CASE} | w8a8: bn_fold+cle | sqnr_db |  | {row['quantized']:.2f} | {row['expected']:.2f} | 0.00 | PASS |" \
        in markdown
    assert (tmp_path / "fp32_vs_quantized.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_a_directory_without_rows(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path) in error and "run directory" in error


# -------------------------------------------------------------------------------------------- trend
def test_trend_flags_the_degraded_run_as_first_beyond_tolerance(tmp_path):
    # given out of order: runs are ordered by run id (start time)
    assert main(["trend", str(DEGRADED), str(BASE), str(REPEAT), "--out", str(tmp_path)]) == 0

    lines = read_csv(tmp_path / "trend.csv")
    assert [line["run_dir"] for line in lines] == [str(BASE), str(REPEAT), str(DEGRADED)]
    assert [line["beyond_tolerance"] for line in lines] == ["False", "False", "True"]
    assert [line["first_flagged"] for line in lines] == ["False", "False", "True"]
    assert float(lines[1]["change_from_first"]) == 0.0
    assert (tmp_path / "trend.png").read_bytes()[:4] == b"\x89PNG"
    assert "**" in (tmp_path / "trend.md").read_text()


def test_trend_reason_names_the_move_and_the_verdict():
    (history,) = histories(order_runs([load_run(d) for d in (BASE, REPEAT, DEGRADED)]))
    assert history.first_flagged == 2
    assert "sqnr_db moved -" in history.reason and "tolerance 1.00" in history.reason
    assert "verdict FAIL" in history.reason and history.reason.startswith("degraded_w4")


# ------------------------------------------------------------------------------------------ compare
def test_compare_with_degraded_weights_is_a_significant_sqnr_regression(tmp_path):
    assert main(["compare", str(BASE), str(DEGRADED), "--out", str(tmp_path)]) == 1

    (line,) = read_csv(tmp_path / "compare.csv")
    assert line["verdict"] == REGRESSION and line["sqnr_verdict"] == REGRESSION
    assert float(line["sqnr_p_value"]) <= 0.05 and float(line["sqnr_ci_high"]) < 0
    assert float(line["sqnr_mean_difference"]) < 0 and float(line["sqnr_db.delta"]) < 0
    assert line["mcnemar_verdict"] == NO_CHANGE  # the smoke case's random classifier is never right
    assert f"| {CASE} | {REGRESSION} |" in (tmp_path / "compare.md").read_text()


def test_compare_with_an_identical_rerun_shows_no_significant_change(tmp_path):
    assert main(["compare", str(BASE), str(REPEAT), "--out", str(tmp_path)]) == 0

    (line,) = read_csv(tmp_path / "compare.csv")
    assert line["verdict"] == NO_CHANGE
    assert float(line["sqnr_p_value"]) == 1.0 and float(line["sqnr_mean_difference"]) == 0.0
    assert float(line["mcnemar_p_value"]) == 1.0
    assert all(float(line[f"{m}.delta"]) == 0.0 for m in ("top1", "top5", "agreement_top1", "sqnr_db"))


def test_python_m_zoo_compare_exit_code_gates_ci(tmp_path):
    done = subprocess.run([sys.executable, "-m", "zoo", "compare", str(BASE), str(DEGRADED), "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert f"significant regression in 1 case(s): {CASE}" in done.stderr


def test_compare_refuses_mismatched_sample_ids_naming_both_files(tmp_path, capsys):
    new = copy_run(REPEAT, tmp_path / "reordered")
    samples = read_per_sample(new, CASE)
    write_per_sample(new, CASE, {key: values[::-1] for key, values in samples.items()})

    with pytest.raises(SampleMismatchError) as error:
        compare_runs(load_run(BASE), load_run(new))
    base_file, new_file = BASE / f"{CASE}.samples.npz", new / f"{CASE}.samples.npz"
    assert str(base_file) in str(error.value) and str(new_file) in str(error.value)
    assert main(["compare", str(BASE), str(new), "--out", str(tmp_path / "out")]) == 2
    assert str(new_file) in capsys.readouterr().err


def test_compare_without_a_per_sample_file_is_not_testable(tmp_path):
    new = copy_run(DEGRADED, tmp_path / "rows_only")
    (new / f"{CASE}.samples.npz").unlink()

    (comparison,) = compare_runs(load_run(BASE), load_run(new))
    assert comparison.verdict == NOT_TESTABLE
    assert comparison.metric_deltas["sqnr_db"][2] < 0
    assert any("no per-sample file" in note for note in comparison.notes)


def test_compare_lists_cases_in_one_run_as_added_or_removed(tmp_path):
    new = copy_run(BASE, tmp_path / "with_another_case")
    row = json.loads((new / f"{CASE}.json").read_text())
    write_row(new, {**row, "case": "pt_other.w8a8.photos"})

    verdicts = {c.case: c.verdict for c in compare_runs(load_run(BASE), load_run(new))}
    assert verdicts == {CASE: NO_CHANGE, "pt_other.w8a8.photos": ADDED}
    assert {c.case: c.verdict for c in compare_runs(load_run(new), load_run(BASE))}["pt_other.w8a8.photos"] == REMOVED


def test_compare_drops_infinite_sqnr_and_says_so(tmp_path):
    new = copy_run(REPEAT, tmp_path / "lossless_sample")
    samples = read_per_sample(new, CASE)
    samples["quantized.sqnr_db"][0] = np.inf
    write_per_sample(new, CASE, samples)

    (comparison,) = compare_runs(load_run(BASE), load_run(new))
    assert comparison.bootstrap.dropped == 1 and comparison.bootstrap.samples == 7
    assert any("1 sample(s) dropped" in note for note in comparison.notes)


# ---------------------------------------------------------------------------------- the statistics
@pytest.mark.parametrize("losses, gains, p", [(0, 6, 0.03125), (6, 0, 0.03125), (3, 3, 1.0), (0, 0, 1.0),
                                              (1, 9, 22 / 1024), (12, 12, 1.0)])
def test_mcnemar_exact_known_answers(losses, gains, p):
    assert mcnemar_exact_p(losses, gains) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("losses, gains", [(2, 11), (40, 25), (7, 8)])
def test_mcnemar_exact_matches_the_binomial_sum(losses, gains):
    n, k = losses + gains, min(losses, gains)
    by_hand = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    assert mcnemar_exact_p(losses, gains) == pytest.approx(by_hand, rel=1e-12)


def test_mcnemar_counts_the_discordant_pairs():
    base = np.array([1, 1, 1, 0, 0, 1], bool)
    new = np.array([1, 0, 0, 1, 0, 1], bool)
    result = mcnemar(base, new)
    assert (result.losses, result.gains, result.samples) == (2, 1, 6)


def test_bootstrap_is_deterministic_with_a_seed():
    rng = np.random.default_rng(1)
    base, new = rng.normal(20, 2, 200), rng.normal(19.8, 2, 200)
    assert paired_bootstrap(base, new, seed=7) == paired_bootstrap(base, new, seed=7)
    assert paired_bootstrap(base, new, seed=7).ci_low != paired_bootstrap(base, new, seed=8).ci_low


def test_bootstrap_finds_a_clear_shift_and_not_a_null_one():
    rng = np.random.default_rng(2)
    base = rng.normal(20, 1, 100)
    shifted = paired_bootstrap(base, base - 0.5 + rng.normal(0, 0.1, 100))
    assert shifted.p_value < 0.001 and shifted.ci_low < shifted.mean_difference < shifted.ci_high < 0
    same = paired_bootstrap(base, base.copy())
    assert same.p_value == 1.0 and same.ci_low == same.ci_high == 0.0


def test_markdown_notes_name_the_gate_rule_and_overlays():
    from zoo.reports.tables import gate_notes

    notes = gate_notes([{"case": "a.w8a8.photos", "gate_rule": "full dataset: sample count must match",
                         "overlays": ["aimet-2.43.0.json: AdaRound default changed"]}])
    assert "Gate rule: full dataset: sample count must match" in notes
    assert "- a.w8a8.photos: aimet-2.43.0.json: AdaRound default changed" in notes


def test_holm_adjustment_is_step_down_bonferroni():
    from zoo.reports.compare import holm_adjusted

    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjusted([]) == []


def test_one_nominal_regression_among_twenty_cases_is_not_an_alarm_but_a_strong_one_is():
    from zoo.reports.compare import REGRESSION, CaseComparison, McNemarResult, apply_holm, mcnemar_verdict

    def case(name, losses, p):
        c = CaseComparison(name, "both", "top1", mcnemar=McNemarResult(losses, 0, 1000, p))
        c.mcnemar_verdict = mcnemar_verdict(c.mcnemar, 0.05)
        return c

    weak = [case("weak", 6, 0.03)] + [case(f"flat{i}", 1, 1.0) for i in range(19)]
    assert weak[0].mcnemar_verdict == REGRESSION  # at alpha 0.05 on its own
    apply_holm(weak, 0.05)
    assert weak[0].verdict != REGRESSION and weak[0].mcnemar_p_holm == pytest.approx(0.6)

    strong = [case("strong", 40, 1e-12)] + [case(f"flat{i}", 1, 1.0) for i in range(19)]
    apply_holm(strong, 0.05)
    assert strong[0].verdict == REGRESSION
