"""Compare two runs case by case, with paired tests on the per-sample outcomes (AIMET release validation).

Per case in both runs: the delta (new - base) of every metric's quantized value and, where both runs wrote
per-sample files over the same samples:

- exact McNemar test on ``quantized.top1_correct``: two-sided binomial test (p = 1/2) on the discordant
  pairs (b = right in base and wrong in new, c = the reverse);
- paired bootstrap of the mean of ``quantized.sqnr_db`` (new - base): seeded resampling of samples, percentile
  CI, two-sided p = 2 * min(share of resampled means <= 0, share >= 0) with the +1 correction. Samples
  whose SQNR is not finite in either run (inf: output unchanged by quantization) are dropped and counted.

The tests of all cases form one family: their p-values are Holm-adjusted (step-down Bonferroni, which holds the
family-wise error rate at ``alpha``), so twenty cases do not raise a false alarm by chance, and each test is
judged on its adjusted p. A test is "not testable" (and left out of the family) when it could not reach
``alpha`` with the samples at hand. A case is a regression when any of its tests is a significant regression.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.metrics import metric_info
from zoo.reports import ReportError, Run, as_float
from zoo.reports.layers import LayerComparison, compare_layers, load_layers
from zoo.reports.resampled import CHUNK_ELEMENTS, MetricBootstrap, applicable, interval_and_p, paired_metric_bootstrap
from zoo.results import per_sample_path, read_per_sample

ALPHA = 0.05
RESAMPLES = 10_000
SEED = 0
# below this a bootstrap resample has too few distinct values to mean anything
MIN_BOOTSTRAP_SAMPLES = 5
TOP1_KEY, SQNR_KEY = "quantized.top1_correct", "quantized.sqnr_db"

REGRESSION, IMPROVEMENT, NO_CHANGE, NOT_TESTABLE = "regression", "improvement", "no significant change", "not testable"
ADDED, REMOVED = "added", "removed"


class SampleMismatchError(ReportError):
    pass


@dataclass(frozen=True)
class McNemarResult:
    losses: int  # b: top-1 right in base, wrong in new
    gains: int  # c: wrong in base, right in new
    samples: int
    p_value: float


@dataclass(frozen=True)
class BootstrapResult:
    mean_difference: float  # new - base, over the kept samples
    ci_low: float
    ci_high: float
    p_value: float
    samples: int  # kept
    dropped: int  # not finite in either run
    resamples: int
    seed: int


@dataclass
class CaseComparison:
    case: str
    status: str  # "both", ADDED or REMOVED
    metric: str = ""
    metric_deltas: dict[str, tuple[float | None, float | None, float | None]] = field(default_factory=dict)
    mcnemar: McNemarResult | None = None
    mcnemar_verdict: str = NOT_TESTABLE
    bootstrap: BootstrapResult | None = None
    bootstrap_verdict: str = NOT_TESTABLE
    verdict: str = NOT_TESTABLE
    notes: list[str] = field(default_factory=list)
    mcnemar_p_holm: float | None = None  # the p-value after the Holm adjustment across every case's tests
    bootstrap_p_holm: float | None = None
    layers: LayerComparison | None = None  # None where either run has no layer report for the case
    metric_tests: list[MetricBootstrap] = field(default_factory=list)  # task metrics recomputed per resample
    metric_verdicts: dict[str, str] = field(default_factory=dict)
    metric_p_holm: dict[str, float] = field(default_factory=dict)
    top1_interval: BootstrapResult | None = None  # of the top-1 difference in points, for the plot (McNemar tests)

    def test_verdicts(self) -> list[str]:
        return [self.mcnemar_verdict, self.bootstrap_verdict, *self.metric_verdicts.values()]


# ----------------------------------------------------------------------------------------------- the tests
def mcnemar_exact_p(losses: int, gains: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of min(b, c) among the b + c discordant pairs."""
    from scipy.stats import binom  # scipy comes with scikit-learn / scikit-image (pyproject dependencies)

    discordant = losses + gains
    if discordant == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(losses, gains), discordant, 0.5)))


def mcnemar(base_correct: np.ndarray, new_correct: np.ndarray) -> McNemarResult:
    base_correct, new_correct = np.asarray(base_correct, bool), np.asarray(new_correct, bool)
    losses = int(np.sum(base_correct & ~new_correct))
    gains = int(np.sum(~base_correct & new_correct))
    return McNemarResult(losses, gains, int(base_correct.size), mcnemar_exact_p(losses, gains))


def bootstrap_means(differences: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    n = differences.size
    chunk = max(1, CHUNK_ELEMENTS // n)
    means = np.empty(resamples)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        means[start:stop] = differences[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def paired_bootstrap(base: np.ndarray, new: np.ndarray, alpha: float = ALPHA, resamples: int = RESAMPLES,
                     seed: int = SEED) -> BootstrapResult:
    """Bootstrap of the mean paired difference new - base over the samples finite in both runs."""
    base, new = np.asarray(base, np.float64), np.asarray(new, np.float64)
    finite = np.isfinite(base) & np.isfinite(new)
    differences = new[finite] - base[finite]
    dropped = int(base.size - differences.size)
    if differences.size == 0:
        return BootstrapResult(float("nan"), float("nan"), float("nan"), 1.0, 0, dropped, resamples, seed)
    low, high, p_value = interval_and_p(bootstrap_means(differences, resamples, np.random.default_rng(seed)), alpha)
    return BootstrapResult(float(differences.mean()), low, high, p_value, int(differences.size), dropped, resamples,
                           seed)


def judged(p_value: float, change: float, higher_is_better: bool, alpha: float) -> str:
    if p_value > alpha or change == 0:
        return NO_CHANGE
    return IMPROVEMENT if (change > 0) == higher_is_better else REGRESSION


def mcnemar_verdict(result: McNemarResult, alpha: float) -> str:
    # the smallest p the test can give with n samples is 2 * 0.5**n (every pair discordant one way)
    if 2.0 * 0.5 ** result.samples > alpha:
        return NOT_TESTABLE
    return judged(result.p_value, result.gains - result.losses, metric_info("top1").higher_is_better, alpha)


def bootstrap_verdict(result: BootstrapResult, alpha: float) -> str:
    if result.samples < MIN_BOOTSTRAP_SAMPLES:
        return NOT_TESTABLE
    return judged(result.p_value, result.mean_difference, metric_info("sqnr_db").higher_is_better, alpha)


def metric_verdict(result: MetricBootstrap, alpha: float) -> str:
    if result.samples < MIN_BOOTSTRAP_SAMPLES or result.resamples == 0:
        return NOT_TESTABLE
    return judged(result.p_value, result.delta, metric_info(result.metric).higher_is_better, alpha)


def case_verdict(test_verdicts: list[str]) -> str:
    """Any significant regression makes the case a regression (the gate errs towards stopping a release)."""
    for verdict in (REGRESSION, IMPROVEMENT, NO_CHANGE):
        if verdict in test_verdicts:
            return verdict
    return NOT_TESTABLE


# ------------------------------------------------------------------------------------------- per case
def metric_deltas(base_row: dict, new_row: dict) -> dict[str, tuple[float | None, float | None, float | None]]:
    base_metrics, new_metrics = base_row.get("metrics") or {}, new_row.get("metrics") or {}
    deltas = {}
    for name in sorted(set(base_metrics) | set(new_metrics)):
        base = as_float((base_metrics.get(name) or {}).get("quantized"))
        new = as_float((new_metrics.get(name) or {}).get("quantized"))
        deltas[name] = (base, new, None if base is None or new is None else new - base)
    return deltas


def load_paired_samples(case: str, base: Run, new: Run) -> tuple[dict, dict] | str:
    """Both runs' per-sample arrays for ``case``, or why there are none; raises if their samples differ."""
    paths = per_sample_path(base.directory, case), per_sample_path(new.directory, case)
    for run, path in zip((base, new), paths):
        if not path.is_file():
            return f"no per-sample file in {run.label} ({path})"
    base_samples, new_samples = read_per_sample(base.directory, case), read_per_sample(new.directory, case)
    check_same_samples(base_samples.get("sample_ids"), new_samples.get("sample_ids"), *paths)
    return base_samples, new_samples


def check_same_samples(base_ids, new_ids, base_path: Path, new_path: Path) -> None:
    if base_ids is None or new_ids is None:
        missing = base_path if base_ids is None else new_path
        raise SampleMismatchError(f"{missing} has no sample_ids array; rewrite it with the current suite "
                                  f"(zoo.results.write_per_sample) before a paired comparison")
    base_ids, new_ids = np.asarray(base_ids).astype(str), np.asarray(new_ids).astype(str)
    if base_ids.shape == new_ids.shape and np.array_equal(base_ids, new_ids):
        return
    if base_ids.shape != new_ids.shape:
        detail = f"{base_ids.size} vs {new_ids.size} samples"
    else:
        first = int(np.flatnonzero(base_ids != new_ids)[0])
        detail = f"first difference at index {first}: {base_ids[first]!r} vs {new_ids[first]!r}"
    raise SampleMismatchError(
        f"sample_ids differ between {base_path} and {new_path} ({detail}); a paired test needs the same samples "
        f"in the same order: run both on the same dataset (same --data-root), or compare other runs")


def compare_case(case: str, base: Run, new: Run, alpha: float, resamples: int, seed: int) -> CaseComparison:
    if case not in base.rows:
        return CaseComparison(case, ADDED, new.rows[case].get("metric") or "", verdict=ADDED)
    if case not in new.rows:
        return CaseComparison(case, REMOVED, base.rows[case].get("metric") or "", verdict=REMOVED)
    base_row, new_row = base.rows[case], new.rows[case]
    result = CaseComparison(case, "both", new_row.get("metric") or base_row.get("metric") or "",
                            metric_deltas(base_row, new_row))
    for run, row in ((base, base_row), (new, new_row)):
        if row.get("verdict") in ("ERROR", "UNREADABLE"):
            result.notes.append(f"{row['verdict']} in {run.label}: {row.get('error', '')}")
    result.layers = layer_comparison(case, base, new)
    if result.layers is None:
        result.notes.append("no layer report in both runs (<case>.layers.json.gz): structure and encodings not "
                            "compared")
    samples = load_paired_samples(case, base, new)
    if isinstance(samples, str):
        result.notes.append(samples)
        return result
    add_paired_tests(result, *samples, alpha, resamples, seed)
    return result


def layer_comparison(case: str, base: Run, new: Run) -> LayerComparison | None:
    base_layers, new_layers = load_layers(base.directory, case), load_layers(new.directory, case)
    if base_layers is None or new_layers is None:
        return None
    return compare_layers(base_layers, new_layers, base.rows[case], new.rows[case])


def add_paired_tests(result: CaseComparison, base: dict, new: dict, alpha: float, resamples: int, seed: int) -> None:
    if TOP1_KEY in base and TOP1_KEY in new:
        result.mcnemar = mcnemar(base[TOP1_KEY], new[TOP1_KEY])
        result.mcnemar_verdict = mcnemar_verdict(result.mcnemar, alpha)
        result.top1_interval = paired_bootstrap(100.0 * base[TOP1_KEY], 100.0 * new[TOP1_KEY], alpha, resamples, seed)
    if SQNR_KEY in base and SQNR_KEY in new:
        result.bootstrap = paired_bootstrap(base[SQNR_KEY], new[SQNR_KEY], alpha, resamples, seed)
        result.bootstrap_verdict = bootstrap_verdict(result.bootstrap, alpha)
        if result.bootstrap.dropped:
            result.notes.append(f"SQNR: {result.bootstrap.dropped} sample(s) dropped, not finite (inf: output "
                                f"unchanged) in either run")
    samples = len(base["sample_ids"])
    for metric in applicable(base, new):
        test = paired_metric_bootstrap(metric, base, new, samples, alpha, resamples, seed)
        result.metric_tests.append(test)
        result.metric_verdicts[test.metric] = metric_verdict(test, alpha)
    if "fp32.top1_correct" in base and "fp32.top1_correct" in new and not np.array_equal(
            base["fp32.top1_correct"], new["fp32.top1_correct"]):
        result.notes.append("FP32 per-sample top-1 differs between the runs: data, weights or preprocessing "
                            "changed, not only the quantization")
    result.verdict = case_verdict(result.test_verdicts())


def compare_runs(base: Run, new: Run, alpha: float = ALPHA, resamples: int = RESAMPLES,
                 seed: int = SEED) -> list[CaseComparison]:
    if not 0 < alpha < 1:
        raise ReportError(f"--alpha {alpha}: use a significance level between 0 and 1, e.g. 0.05")
    cases = sorted(set(base.rows) | set(new.rows))
    comparisons = [compare_case(case, base, new, alpha, resamples, seed) for case in cases]
    apply_holm(comparisons, alpha)
    return comparisons


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest p times (m - i), made monotone, capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def apply_holm(comparisons: list[CaseComparison], alpha: float) -> None:
    """Re-judge every testable test on its Holm-adjusted p-value, then each case on its tests."""
    tests = [(c, "mcnemar", c.mcnemar) for c in comparisons if c.mcnemar and c.mcnemar_verdict != NOT_TESTABLE]
    tests += [(c, "bootstrap", c.bootstrap) for c in comparisons if c.bootstrap and c.bootstrap_verdict != NOT_TESTABLE]
    tests += [(c, "metric", t) for c in comparisons for t in c.metric_tests if c.metric_verdicts[t.metric] != NOT_TESTABLE]
    adjusted = holm_adjusted([test.p_value for _, _, test in tests])
    for (c, kind, test), p in zip(tests, adjusted):
        if kind == "mcnemar":
            c.mcnemar_p_holm = p
            c.mcnemar_verdict = judged(p, test.gains - test.losses, metric_info("top1").higher_is_better, alpha)
        elif kind == "bootstrap":
            c.bootstrap_p_holm = p
            c.bootstrap_verdict = judged(p, test.mean_difference, metric_info("sqnr_db").higher_is_better, alpha)
        else:
            c.metric_p_holm[test.metric] = p
            c.metric_verdicts[test.metric] = judged(p, test.delta, metric_info(test.metric).higher_is_better, alpha)
    for c in {id(c): c for c, _, _ in tests}.values():
        c.verdict = case_verdict(c.test_verdicts())


def has_regression(comparisons: list[CaseComparison]) -> bool:
    return any(c.verdict == REGRESSION for c in comparisons)
