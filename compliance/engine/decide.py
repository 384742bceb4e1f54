"""From activations to findings: effective dates, declared overrides, exceptions, rendered reasons.

Order matters and is fixed: (1) drop activations of rules not in force on the as-of date; (2) apply
``overrides`` (an overriding finding suppresses the overridden rule's findings that bind the same facts,
Catala-style declared exceptions, never silent precedence); (3) qualify licence exceptions; (4) render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compliance.conditions import Condition, _show, eval_test
from compliance.engine.backends import Activation
from compliance.engine.enrich import to_provenance
from compliance.facts import Fact, ProvNote
from compliance.model import BoundFact, Finding, Provenance, ReviewPolicy
from compliance.rulesets.loader import Rule, Ruleset
from compliance.rulesets.schema import PolicyFromFact


@dataclass(frozen=True)
class Decision:
    findings: list[Finding]
    suppressed: list[Finding]


def decide(ruleset: Ruleset, activations: Sequence[Activation], facts: Mapping[str, Fact], as_of: dt.date) -> Decision:
    live = [a for a in activations if ruleset.has_rule(a.rule_id) and ruleset.rule(a.rule_id).in_force(as_of)]
    suppressed_by: dict[Activation, Activation] = {}
    for winner in live:
        rule = ruleset.rule(winner.rule_id)
        for target_id, qualifier in rule.overrides:
            for loser in live:
                if loser.rule_id != target_id or loser in suppressed_by:
                    continue
                if _same_facts(winner, loser) and _holds(qualifier, loser, facts):
                    suppressed_by[loser] = winner
    findings = [_finding(ruleset, a, facts, None, as_of) for a in live if a not in suppressed_by]
    suppressed = [_finding(ruleset, a, facts, suppressed_by[a], as_of) for a in live if a in suppressed_by]
    return Decision(sorted(findings, key=_order), sorted(suppressed, key=_order))


def _order(f: Finding) -> tuple[int, str, tuple[str, ...]]:
    return (-f.outcome.severity, f.rule_id, tuple(b.type + ":" + b.id for b in f.facts))


def _same_facts(winner: Activation, loser: Activation) -> bool:
    """Aliases both rules bind must bind the same facts; with no alias in common the override is global."""
    w, l_ = dict(winner.bindings), dict(loser.bindings)
    return all(w[a] == l_[a] for a in w.keys() & l_.keys())


def _bound(activation: Activation, facts: Mapping[str, Fact]) -> dict[str, Fact]:
    return {alias: facts[key] for alias, key in activation.bindings}


def _holds(qualifier: Condition | None, activation: Activation, facts: Mapping[str, Fact]) -> bool:
    if qualifier is None:
        return True
    bound = _bound(activation, facts)
    fields = {alias: f.fields for alias, f in bound.items()}
    for pattern in qualifier.patterns:
        fact = bound.get(pattern.alias)
        if fact is None or not eval_test(pattern.test, fact.fields, fields):
            return False
    return True


def _finding(
    ruleset: Ruleset, act: Activation, facts: Mapping[str, Fact], by: Activation | None, as_of: dt.date
) -> Finding:
    rule = ruleset.rule(act.rule_id)
    bound = _bound(act, facts)
    bound_facts = [_bind(alias, fact, rule) for alias, fact in sorted(bound.items())]
    notes: list[str] = []
    unconfirmed = rule.spec.confidence == "unconfirmed"
    if unconfirmed:
        notes.append(f"the rule's source is unconfirmed{': ' + rule.spec.note if rule.spec.note else ''}")
    period = rule.period_at(as_of)
    if period is not None and period.confidence == "unconfirmed":
        unconfirmed = True
        notes.append(f"in force {period.render()}, dates unconfirmed{': ' + period.note if period.note else ''}")
    for name in rule.parameters_used:
        param = ruleset.parameters[name]
        if param.confidence == "unconfirmed":
            unconfirmed = True
            notes.append(f"parameter {name} = {param.value:,.0f} is unconfirmed ({param.source})")
    for bf in bound_facts:
        for prov in bf.provenance:
            if prov.confidence == "unconfirmed":
                unconfirmed = True
                notes.append(f"{bf.alias}: {prov.detail}")
    exceptions = [eid for eid, cond in rule.exceptions if _holds(cond, act, facts)]
    policy = _policy(rule, bound)
    if by is not None:
        notes.insert(0, f"overridden by {by.rule_id} ({ruleset.rule(by.rule_id).spec.title})")
    return Finding(
        rule_id=rule.id,
        title=rule.spec.title,
        outcome=rule.spec.outcome,
        review_policy=policy,
        exceptions=exceptions,
        citations=list(rule.spec.citations),
        because=render_because(rule, bound, ruleset, policy, exceptions),
        facts=bound_facts,
        confidence="unconfirmed" if unconfirmed else "confirmed",
        notes=list(dict.fromkeys(notes)),
        ruleset=rule.defined_in,
    )


def _policy(rule: Rule, bound: Mapping[str, Fact]) -> ReviewPolicy | None:
    spec = rule.spec.review_policy
    if isinstance(spec, PolicyFromFact):
        alias, _, fname = spec.from_fact.partition(".")
        value = bound[alias].fields.get(fname)
        try:
            return ReviewPolicy(value) if isinstance(value, str) else spec.default
        except ValueError:
            return spec.default
    return spec


def _bind(alias: str, fact: Fact, rule: Rule) -> BoundFact:
    names = rule.reported.get(alias, ("id",))
    fields = {n: fact.fields[n] for n in names if n in fact.fields}
    provenance: list[Provenance] = []
    seen: set[int] = set()
    for n in names:
        notes: list[ProvNote] = list(fact.provenance.get(n, ()))
        groups = fact.group_provenance.get(n)
        if groups:
            tested = rule.tested_values.get((alias, n))
            notes.extend(p for g, p in sorted(groups.items()) if not tested or g in tested)
        for note in notes:
            prov = to_provenance(note)
            if id(prov) not in seen:
                seen.add(id(prov))
                provenance.append(prov)
    return BoundFact(
        alias=alias, type=fact.type, id=str(fact.fields.get("id", fact.id)), fields=fields, provenance=provenance
    )


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "(not given)"


def render_because(
    rule: Rule, bound: Mapping[str, Fact], ruleset: Ruleset, policy: ReviewPolicy | None, exceptions: list[str]
) -> str:
    out: list[str] = []
    for literal, name in rule.because_parts:
        out.append(literal)
        if name is None:
            continue
        alias, _, fname = name.partition(".")
        if alias == "param":
            out.append(_show(ruleset.parameters[fname].value))
        elif alias == "rule":
            extra = {
                "id": rule.id,
                "title": rule.spec.title,
                "review_policy": policy.value.replace("_", " ") if policy else "n/a",
                "exceptions": ", ".join(exceptions) or "none",
            }
            out.append(extra[fname])
        else:
            fact = bound.get(alias)
            value = fact.fields.get(fname) if fact is not None else None
            out.append("(not given)" if value is None else _show(value))
    return "".join(out)
