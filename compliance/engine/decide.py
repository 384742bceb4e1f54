"""From activations to findings: effective dates, declared overrides, exceptions, rendered reasons.

Order matters and is fixed: (1) drop activations of rules not in force on the as-of date; (2) apply
``overrides`` (an overriding finding suppresses the overridden rule's findings that bind the same facts,
Catala-style declared exceptions, never silent precedence); (3) qualify licence exceptions; (4) render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from compliance.conditions import Condition, _show, eval_test, referenced_fields
from compliance.copying import constructed, replaced
from compliance.engine.backends import Activation
from compliance.engine.enrich import to_provenance
from compliance.facts import SHARED, Fact, ProvNote
from compliance.memo import BoundedCache
from compliance.model import BoundFact, Finding, Provenance, ReviewPolicy
from compliance.rulesets.loader import Rule, Ruleset
from compliance.rulesets.schema import Period, PolicyFromFact

FINDING_CACHE_SIZE = 16_384
PLAN_CACHE_SIZE = 4096

_FindingCache = BoundedCache[tuple[Rule, Period | None, tuple[Fact, ...], Finding]]


@dataclass(frozen=True)
class Decision:
    findings: list[Finding]
    suppressed: list[Finding]


class DecisionCaches:
    """What `decide` keeps between transactions, for one loaded ruleset and its enrichment (an `Engine` holds
    one per load). The entries hold rules and enrichment's shared facts, and a fact's memo holds what the
    backend derived from it; kept per load, they go when the load goes, instead of keeping a dropped or
    reloaded engine's objects alive in a process-wide cache."""

    def __init__(self, size: int = FINDING_CACHE_SIZE) -> None:
        self.findings: _FindingCache = BoundedCache(size)
        """Findings whose bound facts are all shared between transactions (see `_finding`)."""
        self.by_content: _FindingCache = BoundedCache(size)
        """Findings that bind the transaction's own fact, keyed by what they read of it (`_transaction_finding`)."""
        self.plans: BoundedCache[_Plan] = BoundedCache(PLAN_CACHE_SIZE)
        """What a rule's findings are made from, by rule (`_plan`)."""


def decide(
    ruleset: Ruleset,
    activations: Sequence[Activation],
    facts: Mapping[str, Fact],
    as_of: dt.date,
    caches: DecisionCaches,
) -> Decision:
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
    findings = [_finding(ruleset, a, facts, None, as_of, caches) for a in live if a not in suppressed_by]
    suppressed = [_finding(ruleset, a, facts, suppressed_by[a], as_of, caches) for a in live if a in suppressed_by]
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


@dataclass(frozen=True)
class _Plan:
    """What a rule's findings share, worked out once per rule: notes that do not depend on the facts, and the
    `because` template with its parameters already rendered."""

    rule: Rule
    notes: tuple[str, ...]
    unconfirmed: bool
    because: tuple[tuple[str, str, str, str], ...]
    """(literal, kind, alias, text): kind "" (literal only), "text" (rendered already), "rule" or "fact"."""
    reads: Mapping[str, tuple[str, ...]]
    """Per alias, every field but ``id`` a finding can depend on: the fields it reports (tested or named in
    ``because``), the fields its exceptions test and the field its review policy comes from."""
    reads_id: frozenset[str]
    """Aliases whose ``id`` the finding uses beyond reporting it (a test, ``because``, an exception)."""


def _plan(rule: Rule, ruleset: Ruleset, plans: BoundedCache[_Plan]) -> _Plan:
    plan = plans.get(id(rule))  # the plan holds its rule, so the id is not reused while the entry lives
    if plan is not None and plan.rule is rule:
        return plan
    notes: list[str] = []
    unconfirmed = rule.spec.confidence == "unconfirmed"
    if unconfirmed:
        notes.append(f"the rule's source is unconfirmed{': ' + rule.spec.note if rule.spec.note else ''}")
    for pname in rule.parameters_used:
        param = ruleset.parameters[pname]
        if param.confidence == "unconfirmed":
            unconfirmed = True
            notes.append(f"parameter {pname} = {param.value:,.0f} is unconfirmed ({param.source})")
    because: list[tuple[str, str, str, str]] = []
    for literal, name in rule.because_parts:
        if name is None:
            because.append((literal, "", "", ""))
            continue
        alias, _, fname = name.partition(".")
        if alias == "param":
            because.append((literal, "text", "", _show(ruleset.parameters[fname].value)))
        elif alias == "rule" and fname in ("id", "title"):
            because.append((literal, "text", "", rule.id if fname == "id" else rule.spec.title))
        else:
            because.append((literal, "rule" if alias == "rule" else "fact", alias, fname))
    reads: dict[str, set[str]] = {alias: set(names) for alias, names in rule.reported.items()}
    used_id = {alias for alias, names in rule.referenced.items() if "id" in names}
    used_id.update(alias for _, kind, alias, text in because if kind == "fact" and text == "id")
    for _, cond in rule.exceptions:
        for alias, names in referenced_fields(cond).items() if cond is not None else ():
            reads.setdefault(alias, set()).update(names)
            if "id" in names:
                used_id.add(alias)
    if isinstance(rule.spec.review_policy, PolicyFromFact):
        alias, _, fname = rule.spec.review_policy.from_fact.partition(".")
        reads.setdefault(alias, set()).add(fname)
        if fname == "id":
            used_id.add(alias)
    plan = _Plan(
        rule,
        tuple(notes),
        unconfirmed,
        tuple(because),
        {alias: tuple(sorted(names - {"id"})) for alias, names in reads.items()},
        frozenset(used_id),
    )
    plans.put(id(rule), plan)
    return plan


def _finding(
    ruleset: Ruleset,
    act: Activation,
    facts: Mapping[str, Fact],
    by: Activation | None,
    as_of: dt.date,
    caches: DecisionCaches,
) -> Finding:
    rule = ruleset.rule(act.rule_id)
    bound = _bound(act, facts)
    period = rule.period_at(as_of)
    # A finding depends only on the rule, its bound facts, the rule's period and what overrode it. When every
    # bound fact is one enrichment shares between transactions, the finding is kept in a bounded cache; the
    # entry holds the rule, period and facts it was made from, so the ids in its key cannot be reused.
    ordered = sorted(bound.items())
    shared = bool(ordered) and all(f.memo.get(SHARED) for _, f in ordered)
    if not shared:
        plan = _plan(rule, ruleset, caches.plans)
        return _transaction_finding(
            caches.by_content,
            plan,
            ordered,
            by,
            period,
            lambda: _make_finding(ruleset, plan, act, bound, ordered, facts, by, period),
        )
    held = tuple(f for _, f in ordered)
    key = (id(rule), tuple(id(f) for f in held), id(period), by.rule_id if by else None)
    finding = _cached(caches.findings, key, rule, period, held)
    if finding is None:
        plan = _plan(rule, ruleset, caches.plans)
        finding = _make_finding(ruleset, plan, act, bound, ordered, facts, by, period)
        caches.findings.put(key, (rule, period, held, finding))
    return finding


def _cached(
    cache: _FindingCache, key: tuple[object, ...], rule: Rule, period: Period | None, held: tuple[Fact, ...]
) -> Finding | None:
    """The finding kept under ``key``, if the entry was made from these very rule, period and facts (it holds
    them, so the ids in its key are never reused while it lives)."""
    entry = cache.get(key)
    if entry is None or entry[0] is not rule or entry[1] is not period:
        return None
    if len(entry[2]) != len(held) or any(a is not b for a, b in zip(entry[2], held, strict=False)):
        return None
    return entry[3]


def _transaction_finding(
    by_content: _FindingCache,
    plan: _Plan,
    ordered: Sequence[tuple[str, Fact]],
    by: Activation | None,
    period: Period | None,
    make: Callable[[], Finding],
) -> Finding:
    """A finding that binds the transaction's own fact (new for every transaction) beside shared facts.

    Most findings bind the transaction fact (destination groups, value, flags) and read a few of its fields.
    Two transactions whose facts agree on those fields and their provenance get the same finding but for the
    transaction fact's id, so the finding is kept by that content and handed out with the id replaced.
    Anything else (a screening hit, a rule that uses the transaction id itself) is built afresh.
    """
    own = [(alias, fact) for alias, fact in ordered if not fact.memo.get(SHARED)]
    if len(own) != 1 or own[0][1].type != "transaction" or own[0][0] in plan.reads_id:
        return make()
    alias, fact = own[0]
    content = _content(fact, plan.reads.get(alias, ()))
    if content is None:
        return make()
    rule = plan.rule
    others = tuple(f for a, f in ordered if a != alias)
    key = (id(rule), id(period), by.rule_id if by else None, alias, tuple(id(f) for f in others), content)
    cached = _cached(by_content, key, rule, period, others)
    if cached is not None:
        return _retarget(cached, alias, str(fact.fields.get("id", fact.id)))
    finding = make()
    by_content.put(key, (rule, period, others, finding))
    return finding


def _content(fact: Fact, names: Sequence[str]) -> tuple[object, ...] | None:
    """The named fields of a fact with their provenance, hashable; None when a part cannot be hashed."""
    parts: list[object] = []
    for name in names:
        value = fact.fields.get(name)
        groups = fact.group_provenance.get(name)
        parts.append(
            (
                tuple(value) if isinstance(value, list) else value,
                tuple(fact.provenance.get(name, ())),
                tuple(groups.items()) if groups else (),
            )
        )
    content = tuple(parts)
    try:
        hash(content)
    except TypeError:  # a Provenance object (its data is a dict): build the finding afresh
        return None
    return content


def _retarget(finding: Finding, alias: str, fact_id: str) -> Finding:
    """The finding with the fact bound under ``alias`` given another id (nothing else differs)."""
    facts = []
    for bound in finding.facts:
        if bound.alias != alias:
            facts.append(bound)
            continue
        fields = bound.fields
        if "id" in fields:
            fields = {**fields, "id": fact_id}
        facts.append(replaced(bound, {"id": fact_id, "fields": fields}))
    return replaced(finding, {"facts": facts})


def _make_finding(
    ruleset: Ruleset,
    plan: _Plan,
    act: Activation,
    bound: Mapping[str, Fact],
    ordered: Sequence[tuple[str, Fact]],
    facts: Mapping[str, Fact],
    by: Activation | None,
    period: Period | None,
) -> Finding:
    rule = plan.rule
    bound_facts: list[BoundFact] = []
    notes = list(plan.notes)
    unconfirmed = plan.unconfirmed
    if period is not None and period.confidence == "unconfirmed":
        unconfirmed = True
        notes.append(f"in force {period.render()}, dates unconfirmed{': ' + period.note if period.note else ''}")
    for alias, fact in ordered:
        bf, fact_notes = _bind(alias, fact, rule)
        bound_facts.append(bf)
        if fact_notes:
            unconfirmed = True
            notes.extend(fact_notes)
    exceptions = [eid for eid, cond in rule.exceptions if _holds(cond, act, facts)]
    policy = _policy(rule, bound)
    if by is not None:
        notes.insert(0, f"overridden by {by.rule_id} ({ruleset.rule(by.rule_id).spec.title})")
    return constructed(
        Finding,
        {
            "rule_id": rule.id,
            "title": rule.spec.title,
            "outcome": rule.spec.outcome,
            "review_policy": policy,
            "exceptions": exceptions,
            "citations": list(rule.spec.citations),
            "because": _render(plan, bound, policy, exceptions),
            "facts": bound_facts,
            "confidence": "unconfirmed" if unconfirmed else "confirmed",
            "notes": list(dict.fromkeys(notes)),
            "ruleset": rule.defined_in,
        },
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


def _bind(alias: str, fact: Fact, rule: Rule) -> tuple[BoundFact, tuple[str, ...]]:
    """The fact as the rule reports it (the fields it names, with their provenance) and the notes its
    unconfirmed provenance adds; kept in the fact's memo, as both depend only on the fact and the rule
    (BoundFact is frozen, so findings can share it)."""
    return fact.memoized(f"bound:{alias}", rule, lambda: _make_bound(alias, fact, rule))


def _make_bound(alias: str, fact: Fact, rule: Rule) -> tuple[BoundFact, tuple[str, ...]]:
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
    bound = constructed(
        BoundFact,
        {
            "alias": alias,
            "type": fact.type,
            "id": str(fact.fields.get("id", fact.id)),
            "fields": fields,
            "provenance": provenance,
        },
    )
    return bound, tuple(f"{alias}: {p.detail}" for p in provenance if p.confidence == "unconfirmed")


def _render(plan: _Plan, bound: Mapping[str, Fact], policy: ReviewPolicy | None, exceptions: list[str]) -> str:
    out: list[str] = []
    for literal, kind, alias, text in plan.because:
        out.append(literal)
        if kind == "text":
            out.append(text)
        elif kind == "fact":
            fact = bound.get(alias)
            value = fact.fields.get(text) if fact is not None else None
            out.append("(not given)" if value is None else _show(value))
        elif kind == "rule":
            if text == "review_policy":
                out.append(policy.value.replace("_", " ") if policy else "n/a")
            else:
                out.append(", ".join(exceptions) or "none")
    return "".join(out)
