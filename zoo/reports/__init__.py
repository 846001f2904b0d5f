"""Reports over run directories (results/<run id>/): tables, trends across runs, paired run comparisons.

A run directory holds one JSON row per case (zoo.results.write_row) and, beside it, the case's
per-sample outcomes (<case id>.samples.npz). The CLI is ``python -m zoo`` (zoo/__main__.py).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from zoo.results import read_rows


class ReportError(Exception):
    """A run directory or option the reports cannot use; the message says which and what to do."""


@dataclass(frozen=True)
class Run:
    directory: Path
    run_id: str
    rows: dict[str, dict]  # case id -> row

    @property
    def label(self) -> str:
        """The directory name where it is not the run id (e.g. a fixture directory), else the run id."""
        return self.run_id if self.directory.name == self.run_id else f"{self.directory.name} ({self.run_id})"


def load_run(run_dir: Path | str) -> Run:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory; pass a run directory written by pytest "
                          f"(<--results-dir>/<run id>/, default results/<run id>/)")
    rows = read_rows(run_dir)
    if not rows:
        raise ReportError(f"{run_dir} holds no <case id>.json rows; pass a run directory written by pytest "
                          f"(<--results-dir>/<run id>/), not its parent")
    return Run(run_dir, run_id_of(run_dir, rows), {row["case"]: row for row in rows})


def run_id_of(run_dir: Path, rows: list[dict]) -> str:
    """The run id the rows carry (the earliest if they disagree); the directory name for rows without one."""
    ids = sorted({row["run_id"] for row in rows if row.get("run_id")})
    return ids[0] if ids else run_dir.name


def as_float(value) -> float | None:
    """A row value as a float: rows store non-finite floats as the strings 'nan'/'inf' (JSON has none)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt(value, digits: int = 2) -> str:
    """Table cell for a number ('' for a missing one, 'inf' stays 'inf')."""
    number = as_float(value)
    if number is None:
        return "" if value is None else str(value)
    if not math.isfinite(number):
        return str(number)
    return f"{number:.{digits}f}" if abs(number) >= 0.01 or number == 0 else f"{number:.2g}"


def markdown_table(header: list[str], lines: list[list[str]]) -> str:
    escaped = [[str(cell).replace("|", "\\|") for cell in line] for line in lines]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(line) + " |" for line in escaped])


def csv_text(header: list[str], lines: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(lines)
    return buffer.getvalue()
