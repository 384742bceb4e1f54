"""Load a ruleset with its includes and overlays into an immutable, hashed, checked `Ruleset`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

import compliance
from compliance.conditions import (
    Compare,
    Condition,
    ConditionError,
    Contains,
    OneOf,
    leaves,
    parse_condition,
    referenced_fields,
)
from compliance.errors import RulesetError
from compliance.facts import FACT_SCHEMA, field_kind
from compliance.model import _ALPHA2
from compliance.rulesets.schema import (
    ExceptionSpec,
    GroupSpec,
    IncludeFile,
    OverrideSpec,
    ParameterSpec,
    Period,
    PolicyFromFact,
    RulesetFile,
    RuleSpec,
    ScreeningSettings,
    SourceSpec,
)
from compliance.rulesets.yaml_source import LineDict, LineList, line_of, load_yaml_file

RULESETS_ENV = "COMPLIANCE_RULESETS"
_COUNTRY_FIELDS = frozenset(
    {
        "destination",
        "export_from",
        "country",
        "headquarters",
        "parent_headquarters",
        "lessee_country",
        "lessee_headquarters",
        "lessor_country",
        "party_headquarters",
        "beneficiary_headquarters",
        "location",
    }
)


@dataclass(frozen=True)
class ScopedCondition:
    """A condition evaluated on a finding's bound facts (exception or override qualifier)."""

    condition: Condition


@dataclass(frozen=True)
class Rule:
    spec: RuleSpec
    condition: Condition
    origin: str
    """``file:line`` where the rule is defined (or last replaced)."""
    defined_in: str
    """Ruleset or overlay id that defined the rule."""
    exceptions: tuple[tuple[str, Condition | None], ...]
    overrides: tuple[tuple[str, Condition | None], ...]
    referenced: Mapping[str, frozenset[str]]
    parameters_used: tuple[str, ...]
    reported: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per alias, the fields a finding reports: those tested, those its `because` names, and `id`."""
    tested_values: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """Per (alias, field), the values the rule's tests name (e.g. the groups a `*_groups` test lists)."""
    because_parts: tuple[tuple[str, str | None], ...] = ()
    """The `because` template parsed once: (literal text, placeholder or None) pairs."""
    spans: tuple[tuple[dt.date | None, dt.date | None, Period], ...] = field(
        init=False, default=(), repr=False, compare=False
    )
    """(first day, last day, period) of each effective period, read once (every evaluation asks)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "spans", tuple((p.start, p.end, p) for p in self.spec.periods()))

    @property
    def id(self) -> str:
        return self.spec.id

    def in_force(self, day: dt.date) -> bool:
        return self.period_at(day) is not None

    @property
    def file(self) -> str:
        return self.origin.rpartition(":")[0]

    @property
    def line(self) -> int:
        return int(self.origin.rpartition(":")[2])

    def error(self, message: str) -> RulesetError:
        """A RulesetError located at this rule's definition (``file:line: message``)."""
        return RulesetError(message, self.file, self.line)

    def period_at(self, day: dt.date) -> Period | None:
        for start, end, period in self.spans:
            if (start is None or start <= day) and (end is None or day <= end):
                return period
        return None


@dataclass(frozen=True)
class OverlayInfo:
    id: str
    version: str
    status: str
    title: str
    path: str
    sources: tuple[SourceSpec, ...]


@dataclass(frozen=True)
class Ruleset:
    id: str
    version: str
    title: str
    status: str
    jurisdiction: str
    sources: tuple[SourceSpec, ...]
    max_list_age_days: int
    screening: ScreeningSettings
    parameters: Mapping[str, ParameterSpec]
    groups: Mapping[str, GroupSpec]
    rules: tuple[Rule, ...]
    overlays: tuple[OverlayInfo, ...]
    sha256: str
    files: tuple[str, ...]
    _by_id: Mapping[str, Rule] = field(default_factory=dict, repr=False)

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def has_rule(self, rule_id: str) -> bool:
        return rule_id in self._by_id

    def rules_in_force(self, day: dt.date) -> list[Rule]:
        return [r for r in self.rules if r.in_force(day)]

    @property
    def label(self) -> str:
        names = [self.id, *(o.id for o in self.overlays)]
        return " + ".join(names)


# ------------------------------------------------------------------------------------------------
# Locating files


def search_roots() -> list[Path]:
    roots = [Path(p) for p in os.environ.get(RULESETS_ENV, "").split(os.pathsep) if p]
    # the project's rulesets/ beside the package, located from the package's __init__ (never compiled: a module
    # compiled by compliance.native may carry a file attribute that is not where it lives)
    here = Path(compliance.__file__).resolve().parent.parent / "rulesets"
    roots.append(here)
    roots.append(Path.cwd() / "rulesets")
    return roots


def resolve_ruleset_path(name_or_path: str | Path) -> Path:
    """A path to a ruleset file, or a name looked up under the ruleset roots."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        candidate = candidate / "ruleset.yaml"
    if candidate.is_file():
        return candidate
    name = str(name_or_path)
    tried: list[str] = []
    for root in search_roots():
        for option in (root / name / "ruleset.yaml", root / f"{name}.yaml", root / "scenarios" / f"{name}.yaml"):
            tried.append(str(option))
            if option.is_file():
                return option
    raise RulesetError(f"no ruleset named {name!r} (looked in {', '.join(dict.fromkeys(tried))})")


def available_rulesets() -> list[Path]:
    """Every ruleset and overlay file under the roots."""
    found: dict[str, Path] = {}
    for root in search_roots():
        if not root.is_dir():
            continue
        for path in sorted(root.glob("*/ruleset.yaml")) + sorted(root.glob("scenarios/*.yaml")):
            if not path.name.endswith(".cases.yaml"):
                found.setdefault(str(path.resolve()), path)
    return list(found.values())


# ------------------------------------------------------------------------------------------------
# Loading


def _validate(model: type[BaseModel], raw: Any, path: Path) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = line_of(raw, loc)
        where = ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "file"
        raise RulesetError(f"{where}: {err['msg']}", str(path), line) from None


def _read(path: Path) -> Any:
    raw = load_yaml_file(path)
    if not isinstance(raw, LineDict):
        raise RulesetError("a ruleset file must be a mapping", str(path), 1)
    return raw


@dataclass
class _Draft:
    """Mutable state while a ruleset and its overlays are merged."""

    base: RulesetFile
    parameters: dict[str, tuple[ParameterSpec, str]] = field(default_factory=dict)
    groups: dict[str, tuple[GroupSpec, str]] = field(default_factory=dict)
    rules: dict[str, tuple[RuleSpec, str, str, Any]] = field(default_factory=dict)
    """id -> (spec, origin file:line, defining ruleset id, raw mapping for error lines)"""
    files: list[str] = field(default_factory=list)
    screening: ScreeningSettings | None = None
    max_list_age_days: int | None = None


@dataclass(frozen=True)
class InlineOverlay:
    """An overlay that is a mapping inside another file (e.g. a case file's draft), not a file of its own.

    ``mapping`` is what ``yaml_source.load_yaml_file`` returned for it, so errors point at ``source``'s lines.
    """

    mapping: Any
    source: Path


def load_ruleset(name_or_path: str | Path, overlays: Sequence[str | Path | InlineOverlay] = ()) -> Ruleset:
    """Load a baseline ruleset, apply overlays in order, check every reference, and hash the result."""
    path = resolve_ruleset_path(name_or_path)
    raw = _read(path)
    base: RulesetFile = _validate(RulesetFile, raw, path)
    if base.extends is not None:
        raise RulesetError(
            f"{base.id} is an overlay (extends {base.extends}); load its base with it as an overlay",
            str(path),
            raw.key_lines.get("extends"),
        )
    draft = _Draft(base=base, screening=base.screening, max_list_age_days=base.max_list_age_days)
    _absorb(draft, base, raw, path, base.id, adding_only=True)
    for inc in base.include:
        inc_path = (path.parent / inc).resolve()
        if not inc_path.is_file():
            raise RulesetError(f"included file {inc!r} not found", str(path), raw.key_lines.get("include"))
        inc_raw = _read(inc_path)
        inc_file: IncludeFile = _validate(IncludeFile, inc_raw, inc_path)
        _absorb(draft, inc_file, inc_raw, inc_path, base.id, adding_only=True)

    infos: list[OverlayInfo] = []
    for overlay in overlays:
        if isinstance(overlay, InlineOverlay):
            opath, oraw = overlay.source, overlay.mapping
            if not isinstance(oraw, LineDict):
                raise RulesetError("an inline overlay must be a mapping with `extends:`", str(opath), None)
        else:
            opath = resolve_ruleset_path(overlay)
            oraw = _read(opath)
        ofile: RulesetFile = _validate(RulesetFile, oraw, opath)
        if ofile.extends is None:
            raise RulesetError(f"{ofile.id} is not an overlay (no `extends:`)", str(opath), oraw.line)
        if ofile.extends != base.id:
            raise RulesetError(
                f"overlay extends {ofile.extends!r}, not {base.id!r}", str(opath), oraw.key_lines.get("extends")
            )
        _apply_overlay(draft, ofile, oraw, opath)
        infos.append(OverlayInfo(ofile.id, ofile.version, ofile.status, ofile.title, str(opath), tuple(ofile.sources)))
    return _finish(draft, tuple(infos))


def _origin(path: Path, raw: Any, loc: Sequence[str | int]) -> str:
    return f"{path.resolve()}:{line_of(raw, loc) or 1}"


def _absorb(
    draft: _Draft, part: RulesetFile | IncludeFile, raw: Any, path: Path, owner: str, adding_only: bool
) -> None:
    draft.files.append(str(path))
    for name, param in part.parameters.items():
        if name in draft.parameters:
            raise RulesetError(
                f"parameter {name!r} is defined twice (first at {draft.parameters[name][1]})",
                str(path),
                line_of(raw, ("parameters", name)),
            )
        draft.parameters[name] = (param, _origin(path, raw, ("parameters", name)))
    for name, group in part.groups.items():
        if name in draft.groups:
            raise RulesetError(
                f"group {name!r} is defined twice (first at {draft.groups[name][1]})",
                str(path),
                line_of(raw, ("groups", name)),
            )
        draft.groups[name] = (group, _origin(path, raw, ("groups", name)))
    raw_rules = raw.get("rules", LineList()) if isinstance(raw, LineDict) else []
    for i, rule in enumerate(part.rules):
        if rule.id in draft.rules:
            raise RulesetError(
                f"rule {rule.id} is defined twice (first at {draft.rules[rule.id][1]})",
                str(path),
                line_of(raw, ("rules", i)),
            )
        draft.rules[rule.id] = (rule, _origin(path, raw, ("rules", i)), owner, raw_rules[i])


def _apply_overlay(draft: _Draft, overlay: RulesetFile, raw: Any, path: Path) -> None:
    if overlay.include:
        raise RulesetError("overlays cannot include files", str(path), raw.key_lines.get("include"))
    if overlay.screening is not None:
        draft.screening = overlay.screening
    if overlay.max_list_age_days is not None:
        draft.max_list_age_days = overlay.max_list_age_days
    for rid in overlay.remove_rules:
        if rid not in draft.rules:
            raise RulesetError(f"remove_rules: no rule {rid!r} to remove", str(path), line_of(raw, ("remove_rules",)))
        del draft.rules[rid]
    raw_replace = raw.get("replace_rules", [])
    for i, rule in enumerate(overlay.replace_rules):
        if rule.id not in draft.rules:
            raise RulesetError(
                f"replace_rules: no rule {rule.id!r} to replace", str(path), line_of(raw, ("replace_rules", i))
            )
        draft.rules[rule.id] = (rule, _origin(path, raw, ("replace_rules", i)), overlay.id, raw_replace[i])
    for name, param in overlay.replace_parameters.items():
        if name not in draft.parameters:
            raise RulesetError(
                f"replace_parameters: no parameter {name!r}", str(path), line_of(raw, ("replace_parameters", name))
            )
        draft.parameters[name] = (param, _origin(path, raw, ("replace_parameters", name)))
    for name, patch in overlay.patch_groups.items():
        if name not in draft.groups:
            raise RulesetError(f"patch_groups: no group {name!r}", str(path), line_of(raw, ("patch_groups", name)))
        group, origin = draft.groups[name]
        members = [m for m in group.members if m.country not in set(patch.remove)]
        members.extend(patch.add)
        draft.groups[name] = (group.model_copy(update={"members": members}), origin)
    _absorb(draft, overlay, raw, path, overlay.id, adding_only=True)


IMPLICIT_PARAMETERS = ("max_list_age_days",)
"""Ruleset settings rules can read as parameters (one source of truth: the setting itself)."""


def _finish(draft: _Draft, overlays: tuple[OverlayInfo, ...]) -> Ruleset:
    for name in IMPLICIT_PARAMETERS:
        if name in draft.parameters:
            file, _, line = draft.parameters[name][1].rpartition(":")
            raise RulesetError(f"parameter {name!r} is the ruleset setting of that name; set it there", file, int(line))
    params = {k: v for k, (v, _) in draft.parameters.items()}
    assert draft.max_list_age_days is not None
    params["max_list_age_days"] = ParameterSpec(
        value=draft.max_list_age_days,
        unit="days",
        title="Oldest acceptable list snapshot before the as-of date (ruleset setting)",
        source=f"ruleset setting max_list_age_days of {draft.base.id}" + (" as set by overlays" if overlays else ""),
    )
    groups = {k: v for k, (v, _) in draft.groups.items()}
    rules: list[Rule] = []
    for spec, origin, owner, raw_rule in draft.rules.values():
        rules.append(_build_rule(spec, origin, owner, raw_rule, params, groups))
    by_id = {r.id: r for r in rules}
    for rule in rules:
        for target, _ in rule.overrides:
            if target not in by_id:
                raise rule.error(f"rule {rule.id} overrides unknown rule {target!r}")
            if target == rule.id:
                raise rule.error(f"rule {rule.id} overrides itself")
        own_aliases = rule.condition.aliases()
        for target, qualifier in rule.overrides:
            target_aliases = by_id[target].condition.aliases()
            for alias in own_aliases.keys() & target_aliases.keys():
                if own_aliases[alias] != target_aliases[alias]:
                    raise rule.error(
                        f"rule {rule.id} overrides {target}, but alias {alias!r} is {own_aliases[alias]} in one and "
                        f"{target_aliases[alias]} in the other, so the override could never apply"
                    )
            if qualifier is None:
                continue
            for alias, fact_type in qualifier.aliases().items():
                if target_aliases.get(alias) != fact_type:
                    raise rule.error(
                        f"rule {rule.id}: overrides {target} when {alias} ({fact_type}), but {target} binds "
                        f"{', '.join(f'{a} ({t})' for a, t in target_aliases.items())}"
                    )
    assert draft.screening is not None and draft.max_list_age_days is not None
    base = draft.base
    canonical = {
        "id": base.id,
        "version": base.version,
        "status": base.status,
        "jurisdiction": base.jurisdiction,
        "max_list_age_days": draft.max_list_age_days,
        "screening": draft.screening.model_dump(mode="json"),
        "parameters": {k: v.model_dump(mode="json", by_alias=True) for k, v in sorted(params.items())},
        "groups": {k: v.model_dump(mode="json", by_alias=True) for k, v in sorted(groups.items())},
        "rules": [r.spec.model_dump(mode="json", by_alias=True) for r in rules],
        "overlays": [{"id": o.id, "version": o.version} for o in overlays],
    }
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Ruleset(
        id=base.id,
        version=base.version,
        title=base.title,
        status=base.status,
        jurisdiction=base.jurisdiction,
        sources=tuple(base.sources),
        max_list_age_days=draft.max_list_age_days,
        screening=draft.screening,
        parameters=params,
        groups=groups,
        rules=tuple(rules),
        overlays=overlays,
        sha256=digest,
        files=tuple(draft.files),
        _by_id=by_id,
    )


def _build_rule(
    spec: RuleSpec,
    origin: str,
    owner: str,
    raw_rule: Any,
    params: Mapping[str, ParameterSpec],
    groups: Mapping[str, GroupSpec],
) -> Rule:
    file, _, line_text = origin.rpartition(":")

    def fail(message: str, loc: Sequence[str | int] = ()) -> RulesetError:
        line = line_of(raw_rule, tuple(loc)) if loc else int(line_text)
        return RulesetError(f"rule {spec.id}: {message}", file, line or int(line_text))

    used_params: list[str] = []

    def param(name: str) -> float:
        if name not in params:
            raise KeyError(name)
        used_params.append(name)
        return params[name].value

    try:
        condition = parse_condition(spec.when, param)
    except ConditionError as exc:
        raise fail(str(exc), exc.path) from None
    aliases = condition.aliases()
    _check_values(condition, groups, fail)

    def scoped(
        when: Mapping[str, Any] | None, alias_types: Mapping[str, str], loc: tuple[str | int, ...]
    ) -> Condition | None:
        if when is None:
            return None
        typed: dict[str, Any] = {}
        for alias, body in when.items():
            if alias not in alias_types:
                raise fail(f"{loc[0]}: alias {alias!r} is not bound by the rule it qualifies", loc)
            typed[alias] = {"fact": alias_types[alias], **dict(body)} if isinstance(body, Mapping) else body
        try:
            cond = parse_condition(typed, param)
        except ConditionError as exc:
            raise fail(f"{'.'.join(map(str, loc))}: {exc}", (*loc, *exc.path[1:])) from None
        _check_values(cond, groups, fail)
        return cond

    exceptions: list[tuple[str, Condition | None]] = []
    for i, exc_spec in enumerate(spec.exceptions):
        if isinstance(exc_spec, ExceptionSpec):
            exceptions.append((exc_spec.id, scoped(exc_spec.when, aliases, ("exceptions", i, "when"))))
        else:
            exceptions.append((exc_spec, None))
    overrides: list[tuple[str, OverrideSpec | None]] = [
        (o.rule, o) if isinstance(o, OverrideSpec) else (o, None) for o in spec.overrides
    ]
    # Override qualifiers test the *overridden* rule's facts; their aliases are checked in a second pass.
    override_conds: list[tuple[str, Condition | None]] = []
    for i, (target, ospec) in enumerate(overrides):
        if ospec is None or ospec.when is None:
            override_conds.append((target, None))
            continue
        typed = {
            a: {"fact": (b.get("fact") if isinstance(b, Mapping) else None) or a, **dict(b)}
            for a, b in ospec.when.items()
        }
        try:
            cond = parse_condition(typed, param)
        except ConditionError as exc:
            raise fail(f"overrides[{i}].when: {exc}", ("overrides", i, "when")) from None
        override_conds.append((target, cond))

    if isinstance(spec.review_policy, PolicyFromFact):
        alias, _, fname = spec.review_policy.from_fact.partition(".")
        if alias not in aliases or field_kind(aliases[alias], fname) is None:
            raise fail(
                f"review_policy.from_fact {spec.review_policy.from_fact!r} is not a bound fact field",
                ("review_policy",),
            )
    _check_template(spec.because, aliases, params, fail)
    refs = referenced_fields(condition)
    template: dict[str, set[str]] = {}
    for _, name, _, _ in string.Formatter().parse(spec.because):
        if name and "." in name:
            alias, _, fname = name.partition(".")
            template.setdefault(alias, set()).add(fname)
    reported = {alias: tuple(sorted(refs.get(alias, set()) | template.get(alias, set()) | {"id"})) for alias in aliases}
    tested: dict[tuple[str, str], set[str]] = {}
    for pattern in condition.patterns:
        for leaf in leaves(pattern.test):
            values = getattr(leaf, "values", None)
            if values is not None:
                tested.setdefault((pattern.alias, leaf.field), set()).update(str(v) for v in values)  # type: ignore[union-attr]
    return Rule(
        spec=spec,
        condition=condition,
        origin=origin,
        defined_in=owner,
        exceptions=tuple(exceptions),
        overrides=tuple(override_conds),
        referenced={a: frozenset(f) for a, f in refs.items()},
        parameters_used=tuple(dict.fromkeys(used_params)),
        reported=reported,
        tested_values={k: frozenset(v) for k, v in tested.items()},
        because_parts=tuple((literal, name) for literal, name, _, _ in string.Formatter().parse(spec.because)),
    )


def _check_template(template: str, aliases: Mapping[str, str], params: Mapping[str, ParameterSpec], fail: Any) -> None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise fail(f"because: {exc}", ("because",)) from None
    for _, name, _, _ in parsed:
        if name is None:
            continue
        alias, _, fname = name.partition(".")
        if alias == "param":
            if fname not in params:
                raise fail(f"because: unknown parameter {fname!r}", ("because",))
            continue
        if alias == "rule" and fname in ("id", "title", "review_policy", "exceptions"):
            continue
        if alias not in aliases:
            raise fail(f"because: {{{name}}} names no bound alias (aliases: {', '.join(aliases)})", ("because",))
        if fname not in FACT_SCHEMA[aliases[alias]]:
            raise fail(f"because: {aliases[alias]} has no field {fname!r}", ("because",))


def _check_values(condition: Condition, groups: Mapping[str, GroupSpec], fail: Any) -> None:
    """Group names must be defined groups, and country fields must hold ISO codes."""
    for pattern in condition.patterns:
        for leaf in leaves(pattern.test):
            values: tuple[Any, ...] = ()
            fname = getattr(leaf, "field", "")
            if isinstance(leaf, Contains | OneOf):
                values = tuple(leaf.values)
            elif isinstance(leaf, Compare) and isinstance(leaf.value, str):
                values = (leaf.value,)
            if fname.endswith("groups"):
                for v in values:
                    if v not in groups:
                        raise fail(
                            f"unknown country group {v!r} in {pattern.alias}.{fname} "
                            f"(defined: {', '.join(sorted(groups))})",
                            ("when", pattern.alias),
                        )
            elif fname in _COUNTRY_FIELDS:
                for v in values:
                    if v not in _ALPHA2:
                        raise fail(
                            f"{pattern.alias}.{fname}: {v!r} is not an ISO 3166-1 alpha-2 code", ("when", pattern.alias)
                        )
