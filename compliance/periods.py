"""Stretches of days over which a dated table gives the same answer.

A dated row (a country-group membership, a list entry, an accepted-match decision) holds from its first day
to its last, inclusive. An answer built from such rows can change only on a first day or on the day after a
last day; between two such days it is constant, so a cache can key on the stretch instead of the day.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable


class ChangeDays:
    """The days on which some row starts or stops holding, and the stretch (period) each day falls in."""

    def __init__(self, spans: Iterable[tuple[dt.date | None, dt.date | None]]) -> None:
        """``spans``: (first day, last day) of each row, inclusive; None is open-ended."""
        days: set[dt.date] = set()
        for first, last in spans:
            if first is not None:
                days.add(first)
            if last is not None and last < dt.date.max:
                days.add(last + dt.timedelta(days=1))
        self.days: tuple[dt.date, ...] = tuple(sorted(days))

    def period(self, day: dt.date) -> int:
        """The index of the stretch of days holding ``day``: equal indexes, equal answers."""
        return bisect.bisect_right(self.days, day)
