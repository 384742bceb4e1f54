"""What a batch report says, computed once from determinations (and the run's index file, when present)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from compliance.model import Determination, Outcome

ACTION_OUTCOMES = (Outcome.error, Outcome.prohibited, Outcome.license_required, Outcome.review)
OUTCOME_ORDER = (*ACTION_OUTCOMES, Outcome.clear)


@dataclass(frozen=True)
class Row:
    """One determination with where it came from (record number, source, date, destination)."""

    record: int
    determination: Determination
    source: str | None
    date: str | None
    destination: str | None
    error_kind: str | None

    @property
    def month(self) -> str:
        if self.date:
            return self.date[:7]
        # an input or crash error has no trustworthy date (its as_of is the day it was screened)
        return "unknown" if self.determination.error else self.determination.as_of.isoformat()[:7]


@dataclass
class ReportData:
    title: str
    source: str
    rows: list[Row] = field(default_factory=list)
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    rule_titles: dict[str, str] = field(default_factory=dict)
    rule_outcomes: dict[str, str] = field(default_factory=dict)
    by_destination: dict[str, Counter[str]] = field(default_factory=dict)
    by_month: dict[str, Counter[str]] = field(default_factory=dict)
    rulesets: Counter[str] = field(default_factory=Counter)
    lists: dict[str, str] = field(default_factory=dict)
    engines: Counter[str] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def action(self) -> list[Row]:
        """Transactions needing action, most severe first, then in input order."""
        rows = [r for r in self.rows if r.determination.outcome in ACTION_OUTCOMES]
        return sorted(rows, key=lambda r: (-r.determination.outcome.severity, r.record))


def read_determinations(path: Path) -> Iterator[tuple[int, Determination]]:
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, Determination.model_validate_json(line)


def read_index(path: Path) -> dict[int, dict[str, str | None]]:
    out: dict[int, dict[str, str | None]] = {}
    if not path.exists():
        return out
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                entry = json.loads(line)
                out[int(entry["record"])] = entry
    return out


def _destination_from_facts(det: Determination) -> str | None:
    for finding in det.findings:
        for fact in finding.facts:
            if fact.type == "transaction" and isinstance(fact.fields.get("destination"), str):
                return str(fact.fields["destination"])
    return None


def build(determinations: Path, index: Path | None = None, title: str | None = None) -> ReportData:
    """Aggregate a determinations JSONL file (and its ``<stem>.index.jsonl`` when present)."""
    index = index or determinations.with_name(f"{determinations.stem}.index.jsonl")
    context = read_index(index)
    data = ReportData(title=title or f"Export screening report: {determinations.name}", source=str(determinations))
    rows: Iterable[tuple[int, Determination]] = read_determinations(determinations)
    for number, det in rows:
        ctx = context.get(number, {})
        destination = ctx.get("destination") or _destination_from_facts(det)
        row = Row(number, det, ctx.get("source"), ctx.get("date"), destination, ctx.get("error"))
        add(data, row)
    return data


def add(data: ReportData, row: Row) -> None:
    det = row.determination
    data.rows.append(row)
    outcome = det.outcome.value
    data.by_outcome[outcome] += 1
    for finding in det.findings:
        data.by_rule[finding.rule_id] += 1
        data.rule_titles.setdefault(finding.rule_id, finding.title)
        data.rule_outcomes.setdefault(finding.rule_id, finding.outcome.value)
    data.by_destination.setdefault(row.destination or "unknown", Counter())[outcome] += 1
    data.by_month.setdefault(row.month, Counter())[outcome] += 1
    ref = det.ruleset
    overlays = f" + {', '.join(ref.overlays)}" if ref.overlays else ""
    data.rulesets[f"{ref.id}@{ref.version} (sha256 {ref.sha256[:12]}){overlays}"] += 1
    for lst in det.lists:
        data.lists[lst.id] = f"snapshot {lst.snapshot_date or 'undated'}, sha256 {lst.sha256[:12]}"
    data.engines[f"compliance {det.engine.version}, {det.engine.backend} backend"] += 1
    if det.outcome is Outcome.error:
        data.errors_by_kind[row.error_kind or "engine"] += 1
