"""A run that dies mid-way keeps every row written before and names the cases left without one."""
import json
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

FAKE_ZOO_TEST = '''
import os
import pytest
from zoo.catalog import REGISTRY
from zoo.expected import Measurement, Verdict
from zoo.pipeline import Outcome

CASES = [REGISTRY["pt_efficientnet_lite0.w8a8.photos"], REGISTRY["pt_mobilenet_v2.w8a8.photos"]]

@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_case(case, zoo_session):
    if case.id.startswith("pt_mobilenet"):
        {death}
    zoo_session.record(case, Outcome(Measurement(8, {{"top1": 87.5}}, {{"top1": 87.5}})), Verdict(True))
'''


def run_dying_session(pytester, death: str, *args):
    shutil.copy(REPO / "conftest.py", pytester.path / "conftest.py")
    pytester.makepyfile(test_zoo=FAKE_ZOO_TEST.format(death=death))
    results = pytester.path / "results"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--results-dir", str(results), *args)
    rows = [json.loads(p.read_text()) for p in results.glob("*/*.json")]
    return result, rows


def assert_survivor_row_and_missing_case(result, rows):
    assert [row["case"] for row in rows] == ["pt_efficientnet_lite0.w8a8.photos"]
    output = result.stdout.str()
    assert "| pt_efficientnet_lite0.w8a8.photos | embedded |  | top1 | 87.50 | 87.50 |" in output  # no recipe ran
    missing = [line for line in output.splitlines() if "pt_mobilenet_v2.w8a8.photos" in line and "MISSING" in line]
    assert missing, output


def test_worker_that_dies_mid_case(pytester):
    result, rows = run_dying_session(pytester, "os._exit(1)", "-n", "1")
    assert result.ret != 0
    assert_survivor_row_and_missing_case(result, rows)


def test_ctrl_c_mid_case(pytester):
    result, rows = run_dying_session(pytester, "raise KeyboardInterrupt")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert_survivor_row_and_missing_case(result, rows)
