"""Rules without joins, answered from per-fact pattern results that the C core works out once per fact text.

A rule whose patterns carry no references (no join test) fires for every combination of distinct facts that
pass its patterns one by one, and whether a fact passes a pattern depends on that fact alone. So the C core
tests each distinct pattern on each fact, in a one-fact session on a small ruleset holding one single-pattern
rule per pattern (an `AlphaTest`), and each evaluation combines the answers (`combine`) as the C core's beta
network would: no per-transaction session at all when no rule joins facts.

The patterns of a fact type are grouped by the fields they read (a `Projection`), and a projection's answer
is kept by what it depends on (`answer_key`): the text of just those fields, or, for a field the patterns
only compare with numbers, the value's position among those numbers. A transaction fact is new in every
evaluation, but its destination groups, end use, flags and value band repeat across a batch, so nearly
every answer is found without calling the C core. Party and item facts, which enrichment shares between
transactions, also keep their answers in their memo.

A session allocates and clears about 8 KiB of index slots for every beta node of its ruleset (notes §4):
most of the C core's cost per evaluation, and the reason the Python around it then runs on cold CPU caches.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard

from compliance.conditions import (
    Compare,
    Condition,
    Exists,
    OneOf,
    Pattern,
    compile_pattern,
    has_references,
    leaves,
    referenced_fields,
)
from compliance.errors import RulesetError
from compliance.facts import Fact
from compliance.rulesets.loader import Rule

ALPHA_ALIAS = "m"
"""The alias of every alpha test's single pattern (not a reserved one: see backends._lint)."""


@dataclass(frozen=True)
class AlphaTest:
    """One distinct pattern, compiled as a one-pattern rule of its own (id ``alpha:<type>:<n>``)."""

    id: str
    condition: Condition
    source: Rule
    """A rule the pattern comes from: errors at compile time point at it."""

    def error(self, message: str) -> RulesetError:
        return self.source.error(message)


EXACT_NUMBERS = 2.0**53
"""Numbers of smaller magnitude compare the same in the C core (doubles) as in Python."""


@dataclass(frozen=True)
class Projection:
    """A fact type's alpha tests that read the same fields, answered together from those fields' values."""

    number: int
    fields: tuple[str, ...]
    """The fact fields the tests read, sorted."""
    tests: tuple[AlphaTest, ...]


def answer_key(
    cuts: Mapping[str, tuple[float, ...] | None], values: Mapping[str, Any], texts: Mapping[str, str]
) -> tuple[object, ...]:
    """What a fact's alpha answers depend on, per field its tests read (``cuts``, see `AlphaPlan.cuts`): the
    field's JSON text, or, for a field the tests only compare with numbers, its position among those
    numbers (so 1,200 and 5,000,000 share an answer when no test tells them apart); None if missing."""
    return tuple(
        texts.get(name) if field_cuts is None else position(values.get(name), field_cuts, texts.get(name))
        for name, field_cuts in cuts.items()
    )


def position(value: Any, cuts: tuple[float, ...], text: str | None) -> object:
    """Per cut, whether the value is below (-1), at (0) or above (1) it; the text for anything but a plain
    number (a missing field, a bool, a number too large to compare exactly as a double)."""
    if _plain_number(value):
        return tuple((value > cut) - (value < cut) for cut in cuts)
    return text


def _plain_number(value: object) -> TypeGuard[float]:
    """An int or float (not a bool) that the C core, comparing doubles, compares exactly as Python does."""
    return isinstance(value, int | float) and not isinstance(value, bool) and -EXACT_NUMBERS < value < EXACT_NUMBERS


def _cuts(tests: Sequence[AlphaTest], name: str) -> tuple[float, ...] | None:
    """The numbers the tests compare field ``name`` with, if they only compare it with numbers (eq, ne, lt,
    lte, gt, gte, in) or test that it exists; None otherwise."""
    cuts: set[float] = set()
    for test in tests:
        for pattern in test.condition.patterns:
            for leaf in leaves(pattern.test):
                if isinstance(leaf, Exists) or getattr(leaf, "field", None) != name:
                    continue
                if isinstance(leaf, Compare):
                    values: tuple[object, ...] = (leaf.value,)
                elif isinstance(leaf, OneOf):
                    values = leaf.values
                else:
                    return None
                for value in values:
                    if not _plain_number(value):
                        return None
                    cuts.add(value)
    return tuple(sorted(cuts))


class AlphaRule(NamedTuple):
    """A rule that fires from memoized pattern answers: per pattern, its alias and alpha test id (sorted by
    alias; a rule's aliases are distinct)."""

    rule_id: str
    patterns: tuple[tuple[str, str], ...]
    types: frozenset[str]
    tests: frozenset[str]
    """The alpha test ids of its patterns: the rule can fire only if some fact passes each."""


class AlphaPlan:
    """Which rules may fire from memoized answers, and the alpha tests (per fact type) they need."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: dict[str, AlphaRule] = {}
        self.tests: dict[str, list[AlphaTest]] = {}
        """Per fact type, its distinct patterns among those rules."""
        ids: dict[tuple[str, str], str] = {}
        for rule in rules:
            patterns = rule.condition.patterns
            if not patterns or any(has_references(p.test) for p in patterns):
                continue  # a join test compares two facts: it belongs to the C core's beta network
            pairs: list[tuple[str, str]] = []  # (alias, test id), sorted by alias below
            for p in patterns:
                body = json.dumps(next(iter(compile_pattern(p).values())), sort_keys=True)
                test_id = ids.get((p.fact_type, body))
                if test_id is None:
                    tests = self.tests.setdefault(p.fact_type, [])
                    test_id = f"alpha:{p.fact_type}:{len(tests)}"
                    ids[(p.fact_type, body)] = test_id
                    tests.append(AlphaTest(test_id, Condition((Pattern(ALPHA_ALIAS, p.fact_type, p.test),)), rule))
                pairs.append((p.alias, test_id))
            types = frozenset(p.fact_type for p in patterns)
            self.rules[rule.id] = AlphaRule(rule.id, tuple(sorted(pairs)), types, frozenset(t for _, t in pairs))
        by_fields: dict[tuple[str, tuple[str, ...]], list[AlphaTest]] = {}
        for fact_type, tests in self.tests.items():
            for test in tests:
                read = referenced_fields(test.condition).get(ALPHA_ALIAS, set())
                by_fields.setdefault((fact_type, tuple(sorted(read))), []).append(test)
        self.projections: dict[str, list[Projection]] = {}
        """Per fact type, its alpha tests grouped by the fields they read."""
        for number, ((fact_type, fields), tests) in enumerate(sorted(by_fields.items(), key=lambda kv: kv[0])):
            self.projections.setdefault(fact_type, []).append(Projection(number, fields, tuple(tests)))
        self.cuts: dict[str, dict[str, tuple[float, ...] | None]] = {}
        """Per fact type and field its tests read: the numbers they compare it with, when that is all they do
        with it (besides testing that it exists), else None. The tests then see only where a value falls
        among these numbers, not the value itself."""
        for fact_type, tests in self.tests.items():
            names = sorted({name for p in self.projections[fact_type] for name in p.fields})
            self.cuts[fact_type] = {name: _cuts(tests, name) for name in names}


def anchored(rules: Iterable[AlphaRule]) -> dict[str, tuple[AlphaRule, ...]]:
    """The rules under one of their tests each (the test fewest of them share), so that `combine` looks only
    at rules whose anchor some fact passed instead of at every rule."""
    rules = list(rules)
    sharing = Counter(test for rule in rules for test in rule.tests)
    out: dict[str, list[AlphaRule]] = {}
    for rule in rules:
        anchor = min(rule.tests, key=lambda test: (sharing[test], test))
        out.setdefault(anchor, []).append(rule)
    return {test: tuple(found) for test, found in out.items()}


def combine(
    anchors: Mapping[str, Sequence[AlphaRule]],
    types: frozenset[str],
    facts: Sequence[Fact],
    passed: Callable[[Fact], frozenset[str]],
) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """(rule id, bindings sorted by alias) for every combination of distinct facts passing each pattern of a
    rule; ``anchors`` are the rules by anchor test (`anchored`), ``types`` their fact types and ``passed``
    gives the alpha tests a fact passes. One fact never binds two patterns of one rule."""
    passing: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.type in types:
            for test_id in passed(fact):
                found = passing.get(test_id)
                if found is None:
                    passing[test_id] = [fact]
                else:
                    found.append(fact)
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    if not passing:
        return out
    met = passing.keys()
    for rule in [rule for anchor in met for rule in anchors.get(anchor, ())]:
        if not rule.tests <= met:
            continue
        rule_id = rule.rule_id
        patterns = rule.patterns  # sorted by alias: each combination's bindings come out sorted
        if len(patterns) == 1:
            alias, test_id = patterns[0]
            out.extend([(rule_id, ((alias, fact.key),)) for fact in passing[test_id]])
        elif len(patterns) == 2:
            (alias1, test1), (alias2, test2) = patterns
            seconds = [fact.key for fact in passing[test2]]
            for first in passing[test1]:
                key1 = first.key
                out.extend([(rule_id, ((alias1, key1), (alias2, key2))) for key2 in seconds if key2 != key1])
        else:
            aliases = [alias for alias, _ in patterns]
            for combo in itertools.product(*[passing[test_id] for _, test_id in patterns]):
                keys = [fact.key for fact in combo]
                if len(set(keys)) == len(keys):
                    out.append((rule_id, tuple(zip(aliases, keys, strict=True))))
    return out
