"""One name against the index: each entry's best-scoring name, as ``NameMatch`` evidence.

The per-query core of ``Screener.match_name`` and ``Screener.screen`` (the screener keeps the memo, the
qualifiers and the hits): the index's candidate forms, in order of their score bound, scored once per form
with the scorer, and each entry's best name kept. ``brute_best`` scores every name instead (the reference
the index's recall is measured against). Compiled with the index (``compliance.native``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from compliance.evidence import ListEntry
from compliance.native import by_constructor
from compliance.screening.index import NameIndex
from compliance.screening.normalize import NameForm, analyze
from compliance.screening.scorer import Pair, align, explain, rounded, score_pairs


@dataclass(frozen=True, slots=True)
class NameMatch:
    """The best-scoring name of one entry for one query name (before it becomes a ``ScreeningHit``)."""

    entry: ListEntry
    snapshot: int
    score: float
    query_name: str
    matched_name: str
    alignment: tuple[tuple[str, str, float], ...]

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


Best = tuple[float, int, list[Pair]]
"""An entry's best match so far: score, variant, alignment."""


def name_matches(
    index: NameIndex,
    entry_snapshot: Sequence[int],
    name: str,
    threshold: float,
    as_of: dt.date | None,
    *,
    brute: bool,
    fraction: float,
) -> list[tuple[int, NameMatch]]:
    """``(entry position, match)`` for every entry whose best name scores ``threshold`` or more against ``name``.

    Entries not in force at ``as_of`` are left out (none when it is None). ``entry_snapshot`` gives each entry's
    snapshot (its position in the screener's snapshots).
    """
    q = analyze(name)
    if not q.tokens:
        return []
    best = brute_best(index, q, threshold) if brute else indexed_best(index, q, threshold, fraction)
    entries = index.entries
    variants = index.variants
    out: list[tuple[int, NameMatch]] = []
    for e_idx, (s, v_idx, pairs) in best.items():
        entry = entries[e_idx]
        if as_of is not None and not entry.in_force(as_of):
            continue
        v = variants[v_idx]
        match = NameMatch(entry, entry_snapshot[e_idx], rounded(s), name, v.name, tuple(explain(q, v.form, pairs)))
        out.append((e_idx, match))
    return out


def indexed_best(index: NameIndex, q: NameForm, threshold: float, fraction: float) -> dict[int, Best]:
    """Per entry, its best-scoring name among the index's candidates (ties: the first variant).

    The index retrieves distinct analysed names (forms); each is scored once and the score is
    shared by every variant with that form.
    """
    variants, forms, form_variants = index.variants, index.forms, index.form_variants
    qw = q.total_weight
    floor = threshold - 1e-9
    best: dict[int, Best] = {}
    for f_idx, bound in index.bounded_forms(q, threshold, fraction):
        group = form_variants[f_idx]
        beaten = True
        for v_idx in group:
            cur = best.get(variants[v_idx].entry)
            if cur is None or cur[0] <= bound + 1e-6:
                beaten = False
                break
        if beaten:
            continue  # every entry of this name already has a better name than this one can score
        form = forms[f_idx]
        if not weights_may_reach(qw, form.total_weight, floor):
            continue
        pairs = align(q, form)
        s = score_pairs(q, form, pairs)
        if s < floor:
            continue
        for v_idx in group:
            keep_best(best, variants[v_idx].entry, s, v_idx, pairs)
    return best


def brute_best(index: NameIndex, q: NameForm, threshold: float) -> dict[int, Best]:
    """The same as ``indexed_best`` scoring every indexed name, one variant at a time (the reference)."""
    qw = q.total_weight
    floor = threshold - 1e-9
    best: dict[int, Best] = {}
    for v_idx, v in enumerate(index.variants):
        if not weights_may_reach(qw, v.form.total_weight, floor):
            continue
        pairs = align(q, v.form)
        s = score_pairs(q, v.form, pairs)
        if s < floor:
            continue
        keep_best(best, v.entry, s, v_idx, pairs)
    return best


def keep_best(best: dict[int, Best], e_idx: int, score: float, v_idx: int, pairs: list[Pair]) -> None:
    """Record a variant's score for its entry if it beats the entry's best so far (ties: the first variant)."""
    cur = best.get(e_idx)
    if cur is None or score > cur[0] or (score == cur[0] and v_idx < cur[1]):
        best[e_idx] = (score, v_idx, pairs)


def weights_may_reach(qw: float, ew: float, floor: float) -> bool:
    """A cheap bound: a name much heavier or lighter than the query cannot reach ``floor``.

    The person-name discount halves the heavier side's extra weight at most.
    """
    lo, hi = (qw, ew) if qw <= ew else (ew, qw)
    return 2.0 * lo / (lo + lo + 0.5 * (hi - lo)) >= floor
