"""Differential test: durable_rules and the pure-Python reference fire exactly the same activations.

Random rules (every operator of the condition language, negations, alternatives, joins of up to three
patterns including two of one fact type, equality references) meet random facts (missing fields, lists,
floats that json would print with exponents). Both backends must return identical (rule, bindings) sets.

Rules without joins are answered from per-fact pattern results (compliance.engine.alpha), kept in the fact's
memo and by the text of the fields each group of patterns reads; rules with joins run in a session. Some
facts are marked shared, as enrichment's cached party and item facts are, and a shared fact with the same
content is the same object in every transaction of an example, so memoized answers are reused too.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from compliance.conditions import Condition, ConditionError, compile_pattern, parse_condition
from compliance.engine.backends import (
    MAX_GROUPS_PER_PATTERN,
    DurableBackend,
    ReferenceBackend,
    groups,
    logic_under_list_test,
)
from compliance.facts import SHARED, Fact, clean_fields
from compliance.rulesets.loader import Ruleset, load_ruleset

EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "500"))
FACT_SETS_PER_EXAMPLE = 10  # EXAMPLES x FACT_SETS_PER_EXAMPLE transactions: 5,000 by default

# A small vocabulary per fact type so that random tests and random facts actually meet.
FIELDS: dict[str, dict[str, str]] = {
    "party": {
        "id": "text",
        "country": "text",
        "roles": "list",
        "receiving": "bool",
        "age_days": "number",
        "control_groups": "list",
    },
    "item": {"id": "text", "eccn": "text", "tpp": "number", "advanced": "bool", "dram_bandwidth_gbs": "number"},
    "transaction": {
        "id": "text",
        "destination": "text",
        "as_of": "date",
        "value_usd": "number",
        "destination_groups": "list",
    },
    "lease": {"id": "text", "lessee_id": "text", "share": "number", "advanced": "bool"},
}
TEXT = ["CN", "US", "JP", "p1", "p2", "3A090.a"]
NUMBERS: list[Any] = [0, 1, 2.5, 4800, 4799.5, 1e-05, 2.5e-07, 1e16, 21000]
DATES = ["2023-11-16", "2023-11-17", "2026-01-15"]
LIST_VALUES = ["D:5", "Macau", "purchaser", "end_user", "A:5"]


def _value(kind: str) -> st.SearchStrategy[Any]:
    return {
        "text": st.sampled_from(TEXT),
        "number": st.sampled_from(NUMBERS),
        "bool": st.booleans(),
        "date": st.sampled_from(DATES),
        "list": st.lists(st.sampled_from(LIST_VALUES), max_size=3, unique=True),
    }[kind]


@st.composite
def field_test(draw: st.DrawFn, fact_type: str) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(FIELDS[fact_type])))
    kind = FIELDS[fact_type][name]
    if kind == "list":
        op = draw(st.sampled_from(["any", "all", "none", "exists"]))
        if op == "exists":
            return name, {"exists": draw(st.booleans())}
        return name, {op: draw(st.lists(st.sampled_from(LIST_VALUES), min_size=1, max_size=3, unique=True))}
    ops = ["eq", "ne", "in", "exists", "not_eq", "not_in"]
    if kind in ("number", "date"):
        ops += ["lt", "lte", "gt", "gte", "not_lt"]
    op = draw(st.sampled_from(ops))
    value = draw(_value(kind))
    if op == "exists":
        return name, {"exists": draw(st.booleans())}
    if op == "in":
        return name, {"in": draw(st.lists(_value(kind), min_size=1, max_size=3))}
    if op.startswith("not_"):
        inner = op[4:]
        arg = draw(st.lists(_value(kind), min_size=1, max_size=3)) if inner == "in" else value
        return name, {"not": {inner: arg}}
    return name, {op: value}


@st.composite
def pattern_body(draw: st.DrawFn, fact_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 3))):
        name, test = draw(field_test(fact_type))
        body.setdefault(name, test)
    if draw(st.integers(0, 4)) == 0:
        alternatives = [dict([draw(field_test(fact_type))]) for _ in range(draw(st.integers(2, 3)))]
        body["any_of"] = alternatives
    if draw(st.integers(0, 6)) == 0:
        body["not"] = dict([draw(field_test(fact_type))])
    return body


@dataclass(frozen=True)
class _Rule:
    """What the backends need of a rule: an id, a condition and an origin for error messages."""

    id: str
    condition: Condition
    origin: str = "generated:1"


@st.composite
def rule(draw: st.DrawFn, index: int) -> _Rule:
    types = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3))
    when: dict[str, Any] = {}
    for i, fact_type in enumerate(types):
        alias = f"{fact_type}{i}"
        body = draw(pattern_body(fact_type))
        if fact_type == "party" and "lease0" in when and draw(st.booleans()):
            body["id"] = {"eq": {"ref": "lease0.lessee_id"}}  # an equality join (safe in durable_rules)
        when[alias] = {"fact": fact_type, **body}
    try:
        condition = parse_condition(when)
    except ConditionError as exc:  # joins beside alternatives are refused (durable ignores the join there)
        assert "plain comparisons" in str(exc)
        for body in when.values():
            if isinstance(body.get("id"), dict) and "ref" in str(body["id"]):
                body["id"] = {"exists": True}  # keep the pattern non-empty (the join was its only test)
        condition = parse_condition(when)
    # A pattern past the C core's and/or group limit is refused at load (tested on its own below).
    assume(all(groups(compile_pattern(p)) <= MAX_GROUPS_PER_PATTERN for p in condition.patterns))
    return _Rule(f"R{index}", condition)


@st.composite
def fact_set(draw: st.DrawFn) -> list[Fact]:
    facts: list[Fact] = []
    for fact_type, fields in FIELDS.items():
        for n in range(draw(st.integers(0, 3))):
            values: dict[str, Any] = {}
            for name, kind in fields.items():
                if name == "id":
                    values["id"] = f"p{n + 1}" if fact_type == "party" else f"{fact_type[0]}{n + 1}"
                elif draw(st.integers(0, 3)):  # a quarter of fields missing
                    values[name] = draw(_value(kind))
            fact = Fact(fact_type, values["id"], clean_fields(values))
            if draw(st.integers(0, 2)):  # two thirds shared, as enrichment's party and item facts are
                fact.memo[SHARED] = True
            facts.append(fact)
    return facts


def _pooled(facts: list[Fact], pool: dict[str, Fact]) -> list[Fact]:
    """Shared facts with equal content become one object across an example's transactions (as a fact cache
    hands them out), so memoized pattern results are reused, not only computed."""
    out = []
    for fact in facts:
        shared = fact.memo.get(SHARED)
        out.append(pool.setdefault(f"{fact.key}|{sorted(fact.fields.items())}", fact) if shared else fact)
    return out


_counter = iter(range(10**9))
ROOT = Path(__file__).resolve().parents[1]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # the failure message prints the whole case
)
@given(
    rules=st.integers(1, 8).flatmap(lambda n: st.tuples(*[rule(i) for i in range(n)])),
    transactions=st.lists(fact_set(), min_size=FACT_SETS_PER_EXAMPLE, max_size=FACT_SETS_PER_EXAMPLE),
)
def test_durable_and_reference_fire_the_same_rules(rules: tuple[_Rule, ...], transactions: list[list[Fact]]) -> None:
    durable = DurableBackend(rules, f"diff{next(_counter)}")  # type: ignore[arg-type]
    reference = ReferenceBackend(rules)  # type: ignore[arg-type]
    pool: dict[str, Fact] = {}
    for drawn in transactions:
        facts = _pooled(drawn, pool)
        expected = reference.fire(facts)
        actual = durable.fire(facts)
        assert actual == expected, _describe(rules, facts, expected, actual)


def _describe(rules: Any, facts: list[Fact], expected: Any, actual: Any) -> str:
    from compliance.conditions import render_condition

    lines = ["backends disagree"]
    lines += [f"  {r.id}: {render_condition(r.condition)}" for r in rules]
    lines += [f"  fact {f.key}: {f.fields}" for f in facts]
    lines += [f"  reference: {expected}", f"  durable:   {actual}"]
    return "\n".join(lines)


def test_transaction_matching_nothing_does_not_crash() -> None:
    """Finding 1: deleting a session in which no action ran segfaults; the end sentinel prevents it."""
    cond = parse_condition({"item": {"tpp": {"gte": 4800}}})
    backend = DurableBackend([_Rule("R1", cond)], "nothing")  # type: ignore[list-item]
    for _ in range(50):  # several fresh sessions in a row, each matching nothing
        assert backend.fire([Fact("party", "p1", {"id": "p1", "country": "US"})]) == []
        assert backend.fire([]) == []


def test_float_exponents_reach_the_engine_intact() -> None:
    """Finding 4: `1e-05` is rejected by the C parser and silently truncates a batch; we normalise it."""
    cond = parse_condition({"item": {"tpp": {"lt": 0.001}}})
    backend = DurableBackend([_Rule("SMALL", cond)], "floats")  # type: ignore[list-item]
    facts = [Fact("item", f"i{n}", {"id": f"i{n}", "tpp": v}) for n, v in enumerate([1e-05, 1e16, 2.5e-07, 0.5])]
    fired = backend.fire(facts)
    assert [a.bindings for a in fired] == [(("item", "item:i0"),), (("item", "item:i2"),)]


def test_join_beside_alternatives_is_rejected_at_load() -> None:
    """Measured here: durable_rules ignores an equality join in a pattern that also has an `$or` or a list
    test; the language refuses both."""
    with pytest.raises(ConditionError, match="plain comparisons"):
        parse_condition(
            {
                "lease": {"advanced": True},
                "party": {"id": {"eq": {"ref": "lease.lessee_id"}}, "roles": {"all": ["lessee"]}},
            }
        )
    with pytest.raises(ConditionError, match="plain comparisons"):
        parse_condition(
            {
                "lease": {"advanced": True},
                "party": {"id": {"eq": {"ref": "lease.lessee_id"}}, "country": {"in": ["CN", "MO"]}},
            }
        )


def test_cross_fact_inequality_is_rejected_at_load() -> None:
    """Finding 2: a non-equality reference inside $and/$or reads out of bounds; the language refuses it."""
    from compliance.conditions import ConditionError

    with pytest.raises(ConditionError, match="only equality may reference another fact"):
        parse_condition({"item": {"tpp": {"gt": 1}}, "lease": {"share": {"lt": {"ref": "item.tpp"}}}})


def _join_and_adv() -> tuple[Any, Any, list[Fact]]:
    """A rule with a join (a session's), one without (answered per fact) and two facts both fire on."""
    join = _Rule(
        "JOIN", parse_condition({"party": {"country": "CN"}, "item": {"eccn": {"eq": {"ref": "party.country"}}}})
    )
    adv = _Rule("ADV", parse_condition({"item": {"advanced": True}}))
    facts = [
        Fact("party", "p1", {"id": "p1", "country": "CN"}),
        Fact("item", "i1", {"id": "i1", "advanced": True, "eccn": "CN"}),
    ]
    return join, adv, facts


def _spy_on_deletions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The C ruleset handles deleted from now on (still deleted for real)."""
    import durable_rules_engine

    deleted: list[int] = []
    real_delete = durable_rules_engine.delete_ruleset

    def spy(handle: int) -> Any:
        deleted.append(handle)
        return real_delete(handle)

    monkeypatch.setattr(durable_rules_engine, "delete_ruleset", spy)
    return deleted


def test_engine_error_poisons_and_rebuilds_the_handle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any engine error fails the evaluation and the next one runs on fresh handles: a session's (a rule with
    a join) and a one-fact session's (a rule without), whose failed answer is not kept."""
    from compliance.errors import EngineError

    join, adv, facts = _join_and_adv()
    real = DurableBackend([join], "real")._dre.assert_facts
    failed: list[int] = []

    def broken(handle: int, payload: str) -> Any:
        failed.append(handle)
        raise RuntimeError("error code: 303")

    for rules, handles in (
        ([join], lambda b: [h for hset in b._by_rules.values() for h in hset.handles]),
        ([adv], lambda b: [h for hset in b._alpha_sets.values() for h in hset.handles]),
    ):
        backend = DurableBackend(rules, f"poison-{rules[0].id}")  # type: ignore[arg-type]
        monkeypatch.setattr(backend._dre, "assert_facts", broken)
        with pytest.raises(EngineError, match="303"):
            backend.fire(facts)
        monkeypatch.setattr(backend._dre, "assert_facts", real)
        assert failed and handles(backend) and failed[-1] not in handles(backend)
        assert [a.rule_id for a in backend.fire(facts)] == [rules[0].id]


def test_truncated_batch_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose end sentinel never fires means facts were dropped: an error, not fewer findings."""
    from compliance.errors import EngineError

    cond = parse_condition({"item": {"advanced": True}})
    backend = DurableBackend([_Rule("ADV", cond)], "truncated")  # type: ignore[list-item]
    real = backend._dre.assert_facts

    def drop_sentinel(handle: int, payload: str) -> Any:
        # what the C core sees of a batch cut short: the end sentinel, the batch's last object, is missing
        return real(handle, payload[: payload.rindex(",")] + "]")

    monkeypatch.setattr(backend._dre, "assert_facts", drop_sentinel)
    with pytest.raises(EngineError, match="end sentinel"):
        backend.fire([Fact("item", "i1", {"id": "i1", "advanced": True})])


def test_a_transient_create_ruleset_error_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """A create_ruleset error is retried under a new name (see the heap tests below for the known cause)."""
    import durable_rules_engine

    from compliance.errors import EngineError

    real = durable_rules_engine.create_ruleset
    calls: list[str] = []

    def flaky(name: str, payload: str) -> int:
        calls.append(name)
        if len(calls) == 1:
            raise durable_rules_engine.error("Could not create ruleset, error code: 102")
        return int(real(name, payload))

    monkeypatch.setattr(durable_rules_engine, "create_ruleset", flaky)
    cond = parse_condition({"item": {"advanced": True}})
    backend = DurableBackend([_Rule("ADV", cond)], "transient")  # type: ignore[list-item]
    assert len(calls) == 2
    assert [a.rule_id for a in backend.fire([Fact("item", "i1", {"id": "i1", "advanced": True})])] == ["ADV"]

    def always(name: str, payload: str) -> int:
        raise durable_rules_engine.error("Could not create ruleset, error code: 102")

    monkeypatch.setattr(durable_rules_engine, "create_ruleset", always)
    with pytest.raises(EngineError, match="3 attempts"):
        DurableBackend([_Rule("ADV", cond)], "broken")  # type: ignore[list-item]


def test_rules_that_cannot_fire_are_left_out_of_the_session() -> None:
    """A rule with a join whose patterns name a fact type the transaction lacks is not compiled into the
    ruleset the session runs on; it still fires once such a fact is there, and both answers equal the
    reference's."""
    pair = _Rule(
        "PAIR", parse_condition({"party": {"country": "CN"}, "item": {"eccn": {"eq": {"ref": "party.country"}}}})
    )
    lease = _Rule(
        "LEASE", parse_condition({"party": {"country": "CN"}, "lease": {"lessee_id": {"eq": {"ref": "party.id"}}}})
    )
    backend = DurableBackend([pair, lease], "routing")  # type: ignore[list-item]
    reference = ReferenceBackend([pair, lease])  # type: ignore[list-item]
    party = Fact("party", "p1", {"id": "p1", "country": "CN"})
    item = Fact("item", "i1", {"id": "i1", "eccn": "CN"})
    grant = Fact("lease", "l1", {"id": "l1", "lessee_id": "p1"})
    without = backend.fire([party, item])
    assert [a.rule_id for a in without] == ["PAIR"] == [a.rule_id for a in reference.fire([party, item])]
    assert list(backend._by_rules) == [("PAIR",)]  # compiled on first use: LEASE left out
    with_lease = backend.fire([party, item, grant])
    assert with_lease == reference.fire([party, item, grant])
    assert [a.rule_id for a in with_lease] == ["LEASE", "PAIR"]
    assert list(backend._by_rules) == [("PAIR",), ("PAIR", "LEASE")]


def test_rules_without_joins_are_answered_from_per_fact_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule without joins needs no per-transaction session: the C core tests its patterns in one-fact
    sessions, once per text of the fields each group of patterns reads, and the activations equal the
    reference's. A rule with a join runs in the session."""
    pair = _Rule("PAIR", parse_condition({"party": {"receiving": True}, "item": {"advanced": True}}))
    join = _Rule(
        "JOIN", parse_condition({"party": {"country": "CN"}, "item": {"eccn": {"eq": {"ref": "party.country"}}}})
    )
    txn = _Rule(
        "TXN",
        parse_condition(
            {
                "transaction": {"value_usd": {"gt": 1}, "destination_groups": {"any": ["D:5"]}},
                "item": {"advanced": True},
            }
        ),
    )
    dest = _Rule("DEST", parse_condition({"transaction": {"destination_groups": {"any": ["D:5"]}}}))
    rules = [pair, join, txn, dest]
    backend = DurableBackend(rules, "alpha")  # type: ignore[arg-type]
    reference = ReferenceBackend(rules)  # type: ignore[arg-type]
    sessions: list[str] = []
    real = backend._dre.assert_facts

    def counted(handle: int, payload: str) -> Any:
        # a one-fact session: the begin marker, the fact (just the fields its patterns read), the end sentinel
        objects = json.loads(payload)
        if len(objects) == 3:
            fact = {k: v for k, v in objects[1].items() if k not in ("id", "sid")}
            sessions.append(json.dumps(fact, sort_keys=True))
        return real(handle, payload)

    monkeypatch.setattr(backend._dre, "assert_facts", counted)

    def parties() -> list[Fact]:
        return [
            Fact("party", "p1", {"id": "p1", "receiving": True, "country": "CN"}),
            Fact("party", "p2", {"id": "p2", "receiving": False, "country": "CN"}),
        ]

    items = [Fact("item", f"i{n}", {"id": f"i{n}", "advanced": True, "eccn": "CN"}) for n in (1, 2)]
    deal = Fact("transaction", "t1", {"id": "t1", "value_usd": 5, "destination_groups": ["D:5"]})
    facts = [deal, *parties(), *items]
    fired = backend.fire(facts)
    assert fired == reference.fire(facts)
    assert sorted({a.rule_id for a in fired}) == ["DEST", "JOIN", "PAIR", "TXN"]
    assert [a.bindings for a in fired if a.rule_id == "PAIR"] == [
        (("item", "item:i1"), ("party", "party:p1")),
        (("item", "item:i2"), ("party", "party:p1")),
    ]
    route = backend._by_types[frozenset(["party", "item", "transaction"])]
    assert sorted(a.rule_id for rules in route.alpha.values() for a in rules) == ["DEST", "PAIR", "TXN"]
    assert route.hset is not None and list(route.hset.aliases) == ["JOIN"]
    # i2's tested text is i1's (no rule tests an item's id), so one session answers both; the transaction's
    # patterns read two groups of fields (destination groups alone, and with the value): one session each.
    assert sorted(sessions) == [
        '{"advanced": true, "t": "item"}',
        '{"destination_groups": ["D:5"], "t": "transaction", "value_usd": 5}',
        '{"destination_groups": ["D:5"], "t": "transaction"}',
        '{"receiving": false, "t": "party"}',
        '{"receiving": true, "t": "party"}',
    ]
    # Equal facts in new objects, and a new transaction with the same tested fields: no further session.
    again = [Fact("transaction", "t2", {"id": "t2", "value_usd": 5, "destination_groups": ["D:5"]}), *parties(), *items]
    assert backend.fire(again) == reference.fire(again)
    assert len(sessions) == 5
    # Another value: only the group that reads it goes back to the C core, and the answer changes.
    poor = [Fact("transaction", "t3", {"id": "t3", "value_usd": 0, "destination_groups": ["D:5"]}), *parties(), *items]
    assert backend.fire(poor) == reference.fire(poor)
    assert "TXN" not in {a.rule_id for a in backend.fire(poor)} and "DEST" in {a.rule_id for a in backend.fire(poor)}
    assert sessions[5:] == ['{"destination_groups": ["D:5"], "t": "transaction", "value_usd": 0}']
    # The tests compare the value only with 1, so any other value above 1 gets the answer 5 got, without a
    # session; a number too large to compare exactly as a double is sent to the C core as it is.
    rich = [Fact("transaction", "t4", {"id": "t4", "value_usd": 7_000_000, "destination_groups": ["D:5"]}), *items]
    assert backend.fire(rich) == reference.fire(rich) and "TXN" in {a.rule_id for a in backend.fire(rich)}
    assert len(sessions) == 6
    huge = [Fact("transaction", "t5", {"id": "t5", "value_usd": 10**16, "destination_groups": ["D:5"]}), *items]
    assert backend.fire(huge) == reference.fire(huge)
    assert sessions[6:] == ['{"destination_groups": ["D:5"], "t": "transaction", "value_usd": 10000000000000000}']
    # Without a join rule's fact types present, no per-transaction session runs at all.
    before = backend.sessions
    only = [deal, *items]
    assert backend.fire(only) == reference.fire(only) and backend.sessions == before


def test_a_pattern_past_the_engine_expression_limit_is_rejected_at_load() -> None:
    """Measured here: a pattern with 16 and/or groups fails create_ruleset with error 113."""
    from compliance.errors import RulesetError

    cond = parse_condition(
        {
            "party": {
                "all_of": [
                    {"control_groups": {"any": ["D:5", "Macau"]}},
                    *({"country": {"in": ["CN", "US", "JP"]}} for _ in range(15)),  # 15 $or, with the $and: 16
                ]
            }
        }
    )
    with pytest.raises(RulesetError, match="error 113"):
        DurableBackend([_Rule("WIDE", cond)], "wide")  # type: ignore[list-item]


def test_each_rule_without_joins_is_anchored_once_under_one_of_its_own_tests() -> None:
    """`combine` looks at a rule only when a fact passed its anchor test: each rule must sit under exactly one
    anchor, and that anchor must be one of its tests (a rule under a foreign test could be missed)."""
    from compliance.engine.alpha import AlphaPlan, anchored

    rules = load_ruleset("us-ear", ["iaas-kyc-2024", "remote-access-security-act", "ai-diffusion-2025"]).rules
    plan = AlphaPlan(rules)
    anchors = anchored(plan.rules.values())
    placed = [rule.rule_id for found in anchors.values() for rule in found]
    assert sorted(placed) == sorted(plan.rules)
    assert all(test in rule.tests for test, found in anchors.items() for rule in found)
    assert len(anchors) > 1


# ------------------------------------------------------------------------------------------------
# durable_rules 2.0.28 compiles an $or under $iany into a node whose right-hand type it never sets, then
# reads it (rete.c, createAlpha; valgrind: "conditional jump depends on uninitialised value"). Where the
# heap holds 0x09 or 0x0C, create_ruleset fails with error 102: once in CI, on the reliability ruleset.
# The tests fill freed heap blocks with those bytes so that the C core's allocations reuse them.

_NESTED = {"$iany": {"roles": {"$or": [{"$i": "purchaser"}, {"$i": "end_user"}]}}}
_FLAT = {"$or": [{"$iany": {"roles": {"$i": "purchaser"}}}, {"$iany": {"roles": {"$i": "end_user"}}}]}


def _poison_freed_heap(byte: int) -> None:
    """malloc blocks of many sizes, fill them with ``byte`` and free them, so realloc hands them back."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = []
    for size in range(16, 8192, 8):
        block = libc.malloc(size)
        ctypes.memset(block, byte, size)
        blocks.append(block)
    for block in blocks:
        libc.free(block)


needs_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="poisons the heap through glibc malloc")


def _poison_before_every_creation(patch: pytest.MonkeyPatch, byte: int) -> list[str]:
    """From now on, every create_ruleset runs on a freshly poisoned heap, once (no retry to hide behind); the
    names of the rulesets created."""
    import durable_rules_engine

    from compliance.engine import backends

    real = durable_rules_engine.create_ruleset
    created: list[str] = []

    def poisoned(name: str, payload: str) -> int:
        _poison_freed_heap(byte)
        created.append(name)
        return int(real(name, payload))

    patch.setattr(backends, "CREATE_ATTEMPTS", 1)
    patch.setattr(durable_rules_engine, "create_ruleset", poisoned)
    return created


def _create_poisoned(byte: int, rules: dict[str, Any]) -> bool:
    import durable_rules_engine

    _poison_freed_heap(byte)
    try:
        handle = durable_rules_engine.create_ruleset(f"heap{next(_counter)}", json.dumps(rules))
    except durable_rules_engine.error as exc:
        assert "error code: 102" in str(exc)
        return False
    durable_rules_engine.delete_ruleset(handle)
    return True


def _party_rule(test: dict[str, Any]) -> dict[str, Any]:
    return {"R": {"all": [{"p": {"$and": [{"t": "party"}, test]}}]}}


@needs_glibc
@pytest.mark.parametrize("byte", [0x09, 0x0C])
def test_an_or_under_iany_fails_on_a_poisoned_heap_and_the_compiled_form_does_not(byte: int) -> None:
    """The control shows the harness reproduces the bug; the form the compiler writes never fails."""
    assert not all(_create_poisoned(byte, _party_rule(_NESTED)) for _ in range(20))
    assert all(_create_poisoned(byte, _party_rule(_FLAT)) for _ in range(20))


def test_contains_any_compiles_to_an_or_of_list_tests() -> None:
    cond = parse_condition({"party": {"roles": {"any": ["purchaser", "end_user"]}}})
    compiled = compile_pattern(cond.patterns[0])
    assert not logic_under_list_test(compiled)
    assert logic_under_list_test({"$and": [{"t": "party"}, _NESTED]})
    assert not logic_under_list_test({"$and": [{"t": "party"}, _FLAT]})
    assert compiled == {"party": {"$and": [{"t": "party"}, _FLAT]}}


def _every_shipped_ruleset() -> list[Ruleset]:
    overlays = sorted(p.stem for p in (ROOT / "rulesets" / "scenarios").glob("*.yaml"))
    loaded = [load_ruleset("us-ear")] + [load_ruleset("us-ear", [o]) for o in overlays]
    return [*loaded, load_ruleset(ROOT / "tests" / "reliability" / "data" / "ruleset.yaml")]


def test_no_shipped_pattern_puts_and_or_under_a_list_test() -> None:
    rulesets = _every_shipped_ruleset()
    patterns = [p for rs in rulesets for rule in rs.rules for p in rule.condition.patterns]
    assert len(rulesets) == 6 and len(patterns) > 50
    assert not [p.alias for p in patterns if logic_under_list_test(compile_pattern(p))]


@needs_glibc
@pytest.mark.parametrize("byte", [0x09, 0x0C])
def test_every_shipped_ruleset_compiles_on_a_poisoned_heap(byte: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One attempt each (no retry to hide behind), the heap poisoned before every create_ruleset."""
    created = _poison_before_every_creation(monkeypatch, byte)
    for rs in _every_shipped_ruleset():
        backend = DurableBackend(rs.rules, f"{rs.id}-heap{next(_counter)}")
        assert backend.shard_count >= 1
    assert len(created) >= 6


def test_a_garbage_backend_deletes_its_c_rulesets_but_never_a_poisoned_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C core's handle table is a fixed array and each ruleset holds memory: a backend nobody holds any
    more (an Engine dropped or reloaded) retires what it created, and the next `release_retired` deletes it,
    except handles an engine error poisoned, which are never touched again. Nothing is deleted from inside
    the garbage collection itself."""
    import gc

    from compliance.engine.backends import release_retired
    from compliance.errors import EngineError

    gc.collect()
    release_retired()  # backends earlier tests dropped
    deleted = _spy_on_deletions(monkeypatch)
    join, adv, facts = _join_and_adv()
    backend = DurableBackend([join, adv], "release")  # type: ignore[list-item]
    real_assert = backend._dre.assert_facts
    poisoned: list[int] = []

    def broken(handle: int, payload: str) -> Any:
        poisoned.append(handle)
        raise RuntimeError("error code: 303")

    monkeypatch.setattr(backend._dre, "assert_facts", broken)
    with pytest.raises(EngineError):
        backend.fire(facts)
    monkeypatch.setattr(backend._dre, "assert_facts", real_assert)
    assert sorted(a.rule_id for a in backend.fire(facts)) == ["ADV", "JOIN"]
    live = set(backend._live)
    assert poisoned and live and not live & set(poisoned)
    assert not deleted
    del backend
    gc.collect()
    assert not deleted  # retired only: the collection may have run between another backend's C calls
    assert release_retired() >= len(live)
    assert live <= set(deleted) and not set(deleted) & set(poisoned)
    assert release_retired() == 0


def _news_like_transaction() -> Any:
    from compliance import Transaction

    return Transaction.model_validate(
        {
            "id": "R1",
            "date": "2025-03-01",
            "kind": "sale",
            "export_from": "US",
            "destination": "CN",
            "parties": [{"id": "p1", "name": "Example Cloud Co.", "roles": ["purchaser"], "country": "CN"}],
            "items": [{"id": "i1", "model": "H100 SXM", "quantity": 8}],
        }
    )


def test_a_reload_that_lets_a_backend_go_deletes_its_c_rulesets(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine keeps its compilations by content (KEPT_BACKENDS); one it lets go, and that nothing else
    holds, has its C rulesets deleted at the end of the reload."""
    import gc

    from compliance import Engine
    from compliance.engine import evaluation
    from compliance.engine.backends import release_retired

    gc.collect()
    release_retired()  # backends earlier tests dropped
    monkeypatch.setattr(evaluation, "KEPT_BACKENDS", 1)
    deleted = _spy_on_deletions(monkeypatch)
    txn = _news_like_transaction()
    engine = Engine.load("us-ear", screener=None)
    before = engine.evaluate(txn)
    old = engine._loaded.backend
    assert isinstance(old, DurableBackend)
    old_handles = set(old._live)
    del old
    assert not deleted
    engine.reload("us-ear", ["chip-security-act"])  # a new compilation; the baseline's is let go
    assert old_handles and old_handles <= set(deleted)
    drafted = engine.evaluate(txn)
    assert [o.split("@")[0] for o in drafted.ruleset.overlays] == ["chip-security-act"] and drafted.findings
    engine.reload("us-ear")  # compiled again, and the same determination as before
    assert engine.evaluate(txn).canonical_json() == before.canonical_json()
    assert before.findings


@needs_glibc
def test_build_evaluate_drop_cycles_on_a_poisoned_heap_never_refuse_a_ruleset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deleting rulesets hands their node pools, full of type bytes, to the next create_ruleset: what made
    error 102 stick before the compiler stopped writing an $or under $iany. 40 cycles of build, evaluate and
    drop, with the heap poisoned before every creation and no retry."""
    import gc

    from compliance import Engine
    from compliance.engine import backends

    created = _poison_before_every_creation(monkeypatch, 0x09)
    deleted = _spy_on_deletions(monkeypatch)
    txn = _news_like_transaction()
    rulesets = _every_shipped_ruleset()
    first = None
    for cycle in range(40):
        engine = Engine(rulesets[cycle % len(rulesets)], screener=None)
        det = engine.evaluate(txn)
        assert det.outcome.value != "error", det.error
        if cycle % len(rulesets) == 0:
            first = first or det.canonical_json()
            assert det.canonical_json() == first
        del engine, det
        gc.collect()
    backends.release_retired()
    assert len(created) >= 40 and len(deleted) >= 39


def test_a_dropped_engine_leaves_nothing_of_its_own_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing process-wide keeps a dropped engine's compilation, facts or findings: its decision caches are
    its own, so its C rulesets are deleted and its per-fact answers (AlphaPlan) go with it."""
    import gc

    from compliance import Engine
    from compliance.engine.backends import release_retired

    def alive(kind: str) -> int:
        gc.collect()
        return sum(type(o).__qualname__ == kind for o in gc.get_objects())

    release_retired()
    before = {kind: alive(kind) for kind in ("AlphaPlan", "Enricher", "DecisionCaches")}
    deleted = _spy_on_deletions(monkeypatch)
    engine = Engine.load("us-ear", screener=None)
    det = engine.evaluate(_news_like_transaction())
    assert det.findings
    made = {kind: alive(kind) for kind in before}
    assert all(made[kind] > before[kind] for kind in before)
    del engine, det
    after = {kind: alive(kind) for kind in before}
    release_retired()
    assert after == before
    assert deleted


@needs_glibc
@settings(max_examples=max(EXAMPLES // 5, 20), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.integers(1, 8).flatmap(lambda n: st.tuples(*[rule(i) for i in range(n)])),
    transactions=st.lists(fact_set(), min_size=2, max_size=2),
    byte=st.sampled_from([0x09, 0x0C, 0x00, 0xFF]),
)
def test_random_rules_compile_and_fire_alike_on_a_poisoned_heap(
    rules: tuple[_Rule, ...], transactions: list[list[Fact]], byte: int
) -> None:
    """Every form the compiler writes, for every operator of the condition language, compiles and fires as
    the reference does with the heap poisoned before every create_ruleset and no retry: a byte the C core
    reads before writing it would show here, as the $or under $iany did."""
    with pytest.MonkeyPatch.context() as patch:
        _poison_before_every_creation(patch, byte)
        durable = DurableBackend(rules, f"heapdiff{next(_counter)}")  # type: ignore[arg-type]
        reference = ReferenceBackend(rules)  # type: ignore[arg-type]
        for facts in transactions:
            assert durable.fire(facts) == reference.fire(facts), _describe(rules, facts, None, None)
