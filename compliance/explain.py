"""Explanations: a determination as a readable rationale, and why a rule did not fire."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from compliance.conditions import (
    AllOf,
    AnyOf,
    Compare,
    Contains,
    Ref,
    Test,
    eval_test,
    failed_tests,
    leaves,
    render_condition,
    render_test,
)
from compliance.engine import Engine
from compliance.facts import FieldValue
from compliance.model import Determination, Finding, Transaction
from compliance.rulesets.loader import Ruleset


def rationale_lines(det: Determination) -> list[str]:
    """The determination as an indented tree of plain-text lines (what `compliance explain` prints)."""
    head = f"{det.transaction_id}: {det.outcome.value.upper()} as of {det.as_of}"
    overlays = f" + {', '.join(det.ruleset.overlays)}" if det.ruleset.overlays else ""
    lines = [head, f"  ruleset {det.ruleset.id} {det.ruleset.version}{overlays} (sha256 {det.ruleset.sha256[:12]})"]
    for ref in det.lists:
        lines.append(f"  list {ref.id} snapshot {ref.snapshot_date} (sha256 {ref.sha256[:12]})")
    if det.error:
        lines.append(f"  ERROR: {det.error}")
    if not det.findings and not det.error:
        lines.append("  no rule fired")
    for finding in det.findings:
        lines.extend(finding_lines(finding))
    for finding in det.suppressed:
        lines.append(f"  (overridden) {finding.rule_id}: {finding.notes[0] if finding.notes else ''}")
        lines.append(f"    would have found: {finding.outcome.value} because {finding.because}")
    for note in det.accepted_matches:
        lines.append(f"  (accepted match) {note}")
    return lines


def finding_lines(finding: Finding, indent: str = "  ") -> list[str]:
    policy = f" · {finding.review_policy.value}" if finding.review_policy else ""
    exceptions = f" · exceptions: {', '.join(finding.exceptions)}" if finding.exceptions else ""
    unconfirmed = " · UNCONFIRMED" if finding.confidence == "unconfirmed" else ""
    out = [
        f"{indent}{finding.outcome.value}{policy}{exceptions}{unconfirmed} — {finding.rule_id}: {finding.title}",
        f"{indent}  because {finding.because}",
        f"{indent}  cites {'; '.join(finding.citations)}",
    ]
    for fact in finding.facts:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in sorted(fact.fields.items()) if k != "id")
        out.append(f"{indent}  {fact.alias} = {fact.type} {fact.id}: {shown}")
        for prov in fact.provenance:
            ref = f" [{prov.reference}]" if prov.reference else ""
            flag = " (unconfirmed)" if prov.confidence == "unconfirmed" else ""
            out.append(f"{indent}    ← {prov.source}: {prov.detail}{ref}{flag}")
    for note in finding.notes:
        out.append(f"{indent}  note: {note}")
    return out


def _short(value: object) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


@dataclass
class PatternReport:
    alias: str
    fact_type: str
    matched: list[str] = field(default_factory=list)
    """Ids of facts that pass the pattern (its join tests aside)."""
    failures: dict[str, list[str]] = field(default_factory=dict)
    """Fact id → the tests it fails, with actual values."""
    joins: list[str] = field(default_factory=list)
    """The pattern's equality joins on other patterns (``item.x = party.y``), checked across patterns."""


@dataclass
class WhyNot:
    """Why a rule did or did not produce a finding for one transaction on one date."""

    rule_id: str
    fired: bool
    in_force: bool
    effective: str
    condition: str
    patterns: list[PatternReport]
    overridden_by: list[str]
    title: str = ""
    origin: str = ""
    citations: list[str] = field(default_factory=list)
    as_of: dt.date | None = None
    matched: bool = False
    """Some combination of facts satisfies every pattern and join (whether or not the rule is in force)."""
    overrides: list[str] = field(default_factory=list)
    """Rules this rule overrides, and those that declare they override it."""
    exceptions: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.fired:
            return "FIRED"
        if self.overridden_by:
            return "fired but was OVERRIDDEN"
        if self.matched and not self.in_force:
            return "did not fire: its conditions hold, but it is NOT IN FORCE on the as-of date"
        if not self.in_force:
            return "did not fire: NOT IN FORCE on the as-of date, and its conditions fail"
        return "did not fire: its conditions fail"

    def lines(self) -> list[str]:
        title = f" {self.title}" if self.title else ""
        out = [f"{self.rule_id}:{title} — {self.verdict}"]
        if self.origin:
            out.append(f"  defined at {self.origin}")
        if self.citations:
            out.append(f"  cites {'; '.join(self.citations)}")
        day = f" {self.as_of}" if self.as_of else ""
        out.append(f"  in force on{day}: {'yes' if self.in_force else 'NO'} (effective {self.effective})")
        out.append(f"  when {self.condition}")
        for p in self.patterns:
            if not p.matched and not p.failures:
                out.append(f"  ✗ {p.alias} ({p.fact_type}): no {p.fact_type} fact in this transaction")
            for fid in p.matched:
                out.append(f"  ✓ {p.alias} ({p.fact_type}) {fid}: all tests hold")
            for fid, fails in p.failures.items():
                for fail in fails:
                    out.append(f"  ✗ {p.alias} ({p.fact_type}) {fid}: {fail}")
        joins = [j for p in self.patterns for j in p.joins]
        if joins and all(p.matched for p in self.patterns) and not self.matched:
            out.append(f"  ✗ every pattern has a matching fact, but no combination satisfies {' and '.join(joins)}")
        for relation in self.overrides:
            out.append(f"  {relation}")
        for exception in self.exceptions:
            out.append(f"  {exception}")
        for other in self.overridden_by:
            out.append(f"  {other}")
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "origin": self.origin,
            "citations": self.citations,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "verdict": self.verdict,
            "fired": self.fired,
            "in_force": self.in_force,
            "effective": self.effective,
            "matched": self.matched,
            "condition": self.condition,
            "patterns": [
                {
                    "alias": p.alias,
                    "fact_type": p.fact_type,
                    "matched": p.matched,
                    "failures": p.failures,
                    "joins": p.joins,
                }
                for p in self.patterns
            ],
            "overridden_by": self.overridden_by,
            "overrides": self.overrides,
            "exceptions": self.exceptions,
        }


def _without_joins(test: Test) -> tuple[Test | None, list[Compare]]:
    """The test with its cross-pattern equality joins taken out (they are checked on combinations)."""
    if isinstance(test, Compare) and isinstance(test.value, Ref):
        return None, [test]
    if isinstance(test, AllOf | AnyOf):
        kept: list[Test] = []
        joins: list[Compare] = []
        for t in test.tests:
            k, j = _without_joins(t)
            joins.extend(j)
            if k is not None:
                kept.append(k)
        if not kept:
            return None, joins
        return (AllOf(tuple(kept)) if isinstance(test, AllOf) else AnyOf(tuple(kept))), joins
    return test, []


_GROUP_COUNTRY = {
    "destination_groups": ("destination",),
    "export_from_groups": ("export_from",),
    "country_groups": ("country",),
    "hq_groups": ("headquarters",),
    "parent_hq_groups": ("parent_headquarters",),
    "control_groups": ("headquarters", "parent_headquarters"),
    "lessee_country_groups": ("lessee_country",),
    "lessee_control_groups": ("lessee_headquarters",),
    "beneficiary_control_groups": ("beneficiary_headquarters",),
}


def _group_hints(test: Test, fields: Mapping[str, FieldValue], ruleset: Ruleset, day: dt.date) -> list[str]:
    """For a failed group test, the dated table rows that would have put the country in the group."""
    hints: list[str] = []
    for leaf in leaves(test):
        if not isinstance(leaf, Contains) or leaf.field not in _GROUP_COUNTRY or eval_test(leaf, fields, {}):
            continue
        for country_field in _GROUP_COUNTRY[leaf.field]:
            country = fields.get(country_field)
            for group in leaf.values:
                spec = ruleset.groups.get(group)
                for member in spec.members if spec is not None and isinstance(country, str) else ():
                    if member.country == country and not member.in_force(day):
                        period = " ".join(
                            part
                            for part in (
                                f"from {member.start}" if member.start else "",
                                f"to {member.end}" if member.end else "",
                            )
                            if part
                        )
                        hints.append(f"note: {country} is in {group} {period} ({member.source}), not on {day}")
    return hints


def why_not(engine: Engine, txn: Transaction, rule_id: str, as_of: dt.date | None = None) -> WhyNot:
    """Which condition of a rule failed, on which fact, with what value; or that it is not in force, or
    that a declared override suppressed it. Rules it overrides and rules overriding it are listed too."""
    ruleset = engine.ruleset
    if not ruleset.has_rule(rule_id):
        raise KeyError(f"no rule {rule_id!r} in {ruleset.label}")
    rule = ruleset.rule(rule_id)
    day = as_of or txn.date
    evidence, activations = engine.fire(txn, day)
    det = engine.evaluate(txn, day)
    reports: list[PatternReport] = []
    for pattern in rule.condition.patterns:
        local, joins = _without_joins(pattern.test)
        report = PatternReport(pattern.alias, pattern.fact_type)
        report.joins = [render_test(j, pattern.alias + ".") for j in joins]
        for fact in evidence.facts:
            if fact.type != pattern.fact_type:
                continue
            fid = str(fact.fields.get("id", fact.id))
            if local is None or eval_test(local, fact.fields, {}):
                report.matched.append(fid)
            else:
                fails = failed_tests(local, fact.fields, {})
                report.failures[fid] = fails + _group_hints(local, fact.fields, ruleset, day)
        reports.append(report)
    matched = any(a.rule_id == rule_id for a in activations)
    fired = any(f.rule_id == rule_id for f in det.findings)
    overridden = sorted({n for f in det.suppressed if f.rule_id == rule_id for n in f.notes[:1]})
    periods = ", ".join(p.render() for p in rule.spec.periods())
    relations: list[str] = []
    for target, qualifier in rule.overrides:
        when = f" where {render_condition(qualifier)}" if qualifier is not None else ""
        hit = "overrode it here" if any(f.rule_id == target for f in det.suppressed) else "did not apply here"
        relations.append(f"overrides {target}{when} ({hit})")
    for other in ruleset.rules:
        if any(target == rule_id for target, _ in other.overrides):
            state = "in force" if other.in_force(day) else "not in force"
            fired_other = any(f.rule_id == other.id for f in det.findings)
            relations.append(
                f"may be overridden by {other.id} ({state} on {day}, {'fired' if fired_other else 'did not fire'})"
            )
    exception_lines: list[str] = []
    granted = {e for f in det.findings if f.rule_id == rule_id for e in f.exceptions}
    for exc_id, qualifier in rule.exceptions:
        when = f" where {render_condition(qualifier)}" if qualifier is not None else ""
        status = ("applies" if exc_id in granted else "does not apply") if fired else "not assessed"
        exception_lines.append(f"licence exception {exc_id}{when}: {status}")
    return WhyNot(
        rule_id,
        fired,
        rule.in_force(day),
        periods,
        render_condition(rule.condition),
        reports,
        overridden,
        title=rule.spec.title,
        origin=rule.origin,
        citations=list(rule.spec.citations),
        as_of=day,
        matched=matched,
        overrides=relations,
        exceptions=exception_lines,
    )
