"""Inference backends: the durable_rules adapter and the pure-Python reference.

Both take the same typed facts and return the same activations: (rule id, alias → fact key) for every
combination of facts that satisfies a rule's patterns. Effective dates, overrides and exceptions are
applied afterwards, in Python, identically for both (``compliance.engine.decide``).

The durable adapter follows ../shared/docs/durable-rules-notes.md §10 to the letter; the comments name
the finding each precaution answers. This module is the only one that imports ``durable_rules_engine``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, NamedTuple, Protocol

from compliance.conditions import (
    DURABLE_FIELD_NAMES,
    AllOf,
    Compare,
    Condition,
    Pattern,
    Ref,
    alpha_tests,
    compile_pattern,
    eval_test,
    has_references,
    leaves,
    referenced_fields,
    rename_fields,
)
from compliance.engine.alpha import AlphaPlan, AlphaRule, AlphaTest, combine
from compliance.errors import EngineError, RulesetError
from compliance.facts import FACT_SCHEMA, Fact, FieldValue
from compliance.memo import BoundedCache
from compliance.rulesets.loader import Rule

SENTINEL_RULE = "__end_sentinel__"
BEGIN_TYPE = "$begin"
END_TYPE = "$end"
MAX_TESTS_PER_TYPE = 56
"""Shard a compiled ruleset so no fact type has more distinct alpha tests than this (limit 64, finding 3),
with a margin: the count is an upper bound on the tests one fact can match."""
MAX_PROPERTIES = 240
"""durable_rules caps a message at 255 flattened properties (error 302), sid/id/t included."""
CREATE_ATTEMPTS = 3
MAX_GROUPS_PER_PATTERN = 15
"""A pattern's $and/$or groups each take two of the 32 slots of its beta node's expression sequence; the
32nd fails create_ruleset with error 113 (measured here: 15 groups compile, 16 do not)."""
TRANSACTION_PREFIX = "txn__"
"""Prefix of the transaction's fields copied into the facts that host a fused transaction pattern (no fact
field starts with it)."""
ALPHA_ANSWERS = 16_384
"""Distinct fact texts whose alpha-test results a backend keeps (see `DurableBackend._passed`)."""
_RULE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


class Activation(NamedTuple):
    """A rule that fired and the facts it bound. A named tuple: activations are sorted and deduplicated on
    every evaluation, and tuples compare and hash in C."""

    rule_id: str
    bindings: tuple[tuple[str, str], ...]
    """(alias, fact key) pairs, sorted by alias."""


class Backend(Protocol):
    name: str

    def fire(self, facts: Sequence[Fact]) -> list[Activation]: ...


# ------------------------------------------------------------------------------------------------
# Reference backend


class ReferenceBackend:
    """Evaluates the condition language directly in Python; the oracle for differential tests."""

    name = "python"

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)

    def fire(self, facts: Sequence[Fact]) -> list[Activation]:
        by_type: dict[str, list[Fact]] = {}
        for fact in facts:
            by_type.setdefault(fact.type, []).append(fact)
        out: list[Activation] = []
        for rule in self._rules:
            for combo in _joins(rule.condition.patterns, by_type, {}, {}):
                out.append(Activation(rule.id, tuple(sorted(combo.items()))))
        return sorted(set(out))


def _joins(
    patterns: Sequence[Pattern],
    by_type: Mapping[str, Sequence[Fact]],
    bound: dict[str, Mapping[str, FieldValue]],
    keys: dict[str, str],
) -> Iterator[dict[str, str]]:
    if not patterns:
        yield dict(keys)
        return
    head, rest = patterns[0], patterns[1:]
    used = set(keys.values())
    for fact in by_type.get(head.fact_type, ()):
        # One fact never binds two patterns of the same rule (durable_rules' join semantics).
        if fact.key not in used and eval_test(head.test, fact.fields, bound):
            bound[head.alias] = fact.fields
            keys[head.alias] = fact.key
            yield from _joins(rest, by_type, bound, keys)
            del bound[head.alias]
            del keys[head.alias]


# ------------------------------------------------------------------------------------------------
# durable_rules backend


def compile_rules(rules: Sequence[Rule | AlphaTest]) -> list[dict[str, Any]]:
    """durable_rules JSON rulesets (shards), each with the end-sentinel rule."""
    for rule in rules:
        if not _RULE_NAME.match(rule.id):
            raise RulesetError(f"rule id {rule.id!r} cannot be used as a durable_rules name")
        _lint(rule)
    shards: list[dict[str, Any]] = []
    load: list[dict[str, set[str]]] = []
    for rule in rules:
        need: dict[str, set[str]] = {}
        for p in rule.condition.patterns:
            need.setdefault(p.fact_type, set()).update(alpha_tests(p))
        if any(len(n) > MAX_TESTS_PER_TYPE for n in need.values()):
            raise rule.error(
                f"rule {rule.id} has more than {MAX_TESTS_PER_TYPE} distinct tests on one fact type; split it "
                "(durable_rules fails with error 303 past 64)"
            )
        target = next(
            (
                i
                for i, used in enumerate(load)
                if all(len(used.get(t, set()) | n) <= MAX_TESTS_PER_TYPE for t, n in need.items())
            ),
            None,
        )
        if target is None:
            shards.append({SENTINEL_RULE: {"all": [{"s": {"t": END_TYPE}}]}})
            load.append({})
            target = len(shards) - 1
        shards[target][rule.id] = {"all": [compile_pattern(p) for p in rule.condition.patterns]}
        for t, n in need.items():
            load[target].setdefault(t, set()).update(n)
    if not shards:
        shards.append({SENTINEL_RULE: {"all": [{"s": {"t": END_TYPE}}]}})
    return shards


def groups(compiled: Any) -> int:
    """How many $and/$or groups a compiled pattern holds (see MAX_GROUPS_PER_PATTERN)."""
    if isinstance(compiled, dict):
        return sum((key in ("$and", "$or")) + groups(value) for key, value in compiled.items())
    if isinstance(compiled, list):
        return sum(groups(value) for value in compiled)
    return 0


def _lint(rule: Rule | AlphaTest) -> None:
    """Reject patterns that durable_rules is known to mishandle."""
    for p in rule.condition.patterns:
        if p.alias in ("s", "t", "sid", "id"):
            raise RulesetError(f"rule {rule.id}: alias {p.alias!r} is reserved")
        if (n := groups(compile_pattern(p))) > MAX_GROUPS_PER_PATTERN:
            raise RulesetError(
                f"rule {rule.id}: pattern {p.alias!r} compiles to {n} and/or groups; durable_rules allows "
                f"{MAX_GROUPS_PER_PATTERN} per pattern (error 113): split the rule"
            )
        for leaf in leaves(p.test):
            if isinstance(leaf, Compare) and isinstance(leaf.value, Ref) and leaf.op != "eq":
                raise RulesetError(
                    f"rule {rule.id}: non-equality reference {leaf.value} crashes durable_rules (finding 2)"
                )


def _number(value: float) -> str:
    """A JSON number the C parser accepts: it rejects exponents without a '.' (finding 4, error 204)."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(value, ".20f").rstrip("0")
        if text.endswith("."):
            text += "0"
    return text


def dumps(node: Any) -> str:
    """JSON for durable_rules: floats written without exponents, NaN/inf refused, text kept as UTF-8."""
    if isinstance(node, bool) or node is None or isinstance(node, int | str):
        return json.dumps(node, ensure_ascii=False)
    if isinstance(node, float):
        if not math.isfinite(node):
            raise EngineError(f"{node!r} cannot be sent to durable_rules")
        return _number(node)
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list | tuple):
        return "[" + ",".join(dumps(v) for v in node) + "]"
    raise EngineError(f"cannot encode {type(node).__name__} for durable_rules")


def value_text(value: Any) -> str:
    """One fact field's JSON for the C core, as `dumps` writes it, with the common types taken first."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is list:
        return "[" + ",".join(map(value_text, value)) + "]"
    return dumps(value)


def field_texts(fact: Fact, wanted: frozenset[str] | None) -> dict[str, str]:
    """The JSON text of each field in ``wanted`` (all with None), worked out once per fact and projection (in
    the fact's memo): a fact's body for the C core and the copy of the transaction's fields on host facts are
    both joined from these."""
    memo = fact.memo.get("durable-texts")
    if memo is not None and memo[0] is wanted:
        texts: dict[str, str] = memo[1]
        return texts
    texts = {name: value_text(value) for name, value in fact.fields.items() if wanted is None or name in wanted}
    fact.memo["durable-texts"] = (wanted, texts)
    return texts


def tested_fields(rules: Sequence[Rule]) -> dict[str, frozenset[str]]:
    """Per fact type, the fields some rule tests: all the engine needs to see (the rest stays in Python)."""
    out: dict[str, set[str]] = {}
    for rule in rules:
        aliases = rule.condition.aliases()
        for alias, names in referenced_fields(rule.condition).items():
            out.setdefault(aliases[alias], set()).update(names)
    return {t: frozenset(n) for t, n in out.items()}


def encode_facts(
    facts: Sequence[Fact],
    sid: str,
    fields: Mapping[str, frozenset[str]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """[begin marker, facts..., end sentinel] as one JSON array, in one batch (notes §10.3).

    With ``fields``, only the fields some rule tests are sent, and facts of types no rule tests are left out:
    durable_rules parses and indexes every property it receives.

    Inside the C core a fact's id is its position in ``facts`` (``"f3"``): short, plain ASCII, and read back
    from activations without parsing them (``_bindings``). ``extra`` maps a fact type to properties appended
    to every fact of that type (the transaction's fields, for fused rules: see `fuse_transaction`).
    """
    sid_text = encode_basestring(sid)
    parts = [f'[{{"t":"{BEGIN_TYPE}","id":"$begin","sid":{sid_text}}}']
    tail = f'","sid":{sid_text}}}'
    for i, fact in enumerate(facts):
        body = fact_body(fact, fields)
        if body is not None:
            more = extra.get(fact.type, "") if extra else ""
            parts.append(f'{body}{more},"id":"f{i}{tail}')
    parts.append(f'{{"t":"{END_TYPE}","id":"$end","sid":{sid_text}}}]')
    return ",".join(parts)


def fact_body(fact: Fact, fields: Mapping[str, frozenset[str]] | None) -> str | None:
    """A fact's JSON object for the C core without its id, sid and closing brace; None if no rule tests its type.

    The text depends only on the fact and the projection, so it is kept in the fact's memo, keyed by the
    projection's identity: facts shared between transactions are encoded once.
    """
    return fact.memoized("durable-body", fields, lambda: _encode_body(fact, fields))


def _encode_body(fact: Fact, fields: Mapping[str, frozenset[str]] | None) -> str | None:
    """Floats are written without exponents and NaN is refused (finding 4); the domain ``id`` travels as
    ``oid``. Field names are the fact schema's plain identifiers, so they need no escaping."""
    if len(fact.fields) + 3 > MAX_PROPERTIES:
        raise EngineError(f"fact {fact.key} has {len(fact.fields)} fields; durable_rules allows 255")
    wanted = fields.get(fact.type) if fields is not None else None
    if fields is not None and wanted is None:
        return None
    parts = [f'"{DURABLE_FIELD_NAMES.get(name, name)}":{text}' for name, text in field_texts(fact, wanted).items()]
    parts.append(f'"t":{encode_basestring(fact.type)}')
    return "{" + ",".join(parts)


@dataclass(frozen=True)
class Fusion:
    """A rule whose transaction pattern is folded into another pattern (see `fuse_transaction`)."""

    rule: Rule
    """The rule with the fused condition (same id)."""
    alias: str
    """The transaction pattern's alias, bound to the transaction fact after the rule fires."""
    host_type: str
    """The fact type of the pattern that now carries the transaction's tests."""
    fields: frozenset[str]
    """The transaction fields the folded tests read."""


def fuse_transaction(rule: Rule) -> Fusion | None:
    """Fold a rule's transaction pattern into one of its other patterns, when exactly one transaction fact
    is in the session.

    Each evaluation holds one transaction fact, and every pattern joins on it implicitly, so "an item that
    passes A, and the transaction passes B" is "an item that passes A and whose copy of the transaction's
    fields passes B". The C core then keeps one beta node less per such rule: a session allocates and clears
    index slots for every beta node of its ruleset (notes §4), which is most of its cost. Rules with joins
    (references) or without another pattern are left as they are.
    """
    patterns = rule.condition.patterns
    txn = [p for p in patterns if p.fact_type == "transaction"]
    others = [p for p in patterns if p.fact_type != "transaction"]
    if len(txn) != 1 or not others or any(has_references(p.test) for p in patterns):
        return None
    host = others[0]
    folded = rename_fields(txn[0].test, TRANSACTION_PREFIX)
    assert isinstance(folded, AllOf)
    fused = Pattern(host.alias, host.fact_type, AllOf(host.test.tests + folded.tests))
    if groups(compile_pattern(fused)) > MAX_GROUPS_PER_PATTERN:
        return None
    condition = Condition(tuple(fused if p is host else p for p in others))
    names = referenced_fields(rule.condition).get(txn[0].alias, set())
    return Fusion(dataclasses.replace(rule, condition=condition), txn[0].alias, host.fact_type, frozenset(names))


def _bindings(message: str, aliases: Sequence[str], facts: Sequence[Fact]) -> tuple[tuple[str, str], ...]:
    """(alias, fact key) pairs of one activation, ``{"RULE":{"alias":{...fact...},...}}``, read without a
    full JSON parse (the notes measure json.loads of activations as the wrapper's largest cost).

    JSON escapes every quote inside a string, and facts hold no objects, so ``"alias":{`` occurs once, as the
    alias's key, and the first ``"id":"f`` after it is that fact's id. Anything unexpected is parsed in full.
    """
    pairs: list[tuple[str, str]] = []
    for alias in aliases:
        at = message.find(f'"{alias}":{{')
        start = message.find('"id":"f', at) + 7 if at >= 0 else -1
        end = message.find('"', start) if start >= 7 else -1
        if end < 0 or not message[start:end].isdigit():
            return _bindings_parsed(message, facts)
        pairs.append((alias, facts[int(message[start:end])].key))
    return tuple(sorted(pairs))


def _bindings_parsed(message: str, facts: Sequence[Fact]) -> tuple[tuple[str, str], ...]:
    matched: dict[str, dict[str, Any]] = next(iter(json.loads(message).values()))
    return tuple(sorted((alias, facts[int(str(fact["id"])[1:])].key) for alias, fact in matched.items()))


@dataclass
class _HandleSet:
    """The C rulesets (one per shard) compiled from one subset of the rules, fused or not."""

    number: int
    payloads: list[str]
    handles: list[int]
    aliases: dict[str, tuple[str, ...]]
    """Per rule, the aliases of its compiled patterns (what an activation binds)."""
    fused: dict[str, str]
    """Per fused rule, the alias its transaction pattern had."""
    copied: frozenset[str]
    """Transaction fields the fused rules test, copied into the facts of the host types."""
    hosts: frozenset[str]
    """Fact types that carry a copy of the transaction's fields."""

    def extra(self, transaction: Fact, tested: frozenset[str] | None) -> dict[str, str]:
        """The properties appended to each host fact: the copied transaction fields, prefixed. ``tested`` is
        the transaction fields any rule tests (the copied ones among them)."""
        copied = self.copied
        texts = field_texts(transaction, tested)
        parts = [f'"{TRANSACTION_PREFIX}{k}":{t}' for k, t in texts.items() if k in copied]
        if not parts:
            return {}
        return dict.fromkeys(self.hosts, "," + ",".join(parts))


class Route(NamedTuple):
    """Where an evaluation's rules go, per combination of fact types present (and shared)."""

    hset: _HandleSet
    """The C rulesets of the rules that run in the session."""
    alpha: tuple[AlphaRule, ...]
    """Rules over shared facts only, answered by `compliance.engine.alpha.combine`."""
    alpha_types: frozenset[str]
    """The fact types those rules name."""


class Prepared(NamedTuple):
    """What one evaluation sends to the C core, and where its rules go."""

    route: Route
    payload: str
    transaction: Fact | None
    """The transaction fact when there is exactly one (the folded rules' binding)."""


def _fits(fusion: Fusion, copied: set[str] | frozenset[str]) -> bool:
    """Whether a host fact with the copied transaction fields stays under the property cap (error 302)."""
    return len(FACT_SCHEMA.get(fusion.host_type, {})) + len(copied) + 3 <= MAX_PROPERTIES


class DurableBackend:
    """durable_rules through its raw C API, hardened per the measured notes.

    Two things keep the C core's sessions small (a session allocates index slots for every beta node of its
    ruleset, notes §4, and that is most of an evaluation's cost there):

    - every pattern requires a fact of its type, so a rule can fire only when the transaction has a fact of
      each type its patterns name; each evaluation runs on a C ruleset compiled from just those rules;
    - with exactly one transaction fact (what enrichment always gives), a rule's transaction pattern is folded
      into another of its patterns (`fuse_transaction`), one beta node less per rule;
    - a rule without join tests whose facts are all shared between transactions (party and item facts) is
      answered from its patterns' results, which the C core works out once per fact (`compliance.engine.alpha`).

    The rulesets are compiled on first use per combination of fact types present (and shared), and shared by
    combinations that select the same rules.
    """

    name = "durable"
    _sids = itertools.count(1)

    def __init__(self, rules: Sequence[Rule], name: str) -> None:
        import durable_rules_engine

        self._dre = durable_rules_engine
        self._name = name
        self._needs = tuple((rule, frozenset(p.fact_type for p in rule.condition.patterns)) for rule in rules)
        self._fusions = {rule.id: fuse_transaction(rule) for rule in rules}
        self._fields = tested_fields(rules)
        self._alpha = AlphaPlan(rules)
        self._lock = threading.Lock()
        self._generation = 0
        self._numbers = itertools.count()
        self._by_rules: dict[tuple[tuple[str, ...], tuple[str, ...]], _HandleSet] = {}
        self._by_types: dict[tuple[frozenset[str], bool, frozenset[str]], Route] = {}
        self._alpha_sets: dict[str, _HandleSet] = {}
        self._alpha_answers = BoundedCache[frozenset[str]](ALPHA_ANSWERS)
        # The whole ruleset is compiled now, so a ruleset durable_rules rejects fails at load time. (The alpha
        # tests are its patterns one by one: compiled on first use.)
        everything = frozenset(t for _, need in self._needs for t in need)
        self._full = self._route(everything, False, frozenset())[0]
        self._route(everything, True, frozenset())

    def _route(self, present: frozenset[str], fuse: bool, shared: frozenset[str]) -> Route:
        """The handles for the rules whose fact types are all present, but for those answered from memoized
        pattern results (all their types shared), which come second. Called under the lock."""
        found = self._by_types.get((present, fuse, shared))
        if found is not None:
            return found
        alpha = self._alpha.rules
        rules: list[Rule] = []
        answered: list[AlphaRule] = []
        for rule, need in self._needs:
            if need <= present:
                if rule.id in alpha and need <= shared:
                    answered.append(alpha[rule.id])
                else:
                    rules.append(rule)
        fusions: list[Fusion] = []
        copied: set[str] = set()
        for rule in rules:
            fusion = self._fusions[rule.id] if fuse else None
            if fusion is not None and _fits(fusion, copied | fusion.fields):
                fusions.append(fusion)
                copied |= fusion.fields
        key = (tuple(rule.id for rule in rules), tuple(f.rule.id for f in fusions))
        hset = self._by_rules.get(key)
        if hset is None:
            hset = self._compile(rules, {f.rule.id: f for f in fusions})
            self._by_rules[key] = hset
        route = Route(hset, tuple(answered), frozenset(t for rule in answered for t in rule.types))
        self._by_types[(present, fuse, shared)] = route
        return route

    def _alpha_set(self, fact_type: str) -> _HandleSet:
        """The C ruleset of one fact type's alpha tests (one single-pattern rule per distinct pattern)."""
        hset = self._alpha_sets.get(fact_type)
        if hset is None:
            hset = self._compile(self._alpha.tests[fact_type], {})
            self._alpha_sets[fact_type] = hset
        return hset

    def _passed(self, fact: Fact) -> frozenset[str]:
        """The alpha tests a shared fact passes, kept in the fact's memo (keyed by this backend's plan, which
        the entry holds, so the id is not reused while it lives) and by the fact's text for the C core: facts
        that differ only in fields no rule tests get the same answer. A text not seen before takes one
        one-fact session."""
        plan = self._alpha
        entry = fact.memo.get(("alpha", id(plan)))
        if entry is not None and entry[0] is plan:
            found: frozenset[str] = entry[1]
            return found
        body = fact_body(fact, self._fields)
        known = self._alpha_answers.get(body) if body is not None else None
        if known is None:
            known = self._alpha_session(self._alpha_set(fact.type), fact)
            if body is not None:
                self._alpha_answers.put(body, known)
        fact.memo[("alpha", id(plan))] = (plan, known)
        return known

    def _alpha_session(self, hset: _HandleSet, fact: Fact) -> frozenset[str]:
        sid = f"s{next(self._sids)}"
        payload = encode_facts([fact], sid, self._fields)
        return frozenset(
            a.rule_id for handle in hset.handles for a in self._fire_one(hset, handle, payload, sid, [fact], None)
        )

    def _compile(self, rules: Sequence[Rule | AlphaTest], fusions: Mapping[str, Fusion]) -> _HandleSet:
        compiled = [fusions[rule.id].rule if rule.id in fusions else rule for rule in rules]
        hset = _HandleSet(
            next(self._numbers),
            [dumps(shard) for shard in compile_rules(compiled)],
            [],
            {rule.id: tuple(p.alias for p in rule.condition.patterns) for rule in compiled},
            {rid: f.alias for rid, f in fusions.items()},
            frozenset(name for f in fusions.values() for name in f.fields),
            frozenset(f.host_type for f in fusions.values()),
        )
        self._build(hset)
        return hset

    def _build(self, hset: _HandleSet) -> None:
        self._generation += 1
        # Names are not namespaced in the C core; set number and generation keep every handle's name apart.
        hset.handles = [
            self._create(f"{self._name}.{hset.number}.{i}.g{self._generation}", payload)
            for i, payload in enumerate(hset.payloads)
        ]

    def _create(self, name: str, payload: str) -> int:
        """create_ruleset, retried: measured here, it now and then rejects a valid ruleset with error 102 that
        the same call accepts a moment later. No session exists yet, so a retry is safe; a ruleset it keeps
        rejecting is an error."""
        last: Exception | None = None
        for attempt in range(CREATE_ATTEMPTS):
            try:
                handle: int = self._dre.create_ruleset(f"{name}.a{attempt}" if attempt else name, payload)
                return handle
            except Exception as exc:
                last = exc
        raise EngineError(f"durable_rules could not compile ruleset {name} ({CREATE_ATTEMPTS} attempts): {last}")

    @property
    def shard_count(self) -> int:
        """Shards of the whole ruleset (more than one when a fact type has too many alpha tests)."""
        return len(self._full.payloads)

    @property
    def handles(self) -> list[int]:
        """The C handles of the whole ruleset (replaced when an engine error poisons them)."""
        return list(self._full.handles)

    def prepare(self, facts: Sequence[Fact], sid: str) -> Prepared:
        """What an evaluation sends: the handle set for the fact types present, the payload, the transaction
        fact when there is exactly one, and the rules answered from memoized pattern results. Call under the
        lock."""
        transactions = [fact for fact in facts if fact.type == "transaction"]
        transaction = transactions[0] if len(transactions) == 1 else None
        present = frozenset([fact.type for fact in facts])
        route = self._route(present, transaction is not None, self._alpha.shared_types(facts, present))
        hset = route.hset
        extra = (
            hset.extra(transaction, self._fields.get("transaction")) if transaction is not None and hset.fused else None
        )
        return Prepared(route, encode_facts(facts, sid, self._fields, extra), transaction)

    def fire(self, facts: Sequence[Fact]) -> list[Activation]:
        with self._lock:  # assert → drain → delete must be atomic per ruleset (notes §10.7)
            sid = f"s{next(self._sids)}"  # fresh sid per evaluation; sessions are deleted (1024-sid cap)
            prepared = self.prepare(facts, sid)
            route = prepared.route
            hset = route.hset
            out: list[Activation] = []
            for handle in hset.handles:
                out.extend(self._fire_one(hset, handle, prepared.payload, sid, facts, prepared.transaction))
            if route.alpha:
                found = combine(route.alpha, route.alpha_types, facts, self._passed)
                out.extend(Activation(rule_id, bindings) for rule_id, bindings in found)
            return sorted(set(out))

    def _fire_one(
        self,
        hset: _HandleSet,
        handle: int,
        payload: str,
        sid: str,
        facts: Sequence[Fact],
        transaction: Fact | None,
    ) -> list[Activation]:
        started = False
        try:
            code, state = self._dre.assert_facts(handle, payload)
            if code == 2:
                raise EngineError("durable_rules rejected a duplicate fact id (code 2)")
            seen_end = False
            out: list[Activation] = []
            result = self._dre.start_action_for_state(handle, state)
            message = result[1] if result else None
            while message:
                started = True
                rule_id = message[2 : message.index('"', 2)]
                if rule_id == SENTINEL_RULE:
                    seen_end = True
                else:
                    bindings = _bindings(message, hset.aliases[rule_id], facts)
                    alias = hset.fused.get(rule_id)
                    if alias is not None and transaction is not None:  # the folded pattern's fact
                        bindings = tuple(sorted((*bindings, (alias, transaction.key))))
                    out.append(Activation(rule_id, bindings))
                message = self._dre.complete_and_start_action(handle, state)
            if not seen_end:
                # The batch was truncated (finding 4): some facts were silently dropped.
                raise EngineError("durable_rules dropped part of the fact batch (end sentinel not seen)")
            return out
        except EngineError:
            self._poisoned(hset)
            raise
        except Exception as exc:  # any engine error poisons the handle (findings 3, 4)
            self._poisoned(hset)
            raise EngineError(f"durable_rules failed: {exc}") from exc
        finally:
            if started:
                # Only after an action started: deleting an untouched session segfaults (finding 1).
                try:
                    self._dre.delete_state(handle, sid)
                except Exception:
                    self._poisoned(hset)

    def _poisoned(self, hset: _HandleSet) -> None:
        """Never touch a handle (or its sid) after an engine error: build fresh handles for its set."""
        self._build(hset)
