"""Expected values: load and validate expected/*.json, and gate a measurement against them.

Gate semantics per metric (all in the metric's own unit, direction from zoo.metrics):
- ``fp32`` must match within ``fp32_tol`` (two-sided): a drift means the data,
  checkpoint or preprocessing changed, not the quantizer.
- ``quantized`` may not fall more than ``max_drop`` below its expected value (one-sided).
- ``max_gain``: an improvement beyond it is flagged as unexplained (sanity bound).
- ``min_fraction_of_fp32``: the quantized value must keep at least this fraction of the
  FP32 value measured in the same run (a floor relative to FP32).
- ``recovers``: ``{"ptq_case": <case id>, "min_fraction": f}`` on a quantization-aware training
  case: of the accuracy post-training quantization loses (the PTQ case's expected quantized value
  against the FP32 value measured in this run), QAT must win back at least the fraction f.
Plus ``samples``: the number of evaluated samples must equal it (full-dataset guard).
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from zoo import known_issues
from zoo.fileio import atomic_write_text
from zoo.known_issues import KnownIssue
from zoo.metrics import metric_info

SCHEMA_VERSION = 1

_METRIC_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "fp32": {"type": ["number", "null"]},
        "fp32_tol": {"type": "number", "minimum": 0},
        "quantized": {"type": "number"},
        "max_drop": {"type": "number", "minimum": 0},
        "max_gain": {"type": "number", "minimum": 0},
        "min_fraction_of_fp32": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "recovers": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ptq_case", "min_fraction"],
            "properties": {"ptq_case": {"type": "string"},
                           "min_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
        },
        "note": {"type": "string"},
    },
    "required": ["quantized", "max_drop"],
}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "cases"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "description": {"type": "string"},
        "cases": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["samples", "metrics", "provenance"],
                "properties": {
                    "samples": {"type": "integer", "minimum": 1},
                    "metrics": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": _METRIC_SCHEMA,
                    },
                    "provenance": {
                        "type": "object",
                        "required": ["kind"],
                        "properties": {
                            "kind": {"enum": ["published", "measured"]},
                            # what the measured weights are: zoo.registry.Checkpoint.weights
                            "weights": {"type": "object", "required": ["kind"],
                                        "properties": {"kind": {"enum": ["pretrained", "trained-here", "seeded"]}}},
                        },
                    },
                    "known_issue": known_issues.SCHEMA,
                },
            },
        },
    },
}


class ExpectedError(Exception):
    """An expected/*.json problem; the message names the file and the key."""


@dataclass(frozen=True)
class ExpectedEntry:
    case_id: str
    path: Path
    samples: int
    metrics: dict
    provenance: dict
    known_issue: KnownIssue | None = None
    overlays: tuple[str, ...] = ()  # "<overlay file>: <reason>" for every override applied


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ExpectedError(f"{path}: not valid JSON ({e}); fix the file or restore it with git checkout") from e


def known_issue(raw: dict, where: str) -> KnownIssue | None:
    if "known_issue" not in raw:
        return None
    try:
        return known_issues.parse(raw["known_issue"], where)
    except known_issues.KnownIssueError as e:
        raise ExpectedError(str(e)) from None


def load_file(path: Path) -> dict[str, ExpectedEntry]:
    data = _read_json(path)
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise ExpectedError(f"{path}: key {where}: {e.message}") from e
    entries = {}
    for case_id, raw in data["cases"].items():
        for metric, spec in raw["metrics"].items():
            try:
                info = metric_info(metric)
            except KeyError as e:
                raise ExpectedError(f"{path}: key cases/{case_id}/metrics/{metric}: {e.args[0]}") from None
            if spec.get("fp32") is not None and not spec.get("fp32_tol"):
                raise ExpectedError(
                    f"{path}: key cases/{case_id}/metrics/{metric}: fp32_tol is 0 or absent, i.e. exact float "
                    f"equality, which another thread count or CPU breaks; set it from measured noise "
                    f"(benchmarks/noise.py; the metric's default is {info.fp32_tol:g})")
        entries[case_id] = ExpectedEntry(case_id, path, raw["samples"], raw["metrics"], raw["provenance"],
                                         known_issue(raw, f"{path}: key cases/{case_id}/known_issue"))
    return entries


def load_dir(directory: Path, aimet_version: str | None = None) -> dict[str, ExpectedEntry]:
    """All entries of expected/*.json (a case id in two files is an error), then the overlays of
    expected/overlays/ up to ``aimet_version`` applied in version order."""
    entries: dict[str, ExpectedEntry] = {}
    for path in sorted(Path(directory).glob("*.json")):
        for case_id, entry in load_file(path).items():
            if case_id in entries:
                raise ExpectedError(f"{path}: key cases/{case_id}: already defined in {entries[case_id].path}")
            entries[case_id] = entry
    if aimet_version is not None:
        for overlay in overlay_files(Path(directory) / "overlays", aimet_version):
            entries = apply_overlay(entries, overlay)
    return resolve_recovery_references(entries)


def resolve_recovery_references(entries: dict[str, ExpectedEntry]) -> dict[str, ExpectedEntry]:
    """Copy into each ``recovers`` gate the expected quantized value of the PTQ case it names (as
    ``ptq_quantized``), so that gating stays a pure function of one entry."""
    resolved = dict(entries)
    for case_id, entry in entries.items():
        metrics = {}
        for name, spec in entry.metrics.items():
            if "recovers" in spec:
                ptq_case = spec["recovers"]["ptq_case"]
                ptq_metric = entries.get(ptq_case, None) and entries[ptq_case].metrics.get(name)
                if not ptq_metric:
                    raise ExpectedError(
                        f"{entry.path}: key cases/{case_id}/metrics/{name}/recovers/ptq_case: no expected entry "
                        f"{ptq_case!r} gating {name}; name the post-training quantization case this one is "
                        f"compared with")
                spec = {**spec, "recovers": {**spec["recovers"], "ptq_quantized": ptq_metric["quantized"]}}
            metrics[name] = spec
        resolved[case_id] = dataclasses.replace(entry, metrics=metrics)
    return resolved


OVERLAY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "overrides"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "description": {"type": "string"},
        "overrides": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["reason"],
                "properties": {
                    "reason": {"type": "string", "minLength": 1},
                    "metrics": {"type": "object", "additionalProperties": {
                        **_METRIC_SCHEMA, "required": []}},
                    "known_issue": known_issues.SCHEMA,
                },
            },
        },
    },
}
OVERLAY_NAME = re.compile(r"^aimet-(?P<version>\d+(\.\d+)*)\.json$")


def overlay_files(directory: Path, aimet_version: str) -> list[Path]:
    """``expected/overlays/aimet-<version>.json`` with version <= the installed AIMET, oldest first."""
    from packaging.version import Version

    found = []
    for path in sorted(Path(directory).glob("*.json")):
        match = OVERLAY_NAME.match(path.name)
        if not match:
            raise ExpectedError(f"{path}: overlay files are named aimet-<version>.json (e.g. aimet-2.43.0.json)")
        if Version(match["version"]) <= Version(aimet_version):
            found.append((Version(match["version"]), path))
    return [path for _, path in sorted(found)]


def apply_overlay(entries: dict[str, ExpectedEntry], path: Path) -> dict[str, ExpectedEntry]:
    data = _read_json(path)
    try:
        jsonschema.validate(data, OVERLAY_SCHEMA)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        raise ExpectedError(f"{path}: key {where}: {e.message}") from e
    entries = dict(entries)
    for case_id, override in data["overrides"].items():
        if case_id not in entries:
            raise ExpectedError(f"{path}: key overrides/{case_id}: no expected entry to override")
        entry = entries[case_id]
        metrics = {name: dict(spec) for name, spec in entry.metrics.items()}
        for name, fields in override.get("metrics", {}).items():
            if name not in metrics:
                raise ExpectedError(f"{path}: key overrides/{case_id}/metrics/{name}: the entry gates no such metric")
            metrics[name].update(fields)
        entries[case_id] = dataclasses.replace(
            entry, metrics=metrics,
            known_issue=known_issue(override, f"{path}: key overrides/{case_id}/known_issue") or entry.known_issue,
            overlays=entry.overlays + (f"{path.name}: {override['reason']}",))
    return entries


def expected_file_for(case, directory: Path) -> Path:
    return Path(directory) / f"{case.dataset}.json"


def check_coverage(case_ids, entries: dict[str, ExpectedEntry], directory: Path, allow_missing=False) -> None:
    """Every case has an entry in expected/<dataset>.json (unless ``allow_missing``: --update-expected
    is about to write it) and every entry has a case."""
    problems = []
    for case_id in case_ids:
        if case_id not in entries and not allow_missing:
            problems.append(f"case {case_id!r} has no entry in {directory}/ "
                            f"(add one, or run its test with --update-expected to measure it)")
    for case_id, entry in entries.items():
        if case_id not in set(case_ids):
            problems.append(f"{entry.path}: key cases/{case_id}: no such case in zoo/families/*/cases.py "
                            f"(remove the entry or register the case)")
    if problems:
        raise ExpectedError("\n".join(problems))


# --------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class Measurement:
    """What one run measured: per metric (fp32, quantized) and the sample count."""

    samples: int
    fp32: dict
    quantized: dict


@dataclass
class Verdict:
    passed: bool
    failures: list[str] = field(default_factory=list)
    deltas: dict = field(default_factory=dict)
    rule: str = "full dataset"

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "FAIL"


def _fmt(x):
    return "None" if x is None else f"{x:.4g}"


def _signed(delta: float, higher_is_better: bool) -> float:
    """Delta oriented so that negative means worse."""
    return delta if higher_is_better else -delta


def wilson_margins(percent: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Distances (in points) from ``percent`` down to and up to its 95% Wilson interval at n samples."""
    p = percent / 100.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100.0 * (p - (centre - half)), 100.0 * ((centre + half) - p)


def _subset_tolerances(exp: dict, info, subset: int | None) -> dict:
    """On a subset, widen a proportion metric's tolerances by its binomial (Wilson) margins."""
    if not subset or not info.proportion:
        return exp
    widened = dict(exp)
    down, up = wilson_margins(exp["quantized"], subset)
    widened["max_drop"] = exp["max_drop"] + (down if info.higher_is_better else up)
    if "max_gain" in exp:
        widened["max_gain"] = exp["max_gain"] + (up if info.higher_is_better else down)
    if exp.get("fp32") is not None:
        widened["fp32_tol"] = exp.get("fp32_tol", 0.0) + max(wilson_margins(exp["fp32"], subset))
    return widened


def _cross_device_tolerances(exp: dict, measured_on: str | None, run_on: str | None) -> dict:
    """FP32 equality holds only on the device type that measured it: on another one (CPU values, CUDA run)
    kernels reduce in another order, so the FP32 drift check takes the metric's quantized tolerance."""
    if not measured_on or not run_on or measured_on == run_on or exp.get("fp32") is None:
        return exp
    return {**exp, "fp32_tol": max(exp.get("fp32_tol", 0.0), exp["max_drop"])}


def gate_rule(subset: int | None, measured_on: str | None = None, run_on: str | None = None) -> str:
    if not subset:
        rule = "full dataset: sample count must match; tolerances as in expected/"
    else:
        rule = (f"subset of {subset} seeded samples: sample-count guard replaced by the subset size; proportion "
                f"metrics' tolerances widened by their 95% Wilson interval at n={subset}; other metrics unchanged")
    if measured_on and run_on and measured_on != run_on:
        rule += (f"; expected values measured on {measured_on}, run on {run_on}: FP32 drift allowed up to each "
                 f"metric's max_drop instead of its fp32_tol")
    return rule


def _check_fp32(name, info, exp, f, accept) -> list[str]:
    drift, tol, unit = f - exp["fp32"], exp.get("fp32_tol", 0.0), info.unit
    if abs(drift) <= tol:
        return []
    return [f"{name}: FP32 {_fmt(f)}{unit} vs expected {_fmt(exp['fp32'])}{unit} (delta {drift:+.4g}, "
            f"tolerance ±{tol:g}): FP32 drifted, so the data, checkpoint or preprocessing changed, "
            f"not the quantizer. {accept}"]


def _check_quantized(name, info, exp, q, accept) -> list[str]:
    delta, unit = q - exp["quantized"], info.unit
    oriented = _signed(delta, info.higher_is_better)
    stated = f"{name}: quantized {_fmt(q)}{unit} vs expected {_fmt(exp['quantized'])}{unit} (delta {delta:+.4g}"
    if oriented < -exp["max_drop"]:
        return [f"{stated}, allowed drop {exp['max_drop']:g}): regression. {accept}"]
    if "max_gain" in exp and oriented > exp["max_gain"]:
        return [f"{stated}, sanity bound {exp['max_gain']:g}): unexplained improvement; check the "
                f"evaluation, then {accept[0].lower()}{accept[1:]}"]
    return []


def _check_floor(name, info, exp, q, f) -> list[str]:
    fraction = exp.get("min_fraction_of_fp32")
    if fraction is None or f is None:
        return []
    floor = fraction * f if info.higher_is_better else f / fraction
    if (q >= floor) if info.higher_is_better else (q <= floor):
        return []
    return [f"{name}: quantized {_fmt(q)}{info.unit} is past the floor {_fmt(floor)}{info.unit} "
            f"({fraction:g} of FP32 {_fmt(f)}{info.unit} measured in this run)"]


def recovered_fraction(info, fp32: float, ptq: float, qat: float) -> float:
    """The share of the accuracy PTQ loses against FP32 that QAT wins back (1: all of it, 0: none)."""
    loss = _signed(fp32 - ptq, info.higher_is_better)
    if loss <= 0:
        raise ExpectedError(f"post-training quantization loses nothing here (FP32 {_fmt(fp32)}, PTQ {_fmt(ptq)}): "
                            f"a recovery gate needs a setting where PTQ loses accuracy")
    return _signed(qat - ptq, info.higher_is_better) / loss


def _check_recovery(name, info, exp, q, f) -> list[str]:
    recovers = exp.get("recovers")
    if recovers is None or f is None:
        return []
    ptq = recovers["ptq_quantized"]
    fraction = recovered_fraction(info, f, ptq, q)
    if fraction >= recovers["min_fraction"]:
        return []
    return [f"{name}: quantization-aware training recovered {fraction:.0%} of the {_fmt(abs(f - ptq))}{info.unit} "
            f"that post-training quantization loses (FP32 {_fmt(f)}{info.unit} this run, PTQ {_fmt(ptq)}{info.unit} "
            f"expected for {recovers['ptq_case']}, QAT {_fmt(q)}{info.unit}); at least "
            f"{recovers['min_fraction']:.0%} is required: the QAT recipe or AIMET's training path regressed"]


def gate(entry: ExpectedEntry, measured: Measurement, accept_command: str, subset: int | None = None,
         device_type: str | None = None) -> Verdict:
    """Compare a measurement with its expected entry. Pure: no I/O.

    ``device_type`` ("cpu", "cuda") is where this run measured; the entry's provenance says where its
    values were measured."""
    measured_on = str(entry.provenance.get("device") or "").split(":")[0] or None  # "cuda:0" -> "cuda"
    failures: list[str] = []
    deltas: dict = {}
    accept = f"If the new value is intended, accept it with: {accept_command}"

    wanted = min(subset, entry.samples) if subset else entry.samples
    if measured.samples != wanted:
        failures.append(
            f"sample count: evaluated {measured.samples} samples, expected {wanted} "
            + ("(the --subset size)" if subset else
               "(full-dataset guard: the dataset on disk is partial or different)")
        )

    for name, exp in entry.metrics.items():
        info = metric_info(name)
        exp = _cross_device_tolerances(_subset_tolerances(exp, info, subset), measured_on, device_type)
        q, f = measured.quantized.get(name), measured.fp32.get(name)
        if q is None:
            failures.append(f"{name}: not measured by this case, but expected in {entry.path}")
            continue
        non_finite = [f"{name}: {label} value is {value} (not finite)"
                      for label, value in (("quantized", q), ("fp32", f))
                      if value is not None and not math.isfinite(value)]
        if non_finite:
            failures += non_finite
            continue
        deltas[name] = q - exp["quantized"]
        if exp.get("fp32") is not None and f is not None:
            deltas[f"{name}.fp32"] = f - exp["fp32"]
            failures += _check_fp32(name, info, exp, f, accept)
        failures += _check_quantized(name, info, exp, q, accept)
        failures += _check_floor(name, info, exp, q, f)
        failures += _check_recovery(name, info, exp, q, f)
    return Verdict(not failures, failures, deltas, gate_rule(subset, measured_on, device_type))


# ------------------------------------------------------------------ --update-expected


def updated_entry(raw: dict | None, measured: Measurement, provenance: dict) -> dict:
    """A new raw entry holding the measured values; tolerances are kept where they exist, else each
    metric's defaults (zoo.metrics).

    An existing entry keeps its set of gated metrics; a new entry gates every measured metric.
    """
    raw = json.loads(json.dumps(raw)) if raw else {"metrics": {}}
    metrics = raw.setdefault("metrics", {})
    names = list(metrics) or list(measured.quantized)
    for name in names:
        q = measured.quantized.get(name)
        if q is None:
            continue
        f = measured.fp32.get(name)
        defaults = metric_info(name).default_tolerances(has_fp32=f is not None)
        old = metrics.get(name) or dict(defaults)
        old["quantized"] = q
        if f is not None:
            old["fp32"] = f
            old.setdefault("fp32_tol", defaults["fp32_tol"])
        metrics[name] = old
    raw["samples"] = measured.samples
    raw["provenance"] = {"kind": "measured", **provenance}
    return raw


def raw_entry(path: Path, case_id: str) -> dict:
    """One case's entry as stored (no overlays), for tools that edit it with write_entry."""
    return json.loads(Path(path).read_text())["cases"][case_id]


def write_entry(path: Path, case_id: str, raw_entry: dict) -> None:
    """Read-modify-write one case of an expected file under a lock (xdist workers share it)."""
    path = Path(path)
    lock_path = path.with_suffix(path.suffix + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {"schema_version": SCHEMA_VERSION, "cases": {}}
        data["cases"][case_id] = raw_entry
        data["cases"] = dict(sorted(data["cases"].items()))
        jsonschema.validate(data, SCHEMA)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
