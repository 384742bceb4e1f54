"""Dated country-group membership (Supp. No. 1 to Part 740 and the project's own groups).

Groups are tables of member rows, each with the dates it holds and its source; a country's groups on a
day are the rows in force that day. The answer carries the row, so a finding can cite why a country was
in a group and whether that membership is confirmed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

from compliance.facts import ProvNote
from compliance.memo import BoundedCache
from compliance.periods import ChangeDays
from compliance.rulesets.schema import GroupMember, GroupSpec

AT_CACHE_SIZE = 16_384


class CountryGroups:
    """Resolve the groups a country belongs to on a date."""

    def __init__(self, groups: Mapping[str, GroupSpec]) -> None:
        self._groups = dict(groups)
        index: dict[str, list[tuple[str, GroupMember]]] = {}
        for name, spec in groups.items():
            for member in spec.members:
                index.setdefault(member.country, []).append((name, member))
        self._index = index
        # Membership only changes on a row's start day or the day after its end: between two such days every
        # country's groups are the same, so answers are cached per (country, period), not per day.
        self.changes = ChangeDays((m.start, m.end) for spec in groups.values() for m in spec.members)
        self.groups_of = lru_cache(maxsize=4096)(self._groups_of)
        self.provenance = lru_cache(maxsize=4096)(self._provenance)
        self._at: BoundedCache[tuple[list[str], dict[str, ProvNote]]] = BoundedCache(AT_CACHE_SIZE)

    def period(self, day: dt.date) -> int:
        """The index of the stretch of days, between two membership changes, that holds ``day``."""
        return self.changes.period(day)

    def at(self, country: str, day: dt.date) -> tuple[list[str], dict[str, ProvNote]]:
        """A country's groups on a day, sorted, with the table row behind each (cached per period).

        The returned objects are shared between callers: read them, never change them.
        """
        return self._at.get_or_make((country, self.period(day)), lambda: self._resolve(country, day))

    def _resolve(self, country: str, day: dt.date) -> tuple[list[str], dict[str, ProvNote]]:
        members = self._groups_of(country, day)
        return sorted(members), {g: self.provenance(g, m) for g, m in members.items()}

    def _groups_of(self, country: str, day: dt.date) -> Mapping[str, GroupMember]:
        out: dict[str, GroupMember] = {}
        for name, member in self._index.get(country, ()):
            if member.in_force(day):
                out[name] = member
        return out

    def _provenance(self, group: str, member: GroupMember) -> ProvNote:
        """Why a country is in a group: the table row, its dates, source and confidence (cached)."""
        spec = self._groups[group]
        since = f" from {member.start}" if member.start else ""
        until = f" to {member.end}" if member.end else ""
        note = f" ({member.note})" if member.note else ""
        reference = "; ".join(p for p in (member.source, spec.citation) if p)
        return ("table", f"{member.country} is in {group}{since}{until}{note}", reference, member.confidence)
