"""Run-to-run noise of the embedded metrics: every embedded case under several CPU settings, FP32 recomputed.

    python benchmarks/noise.py                       # the settings below, all embedded cases (~30 min on 2 cores)
    python benchmarks/noise.py --select "pt_msrresnet_tiny_x4" --settings t1,t2
    python benchmarks/noise.py --out docs/noise/2026-12-06.json

Settings (each a fresh `pytest -n 0` process with the FP32 cache off):
  t2        2 threads (what `pytest -n 0` uses on 2 cores)
  t1        1 thread  (what each worker of the default `-n 2` uses)
  t1-avx2   1 thread, torch's ATen and oneDNN kernels (TensorFlow's oneDNN too) held to AVX2, as on a CPU
            without AVX-512 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2; onnxruntime's own kernels
            follow the CPU and are not covered)

Prints, per case and metric, the FP32 and quantized values' spread over the settings and their largest
distance from expected/: the figures the embedded entries' fp32_tol and notes are derived from.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETTINGS = {
    "t2": {"ZOO_CPU_THREADS": "2"},
    "t1": {"ZOO_CPU_THREADS": "1"},
    "t1-avx2": {"ZOO_CPU_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def run_setting(name: str, select: str, results: Path) -> dict[str, dict]:
    """The rows of one pytest run of the embedded cases under one setting, by case id."""
    if results.is_dir():  # --reuse: measured before
        return read_setting(name, results)
    command = [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", "tests/test_zoo.py",
               "-m", "embedded", "--fp32-cache=off", f"--results-dir={results}"]
    if select:
        command += ["-k", select]
    env = {**os.environ, **SETTINGS[name], "TQDM_DISABLE": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode not in (0, 1):  # 1: some gate failed, which is what may be measured here
        raise SystemExit(f"setting {name}: pytest exited {done.returncode}:\n{done.stdout[-3000:]}")
    return read_setting(name, results)


def read_setting(name: str, results: Path) -> dict[str, dict]:
    from zoo.results import read_rows

    rows = [row for run in sorted(results.iterdir()) if run.is_dir() for row in read_rows(run)]
    errors = [row["case"] for row in rows if row.get("verdict") == "ERROR"]
    if errors:
        raise SystemExit(f"setting {name}: cases errored: {errors}")
    return {row["case"]: row for row in rows}


def spreads(runs: dict[str, dict[str, dict]], entries: dict) -> list[dict]:
    """Per case and metric: values per setting, their spread, and the largest distance from expected."""
    table = []
    for case in sorted(set.intersection(*(set(rows) for rows in runs.values()))):
        entry = entries[case]
        for metric, expected in entry.metrics.items():
            for side in ("fp32", "quantized"):
                values = {name: rows[case]["metrics"].get(metric, {}).get(side) for name, rows in runs.items()}
                if any(v is None for v in values.values()) or expected.get(side) is None:
                    continue
                table.append({"case": case, "metric": metric, "side": side, "values": values,
                              "spread": max(values.values()) - min(values.values()),
                              "max_from_expected": max(abs(v - expected[side]) for v in values.values()),
                              "expected": expected[side]})
    return table


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("aimet-torch", "aimet-onnx", "torch", "onnxruntime", "tensorflow-cpu")}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


FP32_TOL_OVER_NOISE = 10  # an FP32 tolerance at least ten times the largest FP32 deviation measured


def apply_fp32_tolerances(table: list[dict], entries: dict, source: str) -> list[str]:
    """Set each measured entry's fp32_tol to the larger of the metric's default and ten times the FP32
    deviation measured, with a note saying so; returns what changed."""
    from zoo import expected as exp
    from zoo.metrics import metric_info

    changed = []
    for line in table:
        entry = entries[line["case"]]
        if line["side"] != "fp32" or entry.provenance.get("kind") != "measured":
            continue
        default = metric_info(line["metric"]).fp32_tol
        deviation = max(line["spread"], line["max_from_expected"])
        tolerance = max(default, FP32_TOL_OVER_NOISE * deviation)
        raw = exp.raw_entry(entry.path, entry.case_id)
        spec = raw["metrics"][line["metric"]]
        spec["fp32_tol"] = tolerance
        spec["note"] = _with_fp32_note(spec.get("note"), (
            f"fp32_tol {tolerance:.3g}: the larger of the metric's default ({default:g}, max_drop/100) and "
            f"{FP32_TOL_OVER_NOISE}x the largest FP32 deviation measured, {deviation:.2g}, over settings "
            f"{', '.join(line['values'])} and against the stored value ({source})"))
        exp.write_entry(entry.path, entry.case_id, raw)
        changed.append(f"{line['case']} {line['metric']}: fp32_tol {tolerance:.3g}")
    return changed


def _with_fp32_note(note: str | None, fp32_note: str) -> str:
    kept = [part for part in (note or "").split("; ") if part and not part.startswith("fp32_tol ")]
    return "; ".join([*kept, fp32_note])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {list(SETTINGS)}")
    parser.add_argument("--select", default="", help="pytest -k expression over the embedded case ids")
    parser.add_argument("--out", type=Path, help="write the measurements as JSON here")
    parser.add_argument("--reuse", type=Path, help="a directory of an earlier run (the zoo-noise-* one it printed): "
                                                    "settings measured there are read, not run again")
    parser.add_argument("--apply", action="store_true",
                        help="set the measured entries' fp32_tol from the measurements (review the git diff)")
    args = parser.parse_args()

    from zoo import expected as exp
    from zoo.session import EXPECTED_DIR, installed_aimet

    entries = exp.load_dir(EXPECTED_DIR, aimet_version=installed_aimet())
    root = args.reuse or Path(tempfile.mkdtemp(prefix="zoo-noise-"))
    print(f"measuring under {root}", flush=True)
    runs = {}
    for name in args.settings.split(","):
        runs[name] = run_setting(name, args.select, root / name)
        print(f"setting {name}: {len(runs[name])} cases", flush=True)
    table = spreads(runs, entries)
    print(f"\n{'case':52} {'metric':16} {'side':9} {'spread':>10} {'max |v - expected|':>18} {'/ max_drop':>10}")
    for line in table:
        max_drop = entries[line["case"]].metrics[line["metric"]]["max_drop"]
        share = max(line["spread"], line["max_from_expected"]) / max_drop
        print(f"{line['case']:52} {line['metric']:16} {line['side']:9} {line['spread']:10.3g} "
              f"{line['max_from_expected']:18.3g} {share:10.2f}{'  <- noise near the gate' if share > 0.5 else ''}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "date": dt.date.today().isoformat(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "commit": _git("rev-parse", "HEAD"), "versions": versions(), "settings": {n: SETTINGS[n] for n in runs},
            "command": " ".join(["python", "benchmarks/noise.py", *sys.argv[1:]]), "measurements": table,
        }, indent=1) + "\n")
        print(f"\nwritten: {args.out}")
    if args.apply:
        source = f"benchmarks/noise.py, {dt.date.today().isoformat()}" + (f", {args.out}" if args.out else "")
        for change in apply_fp32_tolerances(table, entries, source):
            print(f"applied: {change}")


if __name__ == "__main__":
    main()
