"""Typed known issues (zoo/known_issues.py): each kind excuses only its own failure, an unexpected pass names the
entry to delete, an expired entry fails, and bad entries are refused naming the file and key."""
import copy
import datetime as dt
import json

import pytest

from zoo import expected as exp
from zoo import known_issues as ki

TODAY = dt.date(2026, 12, 7)
ENTRY = {"samples": 8, "metrics": {"top1": {"fp32": 75.0, "fp32_tol": 0.1, "quantized": 75.0, "max_drop": 12.5}},
         "provenance": {"kind": "measured"}}
METRIC_ISSUE = {"kind": "metric", "metrics": ["top1"], "reference": "https://github.com/quic/aimet/issues/1",
                "reason": "per-channel AdaRound regression"}


def load(tmp_path, known_issue: dict) -> exp.ExpectedEntry:
    path = tmp_path / "photos.json"
    path.write_text(json.dumps({"schema_version": 1, "cases": {"a.w8a8.photos": {**ENTRY,
                                                                                  "known_issue": known_issue}}}))
    return exp.load_file(path)["a.w8a8.photos"]


def test_a_metric_issue_excuses_only_its_metric(tmp_path):
    issue = load(tmp_path, METRIC_ISSUE).known_issue
    known = ki.on_verdict(issue, ["top1: quantized 60 vs expected 75 (delta -15, allowed drop 12.5): regression"],
                          {}, TODAY)
    assert known.xfail and "per-channel AdaRound" in known.message and "top1: quantized 60" in known.message
    # a new failure beside the known one is not hidden: the gate's own failure stands
    assert ki.on_verdict(issue, ["top1: ...", "sqnr_db: quantized 3 vs expected 12"], {}, TODAY) is None
    assert ki.on_verdict(issue, ["sample count: evaluated 7 samples, expected 8"], {}, TODAY) is None


def test_an_unexpected_pass_names_the_entry_to_delete(tmp_path):
    issue = load(tmp_path, METRIC_ISSUE).known_issue
    resolution = ki.on_verdict(issue, [], {}, TODAY)
    assert not resolution.xfail
    assert f"{tmp_path / 'photos.json'}: key cases/a.w8a8.photos/known_issue" in resolution.message
    assert "delete the entry (unexpected pass)" in resolution.message


def test_an_exception_issue_matches_type_and_message_and_nothing_else(tmp_path):
    issue = load(tmp_path, {"kind": "exception", "exception": {"type": "RuntimeError", "message": r"fold.*Conv_3"},
                            "reference": "quic/aimet#2", "reason": "BN fold crash"}).known_issue
    assert ki.on_exception(issue, RuntimeError("cannot fold BatchNorm into Conv_3"), TODAY).xfail
    assert ki.on_exception(issue, RuntimeError("out of memory"), TODAY) is None  # a new crash fails
    assert ki.on_exception(issue, ValueError("cannot fold into Conv_3"), TODAY) is None
    ran = ki.on_verdict(issue, [], {}, TODAY)
    assert not ran.xfail and "ran without raising RuntimeError" in ran.message


def test_a_structure_issue_holds_while_the_technique_is_unavailable(tmp_path):
    issue = load(tmp_path, {"kind": "structure", "techniques": ["bias_correction"], "reference": "r",
                            "reason": "no bias correction in aimet-onnx"}).known_issue
    unavailable = {"bias_correction": "aimet-onnx 2.42 ships no bias correction"}
    assert ki.on_verdict(issue, [], unavailable, TODAY).xfail
    assert ki.on_verdict(issue, ["psnr_y: regression"], unavailable, TODAY) is None  # metrics must still pass
    applied = ki.on_verdict(issue, [], {}, TODAY)
    assert not applied.xfail and "techniques ['bias_correction'] were applied" in applied.message


def test_an_expired_issue_fails_until_renewed(tmp_path):
    issue = load(tmp_path, {**METRIC_ISSUE, "expires": "2026-12-01"}).known_issue
    resolution = ki.on_verdict(issue, ["top1: regression"], {}, TODAY)
    assert not resolution.xfail and "expired on 2026-12-01" in resolution.message
    assert ki.on_verdict(issue, ["top1: regression"], {}, dt.date(2026, 11, 30)).xfail


@pytest.mark.parametrize("change, message", [
    ({"kind": "metric", "metrics": None}, "kind 'metric' needs 'metrics'"),
    ({"techniques": ["cle"]}, "['techniques'] do not apply to kind 'metric'"),
    ({"expires": "2026-13-40"}, "expires '2026-13-40' is not a date"),
    ({"kind": "exception", "metrics": None, "exception": {"type": "E", "message": "("}}, "not a regular expression"),
    ({"reference": None}, "'reference' is a required property"),
    ({"kind": "flaky"}, "'flaky' is not one of"),
])
def test_bad_known_issues_are_refused_naming_file_and_key(tmp_path, change, message):
    raw = copy.deepcopy(METRIC_ISSUE)
    raw.update(change)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(exp.ExpectedError) as error:
        load(tmp_path, raw)
    assert message in str(error.value) and "photos.json" in str(error.value)
