"""Case files (``*.cases.yaml``): transactions with the determinations a ruleset must give them.

A case file names a ruleset, overlays applied on it (and optionally a draft overlay written inline), an
as-of date, the list files its parties are screened against (default: the embedded lists), and cases. It
is read with the ruleset loader's strict YAML reader (no duplicate keys, no anchors, ``NO`` is Norway) and
validated strictly: an unknown key is an error, reported ``file:line``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from compliance.engine import Engine
from compliance.errors import RulesetError
from compliance.model import Determination, Transaction
from compliance.records import iter_records, validate_transaction
from compliance.rulesets.yaml_source import LineDict, line_of, load_yaml_file
from compliance.testing._expect import Expect, Mismatch, compare, failure_report, unknown_rules
from compliance.testing._rulesets import Combination, EngineCache, InlineDraft, combination

CASES_SUFFIX = ".cases.yaml"


class CaseFileError(RulesetError):
    """A case file that cannot be used, located ``file:line: message``."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseSpec(_Spec):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\s:\[\]][^:\[\]\n]*$")
    description: str | None = None
    transaction: str | dict[str, Any]
    as_of: dt.date | None = None
    expect: Expect

    @field_validator("expect")
    @classmethod
    def _something_expected(cls, expect: Expect) -> Expect:
        if expect.is_empty():
            raise ValueError("a case must expect something (outcome, findings, absent, ...)")
        return expect


class CaseFileSpec(_Spec):
    ruleset: str = Field(min_length=1)
    overlays: list[str] = Field(default_factory=list)
    draft: dict[str, Any] | None = None
    as_of: dt.date | None = None
    lists: list[str] = Field(default_factory=list)
    """List files (relative to the case file) screened instead of the embedded lists."""
    description: str | None = None
    cases: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """One case of a case file, with where it is written."""

    file: CaseFile
    index: int
    spec: CaseSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def line(self) -> int:
        return line_of(self.file.raw, ("cases", self.index)) or 1

    @property
    def location(self) -> str:
        return f"{self.file.path}:{self.line}"

    @property
    def as_of(self) -> dt.date | None:
        return self.spec.as_of or self.file.spec.as_of

    def transaction(self) -> Transaction:
        """The case's transaction: a fixture file (relative to the case file) or an inline mapping."""
        where = ("cases", self.index, "transaction")
        line = line_of(self.file.raw, where)
        ref = self.spec.transaction
        if isinstance(ref, str):
            path = (self.file.path.parent / ref).resolve()
            if not path.is_file():
                raise CaseFileError(f"case {self.name}: transaction file {ref!r} not found", str(self.file.path), line)
            records = list(iter_records([path]))
            if len(records) != 1:
                raise CaseFileError(
                    f"case {self.name}: {ref} holds {len(records)} transactions; a case takes one",
                    str(self.file.path),
                    line,
                )
            record = records[0]
            if record.error is not None:
                raise CaseFileError(f"case {self.name}: {record.error}", str(self.file.path), line)
            assert record.transaction is not None
            return record.transaction
        raw_txn = self.file.raw["cases"][self.index]["transaction"]
        try:
            return validate_transaction(dict(raw_txn), str(self.file.path), line or 1)
        except Exception as exc:
            raise CaseFileError(f"case {self.name}: transaction: {exc}", str(self.file.path), line) from None


@dataclass(frozen=True)
class CaseFile:
    path: Path
    raw: LineDict
    spec: CaseFileSpec
    combination: Combination
    lists: tuple[Path, ...] = ()
    """The list files its parties are screened against; empty: the embedded lists."""

    @property
    def cases(self) -> list[Case]:
        return [Case(self, i, spec) for i, spec in enumerate(self.spec.cases)]


def load_case_file(path: str | Path) -> CaseFile:
    """Read and validate a case file; resolve its ruleset, overlays and inline draft."""
    path = Path(path)
    raw = load_yaml_file(path)
    if not isinstance(raw, LineDict):
        raise CaseFileError("a case file must be a mapping with `ruleset:` and `cases:`", str(path), 1)
    try:
        spec = CaseFileSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        where = ".".join(str(p) for p in loc) or "file"
        raise CaseFileError(f"{where}: {err['msg']}", str(path), line_of(raw, loc)) from None
    first_line: dict[str, int] = {}
    for i, case in enumerate(spec.cases):
        line = line_of(raw, ("cases", i)) or 1
        if case.name in first_line:
            raise CaseFileError(
                f"cases.{i}.name: case name {case.name!r} is used twice (first at line {first_line[case.name]})",
                str(path),
                line,
            )
        first_line[case.name] = line
    lists: list[Path] = []
    for i, ref in enumerate(spec.lists):
        list_path = (path.parent / ref).resolve()
        if not list_path.is_file():
            raise CaseFileError(f"lists.{i}: list file {ref!r} not found", str(path), line_of(raw, ("lists", i)))
        lists.append(list_path)
    draft = None
    if spec.draft is not None:
        draft = InlineDraft(raw["draft"], path)
    try:
        combo = combination(spec.ruleset, spec.overlays, relative_to=path.parent, draft=draft)
    except RulesetError as exc:
        key = "overlays" if "overlay" in exc.message and spec.overlays else "ruleset"
        raise CaseFileError(f"{key}: {exc.message}", str(path), raw.key_lines.get(key)) from None
    return CaseFile(path, raw, spec, combo, tuple(lists))


def find_case_files(paths: list[Path]) -> list[Path]:
    """``*.cases.yaml`` files among paths (directories are searched recursively), sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob(f"*{CASES_SUFFIX}") if q.is_file()))
        elif p.name.endswith(CASES_SUFFIX):
            out.append(p)
        else:
            raise CaseFileError(f"not a case file (*{CASES_SUFFIX}) or directory", str(p))
    return out


@dataclass(frozen=True)
class CaseResult:
    case: Case
    determination: Determination | None
    mismatches: tuple[Mismatch, ...]
    report: str
    """The failure report (empty when the case passes)."""

    @property
    def passed(self) -> bool:
        return not self.mismatches


Recorder = Callable[[Engine, Determination], None]


def run_case(case: Case, engines: EngineCache, record: Recorder | None = None) -> CaseResult:
    """Evaluate one case and compare; raises `RulesetError` (or `CaseFileError`) when it cannot run."""
    from compliance.explain import rationale_lines, why_not

    engine = engines.get(case.file.combination, case.file.lists)
    txn = case.transaction()
    expect = case.spec.expect
    det = engine.evaluate(txn, case.as_of)
    if record is not None:
        record(engine, det)
    ruleset = engine.ruleset
    mismatches = [*unknown_rules(expect, (r.id for r in ruleset.rules)), *compare(det, expect).mismatches]
    if not mismatches:
        return CaseResult(case, det, (), "")
    missing = [m.rule_id for m in mismatches if m.rule_id and ruleset.has_rule(m.rule_id) and m.key == "findings"]
    explanations = {rid: why_not(engine, txn, rid, case.as_of).lines() for rid in dict.fromkeys(missing)}
    label = " + ".join([f"{ruleset.id} {ruleset.version}", *(f"{o.id} {o.version}" for o in ruleset.overlays)])
    title = f"case {case.name} ({case.location}) under {label}"
    report = failure_report(title, expect, det, mismatches, rationale_lines(det), explanations)
    return CaseResult(case, det, tuple(mismatches), report)


def run_case_files(
    paths: list[Path], engines: EngineCache | None = None, record: Recorder | None = None
) -> Iterator[CaseResult]:
    """Run every case of the case files found under paths (outside pytest: lint, scripts)."""
    engines = engines or EngineCache()
    for path in find_case_files(paths):
        for case in load_case_file(path).cases:
            yield run_case(case, engines, record)
