"""Inference backends: the durable_rules adapter and the pure-Python reference.

Both take the same typed facts and return the same activations: (rule id, alias → fact key) for every
combination of facts that satisfies a rule's patterns. Effective dates, overrides and exceptions are
applied afterwards, in Python, identically for both (``compliance.engine.decide``).

The durable adapter follows ../shared/docs/durable-rules-notes.md §10 to the letter; the comments name
the finding each precaution answers. This module is the only one that imports ``durable_rules_engine``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, NamedTuple, Protocol

from compliance.conditions import (
    DURABLE_FIELD_NAMES,
    Compare,
    Pattern,
    Ref,
    alpha_tests,
    compile_pattern,
    eval_test,
    leaves,
    referenced_fields,
)
from compliance.engine.alpha import (
    AlphaPlan,
    AlphaRule,
    AlphaTest,
    Projection,
    anchored,
    answer_key,
    combine,
)
from compliance.errors import EngineError, RulesetError
from compliance.facts import Fact, FieldValue
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
ALPHA_ANSWERS = 16_384
"""Per-projection answer keys whose alpha-test results a backend keeps (see `DurableBackend._passed`); whole
facts' answers are kept apart, as many of them are seen once (every transaction fact is new), so they never
push out the per-projection answers."""
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


def logic_under_list_test(compiled: Any, inside: bool = False) -> bool:
    """Whether an $and/$or sits directly under an $iany/$iall list test in a compiled pattern.

    durable_rules 2.0.28 reads an uninitialised byte when it compiles such a test (rete.c, createAlpha) and
    fails with error 102 when the heap happens to hold 0x09 or 0x0C there; the compiler writes an $or of
    list tests instead, and the lint keeps it that way.
    """
    if isinstance(compiled, dict):
        for key, value in compiled.items():
            if inside and key in ("$and", "$or"):
                return True
            if key in ("$iany", "$iall") and isinstance(value, dict):
                if any(logic_under_list_test(v, inside=True) for v in value.values()):
                    return True
            elif logic_under_list_test(value):
                return True
        return False
    if isinstance(compiled, list):
        return any(logic_under_list_test(v) for v in compiled)
    return False


def _lint(rule: Rule | AlphaTest) -> None:
    """Reject patterns that durable_rules is known to mishandle."""
    for p in rule.condition.patterns:
        if p.alias in ("s", "t", "sid", "id"):
            raise RulesetError(f"rule {rule.id}: alias {p.alias!r} is reserved")
        compiled = compile_pattern(p)
        if logic_under_list_test(compiled):  # pragma: no cover - the compiler never writes one
            raise RulesetError(f"rule {rule.id}: pattern {p.alias!r} puts and/or under a list test (error 102)")
        if (n := groups(compiled)) > MAX_GROUPS_PER_PATTERN:
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


def encode_facts(facts: Sequence[Fact], sid: str, fields: Mapping[str, frozenset[str]] | None = None) -> str:
    """[begin marker, facts..., end sentinel] as one JSON array, in one batch (notes §10.3).

    With ``fields``, only the fields some rule tests are sent, and facts of types no rule tests are left out:
    durable_rules parses and indexes every property it receives.

    Inside the C core a fact's id is its position in ``facts`` (``"f3"``): short, plain ASCII, and read back
    from activations without parsing them (``_bindings``).
    """
    return framed([fact_body(fact, fields) for fact in facts], sid)


def framed(bodies: Sequence[str | None], sid: str) -> str:
    """The batch for bodies (`fact_body` texts, None for facts left out), the i-th with id ``"f<i>"``,
    between the begin marker and the end sentinel."""
    sid_text = encode_basestring(sid)
    parts = [f'[{{"t":"{BEGIN_TYPE}","id":"$begin","sid":{sid_text}}}']
    tail = f'","sid":{sid_text}}}'
    for i, body in enumerate(bodies):
        if body is not None:
            parts.append(f'{body},"id":"f{i}{tail}')
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
    return _body(fact.type, field_texts(fact, wanted).items())


_RETIRED: list[tuple[Any, list[int]]] = []
"""C rulesets of garbage backends, with the module that made them, waiting for `release_retired`."""


def _retire(dre: Any, handles: set[int]) -> None:
    """A backend's finalizer: queue its C rulesets. They are not deleted here, because a garbage collection
    can run between another backend's C calls (mid-session); `release_retired` runs at known points."""
    if handles:
        _RETIRED.append((dre, sorted(handles)))  # atomic under the GIL
        handles.clear()


def release_retired() -> int:
    """Delete the C rulesets of backends that became garbage (called when a backend is built and after
    `Engine.reload`); the number deleted. Safe because every session on them was started (the end sentinel
    always fires) and deleted, and a handle that ever saw an engine error is never among them (notes §2:
    "5,000 create/use/delete cycles kept RSS flat ... provided every session had been initialised")."""
    released = 0
    while _RETIRED:
        try:
            dre, handles = _RETIRED.pop()
        except IndexError:  # another thread took the last one
            break
        for handle in handles:
            with contextlib.suppress(Exception):  # a ruleset the core will not delete stays allocated
                dre.delete_ruleset(handle)
            released += 1
    return released


def _body(fact_type: str, texts: Iterable[tuple[str, str]]) -> str:
    parts = [f'"{DURABLE_FIELD_NAMES.get(name, name)}":{text}' for name, text in texts]
    parts.append(f'"t":{encode_basestring(fact_type)}')
    return "{" + ",".join(parts)


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
    """The C rulesets (one per shard) compiled from one subset of the rules (or from one projection's alpha
    tests)."""

    number: int
    payloads: list[str]
    handles: list[int]
    aliases: dict[str, tuple[str, ...]]
    """Per rule, the aliases of its compiled patterns (what an activation binds)."""


class Route(NamedTuple):
    """Where an evaluation's rules go, per combination of fact types present."""

    hset: _HandleSet | None
    """The C rulesets of the rules that need a session (joins), None when every rule is answered per fact."""
    alpha: Mapping[str, tuple[AlphaRule, ...]]
    """Rules without joins, answered by `compliance.engine.alpha.combine`, by anchor test (`anchored`)."""
    alpha_types: frozenset[str]
    """The fact types those rules name."""


class DurableBackend:
    """durable_rules through its raw C API, hardened per the measured notes.

    Two things keep the C core's work small (a session allocates index slots for every beta node of its
    ruleset, notes §4, and that is most of an evaluation's cost there):

    - a rule without join tests is answered from its patterns' results per fact, which the C core works out
      in one-fact sessions once per answer key (the text of the fields a group of patterns reads, or a
      number's position among the numbers they compare it with: `compliance.engine.alpha`); once
      enrichment's caches and these answers are warm, most evaluations make no C call at all;
    - every pattern requires a fact of its type, so a rule with joins can fire only when the transaction has
      a fact of each type its patterns name; the session runs on a C ruleset compiled from just those rules,
      compiled on first use per combination of fact types present.
    """

    name = "durable"
    _sids = itertools.count(1)

    def __init__(self, rules: Sequence[Rule], name: str) -> None:
        self._live: set[int] = set()
        """The C rulesets this backend created and has not given up on after an engine error."""
        import durable_rules_engine

        self._dre = durable_rules_engine
        self._name = name
        self._needs = tuple((rule, frozenset(p.fact_type for p in rule.condition.patterns)) for rule in rules)
        self._fields = tested_fields(rules)
        self._alpha = AlphaPlan(rules)
        self._memo_key = ("alpha", id(self._alpha))
        self._lock = threading.Lock()
        self._generation = 0
        self._numbers = itertools.count()
        self._by_rules: dict[tuple[str, ...], _HandleSet] = {}
        self._by_types: dict[frozenset[str], Route] = {}
        self._alpha_sets: dict[int, _HandleSet] = {}
        self._alpha_answers = BoundedCache[frozenset[str]](ALPHA_ANSWERS)
        self._fact_answers = BoundedCache[frozenset[str]](ALPHA_ANSWERS)
        self.sessions = 0
        """C sessions run so far (per-transaction and one-fact): what the caches above save."""
        # When the backend is garbage (after `Engine.reload`, once evaluations in flight on it are done, or when
        # an Engine is dropped), `__del__` retires its C rulesets and the next `release_retired()` deletes them.
        release_retired()
        # The whole ruleset is compiled now, so a ruleset durable_rules rejects fails at load time. (The alpha
        # tests are its patterns one by one, compiled on first use.)
        self._full = self._compile([rule for rule, _ in self._needs])

    def __del__(self) -> None:
        # Only queued here: a garbage collection can run between another backend's C calls (mid-session).
        # (A finalizer, not weakref.finalize: a compiled class takes no weak references.)
        if self._live:  # set first in __init__; a handle in it means durable_rules was imported
            _retire(self._dre, self._live)

    def _route(self, present: frozenset[str]) -> Route:
        """The rules whose fact types are all present: those without joins answered per fact, the others
        compiled for a session. Called under the lock."""
        found = self._by_types.get(present)
        if found is not None:
            return found
        alpha = self._alpha.rules
        rules: list[Rule] = []
        answered: list[AlphaRule] = []
        for rule, need in self._needs:
            if need <= present:
                if rule.id in alpha:
                    answered.append(alpha[rule.id])
                else:
                    rules.append(rule)
        hset: _HandleSet | None = None
        if rules:
            key = tuple(rule.id for rule in rules)
            hset = self._by_rules.get(key)
            if hset is None:
                hset = self._by_rules[key] = self._compile(rules)
        route = Route(hset, anchored(answered), frozenset(t for rule in answered for t in rule.types))
        self._by_types[present] = route
        return route

    def _passed(self, fact: Fact) -> frozenset[str]:
        """The alpha tests a fact passes, kept in the fact's memo (keyed by this backend's plan, which the
        entry holds, so the id is not reused while it lives), and by what the answers depend on
        (`answer_key`): for the fact as a whole, and per projection, so facts that agree on the fields a
        projection reads share its answer. A projection's key not seen before takes one one-fact session on
        that projection's tests."""
        plan = self._alpha
        entry = fact.memo.get(self._memo_key)
        if entry is not None and entry[0] is plan:
            found: frozenset[str] = entry[1]
            return found
        cuts = plan.cuts.get(fact.type)
        answer = frozenset[str]()
        if cuts is not None:
            texts = field_texts(fact, self._fields.get(fact.type))
            parts = answer_key(cuts, fact.fields, texts)
            whole = (fact.type, parts)
            known = self._fact_answers.get(whole)
            if known is None:
                by_field = dict(zip(cuts, parts, strict=True))
                passed: set[str] = set()
                for projection in plan.projections[fact.type]:
                    key = (projection.number, tuple(map(by_field.__getitem__, projection.fields)))
                    result = self._alpha_answers.get(key)
                    if result is None:
                        result = self._alpha_session(projection, fact, texts)
                        self._alpha_answers.put(key, result)
                    passed.update(result)
                known = frozenset(passed)
                self._fact_answers.put(whole, known)
            answer = known
        fact.memo[self._memo_key] = (plan, answer)
        return answer

    def _alpha_session(self, projection: Projection, fact: Fact, texts: Mapping[str, str]) -> frozenset[str]:
        """The tests of ``projection`` the fact passes, from the C core, sent just the fields they read."""
        hset = self._alpha_sets.get(projection.number)
        if hset is None:
            hset = self._alpha_sets[projection.number] = self._compile(projection.tests)
        sid = f"s{next(self._sids)}"
        read = [(name, texts[name]) for name in projection.fields if name in texts]
        payload = framed([_body(fact.type, read)], sid)
        return frozenset(
            a.rule_id for handle in hset.handles for a in self._fire_one(hset, handle, payload, sid, [fact])
        )

    def _compile(self, rules: Sequence[Rule | AlphaTest]) -> _HandleSet:
        hset = _HandleSet(
            next(self._numbers),
            [dumps(shard) for shard in compile_rules(rules)],
            [],
            {rule.id: tuple(p.alias for p in rule.condition.patterns) for rule in rules},
        )
        self._build(hset)
        return hset

    def _build(self, hset: _HandleSet) -> None:
        # A set rebuilt after an engine error leaves its old handles alone for good, deletion included.
        self._live.difference_update(hset.handles)
        self._generation += 1
        # Names are not namespaced in the C core; set number and generation keep every handle's name apart.
        hset.handles = [
            self._create(f"{self._name}.{hset.number}.{i}.g{self._generation}", payload)
            for i, payload in enumerate(hset.payloads)
        ]

    def _create(self, name: str, payload: str) -> int:
        """create_ruleset, retried. Its one known cause of a rejected valid ruleset (error 102: an $or under
        $iany, which reads an uninitialised byte) is now never compiled (see `logic_under_list_test`); the
        retry stays for any other heap-dependent rejection. No session exists yet, so a retry is safe; a
        ruleset it keeps rejecting is an error."""
        last: Exception | None = None
        for attempt in range(CREATE_ATTEMPTS):
            try:
                handle: int = self._dre.create_ruleset(f"{name}.a{attempt}" if attempt else name, payload)
                self._live.add(handle)
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

    def fire(self, facts: Sequence[Fact]) -> list[Activation]:
        with self._lock:  # assert → drain → delete must be atomic per ruleset (notes §10.7)
            route = self._route(frozenset([fact.type for fact in facts]))
            out: list[Activation] = []
            hset = route.hset
            if hset is not None:
                sid = f"s{next(self._sids)}"  # fresh sid per evaluation; sessions are deleted (1024-sid cap)
                payload = encode_facts(facts, sid, self._fields)
                for handle in hset.handles:
                    out.extend(self._fire_one(hset, handle, payload, sid, facts))
            if route.alpha:
                found = combine(route.alpha, route.alpha_types, facts, self._passed)
                out.extend(Activation(rule_id, bindings) for rule_id, bindings in found)
            return sorted(set(out))

    def _fire_one(
        self, hset: _HandleSet, handle: int, payload: str, sid: str, facts: Sequence[Fact]
    ) -> list[Activation]:
        self.sessions += 1
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
                    out.append(Activation(rule_id, _bindings(message, hset.aliases[rule_id], facts)))
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
