"""Validate a candidate AIMET release against a baseline: one virtual environment per side, everything but the
AIMET packages shared, the same cases with the same seeds and data in each, then ``compare``.

Each side's environment is ``python -m venv --system-site-packages`` over this interpreter with only the named
AIMET distributions installed into it ``--no-deps``: torch, tensorflow, onnxruntime and every other dependency are
the very same files on both sides, so a difference between the two runs can come only from AIMET. The pairing
rule that follows: a release is usable if its wheel installs and imports beside the installed torch (aimet-torch's
wheels are pure Python and ask only for ``torch``; aimet-onnx's are compiled per Python version). The oldest
aimet-torch that does is 2.20.0: the releases before it ship ``aimet_common`` as a namespace package (no
``__init__.py``), which the regular ``aimet_common`` package of the installed 2.42 releases shadows, and that one
refuses to import while both aimet-torch and aimet-onnx are installed (2.0.0, 2.5.0, 2.10.0, 2.15.0, 2.18.0 fail
so; 2.20.0 and 2.41.0 run the embedded tier on torch 2.14.1).
Environments are cached under ``.zoo-cache/venvs/<specs>`` and reused.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from zoo import paths
from zoo.fileio import atomic_write_text

AIMET_DISTRIBUTIONS = ("aimet-torch", "aimet-onnx")
SPEC = re.compile(r"^(aimet-torch|aimet-onnx)==([0-9][0-9a-zA-Z.+-]*)$")
DEFAULT_SELECTION = ("tests/test_zoo.py", "-m", "embedded")


class ReleaseError(Exception):
    """A release spec that cannot be used (malformed, not installable, not importable)."""


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its name (baseline, candidate) and the AIMET releases it pins."""

    name: str
    specs: tuple[str, ...]

    @property
    def venv(self) -> Path:
        return paths.CACHE / "venvs" / "_".join(s.replace("==", "-") for s in self.specs)

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def parse_specs(text: str, option: str) -> tuple[str, ...]:
    """'aimet-torch==2.41.0[,aimet-onnx==2.41.0]' -> the specs; anything else is an error naming the option."""
    specs = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in specs if not SPEC.match(s)]
    if not specs or bad:
        raise ReleaseError(f"{option} {text!r}: give one or more of {', '.join(AIMET_DISTRIBUTIONS)} pinned "
                           f"with ==, comma-separated, e.g. aimet-torch==2.41.0")
    names = [SPEC.match(s).group(1) for s in specs]
    if len(set(names)) != len(names):
        raise ReleaseError(f"{option} {text!r}: each AIMET distribution at most once")
    return specs


def venv_commands(side: Side) -> list[list[str]]:
    """The commands that build ``side``'s environment (run only when it does not exist yet)."""
    return [[sys.executable, "-m", "venv", "--system-site-packages", str(side.venv)],
            [str(side.python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *side.specs]]


def installed_versions(side: Side) -> dict[str, str]:
    """The AIMET versions ``side``'s interpreter imports, read by that interpreter."""
    code = ("import importlib.metadata as m, json; "
            f"print(json.dumps({{d: m.version(d) for d in {list(AIMET_DISTRIBUTIONS)!r}}}))")
    done = subprocess.run([str(side.python), "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise ReleaseError(f"{side.venv}: cannot read the AIMET versions: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


OLDEST_IMPORTABLE = "2.20.0"


def import_failure(side: Side) -> str | None:
    """Why the AIMET packages of ``side`` do not import in its interpreter, or None when they do."""
    modules = [SPEC.match(spec).group(1).replace("-", "_") for spec in side.specs]
    done = subprocess.run([str(side.python), "-c", "; ".join(f"import {m}" for m in modules)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["(no message)"])[-1]


def ensure_venv(side: Side) -> dict[str, str]:
    """Build (or reuse) ``side``'s environment; returns the AIMET versions it runs, checked against its specs."""
    if not side.python.exists():
        for command in venv_commands(side):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise ReleaseError(f"{side.name}: `{' '.join(command)}` failed: {done.stderr.strip()[-400:]}")
    versions = installed_versions(side)
    for spec in side.specs:
        name, version = SPEC.match(spec).groups()
        if versions.get(name) != version:
            raise ReleaseError(f"{side.name}: {side.venv} imports {name} {versions.get(name)}, not {version}; "
                               f"delete {side.venv} and run again")
    failure = import_failure(side)
    if failure:
        raise ReleaseError(
            f"{side.name}: {' '.join(side.specs)} installs but does not import in {side.venv}: {failure}. Releases "
            f"before {OLDEST_IMPORTABLE} ship aimet_common as a namespace package, which the installed aimet_common "
            f"(a regular package since 2.20) shadows; validate {OLDEST_IMPORTABLE} or later (README: pairing rule)")
    return versions


def pytest_command(side: Side, results_dir: Path, pytest_args: list[str]) -> list[str]:
    """The same selection for both sides; each side writes its rows under its own results directory."""
    return [str(side.python), "-m", "pytest", "-p", "no:cacheprovider", "--results-dir", str(results_dir),
            *(pytest_args or DEFAULT_SELECTION)]


def newest_run(results_dir: Path) -> Path:
    runs = sorted(p for p in Path(results_dir).iterdir() if p.is_dir())
    if not runs:
        raise ReleaseError(f"{results_dir}: the pytest run wrote no run directory")
    return runs[-1]


def run_side(side: Side, out: Path, pytest_args: list[str]) -> tuple[Path, dict[str, str]]:
    """Run the selection under ``side``; returns its run directory and AIMET versions. A failing gate does not
    stop the validation (the comparison is the point), a run that wrote no rows does."""
    versions = ensure_venv(side)
    results = Path(out) / side.name
    results.mkdir(parents=True, exist_ok=True)
    command = pytest_command(side, results, pytest_args)
    print(f"{side.name}: {' '.join(side.specs)} -> {' '.join(command)}", flush=True)
    # this checkout's zoo on both sides, whatever an editable install elsewhere points to
    subprocess.run(command, cwd=paths.REPO, env={**os.environ, "PYTHONPATH": str(paths.REPO)})
    return newest_run(results), versions


def write_sides(out: Path, sides: dict[str, tuple[Side, Path, dict[str, str]]]) -> Path:
    """release.json: per side the specs, the AIMET versions it imported and its run directory."""

    path = Path(out) / "release.json"
    atomic_write_text(path, json.dumps({name: {"specs": list(side.specs), "versions": versions, "run": str(run)}
                                        for name, (side, run, versions) in sides.items()}, indent=2) + "\n")
    return path
