"""The condition language: parse, type-check, render as text, compile to durable_rules, evaluate in Python.

A rule's ``when`` maps aliases to patterns over one fact type each; all patterns join on the transaction
(every fact in an evaluation belongs to it). A pattern maps field names to tests::

    when:
      item:  {eccn: {in: [3A090.a, 3A090.b]}, tpp: {gte: 4800}}
      party: {roles: {any: [purchaser, end_user]}, hq_groups: {any: ["D:5", Macau]}}
      lessee: {fact: party, any_of: [{country: CN}, {headquarters: CN}]}

Tests: a bare value (equality), ``eq``, ``ne``, ``in``, ``lt``/``lte``/``gt``/``gte`` (a number, a date, or
``{param: NAME}``), ``exists: true|false``, ``any``/``all``/``none`` over list fields, ``not: TEST``; and
at pattern level ``any_of``/``all_of``/``not`` over sub-patterns. ``eq: {ref: alias.field}`` joins on
another pattern's field (equality only: non-equality references crash durable_rules, notes finding 2).

Semantics, shared exactly by both backends: each pattern binds a different fact (two patterns over
``party`` match two distinct parties); a test on a missing field is false; ``not`` is logical
negation, so ``not: {eq: X}`` is true when the field is missing. Lists are never empty in facts
(``compliance.facts.clean_fields``), so an absent list is an empty list.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from compliance.facts import FACT_SCHEMA, FieldValue, Kind, field_kind

Scalar = str | int | float | bool

_COMPARISONS = ("eq", "ne", "lt", "lte", "gt", "gte")
_NEGATED = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt"}
_SYMBOL = {"eq": "=", "ne": "≠", "lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}


class ConditionError(ValueError):
    """A malformed condition; ``path`` locates it inside the rule (e.g. ``when.item.tpp.gte``)."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Ref:
    alias: str
    field: str

    def __str__(self) -> str:
        return f"{self.alias}.{self.field}"


@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: Scalar | Ref


@dataclass(frozen=True)
class OneOf:
    field: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Contains:
    """A list field contains any (or all) of the values."""

    field: str
    mode: str  # "any" | "all"
    values: tuple[str, ...]


@dataclass(frozen=True)
class Exists:
    field: str
    present: bool


@dataclass(frozen=True)
class Not:
    test: Test


@dataclass(frozen=True)
class AllOf:
    tests: tuple[Test, ...]


@dataclass(frozen=True)
class AnyOf:
    tests: tuple[Test, ...]


Test = Union[Compare, OneOf, Contains, Exists, Not, AllOf, AnyOf]  # noqa: UP007 (recursive alias)


@dataclass(frozen=True)
class Pattern:
    alias: str
    fact_type: str
    test: AllOf


@dataclass(frozen=True)
class Condition:
    patterns: tuple[Pattern, ...]

    def aliases(self) -> dict[str, str]:
        return {p.alias: p.fact_type for p in self.patterns}


# ------------------------------------------------------------------------------------------------
# Parsing


ParamLookup = Callable[[str], float]


def parse_condition(when: Mapping[str, Any], params: ParamLookup | None = None) -> Condition:
    """Parse a rule's ``when`` mapping, checking fact types, field names and operator kinds."""
    if not isinstance(when, Mapping) or not when:
        raise ConditionError("`when` must be a non-empty mapping of alias to pattern", ("when",))
    patterns: list[Pattern] = []
    seen: dict[str, str] = {}
    for alias, body in when.items():
        path: tuple[str | int, ...] = ("when", alias)
        if not isinstance(alias, str) or not alias.isidentifier():
            raise ConditionError(f"alias {alias!r} must be an identifier", path)
        if not isinstance(body, Mapping):
            raise ConditionError("a pattern must be a mapping of field to test", path)
        fact_type = body.get("fact", alias)
        if fact_type not in FACT_SCHEMA:
            raise ConditionError(
                f"unknown fact type {fact_type!r} (known: {', '.join(sorted(FACT_SCHEMA))})", (*path, "fact")
            )
        rest = {k: v for k, v in body.items() if k != "fact"}
        test = _parse_pattern_body(rest, fact_type, path, seen, params)
        if any(True for _ in _refs(test)) and _has_compound(to_nnf(test)):
            # durable_rules ignores an equality join in a pattern that also holds an $or, a list test or a
            # nested $and, and fires for every pair of facts. The reference would not: refuse it.
            raise ConditionError(
                "a reference (ref:) can only share a pattern with plain comparisons (eq, ne, lt, gt, exists): "
                "durable_rules ignores the join beside any_of, in, not, any/all/none; move those to another "
                "pattern",
                path,
            )
        patterns.append(Pattern(alias, fact_type, test))
        seen[alias] = fact_type
    return Condition(tuple(patterns))


def _parse_pattern_body(
    body: Mapping[str, Any],
    fact_type: str,
    path: tuple[str | int, ...],
    earlier: Mapping[str, str],
    params: ParamLookup | None,
) -> AllOf:
    tests: list[Test] = []
    for key, spec in body.items():
        here = (*path, key)
        if key in ("any_of", "all_of"):
            if not isinstance(spec, list) or not spec:
                raise ConditionError(f"`{key}` takes a non-empty list of sub-patterns", here)
            subs = tuple(
                _parse_pattern_body(_mapping(s, (*here, i)), fact_type, (*here, i), earlier, params)
                for i, s in enumerate(spec)
            )
            tests.append(AnyOf(subs) if key == "any_of" else AllOf(subs))
        elif key == "not":
            tests.append(Not(_parse_pattern_body(_mapping(spec, here), fact_type, here, earlier, params)))
        else:
            kind = field_kind(fact_type, key)
            if kind is None:
                known = ", ".join(sorted(FACT_SCHEMA[fact_type]))
                raise ConditionError(f"fact type {fact_type!r} has no field {key!r} (fields: {known})", here)
            tests.append(_parse_field_test(key, kind, spec, here, earlier, params))
    if not tests:
        raise ConditionError("a pattern needs at least one test", path)
    return AllOf(tuple(tests))


def _mapping(value: Any, path: tuple[str | int, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConditionError("expected a mapping", path)
    return value


def _parse_field_test(
    name: str,
    kind: Kind,
    spec: Any,
    path: tuple[str | int, ...],
    earlier: Mapping[str, str],
    params: ParamLookup | None,
) -> Test:
    if not isinstance(spec, Mapping):
        return _compare(name, kind, "eq", spec, path, earlier, params)
    if not spec:
        raise ConditionError("empty test", path)
    parts: list[Test] = []
    for op, arg in spec.items():
        here = (*path, op)
        if op in _COMPARISONS:
            parts.append(_compare(name, kind, op, arg, here, earlier, params))
        elif op == "in":
            if kind is Kind.text_list:
                raise ConditionError(f"`in` tests a single value; {name} is a list (use any/all/none)", here)
            if not isinstance(arg, list) or not arg:
                raise ConditionError("`in` takes a non-empty list", here)
            parts.append(OneOf(name, tuple(_literal(kind, v, here) for v in arg)))
        elif op in ("any", "all", "none"):
            if kind is not Kind.text_list:
                raise ConditionError(f"`{op}` applies to list fields; {name} is {kind.value}", here)
            if not isinstance(arg, list) or not arg:
                raise ConditionError(f"`{op}` takes a non-empty list", here)
            values = tuple(_text(v, here) for v in arg)
            test: Test = Contains(name, "all" if op == "all" else "any", values)
            parts.append(Not(test) if op == "none" else test)
        elif op == "exists":
            if not isinstance(arg, bool):
                raise ConditionError("`exists` takes true or false", here)
            parts.append(Exists(name, arg))
        elif op == "not":
            parts.append(Not(_parse_field_test(name, kind, arg, here, earlier, params)))
        else:
            raise ConditionError(
                f"unknown operator {op!r} (eq, ne, in, lt, lte, gt, gte, any, all, none, exists, not)", here
            )
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _compare(
    name: str,
    kind: Kind,
    op: str,
    arg: Any,
    path: tuple[str | int, ...],
    earlier: Mapping[str, str],
    params: ParamLookup | None,
) -> Compare:
    if kind is Kind.text_list:
        raise ConditionError(f"{name} is a list: use any/all/none, not {op}", path)
    if isinstance(arg, Mapping) and set(arg) == {"ref"}:
        if op != "eq":
            raise ConditionError(
                "only equality may reference another fact (non-equality joins crash durable_rules)", path
            )
        ref = _parse_ref(str(arg["ref"]), kind, path, earlier)
        return Compare(name, op, ref)
    if isinstance(arg, Mapping) and set(arg) == {"param"}:
        if kind is not Kind.number:
            raise ConditionError(f"parameters are numbers; {name} is {kind.value}", path)
        if params is None:
            raise ConditionError("parameters are not available here", path)
        try:
            value: Scalar = params(str(arg["param"]))
        except KeyError:
            raise ConditionError(f"unknown parameter {arg['param']!r}", path) from None
        return Compare(name, op, value)
    if op in ("lt", "lte", "gt", "gte") and kind not in (Kind.number, Kind.date):
        raise ConditionError(f"`{op}` needs a number or date field; {name} is {kind.value}", path)
    return Compare(name, op, _literal(kind, arg, path))


def _parse_ref(text: str, kind: Kind, path: tuple[str | int, ...], earlier: Mapping[str, str]) -> Ref:
    alias, _, fname = text.partition(".")
    if alias not in earlier:
        raise ConditionError(f"reference {text!r} must name an earlier pattern's alias", path)
    other = field_kind(earlier[alias], fname)
    if other is None:
        raise ConditionError(f"reference {text!r}: {earlier[alias]} has no field {fname!r}", path)
    if other is not kind:
        raise ConditionError(f"reference {text!r} is {other.value}, the field is {kind.value}", path)
    return Ref(alias, fname)


def _literal(kind: Kind, value: Any, path: tuple[str | int, ...]) -> Scalar:
    if kind is Kind.number:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConditionError(f"expected a number, got {value!r}", path)
        return value
    if kind is Kind.boolean:
        if not isinstance(value, bool):
            raise ConditionError(f"expected true or false, got {value!r}", path)
        return value
    if kind is Kind.date:
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ConditionError(f"expected a date YYYY-MM-DD, got {value!r}", path) from None
    return _text(value, path)


def _text(value: Any, path: tuple[str | int, ...]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConditionError(f"expected text, got {value!r}", path)
    return str(value)


# ------------------------------------------------------------------------------------------------
# Negation normal form: both backends evaluate the same tree, with `Not` only around leaves.


def to_nnf(test: Test, negate: bool = False) -> Test:
    """Push negations to the leaves, keeping the missing-field semantics (missing ⇒ leaf false)."""
    if isinstance(test, Not):
        return to_nnf(test.test, not negate)
    if isinstance(test, AllOf):
        parts = tuple(to_nnf(t, negate) for t in test.tests)
        return AnyOf(parts) if negate else AllOf(parts)
    if isinstance(test, AnyOf):
        parts = tuple(to_nnf(t, negate) for t in test.tests)
        return AllOf(parts) if negate else AnyOf(parts)
    if not negate:
        return test
    if isinstance(test, Exists):
        return Exists(test.field, not test.present)
    if isinstance(test, Compare):
        if isinstance(test.value, Ref):
            raise ConditionError(f"a reference ({test.value}) cannot be negated (durable_rules crash risk)")
        return AnyOf((Exists(test.field, False), Compare(test.field, _NEGATED[test.op], test.value)))
    if isinstance(test, OneOf):
        others = tuple(Compare(test.field, "ne", v) for v in test.values)
        return AnyOf((Exists(test.field, False), AllOf(others)))
    if isinstance(test, Contains):
        if test.mode == "any":
            return Not(test)  # "none of": a leaf the compilers handle directly
        return AnyOf(tuple(Not(Contains(test.field, "any", (v,))) for v in test.values))
    raise AssertionError(test)  # pragma: no cover


# ------------------------------------------------------------------------------------------------
# Pure-Python evaluation (the reference backend and "why not" explanations)


def eval_test(test: Test, fact: Mapping[str, FieldValue], bound: Mapping[str, Mapping[str, FieldValue]]) -> bool:
    if isinstance(test, AllOf):
        return all(eval_test(t, fact, bound) for t in test.tests)
    if isinstance(test, AnyOf):
        return any(eval_test(t, fact, bound) for t in test.tests)
    if isinstance(test, Not):
        return not eval_test(test.test, fact, bound)
    if isinstance(test, Exists):
        return (test.field in fact) == test.present
    value = fact.get(test.field)
    if value is None:
        return False
    if isinstance(test, Compare):
        other: Any = test.value
        if isinstance(other, Ref):
            ref_fact = bound.get(other.alias)
            if ref_fact is None or other.field not in ref_fact:
                return False
            other = ref_fact[other.field]
        return _compare_values(value, test.op, other)
    if isinstance(test, OneOf):
        return any(_compare_values(value, "eq", v) for v in test.values)
    if isinstance(test, Contains):
        items = value if isinstance(value, list) else []
        hits = [v in items for v in test.values]
        return any(hits) if test.mode == "any" else all(hits)
    raise AssertionError(test)  # pragma: no cover


def _compare_values(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, list) or isinstance(right, list):
        return False
    try:
        if op == "eq":
            return bool(left == right)
        if op == "ne":
            return bool(left != right)
        if op == "lt":
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
        if op == "gt":
            return bool(left > right)
        if op == "gte":
            return bool(left >= right)
    except TypeError:
        return False
    raise AssertionError(op)  # pragma: no cover


def failed_tests(
    test: Test, fact: Mapping[str, FieldValue], bound: Mapping[str, Mapping[str, FieldValue]]
) -> list[str]:
    """The leaf tests of a pattern that a fact fails, rendered with the actual values ("why not")."""
    if isinstance(test, AllOf):
        out: list[str] = []
        for t in test.tests:
            out.extend(failed_tests(t, fact, bound))
        return out
    if eval_test(test, fact, bound):
        return []
    shown = ", ".join(sorted(_fields_of(test)))
    actual = "; ".join(f"{f} = {_show(fact.get(f))}" for f in sorted(_fields_of(test)))
    return [f"{render_test(test)} is false ({actual or shown})"]


def _fields_of(test: Test) -> set[str]:
    if isinstance(test, AllOf | AnyOf):
        return set().union(*(_fields_of(t) for t in test.tests))
    if isinstance(test, Not):
        return _fields_of(test.test)
    return {test.field}


def referenced_fields(cond: Condition) -> dict[str, set[str]]:
    """Fields each alias's pattern tests: what a finding reports as its bound facts."""
    out: dict[str, set[str]] = {}
    for p in cond.patterns:
        out.setdefault(p.alias, set()).update(_fields_of(p.test))
    for p in cond.patterns:
        for ref in _refs(p.test):
            out.setdefault(ref.alias, set()).add(ref.field)
    return out


def _has_compound(test: Test) -> bool:
    """Whether a pattern body (in negation normal form) compiles to anything but flat comparisons.

    Measured here: durable_rules ignores an equality join in a pattern that also holds an `$or`, an
    `$iany`/`$iall` list test or a nested `$and`; with only flat comparisons beside it the join holds.
    """
    if isinstance(test, AllOf):
        return any(isinstance(t, AllOf | AnyOf) or _has_compound(t) for t in test.tests)
    if isinstance(test, AnyOf):
        return True
    if isinstance(test, OneOf):
        return len(test.values) > 1
    return isinstance(test, Contains | Not)


def leaves(test: Test) -> Iterator[Test]:
    """Every leaf test (Compare, OneOf, Contains, Exists) under a test, through and/or/not."""
    if isinstance(test, AllOf | AnyOf):
        for t in test.tests:
            yield from leaves(t)
    elif isinstance(test, Not):
        yield from leaves(test.test)
    else:
        yield test


def _refs(test: Test) -> Iterator[Ref]:
    for leaf in leaves(test):
        if isinstance(leaf, Compare) and isinstance(leaf.value, Ref):
            yield leaf.value


def has_references(test: Test) -> bool:
    """Whether a test joins on another pattern's field (``eq: {ref: alias.field}``)."""
    return next(_refs(test), None) is not None


# ------------------------------------------------------------------------------------------------
# Rendering


def _show(value: Any) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_test(test: Test, prefix: str = "") -> str:
    if isinstance(test, AllOf):
        return " and ".join(_group(t, prefix) for t in test.tests)
    if isinstance(test, AnyOf):
        return " or ".join(_group(t, prefix) for t in test.tests)
    if isinstance(test, Not):
        inner = test.test
        if isinstance(inner, Contains) and inner.mode == "any":
            return f"{prefix}{inner.field} contains none of {_show(inner.values)}"
        return f"not ({render_test(inner, prefix)})"
    if isinstance(test, Exists):
        return f"{prefix}{test.field} {'is given' if test.present else 'is missing'}"
    if isinstance(test, Compare):
        return f"{prefix}{test.field} {_SYMBOL[test.op]} {_show(test.value)}"
    if isinstance(test, OneOf):
        return f"{prefix}{test.field} in {_show(test.values)}"
    if isinstance(test, Contains):
        return f"{prefix}{test.field} contains {test.mode} of {_show(test.values)}"
    raise AssertionError(test)  # pragma: no cover


def _group(test: Test, prefix: str) -> str:
    text = render_test(test, prefix)
    return f"({text})" if isinstance(test, AllOf | AnyOf) and len(test.tests) > 1 else text


def render_condition(cond: Condition) -> str:
    return "; ".join(f"{p.alias} ({p.fact_type}): {render_test(p.test, p.alias + '.')}" for p in cond.patterns)


# ------------------------------------------------------------------------------------------------
# Compilation to durable_rules JSON (raw engine dialect)

_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
DURABLE_FIELD_NAMES = {"id": "oid"}
"""durable_rules needs its own `id` unique per session, so a fact's domain `id` field travels as `oid`."""


def _dn(name: str) -> str:
    return DURABLE_FIELD_NAMES.get(name, name)


def compile_pattern(pattern: Pattern) -> dict[str, Any]:
    """One durable_rules pattern: a type test AND the pattern's tests in negation normal form."""
    body = to_nnf(pattern.test)
    terms: list[dict[str, Any]] = [{"t": pattern.fact_type}]
    if isinstance(body, AllOf):
        terms.extend(_compile(t) for t in body.tests)
    else:
        terms.append(_compile(body))
    return {pattern.alias: {"$and": terms}}


def _compile(test: Test) -> dict[str, Any]:
    if isinstance(test, AllOf):
        return {"$and": [_compile(t) for t in test.tests]}
    if isinstance(test, AnyOf):
        return {"$or": [_compile(t) for t in test.tests]}
    if isinstance(test, Exists):
        return {"$ex" if test.present else "$nex": {_dn(test.field): 1}}
    name = _dn(test.field) if not isinstance(test, Not) else ""
    if isinstance(test, Compare):
        value: Any = test.value
        if isinstance(value, Ref):
            value = {value.alias: _dn(value.field)}
        if test.op == "eq":
            return {name: value}
        return {_DURABLE_OP[test.op]: {name: value}}
    if isinstance(test, OneOf):
        if len(test.values) == 1:
            return {name: test.values[0]}
        return {"$or": [{name: v} for v in test.values]}
    if isinstance(test, Contains):
        return _contains(name, test)
    if isinstance(test, Not):
        inner = test.test
        if isinstance(inner, Contains) and inner.mode == "any":
            # "contains none of": missing (= empty) list, or every element differs from every value.
            # $iall over an empty list is false in durable_rules, which is why the $nex branch is needed.
            field = _dn(inner.field)
            each = [{"$iall": {field: {"$neq": {"$i": v}}}} for v in inner.values]
            return {"$or": [{"$nex": {field: 1}}, each[0] if len(each) == 1 else {"$and": each}]}
        raise ConditionError("internal: negation left above a non-list leaf")  # pragma: no cover
    raise AssertionError(test)  # pragma: no cover


def _contains(name: str, test: Contains) -> dict[str, Any]:
    each = [{"$iany": {name: {"$i": v}}} for v in test.values]
    if len(each) == 1:
        return each[0]
    # "Contains any of" is an $or of one $iany per value, never one $iany over an $or: durable_rules
    # 2.0.28 compiles an $or under $iany into a node whose right-hand type it never sets, then reads that
    # byte (rete.c, createAlpha; valgrind: "conditional jump depends on uninitialised value"). When the
    # heap happens to hold 0x09 or 0x0C there, create_ruleset fails with error 102 (seen once in CI).
    return {"$or": each} if test.mode == "any" else {"$and": each}


def alpha_tests(pattern: Pattern) -> set[str]:
    """The distinct alpha tests a fact of this type meets in this pattern (finding 3: at most 64 may match
    one message). Identical tests in different rules share one alpha node, so they are counted once."""
    out = {json.dumps({"t": pattern.fact_type})}
    _collect(to_nnf(pattern.test), out)
    return out


def _collect(test: Test, out: set[str]) -> None:
    if isinstance(test, AllOf | AnyOf):
        for t in test.tests:
            _collect(t, out)
    elif isinstance(test, OneOf):
        out.update(json.dumps({_dn(test.field): v}) for v in test.values)
    elif isinstance(test, Contains) and test.mode == "any":
        out.update(json.dumps({"$iany": {_dn(test.field): v}}) for v in test.values)
    else:
        out.add(json.dumps(_compile(test), sort_keys=True))
