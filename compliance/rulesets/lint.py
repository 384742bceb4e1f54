"""Static checks of a ruleset (with overlays) before it ships: `compliance rulesets lint`.

Beyond what the loader rejects, lint finds what loads but cannot be right: rules that can never fire, overrides
that can never apply, effective-date gaps and overlaps within a rule family, rules no case exercises. Each
finding is ``file:line: CODE: severity: message``; errors fail the run, warnings only under ``--strict``.

The contradiction checks are deliberately simple and sound: they look at the tests a pattern ANDs together
at its top level (not inside ``any_of``/``not``), so a reported contradiction is real, while a rule that
is dead for subtler reasons can pass.

| code  | severity | what |
|-------|----------|------|
| CL001 | error    | the loader rejects the ruleset, an overlay or an included file |
| CL002 | error/warning | a rule id defined by two files (error), or replaced by two overlays (warning) |
| CL003 | error    | a rule without citations, or with a placeholder citation (TODO, TBD, ?) |
| CL004 | error/warning | a rule without a ``because`` (error), or one that names no fact (warning) |
| CL005 | error    | two rules of one ``family`` that can fire on the same facts and day, deciding differently |
| CL006 | warning  | days between the periods of a ``family`` when none of its rules is in force |
| CL007 | error/warning | an ``overrides`` that can never apply (error), or that is transaction-wide (warning) |
| CL008 | error    | a rule whose tests contradict each other (disjoint values, an empty range) |
| CL009 | error/warning | a rule that tests a country group with no member while the rule is in force |
| CL010 | warning  | a rule that no case fired (with ``--cases``) |
| CL011 | error    | a case file that cannot be used, or that names a rule the ruleset does not define |
| CL012 | warning  | a case that fails its expectations (with ``--cases``; pytest shows the details) |
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from compliance.conditions import AllOf, Compare, Contains, Exists, Not, OneOf, Pattern, Ref, Scalar, Test
from compliance.errors import RulesetError
from compliance.rulesets.loader import Rule, Ruleset
from compliance.rulesets.schema import GroupSpec, Period
from compliance.rulesets.yaml_source import LineDict, LineList, load_yaml_file

Severity = Literal["error", "warning"]
_PLACEHOLDER = re.compile(r"^\s*(todo|tbd|fixme|xxx|\?+|n/?a|none|-+|citation needed)\b", re.IGNORECASE)
_MIN_DATE = dt.date.min
_MAX_DATE = dt.date.max


@dataclass(frozen=True, order=True)
class LintMessage:
    file: str
    line: int
    code: str
    severity: Severity
    message: str
    rule_id: str | None = None

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.code}: {self.severity}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "rule_id": self.rule_id,
        }


@dataclass
class LintReport:
    target: str
    messages: list[LintMessage] = field(default_factory=list)
    rules_checked: int = 0
    cases_run: int = 0

    @property
    def errors(self) -> list[LintMessage]:
        return [m for m in self.messages if m.severity == "error"]

    @property
    def warnings(self) -> list[LintMessage]:
        return [m for m in self.messages if m.severity == "warning"]

    def codes(self) -> list[str]:
        return sorted({m.code for m in self.messages})

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors or (strict and self.warnings))

    def lines(self) -> list[str]:
        out = [m.text() for m in self.messages]
        cases = f", {self.cases_run} case(s) run" if self.cases_run else ""
        out.append(
            f"{self.target}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) "
            f"in {self.rules_checked} rule(s){cases}"
        )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rules_checked": self.rules_checked,
            "cases_run": self.cases_run,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "messages": [m.to_json() for m in self.messages],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


class _Collector:
    def __init__(self, report: LintReport) -> None:
        self.report = report
        self._seen: set[tuple[str, int, str, str]] = set()

    def add(
        self, code: str, severity: Severity, where: str | tuple[str, int | None], message: str, rule: str | None = None
    ) -> None:
        if isinstance(where, str):
            file, _, line_text = where.rpartition(":")
            line = int(line_text) if line_text.isdigit() else 1
            if not file:
                file = where
        else:
            file, line_or_none = where
            line = line_or_none or 1
        key = (_display(file), line, code, message)
        if key not in self._seen:
            self._seen.add(key)
            self.report.messages.append(LintMessage(_display(file), line, code, severity, message, rule))


def _display(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path


# ------------------------------------------------------------------------------------------------
# Entry point


def lint_ruleset(
    ruleset: str | Path,
    overlays: Sequence[str | Path] = (),
    *,
    cases: Sequence[Path] = (),
    screening: Literal["default", "none"] = "default",
) -> LintReport:
    """Lint a ruleset (or an overlay, applied on the ruleset it extends) with overlays; run cases if given."""
    from compliance.testing._rulesets import combination

    report = LintReport(target=str(ruleset))
    out = _Collector(report)
    try:
        combo = combination(ruleset, overlays)
    except RulesetError as exc:
        out.add("CL001", "error", (exc.file or str(ruleset), exc.line), exc.message)
        return _finish(report)
    report.target = " + ".join(_display(str(p)) for p in (combo.ruleset, *combo.overlays))
    files = _files_of(combo.ruleset, combo.overlays, out)
    _check_raw(files, out)
    loaded: Ruleset | None = None
    try:
        loaded = combo.load()
    except RulesetError as exc:
        where = (exc.file or str(combo.ruleset), exc.line)
        already = any(m.file == _display(where[0]) and m.line == (where[1] or 1) for m in report.messages)
        if not already:
            out.add("CL001", "error", where, exc.message)
        _rule_by_rule(files, out)  # the loader stops at its first error; report every rule's own
        if combo.overlays:
            try:  # still check what the baseline alone holds
                loaded = type(combo)(combo.ruleset).load()
            except RulesetError:
                loaded = None
    if loaded is not None:
        report.rules_checked = len(loaded.rules)
        _check_families(loaded, out)
        _check_overrides(loaded, out)
        for rule in loaded.rules:
            _check_contradictions(rule, out)
            _check_groups(rule, loaded.groups, out)
        if cases:
            _check_cases(loaded, cases, screening, out)
    return _finish(report)


def _finish(report: LintReport) -> LintReport:
    report.messages.sort(key=lambda m: (m.file, m.line, m.code, m.message))
    return report


# ------------------------------------------------------------------------------------------------
# Raw file checks (before the loader stops at the first error)


@dataclass(frozen=True)
class _RawFile:
    path: Path
    raw: LineDict
    role: str  # "ruleset", "include" or "overlay"


def _files_of(base: Path, overlays: Sequence[Path], out: _Collector) -> list[_RawFile]:
    files: list[_RawFile] = []

    def read(path: Path, role: str) -> LineDict | None:
        try:
            raw = load_yaml_file(path)
        except RulesetError as exc:
            out.add("CL001", "error", (exc.file or str(path), exc.line), exc.message)
            return None
        if not isinstance(raw, LineDict):
            out.add("CL001", "error", (str(path), 1), "a ruleset file must be a mapping")
            return None
        files.append(_RawFile(path, raw, role))
        return raw

    raw = read(base, "ruleset")
    includes = raw.get("include") if raw is not None else None
    if isinstance(includes, list):
        for inc in includes:
            inc_path = (base.parent / str(inc)).resolve()
            if inc_path.is_file():
                read(inc_path, "include")
    for overlay in overlays:
        read(overlay, "overlay")
    return files


def _rule_entries(raw: LineDict, key: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    entries = raw.get(key)
    if not isinstance(entries, LineList):
        return []
    return [(entries.item_lines[i], entry) for i, entry in enumerate(entries) if isinstance(entry, Mapping)]


def _check_raw(files: Sequence[_RawFile], out: _Collector) -> None:
    defined: dict[str, tuple[str, int]] = {}
    replaced: dict[str, tuple[str, int]] = {}
    for f in files:
        removed = f.raw.get("remove_rules")
        for rid in removed if isinstance(removed, list) else ():
            defined.pop(str(rid), None)
        for key in ("rules", "replace_rules"):
            for line, entry in _rule_entries(f.raw, key):
                rid = str(entry.get("id", "?"))
                where = (str(f.path), line)
                citations = entry.get("citations")
                if not citations:
                    out.add("CL003", "error", where, f"rule {rid} has no citations: cite the provision it encodes", rid)
                elif isinstance(citations, list):
                    for c in citations:
                        if isinstance(c, str) and (not c.strip() or _PLACEHOLDER.match(c)):
                            out.add("CL003", "error", where, f"rule {rid} cites a placeholder: {c!r}", rid)
                because = entry.get("because")
                if not isinstance(because, str) or not because.strip():
                    out.add("CL004", "error", where, f"rule {rid} has no `because` template", rid)
                elif "{" not in because:
                    out.add(
                        "CL004",
                        "warning",
                        where,
                        f"rule {rid}: `because` names no fact, so a finding cannot say which party or item it is about",
                        rid,
                    )
                if key == "rules":
                    if rid in defined:
                        first = defined[rid]
                        out.add(
                            "CL002",
                            "error",
                            where,
                            f"rule {rid} is already defined at {_display(first[0])}:{first[1]}",
                            rid,
                        )
                    defined[rid] = where
                else:
                    if rid in replaced:
                        first = replaced[rid]
                        out.add(
                            "CL002",
                            "warning",
                            where,
                            f"rule {rid} was already replaced at {_display(first[0])}:{first[1]}; "
                            "that replacement is discarded",
                            rid,
                        )
                    replaced[rid] = where


def _rule_by_rule(files: Sequence[_RawFile], out: _Collector) -> None:
    """Validate and build each rule on its own, so one bad rule does not hide the others' errors."""
    from pydantic import ValidationError

    from compliance.rulesets import loader as _loader
    from compliance.rulesets.schema import ParameterSpec, RuleSpec
    from compliance.rulesets.yaml_source import line_of

    params: dict[str, ParameterSpec] = {}
    groups: dict[str, GroupSpec] = {}
    for f in files:
        for key, model, into in (
            ("parameters", ParameterSpec, params),
            ("replace_parameters", ParameterSpec, params),
            ("groups", GroupSpec, groups),
        ):
            table = f.raw.get(key)
            for name, body in table.items() if isinstance(table, Mapping) else ():
                try:
                    into[name] = model.model_validate(body)  # type: ignore[assignment]
                except ValidationError:
                    continue  # the loader's own error names it
    for f in files:
        for key in ("rules", "replace_rules"):
            for line, entry in _rule_entries(f.raw, key):
                rid = str(entry.get("id", "?"))
                try:
                    spec = RuleSpec.model_validate(entry)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    loc = tuple(err["loc"])
                    if loc and loc[0] in ("citations", "because"):
                        continue  # CL003/CL004 say it better
                    where = ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "rule"
                    out.add(
                        "CL001",
                        "error",
                        (str(f.path), line_of(entry, loc) or line),
                        f"rule {rid}: {where}: {err['msg']}",
                        rid,
                    )
                    continue
                try:
                    _loader._build_rule(spec, f"{f.path}:{line}", "lint", entry, params, groups)
                except RulesetError as exc:
                    out.add("CL001", "error", (exc.file or str(f.path), exc.line or line), exc.message, rid)


# ------------------------------------------------------------------------------------------------
# Dates


def _span(period: Period) -> tuple[dt.date, dt.date]:
    return (period.start or _MIN_DATE, period.end or _MAX_DATE)


def _overlap(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date] | None:
    start, end = max(a[0], b[0]), min(a[1], b[1])
    return (start, end) if start <= end else None


def _show_span(span: tuple[dt.date, dt.date]) -> str:
    start = "…" if span[0] == _MIN_DATE else str(span[0])
    end = "…" if span[1] == _MAX_DATE else str(span[1])
    return f"{start} → {end}"


def _spans(rule: Rule) -> list[tuple[dt.date, dt.date]]:
    return [_span(p) for p in rule.spec.periods()]


def _check_families(ruleset: Ruleset, out: _Collector) -> None:
    families: dict[str, list[Rule]] = {}
    for rule in ruleset.rules:
        if rule.spec.family:
            families.setdefault(rule.spec.family, []).append(rule)
    for family, rules in families.items():
        intervals = sorted(((span, rule) for rule in rules for span in _spans(rule)), key=lambda x: (x[0], x[1].id))
        for i, (a, ra) in enumerate(intervals):
            for b, rb in intervals[i + 1 :]:
                if rb.id == ra.id:
                    continue
                both = _overlap(a, b)
                if both is None or _related(ra, rb) or _decision(ra) == _decision(rb) or _disjoint(ra, rb):
                    continue
                out.add(
                    "CL005",
                    "error",
                    rb.origin,
                    f"family {family}: {rb.id} ({_decision(rb)}) and {ra.id} ({_decision(ra)}) can both fire on the "
                    f"same facts {_show_span(both)} and decide differently; end one the day before the other "
                    "starts, or declare `overrides`",
                    rb.id,
                )
        reach = intervals[0][0][1] if intervals else _MAX_DATE
        for span, rule in intervals[1:]:
            if reach < _MAX_DATE and span[0] > reach + dt.timedelta(days=1):
                gap = (reach + dt.timedelta(days=1), span[0] - dt.timedelta(days=1))
                out.add(
                    "CL006",
                    "warning",
                    rule.origin,
                    f"family {family}: no rule is in force {_show_span(gap)} (before {rule.id} starts)",
                    rule.id,
                )
            reach = max(reach, span[1])


def _decision(rule: Rule) -> str:
    policy = rule.spec.review_policy
    shown = getattr(policy, "value", None) or (f"from {policy.from_fact}" if policy is not None else "")  # type: ignore[union-attr]
    return f"{rule.spec.outcome.value}{' · ' + shown if shown else ''}"


def _related(a: Rule, b: Rule) -> bool:
    """One declares it overrides the other: their overlap is an intended exception, not a conflict."""
    return any(t == b.id for t, _ in a.overrides) or any(t == a.id for t, _ in b.overrides)


def _disjoint(a: Rule, b: Rule) -> bool:
    """The two rules' tests on a fact type each binds once contradict: they never decide the same facts."""
    mine: dict[str, list[Pattern]] = {}
    theirs: dict[str, list[Pattern]] = {}
    for p in a.condition.patterns:
        mine.setdefault(p.fact_type, []).append(p)
    for p in b.condition.patterns:
        theirs.setdefault(p.fact_type, []).append(p)
    for fact_type in mine.keys() & theirs.keys():
        if len(mine[fact_type]) != 1 or len(theirs[fact_type]) != 1:
            continue
        merged = _labelled(mine[fact_type][0]) + _labelled(theirs[fact_type][0])
        if any(_contradiction(name, c) for name, c in _constraints(merged).items()):
            return True
    return False


# ------------------------------------------------------------------------------------------------
# Contradictions


def _conjuncts(test: Test) -> Iterable[Test]:
    """The tests a pattern ANDs at its top level (nested ``all_of`` included, ``any_of``/``not`` skipped)."""
    if isinstance(test, AllOf):
        for t in test.tests:
            yield from _conjuncts(t)
    elif isinstance(test, Not):
        inner = test.test
        if isinstance(inner, Contains) and inner.mode == "any":
            yield test  # "none of": a leaf
    elif isinstance(test, Compare | OneOf | Contains | Exists):
        yield test


@dataclass
class _FieldConstraint:
    allowed: set[Scalar] | None = None
    allowed_from: list[str] = field(default_factory=list)
    excluded: set[Scalar] = field(default_factory=set)
    lower: tuple[Scalar, bool] | None = None  # (value, inclusive)
    upper: tuple[Scalar, bool] | None = None
    bounds_from: list[str] = field(default_factory=list)
    missing: bool = False
    present_tests: list[str] = field(default_factory=list)
    must_contain: set[str] = field(default_factory=set)
    any_sets: list[tuple[str, ...]] = field(default_factory=list)
    none_of: set[str] = field(default_factory=set)


def _constraints(tests: Iterable[tuple[str, Test]]) -> dict[str, _FieldConstraint]:
    """Per field, what the ANDed tests allow. ``tests`` are (label, leaf) pairs."""
    out: dict[str, _FieldConstraint] = {}
    for label, test in tests:
        if isinstance(test, Not):
            inner = test.test
            assert isinstance(inner, Contains)
            c = out.setdefault(inner.field, _FieldConstraint())
            c.none_of.update(inner.values)
            continue
        if isinstance(test, AllOf | Not) or not hasattr(test, "field"):
            continue
        c = out.setdefault(test.field, _FieldConstraint())
        if isinstance(test, Exists):
            if not test.present:
                c.missing = True
            continue
        c.present_tests.append(label)
        if isinstance(test, OneOf) or (isinstance(test, Compare) and test.op == "eq"):
            if isinstance(test, Compare) and isinstance(test.value, Ref):
                continue
            values: set[Scalar] = set(test.values) if isinstance(test, OneOf) else {test.value}  # type: ignore[arg-type]
            c.allowed = values if c.allowed is None else c.allowed & values
            c.allowed_from.append(label)
        elif isinstance(test, Compare) and not isinstance(test.value, Ref):
            if test.op == "ne":
                c.excluded.add(test.value)
            elif test.op in ("gt", "gte"):
                new = (test.value, test.op == "gte")
                if c.lower is None or _tighter_lower(new, c.lower):
                    c.lower = new
                c.bounds_from.append(label)
            elif test.op in ("lt", "lte"):
                new = (test.value, test.op == "lte")
                if c.upper is None or _tighter_upper(new, c.upper):
                    c.upper = new
                c.bounds_from.append(label)
        elif isinstance(test, Contains):
            if test.mode == "all":
                c.must_contain.update(test.values)
            else:
                c.any_sets.append(test.values)
    return out


def _lt(a: Scalar, b: Scalar) -> bool:
    try:
        return bool(a < b)  # type: ignore[operator]
    except TypeError:
        return False


def _tighter_lower(new: tuple[Scalar, bool], old: tuple[Scalar, bool]) -> bool:
    return _lt(old[0], new[0]) or (new[0] == old[0] and not new[1])


def _tighter_upper(new: tuple[Scalar, bool], old: tuple[Scalar, bool]) -> bool:
    return _lt(new[0], old[0]) or (new[0] == old[0] and not new[1])


def _in_range(value: Scalar, c: _FieldConstraint) -> bool:
    if c.lower is not None and (_lt(value, c.lower[0]) or (value == c.lower[0] and not c.lower[1])):
        return False
    return not (c.upper is not None and (_lt(c.upper[0], value) or (value == c.upper[0] and not c.upper[1])))


def _contradiction(name: str, c: _FieldConstraint) -> str | None:
    """Why no value of the field can pass all its tests, or None."""
    if c.missing and (c.present_tests or c.must_contain or c.any_sets):
        return f"{name} is required to be missing, yet tested ({'; '.join(c.present_tests) or 'contains'})"
    if c.allowed is not None:
        left = {v for v in c.allowed if v not in c.excluded and _in_range(v, c)}
        if not left:
            return f"no value of {name} satisfies {' and '.join(c.allowed_from + c.bounds_from)}" + (
                f" and ≠ {', '.join(sorted(map(str, c.excluded)))}" if c.excluded else ""
            )
    if c.lower is not None and c.upper is not None:
        lo, hi = c.lower, c.upper
        if _lt(hi[0], lo[0]) or (lo[0] == hi[0] and not (lo[1] and hi[1])):
            return f"the range of {name} is empty: {' and '.join(c.bounds_from)}"
    clash = c.must_contain & c.none_of
    if clash:
        return f"{name} must contain {', '.join(sorted(clash))} and must contain none of them"
    for values in c.any_sets:
        if set(values) <= c.none_of:
            return f"{name} must contain one of [{', '.join(values)}], all of which it must not contain"
    return None


def _labelled(pattern: Pattern) -> list[tuple[str, Test]]:
    from compliance.conditions import render_test

    return [(render_test(t, pattern.alias + "."), t) for t in _conjuncts(pattern.test)]


def _check_contradictions(rule: Rule, out: _Collector) -> None:
    for pattern in rule.condition.patterns:
        for name, constraint in _constraints(_labelled(pattern)).items():
            why = _contradiction(f"{pattern.alias}.{name}", constraint)
            if why:
                out.add("CL008", "error", rule.origin, f"rule {rule.id} can never fire: {why}", rule.id)
    # The evaluation date is a fact too: a test on transaction.as_of outside the rule's periods is dead.
    for pattern in rule.condition.patterns:
        if pattern.fact_type != "transaction":
            continue
        c = _constraints(_labelled(pattern)).get("as_of")
        if c is None:
            continue
        spans = _spans(rule)
        if not any(_date_range_meets(c, span) for span in spans):
            out.add(
                "CL008",
                "error",
                rule.origin,
                f"rule {rule.id} can never fire: its test on {pattern.alias}.as_of falls outside its effective "
                f"period(s) {', '.join(_show_span(s) for s in spans)}",
                rule.id,
            )


def _date_range_meets(c: _FieldConstraint, span: tuple[dt.date, dt.date]) -> bool:
    lo = str(span[0]) if span[0] != _MIN_DATE else None
    hi = str(span[1]) if span[1] != _MAX_DATE else None
    probe = _FieldConstraint(lower=c.lower, upper=c.upper)
    if lo is not None and (probe.lower is None or _lt(probe.lower[0], lo)):
        probe.lower = (lo, True)
    if hi is not None and (probe.upper is None or _lt(hi, probe.upper[0])):
        probe.upper = (hi, True)
    probe.allowed = c.allowed
    probe.bounds_from = ["as_of"]
    probe.allowed_from = ["as_of"]
    return _contradiction("as_of", probe) is None


# ------------------------------------------------------------------------------------------------
# Groups and dates


def _group_live(group: GroupSpec, spans: Sequence[tuple[dt.date, dt.date]]) -> bool:
    return any(_overlap(_member_span(m.start, m.end), span) for m in group.members for span in spans)


def _member_span(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    return (start or _MIN_DATE, end or _MAX_DATE)


def _check_groups(rule: Rule, groups: Mapping[str, GroupSpec], out: _Collector) -> None:
    spans = _spans(rule)
    when = ", ".join(_show_span(s) for s in spans)
    for pattern in rule.condition.patterns:
        for leaf in _conjuncts(pattern.test):
            if not isinstance(leaf, Contains) or not leaf.field.endswith("groups"):
                continue
            dead = [g for g in leaf.values if g in groups and not _group_live(groups[g], spans)]
            if not dead:
                continue
            where = f"{pattern.alias}.{leaf.field}"
            if leaf.mode == "all" or len(dead) == len(leaf.values):
                out.add(
                    "CL009",
                    "error",
                    rule.origin,
                    f"rule {rule.id} can never fire: {where} tests {', '.join(dead)}, which has no member while "
                    f"the rule is in force ({when})",
                    rule.id,
                )
            else:
                out.add(
                    "CL009",
                    "warning",
                    rule.origin,
                    f"rule {rule.id}: {where} lists {', '.join(dead)}, which has no member while the rule is in "
                    f"force ({when})",
                    rule.id,
                )


# ------------------------------------------------------------------------------------------------
# Overrides


def _check_overrides(ruleset: Ruleset, out: _Collector) -> None:
    for rule in ruleset.rules:
        for target_id, qualifier in rule.overrides:
            if not ruleset.has_rule(target_id):
                continue
            target = ruleset.rule(target_id)
            prefix = f"rule {rule.id} overrides {target_id}, but the override can never apply"
            if not any(_overlap(a, b) for a in _spans(rule) for b in _spans(target)):
                out.add(
                    "CL007",
                    "error",
                    rule.origin,
                    f"{prefix}: {target_id} is in force {', '.join(_show_span(s) for s in _spans(target))}, "
                    f"{rule.id} only {', '.join(_show_span(s) for s in _spans(rule))}",
                    rule.id,
                )
                continue
            mine = {p.alias: p for p in rule.condition.patterns}
            theirs = {p.alias: p for p in target.condition.patterns}
            shared = sorted(mine.keys() & theirs.keys())
            for alias in shared:
                if mine[alias].fact_type != theirs[alias].fact_type:
                    out.add(
                        "CL007",
                        "error",
                        rule.origin,
                        f"{prefix}: alias {alias} is a {mine[alias].fact_type} here and a "
                        f"{theirs[alias].fact_type} in {target_id}, so they never bind the same fact",
                        rule.id,
                    )
                    break
                merged = _labelled(mine[alias]) + _labelled(theirs[alias])
                for name, constraint in _constraints(merged).items():
                    why = _contradiction(f"{alias}.{name}", constraint)
                    if why:
                        out.add("CL007", "error", rule.origin, f"{prefix}: on the shared {alias}, {why}", rule.id)
            if qualifier is not None:
                for qp in qualifier.patterns:
                    tp = theirs.get(qp.alias)
                    if tp is None:
                        out.add(
                            "CL007",
                            "error",
                            rule.origin,
                            f"{prefix}: its `when` tests {qp.alias}, which {target_id} does not bind",
                            rule.id,
                        )
                        continue
                    merged = _labelled(qp) + _labelled(tp)
                    for name, constraint in _constraints(merged).items():
                        why = _contradiction(f"{qp.alias}.{name}", constraint)
                        if why:
                            out.add(
                                "CL007",
                                "error",
                                rule.origin,
                                f"{prefix}: its `when` contradicts {target_id}: {why}",
                                rule.id,
                            )
            elif not shared:
                out.add(
                    "CL007",
                    "warning",
                    rule.origin,
                    f"rule {rule.id} overrides {target_id} with no alias in common and no `when`: any finding of "
                    f"{rule.id} suppresses every {target_id} finding of the transaction",
                    rule.id,
                )


# ------------------------------------------------------------------------------------------------
# Cases


def _check_cases(
    ruleset: Ruleset, paths: Sequence[Path], screening: Literal["default", "none"], out: _Collector
) -> None:
    from compliance.testing._cases import find_case_files, load_case_file, run_case
    from compliance.testing._coverage import RuleCoverage, display_path
    from compliance.testing._expect import unknown_rules
    from compliance.testing._rulesets import EngineCache

    engines = EngineCache(screening=screening)
    coverage = RuleCoverage()
    try:
        files = find_case_files(list(paths))
    except RulesetError as exc:
        out.add("CL011", "error", (exc.file or "?", exc.line), exc.message)
        return
    for path in files:
        try:
            casefile = load_case_file(path)
        except RulesetError as exc:
            out.add("CL011", "error", (exc.file or str(path), exc.line), exc.message)
            continue
        for case in casefile.cases:
            try:
                engine = engines.get(casefile.combination, casefile.lists)
                unknown = unknown_rules(case.spec.expect, (r.id for r in engine.ruleset.rules))
                for m in unknown:
                    out.add("CL011", "error", case.location, f"case {case.name}: {m.message}", m.rule_id)
                result = run_case(case, engines, lambda e, d: coverage.record(e.ruleset, d))
            except RulesetError as exc:
                out.add("CL011", "error", case.location, f"case {case.name}: cannot run: {exc}")
                continue
            out.report.cases_run += 1
            failing = [m for m in result.mismatches if m not in unknown]
            if failing:
                out.add("CL012", "warning", case.location, f"case {case.name} fails: {failing[0].message}")
    fired = {(r.origin, r.rule_id) for s in coverage.report().sources for r in s.fired}
    for rule in ruleset.rules:
        if (f"{display_path(rule.file)}:{rule.line}", rule.id) not in fired:
            out.add(
                "CL010", "warning", rule.origin, f"no case fires rule {rule.id} (as a finding or overridden)", rule.id
            )
