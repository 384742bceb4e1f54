"""Impact of a draft ruleset on a corpus of real transactions: `compliance rulesets diff BASE DRAFT`.

Both sides evaluate every transaction of the corpus; the report lists the transactions whose outcome
changes, grouped by the rules that start or stop firing, with the rationale before and after, and counts by
outcome transition. Transactions whose findings change while the outcome does not are counted and listed
briefly. This is what a policy author brings to a review meeting: not "the YAML changed" but "these deals
now need a licence, and here is why".

A side is a ruleset name or path, optionally with overlays: ``us-ear``, ``us-ear+ai-diffusion``; a DRAFT
that is an overlay file on its own (``docs/examples/draft-overlay.yaml``) is applied on top of BASE.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from compliance.engine import BackendName, Engine
from compliance.errors import RulesetError
from compliance.model import Determination, Finding
from compliance.records import iter_records
from compliance.rulesets.loader import Ruleset

_CODE = "```"


@dataclass(frozen=True)
class RuleChange:
    """A rule that differs between the two rulesets (by id)."""

    rule_id: str
    change: Literal["added", "removed", "modified"]
    origin: str
    """Where the rule is written on the side that has it (the draft's, for a modified rule)."""
    title: str


@dataclass(frozen=True)
class FindingDelta:
    rule_id: str
    change: Literal["added", "removed", "changed"]
    detail: str
    """For a changed finding: what changed (review policy, exceptions, outcome, reason)."""


@dataclass
class TransactionImpact:
    transaction_id: str
    source: str
    before: Determination
    after: Determination
    deltas: list[FindingDelta]
    before_rationale: list[str]
    after_rationale: list[str]

    @property
    def outcome_changed(self) -> bool:
        return self.before.outcome is not self.after.outcome

    @property
    def transition(self) -> str:
        return f"{self.before.outcome.value} → {self.after.outcome.value}"


@dataclass
class ImpactReport:
    base: str
    draft: str
    base_ref: dict[str, Any]
    draft_ref: dict[str, Any]
    corpus: list[str]
    as_of: dt.date | None
    evaluated: int = 0
    input_errors: list[str] = field(default_factory=list)
    rule_changes: list[RuleChange] = field(default_factory=list)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    impacts: list[TransactionImpact] = field(default_factory=list)
    """Every transaction whose findings differ (outcome changed or not)."""

    @property
    def outcome_changes(self) -> list[TransactionImpact]:
        return [i for i in self.impacts if i.outcome_changed]

    @property
    def finding_only_changes(self) -> list[TransactionImpact]:
        return [i for i in self.impacts if not i.outcome_changed]

    def by_rule(self) -> list[tuple[str, str, list[TransactionImpact]]]:
        """(rule id, "now fires"/"no longer fires"/"fires differently", transactions whose outcome changed)."""
        groups: dict[tuple[str, str], list[TransactionImpact]] = {}
        label = {"added": "now fires", "removed": "no longer fires", "changed": "fires differently"}
        for impact in self.outcome_changes:
            for delta in impact.deltas:
                groups.setdefault((delta.rule_id, label[delta.change]), []).append(impact)
        order = {"now fires": 0, "no longer fires": 1, "fires differently": 2}
        return [
            (rid, what, items)
            for (rid, what), items in sorted(groups.items(), key=lambda kv: (order[kv[0][1]], kv[0][0]))
        ]

    # -- output --------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        def det_summary(det: Determination) -> dict[str, Any]:
            return {
                "outcome": det.outcome.value,
                "findings": [_finding_json(f) for f in det.findings],
                "overridden": [f.rule_id for f in det.suppressed],
                "error": det.error,
            }

        return {
            "base": {"spec": self.base, **self.base_ref},
            "draft": {"spec": self.draft, **self.draft_ref},
            "corpus": self.corpus,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "evaluated": self.evaluated,
            "input_errors": self.input_errors,
            "rule_changes": [asdict(rc) for rc in self.rule_changes],
            "transitions": [{"before": b, "after": a, "count": n} for (b, a), n in sorted(self.transitions.items())],
            "outcome_changed": len(self.outcome_changes),
            "findings_changed_only": len(self.finding_only_changes),
            "by_rule": [
                {"rule_id": rid, "change": what, "transactions": [i.transaction_id for i in items]}
                for rid, what, items in self.by_rule()
            ],
            "transactions": [
                {
                    "transaction_id": i.transaction_id,
                    "source": i.source,
                    "outcome_changed": i.outcome_changed,
                    "before": det_summary(i.before),
                    "after": det_summary(i.after),
                    "changes": [asdict(d) for d in i.deltas],
                    "before_rationale": i.before_rationale,
                    "after_rationale": i.after_rationale,
                }
                for i in self.impacts
            ],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)

    def markdown(self) -> str:
        out: list[str] = [f"# Impact of `{self.draft}` against `{self.base}`", ""]
        out.append(f"- **base**: {_ref_text(self.base_ref)}")
        out.append(f"- **draft**: {_ref_text(self.draft_ref)}")
        out.append(f"- **corpus**: {self.evaluated} transaction(s) from {', '.join(f'`{c}`' for c in self.corpus)}")
        out.append(f"- **as of**: {self.as_of or 'each transaction’s own date'}")
        if self.input_errors:
            out.append(f"- **input errors** (not evaluated): {len(self.input_errors)}")
        out.append(
            f"- **result**: {len(self.outcome_changes)} outcome(s) change; "
            f"{len(self.finding_only_changes)} more transaction(s) change findings but not outcome"
        )
        out += ["", "## Rule changes", ""]
        if self.rule_changes:
            sign = {"added": "+", "removed": "−", "modified": "~"}
            for rc in self.rule_changes:
                out.append(f"- {sign[rc.change]} `{rc.rule_id}` {rc.change}: {rc.title} ({rc.origin})")
        else:
            out.append("No rule is added, removed or modified (tables or parameters may still differ).")
        out += ["", "## Outcome transitions", "", "| before | after | transactions |", "|---|---|---:|"]
        for (before, after), n in sorted(self.transitions.items(), key=lambda kv: (kv[0][0] == kv[0][1], kv[0])):
            mark = "" if before != after else " (unchanged)"
            out.append(f"| {before} | {after}{mark} | {n} |")
        out += ["", "## Outcome changes by rule", ""]
        if not self.outcome_changes:
            out += ["No transaction changes outcome.", ""]
        for rid, what, items in self.by_rule():
            out.append(f"### `{rid}` {what} — {len(items)} transaction(s)")
            out.append("")
            for i in items:
                out.append(f"- `{i.transaction_id}` ({i.source}): {i.transition}")
            out.append("")
        if self.outcome_changes:
            out += ["## Transactions whose outcome changes", ""]
        for i in self.outcome_changes:
            out.append(f"### `{i.transaction_id}`: {i.transition}")
            out.append("")
            out.append(f"Source: `{i.source}`. Changes: {'; '.join(_delta_text(d) for d in i.deltas)}.")
            out += ["", "Before:", "", _CODE + "text", *i.before_rationale, _CODE, "", "After:", ""]
            out += [_CODE + "text", *i.after_rationale, _CODE, ""]
        if self.finding_only_changes:
            out += ["## Findings change, outcome does not", ""]
            for i in self.finding_only_changes:
                changes = "; ".join(_delta_text(d) for d in i.deltas)
                out.append(f"- `{i.transaction_id}` ({i.after.outcome.value}): {changes}")
            out.append("")
        if self.input_errors:
            out += ["## Input errors", ""]
            out.extend(f"- {e}" for e in self.input_errors)
            out.append("")
        return "\n".join(out).rstrip() + "\n"


def _ref_text(ref: dict[str, Any]) -> str:
    overlays = f" + {', '.join(ref['overlays'])}" if ref.get("overlays") else ""
    return f"{ref['id']} {ref['version']}{overlays} (sha256 `{ref['sha256'][:12]}`, {ref['rules']} rules)"


def _delta_text(delta: FindingDelta) -> str:
    sign = {"added": "+", "removed": "−", "changed": "~"}[delta.change]
    return f"{sign}{delta.rule_id}" + (f" ({delta.detail})" if delta.detail else "")


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "rule_id": f.rule_id,
        "outcome": f.outcome.value,
        "review_policy": f.review_policy.value if f.review_policy else None,
        "exceptions": f.exceptions,
        "because": f.because,
    }


# ------------------------------------------------------------------------------------------------
# Computing the diff


def rule_changes(base: Ruleset, draft: Ruleset) -> list[RuleChange]:
    """Rules added, removed, or modified (any difference in their YAML content) from base to draft."""
    out: list[RuleChange] = []
    base_ids = {r.id for r in base.rules}
    draft_ids = {r.id for r in draft.rules}
    for rule in draft.rules:
        if rule.id not in base_ids:
            out.append(RuleChange(rule.id, "added", _short_origin(rule.origin), rule.spec.title))
        elif rule.spec != base.rule(rule.id).spec:
            out.append(RuleChange(rule.id, "modified", _short_origin(rule.origin), rule.spec.title))
    for rule in base.rules:
        if rule.id not in draft_ids:
            out.append(RuleChange(rule.id, "removed", _short_origin(rule.origin), rule.spec.title))
    return out


def _short_origin(origin: str) -> str:
    file, _, line = origin.rpartition(":")
    try:
        return f"{Path(file).resolve().relative_to(Path.cwd().resolve())}:{line}"
    except ValueError:
        return origin


def _signature(f: Finding) -> tuple[str, str, tuple[str, ...]]:
    return (f.outcome.value, f.review_policy.value if f.review_policy else "", tuple(sorted(f.exceptions)))


def finding_deltas(before: Determination, after: Determination) -> list[FindingDelta]:
    """Rules that start or stop firing (as findings), or fire with another outcome, policy, exceptions or
    number of findings (one per bound party or item)."""
    b: dict[str, list[Finding]] = {}
    a: dict[str, list[Finding]] = {}
    for f in before.findings:
        b.setdefault(f.rule_id, []).append(f)
    for f in after.findings:
        a.setdefault(f.rule_id, []).append(f)
    out: list[FindingDelta] = []
    for rid in sorted(a.keys() - b.keys()):
        out.append(FindingDelta(rid, "added", a[rid][0].outcome.value))
    for rid in sorted(b.keys() - a.keys()):
        overridden = next((f for f in after.suppressed if f.rule_id == rid), None)
        why = overridden.notes[0] if overridden is not None and overridden.notes else ""
        out.append(FindingDelta(rid, "removed", why))
    for rid in sorted(a.keys() & b.keys()):
        before_sigs = sorted({_signature(f) for f in b[rid]})
        after_sigs = sorted({_signature(f) for f in a[rid]})
        parts: list[str] = []
        if before_sigs != after_sigs:
            for i, label in enumerate(("outcome", "review policy", "exceptions")):
                x = sorted({_fmt(sig[i]) for sig in before_sigs})
                y = sorted({_fmt(sig[i]) for sig in after_sigs})
                if x != y:
                    parts.append(f"{label} {'/'.join(x)} → {'/'.join(y)}")
        if len(b[rid]) != len(a[rid]):
            parts.append(f"findings {len(b[rid])} → {len(a[rid])}")
        if parts:
            out.append(FindingDelta(rid, "changed", ", ".join(parts)))
    return out


def _fmt(value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return value or "none"


def impact(
    base: Engine,
    draft: Engine,
    corpus: Sequence[Path],
    *,
    as_of: dt.date | None = None,
    base_label: str | None = None,
    draft_label: str | None = None,
) -> ImpactReport:
    """Evaluate every transaction of the corpus under both engines and collect the differences."""
    from compliance.explain import rationale_lines

    report = ImpactReport(
        base=base_label or base.ruleset.label,
        draft=draft_label or draft.ruleset.label,
        base_ref=_ref_json(base.ruleset),
        draft_ref=_ref_json(draft.ruleset),
        corpus=[str(p) for p in corpus],
        as_of=as_of,
        rule_changes=rule_changes(base.ruleset, draft.ruleset),
    )
    for record in iter_records(list(corpus)):
        if record.error is not None or record.transaction is None:
            report.input_errors.append(str(record.error))
            continue
        txn = record.transaction
        before = base.evaluate(txn, as_of)
        after = draft.evaluate(txn, as_of)
        report.evaluated += 1
        report.transitions[(before.outcome.value, after.outcome.value)] += 1
        deltas = finding_deltas(before, after)
        if before.outcome is not after.outcome and not deltas:
            deltas = [FindingDelta("(none)", "changed", after.error or before.error or "outcome only")]
        if deltas:
            report.impacts.append(
                TransactionImpact(
                    txn.id,
                    _display_source(record.source, record.line),
                    before,
                    after,
                    deltas,
                    rationale_lines(before),
                    rationale_lines(after),
                )
            )
    return report


def _display_source(source: str, line: int) -> str:
    """``file`` (or ``file:line`` for JSONL), relative to the working directory when under it."""
    shown = _short_origin(f"{source}:{line}") if Path(source).suffix == ".jsonl" else _short_origin(f"{source}:")
    return shown.rstrip(":")


def _ref_json(ruleset: Ruleset) -> dict[str, Any]:
    return {
        "id": ruleset.id,
        "version": ruleset.version,
        "sha256": ruleset.sha256,
        "overlays": [f"{o.id}@{o.version}" for o in ruleset.overlays],
        "rules": len(ruleset.rules),
    }


def diff_rulesets(
    base: str,
    draft: str,
    corpus: Sequence[Path],
    *,
    base_overlays: Iterable[str] = (),
    draft_overlays: Iterable[str] = (),
    as_of: dt.date | None = None,
    backend: BackendName = "durable",
    screening: Literal["default", "none"] = "default",
) -> ImpactReport:
    """`compliance rulesets diff`: resolve both sides, build engines, compute the impact report.

    ``base`` and ``draft`` are ``RULESET[+OVERLAY...]``; extra overlays may be given per side. A draft that
    is an overlay file alone is applied on the base (its overlays included).
    """
    from compliance.testing._rulesets import Combination, build_engine, is_overlay, parse_combination, resolve_name

    base_combo = parse_combination(base)
    base_combo = Combination(base_combo.ruleset, base_combo.overlays + tuple(resolve_name(o) for o in base_overlays))
    first = draft.split("+", maxsplit=1)[0] if not Path(draft).exists() else draft
    try:
        draft_is_overlay = is_overlay(resolve_name(first)) is not None
    except RulesetError:
        draft_is_overlay = False
    if draft_is_overlay:
        parts = [draft] if Path(draft).exists() else draft.split("+")
        extra = tuple(resolve_name(p) for p in parts)
        draft_combo = Combination(base_combo.ruleset, base_combo.overlays + extra)
    else:
        draft_combo = parse_combination(draft)
    draft_combo = Combination(
        draft_combo.ruleset, draft_combo.overlays + tuple(resolve_name(o) for o in draft_overlays)
    )
    base_engine = build_engine(base_combo.load(), backend=backend, screening=screening)
    draft_engine = build_engine(draft_combo.load(), backend=backend, screening=screening)
    return impact(base_engine, draft_engine, corpus, as_of=as_of)
