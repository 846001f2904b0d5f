"""Result rows: one flat JSON file per case, written atomically, and the end-of-session table."""
from __future__ import annotations

import json
import math
from pathlib import Path

from zoo.fileio import atomic_write_bytes, atomic_write_text

ROW_COLUMNS = ("case", "tier", "recipe", "metric", "fp32", "quantized", "expected", "delta", "tolerance", "verdict", "other metrics")


def row_path(run_dir: Path, case_id: str) -> Path:
    return Path(run_dir) / f"{case_id}.json"


def write_row(run_dir: Path, row: dict) -> Path:
    path = row_path(run_dir, row["case"])
    atomic_write_text(path, json.dumps(_finite_or_string(row), indent=2, sort_keys=True) + "\n")
    return path


def per_sample_path(run_dir: Path, case_id: str) -> Path:
    return Path(run_dir) / f"{case_id}.samples.npz"


def write_per_sample(run_dir: Path, case_id: str, arrays: dict) -> Path:
    """Per-sample outcomes beside the row (npz, written atomically), for paired run comparisons."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = per_sample_path(run_dir, case_id)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_per_sample(run_dir: Path, case_id: str) -> dict:
    import numpy as np

    with np.load(per_sample_path(run_dir, case_id)) as data:
        return {k: data[k] for k in data.files}


def layers_path(run_dir: Path, case_id: str) -> Path:
    return Path(run_dir) / f"{case_id}.layers.json.gz"


def write_layers(run_dir: Path, case_id: str, layers: dict) -> Path:
    """The quantizer table and per-layer SQNR beside the row (gzipped JSON), for the layer-by-layer compare."""
    import gzip

    path = layers_path(run_dir, case_id)
    text = json.dumps(_finite_or_string(layers), sort_keys=True)
    atomic_write_bytes(path, gzip.compress(text.encode(), mtime=0))
    return path


def read_layers(run_dir: Path, case_id: str) -> dict:
    import gzip

    return json.loads(gzip.decompress(layers_path(run_dir, case_id).read_bytes()))


def read_rows(run_dir: Path) -> list[dict]:
    """Rows of a run directory; a file that is not a valid row is reported, not fatal."""
    rows = []
    for path in sorted(Path(run_dir).glob("*.json")):
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as e:
            rows.append({"case": path.stem, "verdict": "UNREADABLE", "error": str(e)})
    return rows


def _finite_or_string(obj):
    """JSON has no NaN/inf: write them as strings so the row stays valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite_or_string(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_string(v) for v in obj]
    return obj


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"
    return "" if value is None else str(value)


def _other_metrics(row: dict) -> str:
    """Quantized values of the non-primary metrics, e.g. 'agreement_top1 75.00, sqnr_db 16.15'."""
    others = {k: v.get("quantized") for k, v in (row.get("metrics") or {}).items() if k != row.get("metric")}
    return ", ".join(f"{k} {_cell(v)}" for k, v in others.items() if v is not None)


def recipe_cell(row: dict) -> str:
    """The recipe and the techniques it applied, e.g. 'w4a8_qat: bn_fold+cle+qat', so QAT rows read as such
    beside their PTQ rows."""
    name, applied = (row.get("knobs") or {}).get("recipe"), row.get("techniques_applied")
    if name is None or applied is None:  # an ERROR row names its recipe but applied nothing
        return name or ""
    return f"{name}: {'+'.join(applied) or 'no techniques'}"


def _column(row: dict, column: str) -> str:
    return recipe_cell(row) if column == "recipe" else _cell(row.get(column))


def table(rows: list[dict], missing: list[str] = ()) -> str:
    """Markdown table: one line per case for its primary metric, plus missing cases."""
    lines = ["| " + " | ".join(ROW_COLUMNS) + " |", "|" + "---|" * len(ROW_COLUMNS)]
    for row in sorted(rows, key=lambda r: r.get("case", "")):
        cells = [_column(row, c) for c in ROW_COLUMNS[:-1]] + [_other_metrics(row)]
        lines.append("| " + " | ".join(cells) + " |")
    for case_id in missing:
        cells = [case_id] + [""] * (len(ROW_COLUMNS) - 3) + ["MISSING (no row written)", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
