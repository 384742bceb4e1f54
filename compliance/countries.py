"""Dated country-group membership (Supp. No. 1 to Part 740 and the project's own groups).

Groups are tables of member rows, each with the dates it holds and its source; a country's groups on a
day are the rows in force that day. The answer carries the row, so a finding can cite why a country was
in a group and whether that membership is confirmed.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

from compliance.facts import ProvNote
from compliance.rulesets.schema import GroupMember, GroupSpec

_AT_CACHE_SIZE = 16_384


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
        changes: set[dt.date] = set()
        for spec in groups.values():
            for member in spec.members:
                if member.start is not None:
                    changes.add(member.start)
                if member.end is not None and member.end < dt.date.max:
                    changes.add(member.end + dt.timedelta(days=1))
        self._changes = sorted(changes)
        self.groups_of = lru_cache(maxsize=4096)(self._groups_of)
        self.provenance = lru_cache(maxsize=4096)(self._provenance)
        self._at_cache: dict[tuple[str, int], tuple[list[str], dict[str, ProvNote]]] = {}

    def period(self, day: dt.date) -> int:
        """The index of the stretch of days, between two membership changes, that holds ``day``."""
        return bisect.bisect_right(self._changes, day)

    def at(self, country: str, day: dt.date) -> tuple[list[str], dict[str, ProvNote]]:
        """A country's groups on a day, sorted, with the table row behind each (cached per period).

        The returned objects are shared between callers: read them, never change them.
        """
        key = (country, self.period(day))
        hit = self._at_cache.get(key)
        if hit is None:
            members = self._groups_of(country, day)
            hit = sorted(members), {g: self.provenance(g, m) for g, m in members.items()}
            if len(self._at_cache) >= _AT_CACHE_SIZE:
                self._at_cache.clear()  # countries × periods is small; a clear is a safe bound
            self._at_cache[key] = hit
        return hit

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
