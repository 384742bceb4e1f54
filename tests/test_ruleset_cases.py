"""Run every ``*.cases.yaml`` under ``rulesets/``: expected determinations for the shipped rulesets.

A stop-gap until the case-file pytest plugin exists; it reads the same format::

    ruleset: us-ear            # name or path (relative to the case file)
    overlays: []               # names or paths
    as_of: 2025-12-15          # default for the cases below (optional)
    cases:
      - name: ...
        transaction: ../../../fixtures/transactions/news/x.json   # relative to the case file, or inline
        as_of: 2025-12-15      # optional override
        expect: {outcome, findings, absent, suppressed, citations, review_policy, exceptions,
                 because_contains, confidence}

Semantics: ``findings``/``absent``/``suppressed`` name rule ids; ``citations``, ``review_policy``,
``exceptions`` and ``confidence`` must hold for every finding of that rule (and at least one must exist);
``because_contains`` must appear in at least one finding of that rule.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from compliance.engine import Engine
from compliance.model import Determination, Transaction

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
EXPECT_KEYS = {
    "outcome",
    "findings",
    "absent",
    "suppressed",
    "citations",
    "review_policy",
    "exceptions",
    "because_contains",
    "confidence",
}


def _case_files() -> list[Path]:
    return sorted(RULESETS.rglob("*.cases.yaml"))


def _ref(value: str, base: Path) -> str:
    """A ruleset/overlay reference: a name, or a path relative to the case file."""
    if "/" in value or value.endswith(".yaml"):
        return str((base / value).resolve())
    return value


def _cases() -> Iterator[Any]:
    for path in _case_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        ruleset = _ref(str(doc["ruleset"]), path.parent)
        overlays = tuple(_ref(str(o), path.parent) for o in doc.get("overlays") or [])
        for case in doc["cases"]:
            yield pytest.param(
                path,
                ruleset,
                overlays,
                case.get("as_of", doc.get("as_of")),
                case,
                id=f"{path.relative_to(RULESETS)}::{case['name']}",
            )


@cache
def _engine(ruleset: str, overlays: tuple[str, ...]) -> Engine:
    return Engine.load(ruleset, overlays)


def _transaction(case: dict[str, Any], base: Path) -> Transaction:
    raw = case["transaction"]
    if isinstance(raw, str):
        raw = json.loads((base / raw).read_text(encoding="utf-8"))
    return Transaction.model_validate(raw)


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _explain(det: Determination) -> str:
    lines = [f"outcome: {det.outcome.value} (as of {det.as_of}){' error: ' + det.error if det.error else ''}"]
    for f in det.findings:
        policy = f" [{f.review_policy.value}]" if f.review_policy else ""
        exc = f" exceptions={f.exceptions}" if f.exceptions else ""
        lines.append(f"  {f.rule_id}: {f.outcome.value}{policy}{exc} ({f.confidence}) — {f.because}")
    for f in det.suppressed:
        lines.append(f"  suppressed {f.rule_id}: {f.notes[0] if f.notes else ''}")
    return "\n".join(lines)


def test_case_files_exist() -> None:
    assert _case_files(), "no *.cases.yaml under rulesets/"


@pytest.mark.parametrize(("path", "ruleset", "overlays", "as_of", "case"), list(_cases()))
def test_case(path: Path, ruleset: str, overlays: tuple[str, ...], as_of: Any, case: dict[str, Any]) -> None:
    expect = case.get("expect") or {}
    unknown = set(expect) - EXPECT_KEYS
    assert not unknown, f"{path.name}::{case['name']}: unknown expectation keys {sorted(unknown)}"
    txn = _transaction(case, path.parent)
    det = _engine(ruleset, overlays).evaluate(txn, as_of=_as_date(as_of))
    shown = _explain(det)
    problems: list[str] = []
    by_rule: dict[str, list[Any]] = {}
    for f in det.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    suppressed = {f.rule_id for f in det.suppressed}

    if "outcome" in expect and det.outcome.value != expect["outcome"]:
        problems.append(f"outcome is {det.outcome.value}, expected {expect['outcome']}")
    for rid in expect.get("findings") or []:
        if rid not in by_rule:
            problems.append(f"{rid} did not fire")
    for rid in expect.get("absent") or []:
        if rid in by_rule:
            problems.append(f"{rid} fired but must not")
    for rid in expect.get("suppressed") or []:
        if rid not in suppressed:
            problems.append(f"{rid} is not among the overridden findings (suppressed: {sorted(suppressed)})")

    def each(key: str, check: Any) -> None:
        for rid, wanted in (expect.get(key) or {}).items():
            found = by_rule.get(rid)
            if not found:
                problems.append(f"{key}: {rid} did not fire")
                continue
            for f in found:
                message = check(f, wanted)
                if message:
                    problems.append(f"{key}: {rid}: {message}")

    def _citations(f: Any, w: list[str]) -> str | None:
        lacking = sorted(set(w) - set(f.citations))
        return f"citations {f.citations} lack {lacking}" if lacking else None

    def _policy(f: Any, w: str) -> str | None:
        got = f.review_policy.value if f.review_policy else None
        return None if got == w else f"review policy {got}, expected {w}"

    def _exceptions(f: Any, w: list[str]) -> str | None:
        lacking = sorted(set(w) - set(f.exceptions))
        return f"exceptions {f.exceptions} lack {lacking}" if lacking else None

    def _confidence(f: Any, w: str) -> str | None:
        return None if f.confidence == w else f"confidence {f.confidence}, expected {w}"

    each("citations", _citations)
    each("review_policy", _policy)
    each("exceptions", _exceptions)
    each("confidence", _confidence)
    for rid, text in (expect.get("because_contains") or {}).items():
        found = by_rule.get(rid)
        if not found:
            problems.append(f"because_contains: {rid} did not fire")
        elif not any(text in f.because for f in found):
            problems.append(f"because_contains: no {rid} finding says {text!r}")

    assert not problems, f"{path.name}::{case['name']}:\n  - " + "\n  - ".join(problems) + "\n" + shown
