"""Delta re-screening: what changed between two list snapshots, and whom it affects.

``diff_snapshots`` compares entries by (list id, entry id): added, removed, and changed (content hash
differs). ``rescreen`` screens stored parties against the delta only: the new versions of added and
changed entries, and the old versions of removed and changed entries. Unchanged entries score the same
in both snapshots, so a party's hits change exactly when its delta hits differ.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from compliance.evidence import ListEntry, ScreeningHit
from compliance.model import Party, Transaction
from compliance.screening.lists import ListFormatError, ListSnapshot
from compliance.screening.screener import DEFAULT_MATCH_THRESHOLD, DEFAULT_REVIEW_THRESHOLD, Screener

Band = Literal["match", "review", "none"]


@dataclass(frozen=True)
class ListDiff:
    old: ListSnapshot
    new: ListSnapshot
    added: tuple[ListEntry, ...]
    removed: tuple[ListEntry, ...]
    changed: tuple[tuple[ListEntry, ListEntry], ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> dict[str, Any]:
        def ids(entries: Iterable[ListEntry]) -> list[str]:
            return [f"{e.list_id}/{e.entry_id}" for e in entries]

        return {
            "old": {"id": self.old.list_id, "snapshot_date": _iso(self.old.snapshot_date), "sha256": self.old.sha256},
            "new": {"id": self.new.list_id, "snapshot_date": _iso(self.new.snapshot_date), "sha256": self.new.sha256},
            "added": ids(self.added),
            "removed": ids(self.removed),
            "changed": [
                {"entry": f"{n.list_id}/{n.entry_id}", "fields": changed_fields(o, n)} for o, n in self.changed
            ],
        }


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def changed_fields(old: ListEntry, new: ListEntry) -> list[str]:
    """Names of the fields that differ between two versions of an entry."""
    a = old.model_dump(exclude={"content_sha256"})
    b = new.model_dump(exclude={"content_sha256"})
    return sorted(k for k in a if a[k] != b.get(k))


def diff_snapshots(old: ListSnapshot, new: ListSnapshot) -> ListDiff:
    """Entries added, removed and changed (content hash differs) between two snapshots."""
    before = old.by_id()
    after = new.by_id()
    added = tuple(after[k] for k in sorted(after.keys() - before.keys()))
    removed = tuple(before[k] for k in sorted(before.keys() - after.keys()))
    changed = tuple(
        (before[k], after[k])
        for k in sorted(before.keys() & after.keys())
        if before[k].content_sha256 != after[k].content_sha256
    )
    return ListDiff(old=old, new=new, added=added, removed=removed, changed=changed)


@dataclass(frozen=True)
class HitChange:
    entry: str
    """``list_id/entry_id``."""
    before: float | None
    after: float | None
    band_before: Band
    band_after: Band


@dataclass(frozen=True)
class RescreenResult:
    party_id: str
    party_name: str
    transaction_id: str | None
    changes: tuple[HitChange, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "party_id": self.party_id,
            "party_name": self.party_name,
            "changes": [asdict(c) for c in self.changes],
        }


def _band(score: float | None, match_threshold: float, review_threshold: float) -> Band:
    if score is None or score < review_threshold:
        return "none"
    return "match" if score >= match_threshold else "review"


def rescreen(
    parties: Iterable[tuple[str | None, Party]],
    diff: ListDiff,
    *,
    as_of: dt.date,
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    match_threshold: float = DEFAULT_MATCH_THRESHOLD,
) -> list[RescreenResult]:
    """Re-screen (transaction id, party) pairs against the delta; those whose hits change, in input order.

    A change is an entry hit now and not before (added, or changed to match), hit before and not now
    (removed, or changed away), or hit in both with a different score or band.
    """
    new_side = [*diff.added, *(n for _, n in diff.changed)]
    old_side = [*diff.removed, *(o for o, _ in diff.changed)]
    after = _delta_screener(new_side, diff.new)
    before = _delta_screener(old_side, diff.old)
    out: list[RescreenResult] = []
    for txn_id, party in parties:
        hits_after = _scores(after.screen(party, as_of=as_of, review_threshold=review_threshold) if after else [])
        hits_before = _scores(before.screen(party, as_of=as_of, review_threshold=review_threshold) if before else [])
        changes: list[HitChange] = []
        for key in sorted(hits_before.keys() | hits_after.keys()):
            b, a = hits_before.get(key), hits_after.get(key)
            if b == a:
                continue
            changes.append(
                HitChange(
                    entry=key,
                    before=b,
                    after=a,
                    band_before=_band(b, match_threshold, review_threshold),
                    band_after=_band(a, match_threshold, review_threshold),
                )
            )
        if changes:
            out.append(RescreenResult(party.id, party.name, txn_id, tuple(changes)))
    return out


def _delta_screener(entries: Sequence[ListEntry], like: ListSnapshot) -> Screener | None:
    if not entries:
        return None
    snap = ListSnapshot(
        list_id=like.list_id, entries=tuple(entries), snapshot_date=like.snapshot_date, sha256=like.sha256
    )
    return Screener([snap])


def _scores(hits: Iterable[ScreeningHit]) -> dict[str, float]:
    return {f"{h.entry.list_id}/{h.entry.entry_id}": h.score for h in hits}


def read_parties(path: str | Path) -> Iterator[tuple[str | None, Party]]:
    """Stored parties to re-screen: JSONL of transactions or of parties, or a JSON array of either."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    stripped = text.lstrip()
    records: list[tuple[int, Any]] = []
    try:
        if stripped.startswith("["):
            records = [(1, r) for r in json.loads(text)]
        else:
            records = [(n, json.loads(line)) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    except json.JSONDecodeError as exc:
        raise ListFormatError(p, exc.lineno, f"invalid JSON: {exc.msg}") from None
    from pydantic import ValidationError

    for line, rec in records:
        try:
            if isinstance(rec, dict) and "parties" in rec:
                txn = Transaction.model_validate(rec)
                for party in txn.parties:
                    yield txn.id, party
            else:
                yield None, Party.model_validate(rec)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ListFormatError(p, line, f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}") from None
