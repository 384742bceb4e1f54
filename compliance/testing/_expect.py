"""Expectations on a determination, checked the same way for case files and for Python assertions.

Semantics (documented in docs/policy-authoring.md):

- ``outcome``: the determination's outcome, exactly.
- ``findings``: each rule fired as a finding (not merely overridden). ``absent``: none of these did.
- ``suppressed``: each rule fired and was overridden by a declared ``overrides``.
- ``citations``: every finding of the rule cites each text (a citation containing it counts).
- ``review_policy``, ``confidence``: every finding of the rule has that value.
- ``exceptions``: every finding of the rule lists each of these licence exceptions.
- ``because_contains``: at least one finding of the rule renders a reason containing the text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from compliance.model import Determination, Finding, Outcome, ReviewPolicy

RuleId = str
Confidence = Literal["confirmed", "unconfirmed"]


class Expect(BaseModel):
    """What a case expects of its determination (every key optional, at least one required)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: Outcome | None = None
    findings: list[RuleId] = Field(default_factory=list)
    absent: list[RuleId] = Field(default_factory=list)
    suppressed: list[RuleId] = Field(default_factory=list)
    citations: dict[RuleId, list[str]] = Field(default_factory=dict)
    review_policy: dict[RuleId, ReviewPolicy] = Field(default_factory=dict)
    exceptions: dict[RuleId, list[str]] = Field(default_factory=dict)
    because_contains: dict[RuleId, str] = Field(default_factory=dict)
    confidence: dict[RuleId, Confidence] = Field(default_factory=dict)

    def is_empty(self) -> bool:
        return self.outcome is None and not any(
            (
                self.findings,
                self.absent,
                self.suppressed,
                self.citations,
                self.review_policy,
                self.exceptions,
                self.because_contains,
                self.confidence,
            )
        )

    def rule_ids(self) -> list[tuple[str, RuleId]]:
        """(expectation key, rule id) for every rule the expectations name."""
        out: list[tuple[str, RuleId]] = []
        for key in ("findings", "absent", "suppressed"):
            out.extend((key, r) for r in getattr(self, key))
        for key in ("citations", "review_policy", "exceptions", "because_contains", "confidence"):
            out.extend((key, r) for r in getattr(self, key))
        return out


@dataclass(frozen=True)
class Mismatch:
    """One expectation the determination does not meet."""

    key: str
    """The expectation key (``outcome``, ``findings``, ``citations``...)."""
    message: str
    rule_id: str | None = None


@dataclass
class Comparison:
    """Expected against actual, for one determination."""

    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _by_rule(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.rule_id, []).append(f)
    return out


def _absent_reason(rule_id: str, det: Determination) -> str:
    overridden = [f for f in det.suppressed if f.rule_id == rule_id]
    if overridden:
        by = overridden[0].notes[0] if overridden[0].notes else "a declared override"
        return f"{rule_id} did not fire as a finding: it fired but was {by}"
    return f"{rule_id} did not fire"


def compare(det: Determination, expect: Expect) -> Comparison:
    """Check every expectation; collect all mismatches rather than stopping at the first."""
    out = Comparison()
    add = out.mismatches.append
    fired = _by_rule(det.findings)
    overridden = _by_rule(det.suppressed)
    if expect.outcome is not None and det.outcome is not expect.outcome:
        extra = f" ({det.error})" if det.error else ""
        add(Mismatch("outcome", f"outcome: expected {expect.outcome.value}, got {det.outcome.value}{extra}"))
    for rid in expect.findings:
        if rid not in fired:
            add(Mismatch("findings", _absent_reason(rid, det), rid))
    for rid in expect.absent:
        if rid in fired:
            add(Mismatch("absent", f"{rid} fired but was expected absent: {fired[rid][0].because}", rid))
    for rid in expect.suppressed:
        if rid not in overridden:
            state = "fired and was not overridden" if rid in fired else "did not fire at all"
            add(Mismatch("suppressed", f"{rid} was expected to be overridden, but it {state}", rid))

    def findings_of(key: str, rid: str) -> list[Finding]:
        found = fired.get(rid, [])
        if not found:
            add(Mismatch(key, f"{key}: {_absent_reason(rid, det)}", rid))
        return found

    for rid, wanted in expect.citations.items():
        for f in findings_of("citations", rid):
            missing = [c for c in wanted if not any(c in actual for actual in f.citations)]
            if missing:
                add(
                    Mismatch(
                        "citations",
                        f"citations: {rid} does not cite {', '.join(map(repr, missing))} "
                        f"(it cites {'; '.join(f.citations)})",
                        rid,
                    )
                )
    for rid, policy in expect.review_policy.items():
        for f in findings_of("review_policy", rid):
            if f.review_policy is not policy:
                got = f.review_policy.value if f.review_policy else "none"
                add(Mismatch("review_policy", f"review_policy: {rid} expected {policy.value}, got {got}", rid))
    for rid, exceptions in expect.exceptions.items():
        for f in findings_of("exceptions", rid):
            lacking = [e for e in exceptions if e not in f.exceptions]
            if lacking:
                add(
                    Mismatch(
                        "exceptions",
                        f"exceptions: {rid} lacks {', '.join(lacking)} (it lists [{', '.join(f.exceptions)}])",
                        rid,
                    )
                )
    for rid, text in expect.because_contains.items():
        found = findings_of("because_contains", rid)
        if found and not any(text in f.because for f in found):
            reasons = " | ".join(f.because for f in found)
            add(Mismatch("because_contains", f"because_contains: no {rid} reason contains {text!r}: {reasons}", rid))
    for rid, confidence in expect.confidence.items():
        for f in findings_of("confidence", rid):
            if f.confidence != confidence:
                notes = f" ({'; '.join(f.notes)})" if f.notes else ""
                add(Mismatch("confidence", f"confidence: {rid} expected {confidence}, got {f.confidence}{notes}", rid))
    return out


def unknown_rules(expect: Expect, known: Iterable[str]) -> list[Mismatch]:
    """Rule ids the expectations name that the ruleset does not define (typos would otherwise pass)."""
    known_ids = sorted(set(known))
    out: list[Mismatch] = []
    for key, rid in expect.rule_ids():
        if rid in known_ids:
            continue
        close = difflib.get_close_matches(rid, known_ids, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(Mismatch(key, f"{key}: no rule {rid!r} in the ruleset{hint}", rid))
    return out


def findings_table(expect: Expect, det: Determination) -> list[str]:
    """Rule by rule, what was expected and what happened: the heart of a failure report.

    ``✓`` as expected, ``✗`` not as expected, blank for rules the case asserts nothing about.
    """
    fired = _by_rule(det.findings)
    overridden = _by_rule(det.suppressed)
    wants: dict[str, str] = {}
    for _, rid in expect.rule_ids():
        wants.setdefault(rid, "finding")
    wants.update({rid: "absent" for rid in expect.absent})
    wants.update({rid: "overridden" for rid in expect.suppressed})
    rows: list[tuple[str, str, str, str]] = []
    for rid in sorted(set(wants) | set(fired) | set(overridden)):
        want = wants.get(rid, "")
        if rid in fired:
            got = f"finding ({fired[rid][0].outcome.value})"
        elif rid in overridden:
            got = "overridden"
        else:
            got = "did not fire"
        if not want:
            mark = " "
        elif want == "absent":
            mark = "✓" if rid not in fired else "✗"
        elif want == "overridden":
            mark = "✓" if rid in overridden else "✗"
        else:
            mark = "✓" if rid in fired else "✗"
        rows.append((mark, rid, want or "-", got))
    if not rows:
        return []
    width = max(len("rule"), *(len(r[1]) for r in rows))
    lines = [f"      {'rule'.ljust(width)}  {'expected':10}  actual"]
    lines.extend(f"    {m} {rid.ljust(width)}  {want:10}  {got}" for m, rid, want, got in rows)
    return lines


def failure_report(
    title: str,
    expect: Expect,
    det: Determination,
    mismatches: Sequence[Mismatch],
    rationale: Sequence[str],
    why_not: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The text pytest prints for a failed case: mismatches, a findings table, the rationale, why-nots."""
    lines = [title, ""]
    lines.extend(f"  ✗ {m.message}" for m in mismatches)
    table = findings_table(expect, det)
    if table:
        lines += ["", "  findings (✓ as expected, ✗ not as expected):", *table]
    for rid, explanation in (why_not or {}).items():
        lines += ["", f"  why not {rid}:", *(f"    {line}" for line in explanation)]
    lines += ["", "  rationale:", *(f"    {line}" for line in rationale)]
    return "\n".join(lines)
