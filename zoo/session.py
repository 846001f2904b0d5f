"""Per-session state shared by the fixtures: options, expected entries, run directory, recording."""
from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
from dataclasses import dataclass
from pathlib import Path

from zoo import paths
from zoo import expected as exp
from zoo.results import write_layers, write_per_sample, write_row

EXPECTED_DIR = paths.REPO / "expected"

# option -> (environment fallback, default, help)
OPTIONS = {
    "--data-root": ("ZOO_DATA_ROOT", None, "directory holding the datasets (imagenet/val/<wnid>/*.JPEG, ...)"),
    "--checkpoint-root": ("ZOO_CHECKPOINT_ROOT", None, "directory holding the original FP32 checkpoints"),
    "--device": ("ZOO_DEVICE", "auto", "auto, cpu, cuda or cuda:N (auto: one GPU per xdist worker, else CPU)"),
    "--results-dir": ("ZOO_RESULTS_DIR", "results", "where each run writes its rows: <dir>/<run id>/<case>.json"),
    "--fp32-cache": ("ZOO_FP32_CACHE", ".zoo-cache/fp32", "directory caching FP32 outputs by checkpoint sha256 + "
                     "dataset fingerprint + code version, so an AIMET-only change re-evaluates only the quantized "
                     "side; 'off' disables"),
    "--subset": ("ZOO_SUBSET", None, "evaluate a fixed, seeded subset of N samples; the gate then derives "
                 "proportion metrics' tolerances from N (Wilson interval) and says so in the row"),
    "--update-expected": ("ZOO_UPDATE_EXPECTED", False, "rewrite expected/*.json with the measured values "
                          "(the run still fails so a human reviews the diff)"),
}

def option_value(config, name: str):
    """Command-line value, else the environment variable, else the default."""
    env, default, _ = OPTIONS[name]
    value = config.getoption(name)
    if value not in (None, False):
        return value
    if env in os.environ:
        raw = os.environ[env]
        return raw.lower() in ("1", "true", "yes") if isinstance(default, bool) else raw
    return default


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


def subset_size(config) -> int | None:
    value = option_value(config, "--subset")
    if value in (None, ""):
        return None
    if not str(value).isdigit() or int(value) < 1:
        raise ValueError(f"--subset / ZOO_SUBSET must be a positive number of samples, got {value!r}")
    return int(value)


def installed_aimet() -> str:
    from importlib.metadata import version

    return version("aimet-torch")


def fp32_cache_dir(config) -> Path | None:
    value = option_value(config, "--fp32-cache")
    return None if str(value).lower() in ("off", "none", "") else Path(value)


def accept_command(case, config) -> str:
    parts = ["pytest", f"tests/test_zoo.py::test_case[{case.id}]", "--update-expected"]
    for name in ("--data-root", "--checkpoint-root"):
        value = option_value(config, name)
        if value:
            parts += [name, str(value)]
    return shlex.join(parts)


@dataclass
class ZooSession:
    config: object
    entries: dict
    run_dir: Path
    update_expected: bool
    subset: int | None = None

    def subset_for(self, case) -> int | None:
        """--subset, except for cases whose expected values are measured on their own fixed subset."""
        return None if case.eval_samples else self.subset

    def provenance(self, case, info: dict) -> dict:
        return {
            "date": dt.date.today().isoformat(),
            "device": info.get("device"),
            "cpu": platform.processor() or platform.machine(),
            "versions": info.get("versions"),
            "knobs": info.get("knobs"),
            "weights": case.checkpoint.weights,
            "command": accept_command(case, self.config),
        }

    def record(self, case, outcome, verdict) -> dict:
        entry = self.entries.get(case.id)
        row = build_row(case, entry, outcome, verdict, self.run_dir.name)
        if outcome.per_sample:
            row["per_sample_file"] = write_per_sample(self.run_dir, case.id, outcome.per_sample).name
        if outcome.layers:
            row["layers_file"] = write_layers(self.run_dir, case.id, outcome.layers).name
        write_row(self.run_dir, row)
        return row

    def record_error(self, case, error: BaseException) -> None:
        write_row(self.run_dir, {"case": case.id, "tier": case.tier, "metric": case.metric, "verdict": "ERROR",
                                 "error": f"{type(error).__name__}: {error}", "run_id": self.run_dir.name,
                                 "knobs": case.recipe.knobs()})

    def update(self, case, outcome) -> Path:
        if self.subset:
            raise ValueError("--update-expected with --subset would store subset values as full-dataset "
                             "expectations; run without --subset to update expected/")
        path = exp.expected_file_for(case, EXPECTED_DIR)
        old = self.entries.get(case.id)
        raw_old = {"metrics": old.metrics, "samples": old.samples} if old else None
        new = exp.updated_entry(raw_old, outcome.measurement, self.provenance(case, outcome.info))
        exp.write_entry(path, case.id, new)
        return path


JUNIT_FIELDS = ("metric", "fp32", "quantized", "expected", "delta", "tolerance", "verdict", "gate_rule")


def junit_properties(row: dict) -> list[tuple[str, object]]:
    """The row's headline fields as builtin types, for record_property (JUnit XML <property> per
    case); xdist ships them between processes and cannot serialize numpy scalars."""
    return [(name, _builtin(row.get(name))) for name in JUNIT_FIELDS]


def _builtin(value):
    if value is None or isinstance(value, (str, bool, int)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def known_issue_cell(entry) -> dict | None:
    issue = entry.known_issue if entry else None
    return None if issue is None else {"kind": issue.kind, "reference": issue.reference, "reason": issue.reason}


def build_row(case, entry, outcome, verdict, run_id: str) -> dict:
    m = outcome.measurement
    primary = case.metric
    expected_primary = entry.metrics.get(primary, {}) if entry else {}
    return {
        "case": case.id,
        "run_id": run_id,
        "tier": case.tier,
        "framework": case.framework,
        "dataset": case.dataset,
        "model": case.model,
        "seed_row": case.seed_row,
        "metric": primary,
        "fp32": m.fp32.get(primary),
        "quantized": m.quantized.get(primary),
        "expected": expected_primary.get("quantized"),
        "delta": verdict.deltas.get(primary),
        "tolerance": expected_primary.get("max_drop"),
        "verdict": verdict.label,
        "failures": verdict.failures,
        "samples": m.samples,
        "metrics": {
            name: {"fp32": m.fp32.get(name), "quantized": m.quantized.get(name),
                   "expected": (entry.metrics.get(name) or {}).get("quantized") if entry else None,
                   "delta": verdict.deltas.get(name)}
            for name in sorted(set(m.fp32) | set(m.quantized))
        },
        "expected_provenance": entry.provenance if entry else None,
        "overlays": list(entry.overlays) if entry else [],
        "known_issue": known_issue_cell(entry),
        "gate_rule": verdict.rule,
        **outcome.info,
    }
