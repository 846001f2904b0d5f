"""``python -m zoo report|trend|compare|validate-release``: reports over run directories (results/<run id>/), and
the validation of an AIMET release against another.

Exit codes: 0 done; 1 ``compare`` found a significant regression; 2 bad arguments or unusable run directories.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.reports import ReportError, load_run
from zoo.reports.compare import ALPHA, REGRESSION, RESAMPLES, SEED, has_regression
from zoo.reports.compare_output import write_compare

EXIT_REGRESSION, EXIT_USAGE = 1, 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="results.csv, results.md and fp32_vs_quantized.png of one run")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--out", type=Path, help="output directory (default RUN_DIR/report)")

    trend = commands.add_parser("trend", help="per-case history of the primary metric across runs")
    trend.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    trend.add_argument("--out", type=Path, help="output directory (default <newest RUN_DIR>/trend)")

    compare = commands.add_parser("compare", help="paired per-case comparison of two runs; exit 1 on a "
                                                  "significant regression")
    compare.add_argument("base", type=Path, metavar="BASE_RUN")
    compare.add_argument("new", type=Path, metavar="NEW_RUN")
    compare.add_argument("--alpha", type=float, default=ALPHA, help=f"significance level per test (default {ALPHA})")
    compare.add_argument("--resamples", type=int, default=RESAMPLES,
                         help=f"bootstrap resamples (default {RESAMPLES})")
    compare.add_argument("--seed", type=int, default=SEED, help=f"bootstrap seed (default {SEED})")
    compare.add_argument("--out", type=Path, help="output directory (default NEW_RUN/compare-vs-<BASE_RUN name>)")

    release = commands.add_parser(
        "validate-release", help="run the same cases under two AIMET releases (one venv each, all else shared) "
                                 "and compare them; exit 1 on a significant regression",
        epilog="Arguments after -- go to pytest on both sides (default: tests/test_zoo.py -m embedded).")
    release.add_argument("--baseline", required=True, help="e.g. aimet-torch==2.41.0[,aimet-onnx==2.41.0]")
    release.add_argument("--candidate", required=True, help="e.g. aimet-torch==2.42.0")
    release.add_argument("--out", type=Path, help="output directory (default results/release-<baseline>-vs-<candidate>)")
    release.add_argument("pytest_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return top


def run_report(args) -> int:
    from zoo.reports.tables import write_report

    run = load_run(args.run_dir)
    print_paths(write_report(run, args.out or run.directory / "report"))
    return 0


def run_trend(args) -> int:
    from zoo.reports.trend import order_runs, write_trend

    runs = order_runs([load_run(d) for d in args.run_dirs])
    print_paths(write_trend(runs, args.out or runs[-1].directory / "trend"))
    return 0


def run_compare(args) -> int:
    if args.resamples < 1:
        raise ReportError(f"--resamples {args.resamples}: use a positive count, e.g. {RESAMPLES}")
    base, new = load_run(args.base), load_run(args.new)
    out = args.out or new.directory / f"compare-vs-{base.directory.name}"
    comparisons, paths = write_compare(base, new, out, args.alpha, args.resamples, args.seed)
    print(paths[0].read_text())
    print_paths(paths)
    if has_regression(comparisons):
        regressed = [c.case for c in comparisons if c.verdict == REGRESSION]
        print(f"significant regression in {len(regressed)} case(s): {', '.join(regressed)}", file=sys.stderr)
        return EXIT_REGRESSION
    return 0


def run_validate_release(args) -> int:
    from zoo import paths
    from zoo.release import ReleaseError, Side, parse_specs, run_side, write_sides

    try:
        sides = [Side("baseline", parse_specs(args.baseline, "--baseline")),
                 Side("candidate", parse_specs(args.candidate, "--candidate"))]
        out = args.out or paths.REPO / "results" / f"release-{sides[0].venv.name}-vs-{sides[1].venv.name}"
        pytest_args = [a for a in args.pytest_args if a != "--"]
        ran = {side.name: (side, *run_side(side, out, pytest_args)) for side in sides}
    except ReleaseError as e:
        raise ReportError(str(e)) from e
    print(write_sides(out, ran))
    compare_args = argparse.Namespace(base=ran["baseline"][1], new=ran["candidate"][1], alpha=ALPHA,
                                      resamples=RESAMPLES, seed=SEED, out=out / "compare")
    return run_compare(compare_args)


def print_paths(paths: list[Path]) -> None:
    for path in paths:
        print(path)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    commands = {"report": run_report, "trend": run_trend, "compare": run_compare,
                "validate-release": run_validate_release}
    try:
        return commands[args.command](args)
    except ReportError as e:
        print(f"python -m zoo {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
