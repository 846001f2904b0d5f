"""The zoo: one parametrized test per registry case (quantize with its recipe, evaluate, gate)."""
import datetime as dt

import pytest

from zoo import known_issues
from zoo.catalog import REGISTRY
from zoo.expected import Verdict, gate
from zoo.session import accept_command, junit_properties


def case_marks(case):
    budget = [pytest.mark.memory_budget(case.memory_budget_gb)] if case.memory_budget_gb else []
    return [*(getattr(pytest.mark, m) for m in case.marks), pytest.mark.xdist_group(case.id), *budget]


def case_params():
    return [pytest.param(case, id=case.id, marks=case_marks(case)) for case in REGISTRY]


@pytest.mark.parametrize("case", case_params())
def test_case(case, case_inputs, expected_entry, measured, zoo_session, pytestconfig, record_property, device):
    issue = expected_entry.known_issue if expected_entry else None
    try:
        outcome = measured(case, case_inputs)
    except Exception as error:
        resolve(known_issues.on_exception(issue, error, dt.date.today()))
        raise
    if expected_entry is None:
        verdict = Verdict(False, ["no expected entry yet"])
    else:
        verdict = gate(expected_entry, outcome.measurement, accept_command(case, pytestconfig),
                       zoo_session.subset_for(case), device.type)
    for name, value in junit_properties(zoo_session.record(case, outcome, verdict)):
        record_property(name, value)
    if zoo_session.update_expected:
        path = zoo_session.update(case, outcome)
        pytest.fail(f"{path} updated for {case.id} with the values measured now; review `git diff {path}` "
                    f"and commit it (this run fails on purpose so the change is reviewed)")
    resolve(known_issues.on_verdict(issue, verdict.failures, outcome.info.get("techniques_unavailable") or {},
                                    dt.date.today()))
    assert verdict.passed, f"{case.id}:\n  " + "\n  ".join(verdict.failures)


def resolve(resolution: known_issues.Resolution | None) -> None:
    if resolution is not None:
        (pytest.xfail if resolution.xfail else pytest.fail)(resolution.message)
