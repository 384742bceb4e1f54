"""Accepted matches ("good-guy" decisions): a reviewer decided that party P is not list entry E.

Decisions live in a YAML file the compliance team keeps in version control::

    decisions:
      - id: GG-2026-001
        party: {id: p1, sha256: 3f1c...}          # party_screened_sha256(party)
        entry: {list: entity_list, id: el-..., sha256: 9ab0...}   # entry.content_sha256
        reason: Different company; same name, incorporated in Ohio in 1998, no Chinese owners.
        reviewer: j.doe
        date: 2026-11-20
        expiry: 2027-11-20

A decision suppresses a hit only while the party's screened fields (name, aliases, country, address,
identifiers)
and the list entry's content hash are both unchanged and ``as_of <= expiry``. Otherwise the hit stands
(the decision "re-opens"); the suppressed hit stays in the evidence with ``suppressed_by`` set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compliance.evidence import ListEntry
from compliance.model import Party
from compliance.screening.lists import ListFormatError, canonical_json, safe_yaml_dump, safe_yaml_load, strip_line_marks

_LINE_KEY: Final = "__line__"


def party_screened_sha256(party: Party) -> str:
    """sha256 of the fields screening looks at: name, aliases, country, address, and identifiers when the
    party gives any (left out otherwise, so decisions made before identifiers were screened stay bound)."""
    payload: dict[str, object] = {
        "name": party.name,
        "aliases": list(party.aliases),
        "country": party.country,
        "address": party.address,
    }
    if party.identifiers:
        payload["identifiers"] = dict(sorted(party.identifiers.items()))
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartyRef(_Model):
    id: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class EntryRef(_Model):
    list: str
    id: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class AcceptedMatch(_Model):
    """One reviewer's decision that a party is not a list entry."""

    id: str = Field(min_length=1)
    party: PartyRef
    entry: EntryRef
    reason: str = Field(min_length=1)
    reviewer: str = Field(min_length=1)
    date: dt.date
    expiry: dt.date

    def status(
        self, party: Party, entry: ListEntry, as_of: dt.date
    ) -> Literal["active", "party_changed", "entry_changed", "expired", "not_applicable"]:
        """Whether this decision suppresses a hit of ``party`` on ``entry`` at ``as_of``, and if not why."""
        if party.id != self.party.id or entry.list_id != self.entry.list or entry.entry_id != self.entry.id:
            return "not_applicable"
        if party_screened_sha256(party) != self.party.sha256:
            return "party_changed"
        if entry.content_sha256 != self.entry.sha256:
            return "entry_changed"
        if as_of > self.expiry or as_of < self.date:
            return "expired"
        return "active"


def create_decision(
    party: Party,
    entry: ListEntry,
    *,
    decision_id: str,
    reason: str,
    reviewer: str,
    date: dt.date,
    expiry: dt.date | None = None,
    valid_days: int = 365,
) -> AcceptedMatch:
    """A decision bound to the party's and the entry's current content (expiry defaults to a year)."""
    return AcceptedMatch(
        id=decision_id,
        party=PartyRef(id=party.id, sha256=party_screened_sha256(party)),
        entry=EntryRef(list=entry.list_id, id=entry.entry_id, sha256=entry.content_sha256),
        reason=reason,
        reviewer=reviewer,
        date=date,
        expiry=expiry or date + dt.timedelta(days=valid_days),
    )


class DecisionBook:
    """Decisions indexed by (party id, list id, entry id); immutable, safe to share between threads."""

    def __init__(self, decisions: Iterable[AcceptedMatch] = ()) -> None:
        self.decisions: tuple[AcceptedMatch, ...] = tuple(decisions)
        self._by_key: dict[tuple[str, str, str], list[AcceptedMatch]] = {}
        for d in self.decisions:
            self._by_key.setdefault((d.party.id, d.entry.list, d.entry.id), []).append(d)

    def __len__(self) -> int:
        return len(self.decisions)

    def suppressing(self, party: Party, entry: ListEntry, as_of: dt.date) -> AcceptedMatch | None:
        """The active decision that suppresses this hit, if any."""
        for d in self._by_key.get((party.id, entry.list_id, entry.entry_id), ()):
            if d.status(party, entry, as_of) == "active":
                return d
        return None

    def candidates(self, party_id: str, entry: ListEntry) -> list[AcceptedMatch]:
        return list(self._by_key.get((party_id, entry.list_id, entry.entry_id), ()))


def parse_decisions(text: str, path: str = "<string>") -> list[AcceptedMatch]:
    doc = safe_yaml_load(text, path)
    if doc is None:
        return []
    if not isinstance(doc, dict) or set(doc) - {"decisions", _LINE_KEY}:
        raise ListFormatError(path, 1, "a decisions file is a mapping with one key, 'decisions'")
    raw = doc.get("decisions") or []
    if not isinstance(raw, list):
        raise ListFormatError(path, doc.get(_LINE_KEY), "'decisions' must be a list")
    out: list[AcceptedMatch] = []
    seen: set[str] = set()
    for item in raw:
        line = item.get(_LINE_KEY) if isinstance(item, dict) else None
        try:
            decision = AcceptedMatch.model_validate(strip_line_marks(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ListFormatError(path, line, f"{loc}: {err['msg']}") from None
        if decision.id in seen:
            raise ListFormatError(path, line, f"duplicate decision id {decision.id!r}")
        seen.add(decision.id)
        out.append(decision)
    return out


def load_decisions(path: str | Path) -> list[AcceptedMatch]:
    p = Path(path)
    return parse_decisions(p.read_text(encoding="utf-8"), str(p))


def dump_decisions(decisions: Sequence[AcceptedMatch]) -> str:
    data: dict[str, Any] = {"decisions": [d.model_dump(mode="python") for d in decisions]}
    return safe_yaml_dump(data)
