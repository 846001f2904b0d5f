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

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from zoo.fileio import atomic_write_text
from zoo.metrics import metric_info
from zoo.reports import ReportError, Run, as_float, csv_text, fmt, markdown_table
from zoo.results import per_sample_path, read_per_sample

ALPHA = 0.05
RESAMPLES = 10_000
SEED = 0
# below this a bootstrap resample has too few distinct values to mean anything
MIN_BOOTSTRAP_SAMPLES = 5
# indices drawn per bootstrap chunk, so 50 000 samples x 10 000 resamples do not need 4 GB at once
CHUNK_ELEMENTS = 2_000_000
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
    means = bootstrap_means(differences, resamples, np.random.default_rng(seed))
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    tail = min(np.sum(means <= 0), np.sum(means >= 0))
    p_value = min(1.0, 2.0 * (tail + 1) / (resamples + 1))
    return BootstrapResult(float(differences.mean()), float(low), float(high), float(p_value),
                           int(differences.size), dropped, resamples, seed)


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
    samples = load_paired_samples(case, base, new)
    if isinstance(samples, str):
        result.notes.append(samples)
        return result
    add_paired_tests(result, *samples, alpha, resamples, seed)
    return result


def add_paired_tests(result: CaseComparison, base: dict, new: dict, alpha: float, resamples: int, seed: int) -> None:
    if TOP1_KEY in base and TOP1_KEY in new:
        result.mcnemar = mcnemar(base[TOP1_KEY], new[TOP1_KEY])
        result.mcnemar_verdict = mcnemar_verdict(result.mcnemar, alpha)
    if SQNR_KEY in base and SQNR_KEY in new:
        result.bootstrap = paired_bootstrap(base[SQNR_KEY], new[SQNR_KEY], alpha, resamples, seed)
        result.bootstrap_verdict = bootstrap_verdict(result.bootstrap, alpha)
        if result.bootstrap.dropped:
            result.notes.append(f"SQNR: {result.bootstrap.dropped} sample(s) dropped, not finite (inf: output "
                                f"unchanged) in either run")
    if "fp32.top1_correct" in base and "fp32.top1_correct" in new and not np.array_equal(
            base["fp32.top1_correct"], new["fp32.top1_correct"]):
        result.notes.append("FP32 per-sample top-1 differs between the runs: data, weights or preprocessing "
                            "changed, not only the quantization")
    result.verdict = case_verdict([result.mcnemar_verdict, result.bootstrap_verdict])


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
    tests = [(c, "mcnemar") for c in comparisons if c.mcnemar and c.mcnemar_verdict != NOT_TESTABLE]
    tests += [(c, "bootstrap") for c in comparisons if c.bootstrap and c.bootstrap_verdict != NOT_TESTABLE]
    adjusted = holm_adjusted([getattr(c, kind).p_value for c, kind in tests])
    for (c, kind), p in zip(tests, adjusted):
        setattr(c, f"{kind}_p_holm", p)
        if kind == "mcnemar":
            c.mcnemar_verdict = judged(p, c.mcnemar.gains - c.mcnemar.losses, metric_info("top1").higher_is_better,
                                       alpha)
        else:
            c.bootstrap_verdict = judged(p, c.bootstrap.mean_difference, metric_info("sqnr_db").higher_is_better,
                                         alpha)
    for c in {id(c): c for c, _ in tests}.values():
        c.verdict = case_verdict([c.mcnemar_verdict, c.bootstrap_verdict])


def has_regression(comparisons: list[CaseComparison]) -> bool:
    return any(c.verdict == REGRESSION for c in comparisons)


# ------------------------------------------------------------------------------------------------ output
def mcnemar_cell(c: CaseComparison) -> str:
    m = c.mcnemar
    if m is None:
        return ""
    return (f"b={m.losses} c={m.gains} of {m.samples}, p={fmt(m.p_value, 4)}{holm_cell(c.mcnemar_p_holm)} "
            f"({c.mcnemar_verdict})")


def holm_cell(p: float | None) -> str:
    return "" if p is None else f", Holm p={fmt(p, 4)}"


def bootstrap_cell(c: CaseComparison) -> str:
    b = c.bootstrap
    if b is None:
        return ""
    return (f"{fmt(b.mean_difference)} dB [{fmt(b.ci_low)}, {fmt(b.ci_high)}], p={fmt(b.p_value, 4)}"
            f"{holm_cell(c.bootstrap_p_holm)}, n={b.samples} ({c.bootstrap_verdict})")


def primary_cell(c: CaseComparison) -> str:
    if c.status != "both":
        return ""
    base, new, delta = c.metric_deltas.get(c.metric, (None, None, None))
    change = "" if delta is None else f" ({fmt(delta)})"
    return f"{fmt(base) or 'n/a'} -> {fmt(new) or 'n/a'}{change}"


def compare_markdown(base: Run, new: Run, comparisons: list[CaseComparison], alpha: float, resamples: int,
                     seed: int) -> str:
    summary = [[c.case, c.verdict, c.metric, primary_cell(c), mcnemar_cell(c), bootstrap_cell(c), "; ".join(c.notes)]
               for c in comparisons]
    deltas = [[c.case, name, fmt(base_value), fmt(new_value), fmt(delta)]
              for c in comparisons for name, (base_value, new_value, delta) in c.metric_deltas.items()]
    return "\n".join([
        f"# Compare {new.label} against {base.label}", "",
        f"Paired tests per case, Holm-adjusted across all cases' tests at family-wise alpha {alpha}: exact McNemar on "
        f"per-sample top-1 (b: right in base, wrong in new; c: the reverse); paired bootstrap of the mean "
        f"per-sample SQNR difference new - base ({resamples} resamples, seed {seed}, {round(100 * (1 - alpha))}% "
        f"percentile CI).", "",
        markdown_table(["case", "verdict", "metric", "base -> new (delta)", "top-1 McNemar", "SQNR bootstrap",
                        "notes"], summary), "",
        "## Quantized value of every metric (delta = new - base)", "",
        markdown_table(["case", "metric", "base", "new", "delta"], deltas), ""])


def prefixed(prefix: str, result_type: type, result) -> dict:
    """A test result's fields as CSV columns; blank when the test did not run."""
    return {f"{prefix}{f.name}": getattr(result, f.name) if result is not None else None for f in fields(result_type)}


def csv_line(c: CaseComparison) -> dict:
    line = {"case": c.case, "status": c.status, "verdict": c.verdict, "metric": c.metric,
            **prefixed("mcnemar_", McNemarResult, c.mcnemar), "mcnemar_p_holm": c.mcnemar_p_holm,
            "mcnemar_verdict": c.mcnemar_verdict if c.mcnemar else "",
            **prefixed("sqnr_", BootstrapResult, c.bootstrap), "sqnr_p_holm": c.bootstrap_p_holm,
            "sqnr_verdict": c.bootstrap_verdict if c.bootstrap else "", "notes": "; ".join(c.notes)}
    for name, (base, new, delta) in c.metric_deltas.items():
        line.update({f"{name}.base": base, f"{name}.new": new, f"{name}.delta": delta})
    return line


def metric_column_order(column: str) -> tuple[str, int]:
    """<metric>.base, <metric>.new, <metric>.delta, metric by metric."""
    name, _, side = column.rpartition(".")
    return name, ("base", "new", "delta").index(side)


def compare_csv(comparisons: list[CaseComparison]) -> str:
    lines = [csv_line(c) for c in comparisons]
    fixed = list(csv_line(CaseComparison("", "")))
    metric_columns = sorted({k for line in lines for k in line} - set(fixed), key=metric_column_order)
    return csv_text(fixed + metric_columns, lines)


def write_compare(base: Run, new: Run, out_dir: Path, alpha: float = ALPHA, resamples: int = RESAMPLES,
                  seed: int = SEED) -> tuple[list[CaseComparison], list[Path]]:
    """compare.md and compare.csv under ``out_dir``; returns the comparisons and the paths."""
    comparisons = compare_runs(base, new, alpha, resamples, seed)
    out_dir = Path(out_dir)
    md_path, csv_path = out_dir / "compare.md", out_dir / "compare.csv"
    atomic_write_text(md_path, compare_markdown(base, new, comparisons, alpha, resamples, seed))
    atomic_write_text(csv_path, compare_csv(comparisons))
    return comparisons, [md_path, csv_path]
