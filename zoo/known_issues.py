"""Typed known issues: an expected entry's ``known_issue`` says exactly which failure is known, so that it
cannot hide another one.

Kinds (``expected/<dataset>.json`` ``cases/<id>/known_issue``, or an overlay's ``overrides/<id>/known_issue``):

- ``metric``: the gates of the listed ``metrics`` are known to fail; a failure of any other gate still fails;
- ``exception``: the case raises ``exception.type`` with a message matching the regular expression
  ``exception.message``; any other exception still fails;
- ``structure``: the recipe's listed ``techniques`` cannot be applied by the installed AIMET (they appear in the
  row's ``techniques_unavailable``); the metric gates must still pass.

Each has a ``reference`` (an upstream issue or where the fact was checked), a ``reason`` and optionally
``expires`` (an ISO date after which the entry fails until it is re-checked). When the known failure no longer
happens, the case fails and says which entry to delete: an unexpected pass is news, not noise.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

KINDS = ("metric", "exception", "structure")

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "reference", "reason"],
    "properties": {
        "kind": {"enum": list(KINDS)},
        "reference": {"type": "string", "minLength": 1},
        "reason": {"type": "string", "minLength": 1},
        "expires": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        "metrics": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "exception": {"type": "object", "additionalProperties": False, "required": ["type", "message"],
                      "properties": {"type": {"type": "string", "minLength": 1}, "message": {"type": "string"}}},
        "techniques": {"type": "array", "minItems": 1, "items": {"type": "string"}},
    },
}
KIND_FIELD = {"metric": "metrics", "exception": "exception", "structure": "techniques"}


class KnownIssueError(ValueError):
    """A known_issue entry that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class KnownIssue:
    kind: str
    reference: str
    reason: str
    where: str  # "<file>: key cases/<id>/known_issue", for messages
    expires: dt.date | None = None
    metrics: tuple[str, ...] = ()
    exception_type: str = ""
    exception_message: str = ""
    techniques: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return f"known issue ({self.kind}, {self.reference}): {self.reason}"


@dataclass(frozen=True)
class Resolution:
    """What the known issue makes of the case: an expected failure, or a failure with its message."""

    xfail: bool
    message: str


def parse(raw: dict, where: str) -> KnownIssue:
    """``raw`` has passed SCHEMA; check what depends on the kind."""
    kind = raw["kind"]
    wanted = KIND_FIELD[kind]
    if wanted not in raw:
        raise KnownIssueError(f"{where}: kind {kind!r} needs {wanted!r} (see zoo/known_issues.py)")
    stray = sorted(set(KIND_FIELD.values()) - {wanted} & set(raw))
    if stray:
        raise KnownIssueError(f"{where}: {stray} do not apply to kind {kind!r}; remove them")
    expires = None
    if "expires" in raw:
        try:
            expires = dt.date.fromisoformat(raw["expires"])
        except ValueError:
            raise KnownIssueError(f"{where}: expires {raw['expires']!r} is not a date; write YYYY-MM-DD") from None
    exception = raw.get("exception") or {}
    if exception:
        try:
            re.compile(exception["message"])
        except re.error as e:
            raise KnownIssueError(f"{where}: exception.message is not a regular expression ({e})") from None
    return KnownIssue(kind, raw["reference"], raw["reason"], where, expires, tuple(raw.get("metrics", ())),
                      exception.get("type", ""), exception.get("message", ""), tuple(raw.get("techniques", ())))


def expired(issue: KnownIssue, today: dt.date) -> Resolution | None:
    if issue.expires is None or today <= issue.expires:
        return None
    return Resolution(False, f"{issue.where} expired on {issue.expires}: check {issue.reference} again, then "
                             f"renew 'expires' or delete the entry")


def no_longer_happens(issue: KnownIssue, what: str) -> Resolution:
    return Resolution(False, f"{issue.where}: {what}, so the known issue no longer reproduces ({issue.reference}); "
                             f"delete the entry (unexpected pass)")


def on_exception(issue: KnownIssue | None, error: BaseException, today: dt.date) -> Resolution | None:
    """An xfail where ``error`` is the known exception; None (let it fail) otherwise."""
    if issue is None or issue.kind != "exception":
        return None
    if (late := expired(issue, today)) is not None:
        return late
    if type(error).__name__ == issue.exception_type and re.search(issue.exception_message, str(error)):
        return Resolution(True, issue.summary)
    return None


def gate_subjects(failures: list[str]) -> set[str]:
    """The gate's failure messages start with what failed: '<metric>: ...' or 'sample count: ...'."""
    return {failure.split(":", 1)[0] for failure in failures}


def on_verdict(issue: KnownIssue | None, failures: list[str], unavailable: dict, today: dt.date) -> Resolution | None:
    """After the case ran: None where the known issue has nothing to say (the gate decides alone)."""
    if issue is None:
        return None
    if (late := expired(issue, today)) is not None:
        return late
    if issue.kind == "exception":
        return no_longer_happens(issue, f"the case ran without raising {issue.exception_type}")
    if issue.kind == "metric":
        known, failing = set(issue.metrics), gate_subjects(failures)
        if failing - known:
            return None  # another gate fails too: that failure is reported as it is
        if not failing:
            return no_longer_happens(issue, f"the gates of {sorted(known)} pass")
        return Resolution(True, f"{issue.summary}; failing as known: " + " | ".join(failures))
    missing = [t for t in issue.techniques if t not in unavailable]
    if missing:
        return no_longer_happens(issue, f"techniques {missing} were applied")
    return Resolution(True, issue.summary) if not failures else None
