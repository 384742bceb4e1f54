"""Explanations: a determination as a readable rationale, and why a rule did not fire."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from compliance.conditions import eval_test, failed_tests, render_condition
from compliance.engine import Engine
from compliance.model import Determination, Finding, Transaction


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
    """Ids of facts that pass the pattern."""
    failures: dict[str, list[str]] = field(default_factory=dict)
    """Fact id → the tests it fails, with actual values."""


@dataclass
class WhyNot:
    rule_id: str
    fired: bool
    in_force: bool
    effective: str
    condition: str
    patterns: list[PatternReport]
    overridden_by: list[str]

    def lines(self) -> list[str]:
        out = [f"{self.rule_id}: {'FIRED' if self.fired else 'did not fire'}"]
        out.append(f"  in force on the as-of date: {'yes' if self.in_force else 'no'} (effective {self.effective})")
        out.append(f"  when {self.condition}")
        for p in self.patterns:
            if not p.matched and not p.failures:
                out.append(f"  {p.alias} ({p.fact_type}): no {p.fact_type} fact in this transaction")
            for fid in p.matched:
                out.append(f"  {p.alias} ({p.fact_type}) {fid}: all tests hold")
            for fid, fails in p.failures.items():
                for fail in fails:
                    out.append(f"  {p.alias} ({p.fact_type}) {fid}: {fail}")
        for other in self.overridden_by:
            out.append(f"  overridden by {other}")
        return out


def why_not(engine: Engine, txn: Transaction, rule_id: str, as_of: dt.date | None = None) -> WhyNot:
    """Which condition of a rule failed, on which fact, with what value (or that it is not in force)."""
    ruleset = engine.ruleset
    if not ruleset.has_rule(rule_id):
        raise KeyError(f"no rule {rule_id!r} in {ruleset.label}")
    rule = ruleset.rule(rule_id)
    day = as_of or txn.date
    evidence, activations = engine.fire(txn, day)
    det = engine.evaluate(txn, day)
    reports: list[PatternReport] = []
    for pattern in rule.condition.patterns:
        report = PatternReport(pattern.alias, pattern.fact_type)
        for fact in evidence.facts:
            if fact.type != pattern.fact_type:
                continue
            fid = str(fact.fields.get("id", fact.id))
            if eval_test(pattern.test, fact.fields, {}):
                report.matched.append(fid)
            else:
                report.failures[fid] = failed_tests(pattern.test, fact.fields, {})
        reports.append(report)
    fired = any(f.rule_id == rule_id for f in det.findings)
    overridden = sorted({n for f in det.suppressed if f.rule_id == rule_id for n in f.notes[:1]})
    periods = ", ".join(p.render() for p in rule.spec.periods())
    return WhyNot(rule_id, fired, rule.in_force(day), periods, render_condition(rule.condition), reports, overridden)
