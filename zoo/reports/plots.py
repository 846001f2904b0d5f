"""PNG charts, drawn on matplotlib's Agg canvas (no display, no pyplot global state)."""
from __future__ import annotations

import math
from pathlib import Path

from zoo.fileio import atomic_write_bytes
from zoo.metrics import METRICS
from zoo.reports import as_float


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(path, buffer.getvalue())


def axis_label(metric: str) -> str:
    unit = METRICS[metric].unit if metric in METRICS else ""
    return f"{metric} ({unit})" if unit else metric


def fp32_vs_quantized_chart(rows: list[dict], path: Path, title: str) -> None:
    """Per case, FP32 and quantized bars of its primary metric; one panel per metric (units differ)."""
    by_metric: dict[str, list[dict]] = {}
    for row in rows:
        by_metric.setdefault(row.get("metric") or "?", []).append(row)
    figure = new_figure(max(6.0, 1.6 * max((len(r) for r in by_metric.values()), default=1) + 2),
                        3.2 * max(1, len(by_metric)))
    figure.suptitle(title)
    axes = figure.subplots(max(1, len(by_metric)), 1, squeeze=False)[:, 0]
    for ax, (metric, metric_rows) in zip(axes, sorted(by_metric.items())):
        draw_grouped_bars(ax, metric_rows)
        ax.set_ylabel(axis_label(metric))
    save_png(figure, path)


def draw_grouped_bars(ax, rows: list[dict]) -> None:
    width = 0.38
    for offset, side, color in ((-width / 2, "fp32", "tab:blue"), (width / 2, "quantized", "tab:orange")):
        values = [as_float(row.get(side)) for row in rows]
        values = [v if drawable(v) else None for v in values]
        positions = [i + offset for i, v in enumerate(values) if v is not None]
        heights = [v for v in values if v is not None]
        bars = ax.bar(positions, heights, width, label=side, color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
        # e.g. SQNR compares quantized with FP32, so FP32 has no value of its own
        for i, v in enumerate(values):
            if v is None:
                ax.annotate("n/a", (i + offset, 0), ha="center", va="bottom", fontsize=7, color=color)
    ax.set_xticks(range(len(rows)), [f"{row.get('case')}\n{row.get('verdict', '')}" for row in rows], fontsize=7)
    ax.set_xlim(-0.6, len(rows) - 0.4)  # else a single case's bars fill the panel
    ax.margins(y=0.15)
    ax.legend(fontsize=7, loc="upper right")


def drawable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def trend_chart(run_labels: list[str], series: dict[str, list[float | None]], flagged: dict[str, int | None],
                path: Path) -> None:
    """One line per case over the runs (gaps where a case has no value); the first flagged run circled in red."""
    figure = new_figure(max(6.0, 1.4 * len(run_labels) + 3), 4.5)
    ax = figure.subplots()
    for case, values in sorted(series.items()):
        xs = [i for i, v in enumerate(values) if drawable(v)]
        ys = [values[i] for i in xs]
        ax.plot(xs, ys, marker="o", label=case)
        index = flagged.get(case)
        if index is not None and drawable(values[index]):
            ax.plot([index], [values[index]], marker="o", markersize=14, fillstyle="none", color="red")
    ax.set_xticks(range(len(run_labels)), run_labels, fontsize=7, rotation=20, ha="right")
    ax.set_ylabel("primary metric, quantized")
    ax.set_title("Quantized primary metric per run (red circle: first flagged run)", fontsize=10)
    ax.legend(fontsize=7)
    save_png(figure, path)
