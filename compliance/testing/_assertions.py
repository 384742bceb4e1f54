"""Assertion helpers: one line per expectation, and on failure the whole rationale, not just "False".

Each helper raises ``AssertionError`` whose message states the mismatch, then the determination's
rationale tree (``compliance.explain.rationale_lines``), so a failing test explains itself.
"""

from __future__ import annotations

from compliance.model import Determination, Finding, Outcome, ReviewPolicy
from compliance.testing._expect import Expect, Mismatch, compare


def _fail(det: Determination, mismatches: list[Mismatch]) -> None:
    __tracebackhide__ = True
    from compliance.explain import rationale_lines

    lines = [m.message for m in mismatches]
    lines += ["", "rationale:", *(f"  {line}" for line in rationale_lines(det))]
    raise AssertionError("\n".join(lines))


def _check(det: Determination, expect: Expect) -> None:
    __tracebackhide__ = True
    result = compare(det, expect)
    if not result.ok:
        _fail(det, result.mismatches)


def assert_outcome(det: Determination, outcome: Outcome | str) -> None:
    """The determination's outcome is exactly ``outcome``."""
    __tracebackhide__ = True
    _check(det, Expect(outcome=Outcome(outcome)))


def assert_fires(
    det: Determination,
    rule_id: str,
    *,
    review_policy: ReviewPolicy | str | None = None,
    exceptions: list[str] | None = None,
    because_contains: str | None = None,
    confidence: str | None = None,
) -> Finding:
    """The rule fired as a finding (not overridden), with the given properties; returns its first finding."""
    __tracebackhide__ = True
    expect = Expect.model_validate(
        {
            "findings": [rule_id],
            "review_policy": {rule_id: review_policy} if review_policy is not None else {},
            "exceptions": {rule_id: exceptions} if exceptions is not None else {},
            "because_contains": {rule_id: because_contains} if because_contains is not None else {},
            "confidence": {rule_id: confidence} if confidence is not None else {},
        }
    )
    result = compare(det, expect)
    if not result.ok:
        fired = any(f.rule_id == rule_id for f in det.findings)
        # When the rule did not fire, its properties add nothing: report the absence once.
        _fail(det, result.mismatches if fired else result.mismatches[:1])
    return next(f for f in det.findings if f.rule_id == rule_id)


def assert_not_fires(det: Determination, rule_id: str) -> None:
    """The rule produced no finding (an overridden finding does not count as firing)."""
    __tracebackhide__ = True
    _check(det, Expect(absent=[rule_id]))


def assert_overridden(det: Determination, rule_id: str, by: str | None = None) -> Finding:
    """The rule fired and a declared override suppressed it (by ``by``, if given)."""
    __tracebackhide__ = True
    _check(det, Expect(suppressed=[rule_id]))
    found = [f for f in det.suppressed if f.rule_id == rule_id]
    if by is not None and not any(n.startswith(f"overridden by {by} ") for f in found for n in f.notes):
        _fail(det, [Mismatch("suppressed", f"{rule_id} was overridden, but not by {by}: {found[0].notes[:1]}")])
    return found[0]


def assert_cites(det: Determination, rule_id: str, *citations: str) -> None:
    """Every finding of the rule cites each text (a citation containing the text counts)."""
    __tracebackhide__ = True
    _check(det, Expect(citations={rule_id: list(citations)}))
