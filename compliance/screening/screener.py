"""The ``Screener``: the engine's ``PartyScreener`` over one or more list snapshots."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final, Literal

from rapidfuzz import fuzz

from compliance.evidence import ListEntry, MatcherInfo, ScreeningHit, TokenAlignment
from compliance.model import ListRef, Party
from compliance.periods import ChangeDays
from compliance.screening.accepted import AcceptedMatch, DecisionBook
from compliance.screening.identifiers import IdentifierIndex, describe
from compliance.screening.index import ESSENTIAL_FRACTION, NameIndex
from compliance.screening.lists import ListSnapshot, parse_yaml_list
from compliance.screening.matching import NameMatch, name_matches
from compliance.screening.normalize import NameForm, analyze
from compliance.screening.scorer import SCORER_NAME, SCORER_VERSION, align, matcher_config, score_pairs

DEFAULT_MATCH_THRESHOLD: Final = 0.85
"""Score at or above which a hit is a match. The ruleset copies this value; the benchmark uses it as is."""
DEFAULT_REVIEW_THRESHOLD: Final = 0.70
"""Score at or above which a hit is returned for human review (below the match threshold)."""
COUNTRY_MISMATCH_PENALTY: Final = 0.03
"""Subtracted from the name score when the party's country is not among the entry's countries."""
ADDRESS_SIMILAR: Final = 0.6
"""Address token-set similarity at or above which the address qualifier reads ``similar``."""

DEFAULT_MEMO_SIZE: Final = 50_000
"""Name queries whose matches are remembered (batches repeat counterparties); 0 turns the memo off."""

DEFAULT_LIST_RESOURCE: Final = "entity_list.yaml"
DEFAULT_LIST_PATH: Final = Path(__file__).resolve().parent.parent / "data" / DEFAULT_LIST_RESOURCE


def load_default_snapshot() -> ListSnapshot:
    """The embedded curated Entity List (``compliance/data/entity_list.yaml``)."""
    path = DEFAULT_LIST_PATH
    return parse_yaml_list(path.read_text(encoding="utf-8"), f"compliance/data/{DEFAULT_LIST_RESOURCE}")


class Screener:
    """Screens parties against list snapshots; implements ``compliance.evidence.PartyScreener``.

    Build once and share: construction analyses and indexes every name; ``screen`` only reads, so one
    instance is safe to use from many threads. Instances pickle (the index is plain data), and
    ``Screener(snapshots)`` rebuilds one from snapshots in a worker process.

    ``screen`` returns only entries in force at ``as_of``: an entry whose ``start_date`` is after ``as_of``,
    or whose ``end_date`` is before it (an expired denial order), is not evidence and is left out (an entry
    without dates is always in force).
    """

    def __init__(
        self,
        snapshots: Sequence[ListSnapshot] | ListSnapshot,
        *,
        decisions: Iterable[AcceptedMatch] | DecisionBook = (),
        essential_fraction: float = ESSENTIAL_FRACTION,
        country_mismatch_penalty: float = COUNTRY_MISMATCH_PENALTY,
        memo_size: int = DEFAULT_MEMO_SIZE,
    ) -> None:
        snaps = (snapshots,) if isinstance(snapshots, ListSnapshot) else tuple(snapshots)
        if not snaps:
            raise ValueError("a Screener needs at least one list snapshot")
        self.snapshots: tuple[ListSnapshot, ...] = snaps
        self.decisions = decisions if isinstance(decisions, DecisionBook) else DecisionBook(decisions)
        self.essential_fraction = essential_fraction
        self.memo_size = memo_size
        self._memo: dict[tuple[str, float], tuple[tuple[int, NameMatch], ...]] = {}
        self.country_mismatch_penalty = country_mismatch_penalty
        entries: list[ListEntry] = []
        owner: list[int] = []
        for s_idx, snap in enumerate(snaps):
            entries.extend(snap.entries)
            owner.extend([s_idx] * len(snap.entries))
        self._entry_snapshot: tuple[int, ...] = tuple(owner)
        self.index = NameIndex(entries)
        self.identifiers = IdentifierIndex(entries)
        self._refs: tuple[ListRef, ...] = tuple(s.ref() for s in snaps)
        config = matcher_config()
        config.update(
            {
                "country_mismatch_penalty": country_mismatch_penalty,
                "index.essential_fraction": essential_fraction,
            }
        )
        self.matcher = MatcherInfo(name=SCORER_NAME, version=SCORER_VERSION, config=config)

    def __getstate__(self) -> dict[str, object]:
        # the memo and the change days are caches, rebuilt on demand
        return {k: v for k, v in self.__dict__.items() if k not in ("_memo", "_changes")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._memo = {}

    # -- construction helpers ----------------------------------------------------------------

    @classmethod
    def default(cls, *, decisions: Iterable[AcceptedMatch] | DecisionBook = ()) -> Screener:
        """A screener over the embedded curated Entity List."""
        return cls([load_default_snapshot()], decisions=decisions)

    @classmethod
    def from_files(
        cls, paths: Iterable[str | Path], *, decisions: Iterable[AcceptedMatch] | DecisionBook = ()
    ) -> Screener:
        from compliance.screening.importers import load_list

        return cls([load_list(p) for p in paths], decisions=decisions)

    def with_decisions(self, decisions: Iterable[AcceptedMatch] | DecisionBook) -> Screener:
        """The same index with another decision book (no re-indexing)."""
        clone = object.__new__(Screener)
        clone.__dict__.update(self.__dict__)
        clone._memo = self._memo  # matches do not depend on decisions: share the memo
        clone.decisions = decisions if isinstance(decisions, DecisionBook) else DecisionBook(decisions)
        return clone

    # -- PartyScreener ---------------------------------------------------------------------------

    def list_refs(self) -> list[ListRef]:
        return list(self._refs)

    def as_of_period(self, as_of: dt.date) -> int:
        """The stretch of days holding ``as_of`` over which ``screen`` gives the same answer for any party.

        An answer changes only on an entry's start date, the day after its end date, or an accepted-match
        decision's first day or the day after its expiry; callers that cache screening results key them by
        this, not by the day.
        """
        changes = self.__dict__.get("_changes")
        if changes is None or changes[0] is not self.decisions:
            spans: list[tuple[dt.date | None, dt.date | None]] = [
                (e.start_date, e.end_date) for snap in self.snapshots for e in snap.entries
            ]
            spans += [(d.date, d.expiry) for d in self.decisions.decisions]
            changes = (self.decisions, ChangeDays(spans))
            self.__dict__["_changes"] = changes
        return changes[1].period(as_of)

    def screen(
        self,
        party: Party,
        *,
        as_of: dt.date,
        review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    ) -> list[ScreeningHit]:
        """Hits with score >= ``review_threshold`` for the party's name and aliases, best first.

        One hit per list entry (the best of the party's names against the best of the entry's names).
        The score includes the country qualifier (``- COUNTRY_MISMATCH_PENALTY`` when the party's
        country is not among the entry's known countries). An entry that lists an identifier the party
        gives (`compliance.screening.identifiers`) is a hit with score 1.0 and ``basis`` ``identifier``,
        whatever the names. Entries not in force at ``as_of`` are left out. Hits suppressed by an active
        accepted-match decision are returned with ``suppressed_by``.
        """
        best: dict[int, tuple[float, NameMatch, dict[str, str]]] = {}
        floor = review_threshold - 1e-9
        for name in [party.name, *party.aliases]:
            for match_idx, match in self._match_name(name, review_threshold - self.country_mismatch_penalty, as_of):
                adjusted, qualifiers = self._qualify(party, match)
                if adjusted < floor:
                    continue
                current = best.get(match_idx)
                if current is None or adjusted > current[0]:
                    best[match_idx] = (adjusted, match, qualifiers)
        by_identifier: dict[int, list[str]] = {}
        for found in self.identifiers.matches(party):
            if self.index.entries[found.entry].in_force(as_of):
                by_identifier.setdefault(found.entry, []).append(describe(found.identifier))
        hits = [
            self._hit(party, adjusted, match, qualifiers, as_of)
            for e_idx, (adjusted, match, qualifiers) in best.items()
            if e_idx not in by_identifier
        ]
        for e_idx, shared in by_identifier.items():
            hits.append(self._identifier_hit(party, e_idx, shared, best.get(e_idx), as_of))
        hits.sort(key=lambda h: (-h.score, h.entry.list_id, h.entry.entry_id))
        return hits

    # -- name-level API ----------------------------------------------------------------------

    def match_name(
        self, name: str, *, threshold: float = DEFAULT_REVIEW_THRESHOLD, as_of: dt.date | None = None
    ) -> list[NameMatch]:
        """Entries whose best name scores >= ``threshold`` against ``name`` (no qualifiers), best first."""
        out = [m for _, m in self._match_name(name, threshold, as_of)]
        out.sort(key=lambda m: (-m.score, m.entry.list_id, m.entry.entry_id))
        return out

    def brute_force(
        self, name: str, *, threshold: float = DEFAULT_REVIEW_THRESHOLD, as_of: dt.date | None = None
    ) -> list[NameMatch]:
        """The same as ``match_name`` but scoring every indexed name (the reference for index recall)."""
        out = [m for _, m in self._match_name(name, threshold, as_of, brute=True)]
        out.sort(key=lambda m: (-m.score, m.entry.list_id, m.entry.entry_id))
        return out

    def _match_name(
        self, name: str, threshold: float, as_of: dt.date | None, *, brute: bool = False
    ) -> list[tuple[int, NameMatch]]:
        if brute:
            return self._compute_matches(name, threshold, as_of, brute=True)
        if self.memo_size <= 0:
            return self._compute_matches(name, threshold, as_of, brute=False)
        # The as-of date only drops entries not in force, after each entry's best name is chosen, so the
        # memo keeps a name's matches over every entry and filters them by date: one computation per name,
        # whatever the transaction dates (an export repeats a name on many days).
        key = (name, round(threshold, 9))
        memo = self._memo
        cached = memo.get(key)
        if cached is None:
            cached = tuple(self._compute_matches(name, threshold, None, brute=False))
            if len(memo) >= self.memo_size:
                # evict the oldest query (dicts keep insertion order)
                memo.pop(next(iter(memo), key), None)
            memo[key] = cached
        if as_of is None:
            return list(cached)
        return [(i, m) for i, m in cached if m.entry.in_force(as_of)]

    def _compute_matches(
        self, name: str, threshold: float, as_of: dt.date | None, *, brute: bool
    ) -> list[tuple[int, NameMatch]]:
        return name_matches(
            self.index, self._entry_snapshot, name, threshold, as_of, brute=brute, fraction=self.essential_fraction
        )

    # -- qualifiers and hits -------------------------------------------------------------------

    def _qualify(self, party: Party, match: NameMatch) -> tuple[float, dict[str, str]]:
        place = _place_qualifiers(party, match.entry)
        score = match.score
        if place["country"] != "mismatch":
            return round(score, 4), place
        qualifiers = {"country": "mismatch", "country_adjustment": f"-{self.country_mismatch_penalty:g}"}
        qualifiers.update(place)
        return round(max(0.0, score - self.country_mismatch_penalty), 4), qualifiers

    def _identifier_hit(
        self,
        party: Party,
        e_idx: int,
        shared: list[str],
        by_name: tuple[float, NameMatch, dict[str, str]] | None,
        as_of: dt.date,
    ) -> ScreeningHit:
        """The hit for an entry that lists an identifier the party gave (``shared`` describes each one), with the
        name's own match when there is one."""
        entry = self.index.entries[e_idx]
        qualifiers = _place_qualifiers(party, entry)
        qualifiers["identifier"] = "; ".join(shared)
        qualifiers["name_score"] = f"{by_name[0]:.4f}" if by_name is not None else "below the review threshold"
        match = (
            by_name[1]
            if by_name is not None
            else NameMatch(entry, self._entry_snapshot[e_idx], 0.0, party.name, entry.name, ())
        )
        return self._hit(party, 1.0, match, qualifiers, as_of, basis="identifier")

    def _hit(
        self,
        party: Party,
        score: float,
        match: NameMatch,
        qualifiers: dict[str, str],
        as_of: dt.date,
        basis: Literal["name", "identifier"] = "name",
    ) -> ScreeningHit:
        decision = self.decisions.suppressing(party, match.entry, as_of) if len(self.decisions) else None
        return ScreeningHit(
            party_id=party.id,
            entry=match.entry,
            score=score,
            query_name=match.query_name,
            matched_name=match.matched_name,
            alignment=[TokenAlignment(query_token=a, entry_token=b, score=s) for a, b, s in match.alignment],
            qualifiers=qualifiers,
            matcher=self.matcher,
            snapshot=self._refs[match.snapshot],
            suppressed_by=decision.id if decision else None,
            basis=basis,
        )


def _place_qualifiers(party: Party, entry: ListEntry) -> dict[str, str]:
    """Whether the party's country is among the entry's (``match``, ``mismatch``, ``unknown``) and, when both
    give an address, how alike they are."""
    qualifiers: dict[str, str] = {}
    countries = list(entry.countries) or ([entry.country] if entry.country else [])
    if not countries:
        qualifiers["country"] = "unknown"
    elif party.country in countries:
        qualifiers["country"] = "match"
    else:
        qualifiers["country"] = "mismatch"
    if party.address and entry.addresses:
        sim = max(fuzz.token_set_ratio(party.address.lower(), a.lower()) for a in entry.addresses) / 100.0
        qualifiers["address"] = f"{'similar' if sim >= ADDRESS_SIMILAR else 'different'} ({sim:.2f})"
    return qualifiers


def score_names(a: str, b: str) -> float:
    """Score two names with the screening scorer (symmetric, 0..1, no qualifiers)."""
    fa: NameForm = analyze(a)
    fb: NameForm = analyze(b)
    return round(score_pairs(fa, fb, align(fa, fb)), 4)
