"""History of each case's primary metric across runs, and the first run where it went wrong.

A run is flagged for a case when its quantized value moved, in the metric's worse direction, by more
than the row's tolerance (the expected entry's max_drop) from the case's value in the first run, or
when its verdict is FAIL or ERROR.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo.fileio import atomic_write_text
from zoo.metrics import metric_info
from zoo.reports import ReportError, Run, as_float, csv_text, fmt, markdown_table

FAILING_VERDICTS = ("FAIL", "ERROR")
CSV_COLUMNS = ["case", "metric", "run_order", "run_id", "run_dir", "quantized", "verdict", "change_from_first",
               "tolerance", "beyond_tolerance", "first_flagged"]


@dataclass(frozen=True)
class RunPoint:
    """One case in one run; all fields None/'' where the run has no row for the case."""

    value: float | None
    verdict: str
    tolerance: float | None
    change: float | None  # value - first run's value
    beyond_tolerance: bool


@dataclass(frozen=True)
class CaseHistory:
    case: str
    metric: str
    points: list[RunPoint]  # one per run, in run order
    first_flagged: int | None  # index into points
    reason: str


def order_runs(runs: list[Run]) -> list[Run]:
    """Run ids start with the run's start time (YYYYmmddTHHMMSS), so they sort chronologically."""
    return sorted(runs, key=lambda run: run.run_id)


def worsening(change: float, metric: str) -> float:
    """How much worse a change is, positive when worse, in the metric's unit."""
    try:
        higher_is_better = metric_info(metric).higher_is_better
    except KeyError as e:
        raise ReportError(f"trend: {e.args[0]}") from None
    return -change if higher_is_better else change


def case_history(case: str, runs: list[Run]) -> CaseHistory:
    rows = [run.rows.get(case) for run in runs]
    first_row = next(row for row in rows if row is not None)
    metric = first_row.get("metric") or ""
    reference = next((as_float(row.get("quantized")) for row in rows if row and as_float(row.get("quantized"))
                      is not None), None)
    points = [run_point(row, reference, as_float(first_row.get("tolerance")), metric) for row in rows]
    first, reason = first_flag(points, metric, runs)
    return CaseHistory(case, metric, points, first, reason)


def run_point(row: dict | None, reference: float | None, first_tolerance: float | None, metric: str) -> RunPoint:
    if row is None:
        return RunPoint(None, "", None, None, False)
    value = as_float(row.get("quantized"))
    # the tolerance in force at that run; rows of ERROR cases carry none
    tolerance = as_float(row.get("tolerance"))
    tolerance = first_tolerance if tolerance is None else tolerance
    change = None if value is None or reference is None else value - reference
    beyond = change is not None and tolerance is not None and worsening(change, metric) > tolerance
    return RunPoint(value, row.get("verdict", ""), tolerance, change, beyond)


def first_flag(points: list[RunPoint], metric: str, runs: list[Run]) -> tuple[int | None, str]:
    for index, point in enumerate(points):
        reasons = []
        if point.beyond_tolerance:
            reasons.append(f"{metric} moved {fmt(point.change)} from the first run's value "
                           f"(tolerance {fmt(point.tolerance)})")
        if point.verdict in FAILING_VERDICTS:
            reasons.append(f"verdict {point.verdict}")
        if reasons:
            return index, f"{runs[index].label}: " + "; ".join(reasons)
    return None, ""


def histories(runs: list[Run]) -> list[CaseHistory]:
    cases = sorted(set().union(*(run.rows for run in runs)))
    return [case_history(case, runs) for case in cases]


def cell(point: RunPoint, flagged: bool) -> str:
    if not point.verdict:
        return ""
    text = f"{fmt(point.value)} {point.verdict}".strip()
    return f"**{text}**" if flagged else text


def trend_markdown(runs: list[Run], history: list[CaseHistory]) -> str:
    header = ["case", "metric", *(run.label for run in runs), "first flagged"]
    lines = [[h.case, h.metric, *(cell(p, i == h.first_flagged) for i, p in enumerate(h.points)), h.reason or "-"]
             for h in history]
    return "\n".join([f"# Trend over {len(runs)} runs (oldest first)", "",
                      "Cells: quantized value of the case's primary metric and the verdict. Flagged: the first run "
                      "whose value moved beyond the row's tolerance from the first run's value in the worse "
                      "direction, or whose verdict is FAIL/ERROR.", "",
                      markdown_table(header, lines), ""])


def trend_csv(runs: list[Run], history: list[CaseHistory]) -> str:
    lines = []
    for h in history:
        for index, (run, point) in enumerate(zip(runs, h.points)):
            if not point.verdict:
                continue
            lines.append({"case": h.case, "metric": h.metric, "run_order": index, "run_id": run.run_id,
                          "run_dir": str(run.directory), "quantized": point.value, "verdict": point.verdict,
                          "change_from_first": point.change, "tolerance": point.tolerance,
                          "beyond_tolerance": point.beyond_tolerance, "first_flagged": index == h.first_flagged})
    return csv_text(CSV_COLUMNS, lines)


def write_trend(runs: list[Run], out_dir: Path) -> list[Path]:
    """trend.md, trend.csv and trend.png under ``out_dir``; returns their paths."""
    from zoo.reports.plots import trend_chart

    runs = order_runs(runs)
    history = histories(runs)
    out_dir = Path(out_dir)
    md_path, csv_path, png_path = out_dir / "trend.md", out_dir / "trend.csv", out_dir / "trend.png"
    atomic_write_text(md_path, trend_markdown(runs, history))
    atomic_write_text(csv_path, trend_csv(runs, history))
    trend_chart([run.label for run in runs], {f"{h.case} ({h.metric})": [p.value for p in h.points] for h in history},
                {f"{h.case} ({h.metric})": h.first_flagged for h in history}, png_path)
    return [md_path, csv_path, png_path]
