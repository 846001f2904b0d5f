"""One run as tables: results.csv (every field, flat) and results.md (seed-README shaped, per framework)."""
from __future__ import annotations

from pathlib import Path

from zoo.catalog import REGISTRY
from zoo.fileio import atomic_write_text
from zoo.reports import Run, csv_text, fmt, markdown_table
from zoo.results import recipe_cell

FRAMEWORK_TITLES = {"torch": "PyTorch", "tensorflow": "TensorFlow"}
LEADING_COLUMNS = ["case", "run_id", "tier", "framework", "dataset", "model", "seed_row", "metric", "fp32",
                   "quantized", "expected", "delta", "tolerance", "verdict", "samples", "failures", "error"]
# the expected file's provenance describes how the expected value was made, not this run
SKIPPED_FIELDS = ("expected_provenance",)
METRIC_SIDES = ("fp32", "quantized", "expected", "delta")
MARKDOWN_COLUMNS = ["model", "case", "recipe", "metric", "FP32", "quantized", "expected", "delta", "verdict"]


def flatten(row: dict, prefix: str = "") -> dict[str, object]:
    """{'seconds': {'load': 1.2}} -> {'seconds.load': 1.2}; lists become '; '-joined text."""
    flat: dict[str, object] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = "; ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def csv_columns(flat_rows: list[dict]) -> list[str]:
    present = set().union(*flat_rows) if flat_rows else set()
    metric_columns = sorted((c for c in present if c.startswith("metrics.")), key=metric_column_order)
    rest = sorted(present - set(LEADING_COLUMNS) - set(metric_columns))
    return [c for c in LEADING_COLUMNS if c in present] + metric_columns + rest


def metric_column_order(column: str) -> tuple:
    """metrics.<name>.<side>: by metric, then fp32, quantized, expected, delta."""
    _, name, side = (column.split(".", 2) + [""])[:3]
    return name, METRIC_SIDES.index(side) if side in METRIC_SIDES else len(METRIC_SIDES), side


def results_csv(run: Run) -> str:
    rows = [run.rows[case] for case in sorted(run.rows)]
    flat_rows = [flatten({k: v for k, v in row.items() if k not in SKIPPED_FIELDS}) for row in rows]
    return csv_text(csv_columns(flat_rows), flat_rows)


def from_row_or_registry(row: dict, field: str, default: str) -> str:
    """A case field; ERROR rows carry only case, tier and metric, so the registry fills the rest."""
    if row.get(field):
        return row[field]
    try:
        return getattr(REGISTRY[row.get("case")], field)
    except KeyError:  # a case since removed from the registry
        return default


def markdown_line(row: dict) -> list[str]:
    return [from_row_or_registry(row, "model", ""), row.get("case", ""), recipe_cell(row), row.get("metric") or "",
            fmt(row.get("fp32")),
            fmt(row.get("quantized")), fmt(row.get("expected")), fmt(row.get("delta")), row.get("verdict", "")]


def results_markdown(run: Run) -> str:
    by_framework: dict[str, list[dict]] = {}
    for case in sorted(run.rows):
        by_framework.setdefault(from_row_or_registry(run.rows[case], "framework", "unknown"), []).append(run.rows[case])
    parts = [f"# Results of run {run.label}", ""]
    for framework in sorted(by_framework, key=lambda f: (f not in FRAMEWORK_TITLES, f)):
        parts += [f"## {FRAMEWORK_TITLES.get(framework, framework)} models", "",
                  markdown_table(MARKDOWN_COLUMNS, [markdown_line(r) for r in by_framework[framework]]), ""]
    return "\n".join(parts + gate_notes([run.rows[c] for c in sorted(run.rows)])) + "\n"


def gate_notes(rows: list[dict]) -> list[str]:
    """Which gate rule each case was judged by, and the expected-value overlays applied."""
    rules = sorted({row["gate_rule"] for row in rows if row.get("gate_rule")})
    overlays = [f"- {row['case']}: {overlay}" for row in rows for overlay in row.get("overlays") or []]
    notes = [f"Gate rule: {rule}" for rule in rules]
    if overlays:
        notes += ["", "Expected-value overlays applied:", *overlays]
    return notes


def write_report(run: Run, out_dir: Path) -> list[Path]:
    """results.csv, results.md and fp32_vs_quantized.png under ``out_dir``; returns their paths."""
    from zoo.reports.plots import fp32_vs_quantized_chart

    out_dir = Path(out_dir)
    csv_path, md_path, png_path = out_dir / "results.csv", out_dir / "results.md", out_dir / "fp32_vs_quantized.png"
    atomic_write_text(csv_path, results_csv(run))
    atomic_write_text(md_path, results_markdown(run))
    fp32_vs_quantized_chart([run.rows[c] for c in sorted(run.rows)], png_path, title=f"FP32 vs quantized: {run.label}")
    return [csv_path, md_path, png_path]
