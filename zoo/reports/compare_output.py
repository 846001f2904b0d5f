"""What ``python -m zoo compare`` writes: compare.md (also printed), compare.csv and compare.png.

The Markdown holds, in order: the verdict per case with its paired tests, the task-metric bootstraps, the
structural changes, the quantizers whose encodings moved most, the layers whose SQNR fell most, and every
metric's delta. The plot draws each case's primary-metric delta with its 95% interval, one panel per unit.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np

from zoo.fileio import atomic_write_text
from zoo.metrics import METRICS
from zoo.reports import Run, csv_text, fmt, markdown_table
from zoo.reports.compare import (ALPHA, NOT_TESTABLE, REGRESSION, RESAMPLES, SEED, BootstrapResult, CaseComparison,
                                 McNemarResult, compare_runs)
from zoo.reports.resampled import AP_RESAMPLES

TOP_LAYERS = 5  # per case, in the moved-encodings and fallen-SQNR tables


def holm_cell(p: float | None) -> str:
    return "" if p is None else f", Holm p={fmt(p, 4)}"


def mcnemar_cell(c: CaseComparison) -> str:
    m = c.mcnemar
    if m is None:
        return ""
    return (f"top-1 McNemar b={m.losses} c={m.gains} of {m.samples}, p={fmt(m.p_value, 4)}"
            f"{holm_cell(c.mcnemar_p_holm)} ({c.mcnemar_verdict})")


def bootstrap_cell(c: CaseComparison) -> str:
    b = c.bootstrap
    if b is None:
        return ""
    return (f"SQNR {fmt(b.mean_difference)} dB [{fmt(b.ci_low)}, {fmt(b.ci_high)}], p={fmt(b.p_value, 4)}"
            f"{holm_cell(c.bootstrap_p_holm)}, n={b.samples} ({c.bootstrap_verdict})")


def metric_cells(c: CaseComparison) -> list[str]:
    return [f"{t.metric} {fmt(t.delta, 4)} [{fmt(t.ci_low, 4)}, {fmt(t.ci_high, 4)}], p={fmt(t.p_value, 4)}"
            f"{holm_cell(c.metric_p_holm.get(t.metric))} ({c.metric_verdicts[t.metric]})" for t in c.metric_tests]


def tests_cell(c: CaseComparison) -> str:
    return "; ".join(cell for cell in (mcnemar_cell(c), bootstrap_cell(c), *metric_cells(c)) if cell)


def primary_cell(c: CaseComparison) -> str:
    if c.status != "both":
        return ""
    base, new, delta = c.metric_deltas.get(c.metric, (None, None, None))
    change = "" if delta is None else f" ({fmt(delta)})"
    return f"{fmt(base) or 'n/a'} -> {fmt(new) or 'n/a'}{change}"


def structure_cell(c: CaseComparison) -> str:
    if c.layers is None:
        return ""
    if c.layers.structure_changes:
        return f"changed ({len(c.layers.structure_changes)})"
    moved = len(c.layers.moved)
    return f"same; {moved} of {c.layers.quantizers} encodings moved" if moved else "same; encodings identical"


def metric_test_lines(comparisons: list[CaseComparison]) -> list[list[str]]:
    return [[c.case, t.metric, fmt(t.base, 4), fmt(t.new, 4), fmt(t.delta, 4), f"[{fmt(t.ci_low, 4)}, "
             f"{fmt(t.ci_high, 4)}]", fmt(t.p_value, 4), fmt(c.metric_p_holm.get(t.metric), 4),
             c.metric_verdicts[t.metric], str(t.samples), str(t.resamples)]
            for c in comparisons for t in c.metric_tests]


def structure_lines(comparisons: list[CaseComparison]) -> list[str]:
    changed = [c for c in comparisons if c.layers and c.layers.structure_changes]
    same = sum(1 for c in comparisons if c.layers and not c.layers.structure_changes)
    lines = [f"- {c.case}: " + "; ".join(c.layers.structure_changes) for c in changed]
    return lines + [f"- no structural change in {same} case(s) with layer reports in both runs"]


def moved_lines(comparisons: list[CaseComparison]) -> list[list[str]]:
    return [[c.case, str(rank), m.quantizer, m.op, f"{100 * m.scale_change:.3g}%", fmt(m.offset_change),
             f"{m.base_scale:.6g} -> {m.new_scale:.6g}"]
            for c in comparisons if c.layers for rank, m in enumerate(c.layers.moved[:TOP_LAYERS], 1)]


def sqnr_lines(comparisons: list[CaseComparison]) -> list[list[str]]:
    return [[c.case, str(rank), change.module, fmt(change.base_db), fmt(change.new_db), fmt(change.delta)]
            for c in comparisons if c.layers for rank, change in enumerate(c.layers.sqnr_changes[:TOP_LAYERS], 1)]


def table_or_none(header: list[str], lines: list[list[str]], none: str) -> str:
    return markdown_table(header, lines) if lines else none


def compare_markdown(base: Run, new: Run, comparisons: list[CaseComparison], alpha: float, resamples: int,
                     seed: int) -> str:
    summary = [[c.case, c.verdict, c.metric, primary_cell(c), tests_cell(c), structure_cell(c), "; ".join(c.notes)]
               for c in comparisons]
    deltas = [[c.case, name, fmt(base_value), fmt(new_value), fmt(delta)]
              for c in comparisons for name, (base_value, new_value, delta) in c.metric_deltas.items()]
    return "\n".join([
        f"# Compare {new.label} against {base.label}", "",
        f"Paired tests per case, Holm-adjusted across all cases' tests at family-wise alpha {alpha}: exact McNemar on "
        f"per-sample top-1 (b: right in base, wrong in new; c: the reverse); paired bootstrap over samples "
        f"({resamples} resamples, {min(resamples, AP_RESAMPLES)} for AP metrics, seed {seed}, "
        f"{round(100 * (1 - alpha))}% percentile CI of new - base) of the mean per-sample SQNR and of each task "
        f"metric recomputed per resample (mIoU, mAP, COCO AP, keypoint AP, PSNR/SSIM, WER).", "",
        markdown_table(["case", "verdict", "metric", "base -> new (delta)", "paired tests", "structure", "notes"],
                       summary), "",
        "## Task metrics, paired bootstrap over samples (delta = new - base)", "",
        table_or_none(["case", "metric", "base", "new", "delta", "95% CI", "p", "Holm p", "verdict", "samples",
                       "resamples"], metric_test_lines(comparisons), "No case has per-sample task-metric parts."), "",
        "## Structure (quantizers per kind and bitwidth, per-channel, quantized modules, techniques)", "",
        *structure_lines(comparisons), "",
        f"## Quantizers whose encodings moved most (top {TOP_LAYERS} per case)", "",
        table_or_none(["case", "rank", "quantizer", "op", "max scale change", "max offset change",
                       "scale (channel that moved most)"], moved_lines(comparisons),
                      "No quantizer's encodings moved."), "",
        f"## Layers whose SQNR against FP32 fell most (top {TOP_LAYERS} per case, dB)", "",
        table_or_none(["case", "rank", "module", "base", "new", "delta"], sqnr_lines(comparisons),
                      "No layer's SQNR changed (or no per-layer SQNR in both runs)."), "",
        "## Quantized value of every metric (delta = new - base)", "",
        markdown_table(["case", "metric", "base", "new", "delta"], deltas), ""])


# ----------------------------------------------------------------------------------------------------- CSV
def prefixed(prefix: str, result_type: type, result) -> dict:
    """A test result's fields as CSV columns; blank when the test did not run."""
    return {f"{prefix}{f.name}": getattr(result, f.name) if result is not None else None for f in fields(result_type)}


def csv_line(c: CaseComparison) -> dict:
    line = {"case": c.case, "status": c.status, "verdict": c.verdict, "metric": c.metric,
            **prefixed("mcnemar_", McNemarResult, c.mcnemar), "mcnemar_p_holm": c.mcnemar_p_holm,
            "mcnemar_verdict": c.mcnemar_verdict if c.mcnemar else "",
            **prefixed("sqnr_", BootstrapResult, c.bootstrap), "sqnr_p_holm": c.bootstrap_p_holm,
            "sqnr_verdict": c.bootstrap_verdict if c.bootstrap else "",
            "structure_changes": "; ".join(c.layers.structure_changes) if c.layers else "",
            "most_moved_quantizer": c.layers.moved[0].quantizer if c.layers and c.layers.moved else "",
            "notes": "; ".join(c.notes)}
    for name, (base, new, delta) in c.metric_deltas.items():
        line.update({f"{name}.base": base, f"{name}.new": new, f"{name}.delta": delta})
    for t in c.metric_tests:
        line.update({f"{t.metric}.ci_low": t.ci_low, f"{t.metric}.ci_high": t.ci_high, f"{t.metric}.p": t.p_value,
                     f"{t.metric}.p_holm": c.metric_p_holm.get(t.metric), f"{t.metric}.verdict": c.metric_verdicts[
                         t.metric]})
    return line


METRIC_COLUMN_SIDES = ("base", "new", "delta", "ci_low", "ci_high", "p", "p_holm", "verdict")


def metric_column_order(column: str) -> tuple[str, int]:
    """<metric>.base, .new, .delta, then its bootstrap's .ci_low ... .verdict, metric by metric."""
    name, _, side = column.rpartition(".")
    return name, METRIC_COLUMN_SIDES.index(side)


def compare_csv(comparisons: list[CaseComparison]) -> str:
    lines = [csv_line(c) for c in comparisons]
    fixed = list(csv_line(CaseComparison("", "")))
    metric_columns = sorted({k for line in lines for k in line} - set(fixed), key=metric_column_order)
    return csv_text(fixed + metric_columns, lines)


# ---------------------------------------------------------------------------------------------------- plot
def primary_interval(c: CaseComparison) -> tuple[float, float, float, str] | None:
    """(delta, low, high, verdict) of the test on the case's primary metric, where it has an interval."""
    for t in c.metric_tests:
        if t.metric == c.metric:
            return t.delta, t.ci_low, t.ci_high, c.metric_verdicts[t.metric]
    if c.bootstrap is not None and c.metric == "sqnr_db":
        b = c.bootstrap
        return b.mean_difference, b.ci_low, b.ci_high, c.bootstrap_verdict
    if c.top1_interval is not None and c.metric == "top1":
        b = c.top1_interval
        return b.mean_difference, b.ci_low, b.ci_high, c.mcnemar_verdict
    return None


def delta_chart(comparisons: list[CaseComparison], path: Path, title: str) -> bool:
    """Each case's primary-metric delta (new - base) with its 95% interval; one panel per metric. False when
    no case has an interval to draw."""
    from zoo.reports.plots import new_figure, save_png

    by_metric: dict[str, list[tuple[str, tuple]]] = {}
    for c in comparisons:
        interval = primary_interval(c)
        if interval is not None and all(np.isfinite(interval[:3])):
            by_metric.setdefault(c.metric, []).append((c.case, interval))
    if not by_metric:
        return False
    heights = [0.45 * len(cases) + 1.2 for cases in by_metric.values()]
    figure = new_figure(9.0, sum(heights))
    figure.suptitle(title, fontsize=10)
    axes = figure.subplots(len(by_metric), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (metric, cases) in zip(axes, sorted(by_metric.items())):
        for y, (case, (delta, low, high, verdict)) in enumerate(cases):
            color = "tab:red" if verdict == REGRESSION else "tab:gray" if verdict == NOT_TESTABLE else "tab:blue"
            ax.errorbar([delta], [y], xerr=[[delta - low], [high - delta]], fmt="o", color=color, capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(cases)), [case for case, _ in cases], fontsize=7)
        ax.set_ylim(-0.7, len(cases) - 0.3)
        unit = METRICS[metric].unit if metric in METRICS else ""
        ax.set_xlabel(f"{metric} new - base ({unit})" if unit else f"{metric} new - base", fontsize=8)
    save_png(figure, path)
    return True


def write_compare(base: Run, new: Run, out_dir: Path, alpha: float = ALPHA, resamples: int = RESAMPLES,
                  seed: int = SEED) -> tuple[list[CaseComparison], list[Path]]:
    """compare.md, compare.csv and (where any case has an interval) compare.png under ``out_dir``."""
    comparisons = compare_runs(base, new, alpha, resamples, seed)
    out_dir = Path(out_dir)
    md_path, csv_path, png_path = out_dir / "compare.md", out_dir / "compare.csv", out_dir / "compare.png"
    atomic_write_text(md_path, compare_markdown(base, new, comparisons, alpha, resamples, seed))
    atomic_write_text(csv_path, compare_csv(comparisons))
    paths = [md_path, csv_path]
    if delta_chart(comparisons, png_path, f"{new.label} - {base.label}: primary metric, 95% interval"):
        paths.append(png_path)
    return comparisons, paths
