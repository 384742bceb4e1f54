"""Inverted index over list names for candidate retrieval.

Every name and alias of every entry (a *variant*) is analysed once. Keys point to variants:

- each word token, and each of its one-letter deletions (a symmetric-delete scheme: two words within
  one edit, or one transposition, share a key), for words of four letters or more;
- each word token's phonetic key (two consonants or more);
- the concatenation of two or three adjacent tokens (and its deletions), so ``good will`` finds
  ``goodwill`` and ``hua wei`` finds ``huawei``.

A query looks up only its *essential* tokens: sorting the query's tokens by weight, the lightest ones
whose total weight is below ``ESSENTIAL_FRACTION`` of the query's weight cannot reach the threshold on
their own, so a candidate must share at least one of the others. Every candidate is then scored with
the same scorer that brute force uses; the benchmark measures the index's recall against brute force.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from compliance.evidence import ListEntry
from compliance.screening.normalize import NameForm, analyze, phonetic_key
from compliance.screening.scorer import MIN_PHONETIC_KEY as _MIN_PHONETIC

ESSENTIAL_FRACTION: Final = 1.0
"""Multiplier on ``required_fraction``: 1.0 is the bound; lower values look up more tokens (safer)."""

_PHONETIC_PREFIX: Final = "\x02"
_KEYED_KINDS: Final = frozenset({"core", "generic", "syl", "num"})
_MERGE_KINDS: Final = frozenset({"core", "generic", "syl", "num", "form", "stop", "initial"})
_MIN_DELETE_LEN: Final = 4

_AFFILIATE_RE: Final = re.compile(r"\.?\s*affiliated entit(?:y|ies)\s*:\s*", re.IGNORECASE)
_PAREN_RE: Final = re.compile(r"\(([^()]{1,60})\)")


def search_names(entry: ListEntry) -> list[str]:
    """The names a list entry is searched under: its name and aliases, plus derived forms.

    ``"Huawei Technologies Co., Ltd. (Huawei)"`` also yields ``"Huawei Technologies Co., Ltd."`` and
    ``"Huawei"``; ``"X. Affiliated Entity: Y"`` also yields ``"X"`` and ``"Y"``.
    """
    out: list[str] = []

    def add(name: str) -> None:
        name = " ".join(name.split()).strip(" .,;:")
        if name and name not in out:
            out.append(name)

    for raw in [entry.name, *entry.aliases]:
        add(raw)
        parts = _AFFILIATE_RE.split(raw)
        for part in parts if len(parts) > 1 else []:
            add(part)
        for part in parts:
            without = _PAREN_RE.sub(" ", part)
            if without != part:
                add(without)
                for m in _PAREN_RE.finditer(part):
                    inner = m.group(1).strip()
                    # a short name or acronym in parentheses is an alias; longer asides are not
                    if (
                        0 < len(inner.split()) <= 3
                        and len(inner) >= 2
                        and not inner.lower().startswith(("a ", "an ", "the ", "see "))
                    ):
                        add(inner)
    return out


def deletes(token: str) -> Iterator[str]:
    """The token and its one-letter deletions (for tokens of four letters or more)."""
    yield token
    if len(token) >= _MIN_DELETE_LEN:
        for i in range(len(token)):
            yield token[:i] + token[i + 1 :]


def _merges(form: NameForm) -> Iterator[str]:
    toks, kinds = form.tokens, form.kinds
    n = len(toks)
    for size in (2, 3):
        for start in range(n - size + 1):
            window = range(start, start + size)
            if all(kinds[i] in _MERGE_KINDS for i in window) and any(kinds[i] in _KEYED_KINDS for i in window):
                yield "".join(toks[i] for i in window)


def variant_keys(form: NameForm) -> set[str]:
    """Every index key of one analysed name."""
    keys: set[str] = set()
    for tok, kind, ph in zip(form.tokens, form.kinds, form.phonetics, strict=True):
        if kind not in _KEYED_KINDS:
            continue
        keys.update(deletes(tok))
        if kind != "num" and len(ph) >= _MIN_PHONETIC:
            keys.add(_PHONETIC_PREFIX + ph)
    for merged in _merges(form):
        keys.update(deletes(merged))
    return keys


def token_keys(tok: str, kind: str, phonetic: str) -> set[str]:
    """The keys one query token looks up."""
    if kind in ("form", "stop"):
        return set()
    if kind == "initial":
        return {tok}
    keys = set(deletes(tok))
    if kind != "num" and len(phonetic) >= _MIN_PHONETIC:
        keys.add(_PHONETIC_PREFIX + phonetic)
    return keys


def required_fraction(threshold: float, org_like: bool) -> float:
    """Share of the query's weight a name must match to possibly score ``threshold``.

    Without the person-name discount, ``2m / (W_q + W_e) >= t`` with ``m <= W_e`` gives
    ``m >= t W_q / (2 - t)``; with it (extra words count half) ``m >= t W_q / (4 - 3t)``. Pairs may weigh
    up to twice as much on the list side (a pinyin syllable against a word), hence the halving.
    """
    t = max(0.0, min(threshold, 1.0))
    frac = t / (2.0 - t) if org_like else t / (4.0 - 3.0 * t)
    return frac / 2.0


@dataclass(frozen=True, slots=True)
class Variant:
    """One searchable name of one entry."""

    entry: int
    """Position of the entry in the index's entry tuple."""
    name: str
    form: NameForm
    tokset: frozenset[str]
    org_like: bool


class NameIndex:
    """Postings from keys to variants; immutable after construction, so safe to read from threads."""

    def __init__(self, entries: Sequence[ListEntry]) -> None:
        self.entries: tuple[ListEntry, ...] = tuple(entries)
        variants: list[Variant] = []
        postings: dict[str, list[int]] = {}
        for e_idx, entry in enumerate(self.entries):
            for name in search_names(entry):
                form = analyze(name)
                if not form.tokens or all(k in ("initial", "stop", "form") for k in form.kinds):
                    continue
                v_idx = len(variants)
                org = any(k in ("form", "generic") for k in form.kinds)
                variants.append(Variant(e_idx, name, form, frozenset(form.tokens), org))
                for key in variant_keys(form):
                    postings.setdefault(key, []).append(v_idx)
        self.variants: tuple[Variant, ...] = tuple(variants)
        self.postings: dict[str, array[int]] = {k: array("I", v) for k, v in postings.items()}

    def __len__(self) -> int:
        return len(self.variants)

    def candidates(self, form: NameForm, threshold: float, fraction: float = ESSENTIAL_FRACTION) -> list[int]:
        """Variants that share an essential key with the query and whose score bound reaches ``threshold``.

        Essential tokens: skipping the query's tokens with the longest postings first, as many as
        together weigh less than the required share of the query (``required_fraction``); a name
        matching none of the rest cannot reach the threshold. For each candidate an upper bound of the
        score (matched query weight from the keys it shares, exact membership for the skipped tokens,
        at most twice that on the list side) is checked before the full scorer runs.
        """
        toks, kinds, weights, phons = form.tokens, form.kinds, form.weights, form.phonetics
        n = len(toks)
        wq = form.total_weight
        q_org = any(k in ("form", "generic") for k in kinds)
        get = self.postings.get
        keys_by_pos: list[set[str]] = [token_keys(toks[i], kinds[i], phons[i]) for i in range(n)]
        sets: list[set[int] | None] = [None] * n
        sizes: list[int] = [0] * n
        for i in range(n):
            if not keys_by_pos[i]:
                sizes[i] = -1
                continue
            found: set[int] = set()
            for key in keys_by_pos[i]:
                p = get(key)
                if p is not None:
                    found.update(p)
            sets[i] = found
            sizes[i] = len(found)
        budget = required_fraction(threshold, q_org) * fraction * wq
        # skip unkeyed tokens first, then the most frequent ones, while the skipped weight stays below budget
        order = sorted(range(n), key=lambda i: (sizes[i] >= 0, -sizes[i], weights[i], i))
        skipped: list[int] = []
        acc = 0.0
        for i in order:
            if acc + weights[i] >= budget:
                break
            acc += weights[i]
            skipped.append(i)
        essential = [i for i in range(n) if i not in skipped]
        mask: dict[int, int] = {}
        for i in essential:
            s = sets[i]
            if not s:
                continue
            bit = 1 << i
            for v in s:
                mask[v] = mask.get(v, 0) | bit
        # merged neighbours: ``good will`` meets ``goodwill``
        for size in (2, 3):
            for start in range(n - size + 1):
                window = range(start, start + size)
                if not any(kinds[i] in _KEYED_KINDS for i in window):
                    continue
                found = set()
                for key in deletes("".join(toks[i] for i in window)):
                    p = get(key)
                    if p is not None:
                        found.update(p)
                bit = 0
                for i in window:
                    bit |= 1 << i
                for v in found:
                    mask[v] = mask.get(v, 0) | bit
        variants = self.variants
        floor = threshold - 1e-9
        out: list[int] = []
        for v_idx, m in mask.items():
            var = variants[v_idx]
            mq = 0.0
            for i in range(n):
                if m >> i & 1 or (toks[i] in var.tokset and i in skipped):
                    mq += weights[i]
            we = var.form.total_weight
            me = min(we, 2.0 * mq)
            bound = (mq + me) / (wq + we) if q_org or var.org_like else (mq + me) / (0.5 * (wq + we) + 0.5 * (mq + me))
            if bound >= floor:
                out.append(v_idx)
        return out

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self.entries),
            "variants": len(self.variants),
            "keys": len(self.postings),
            "postings": sum(len(p) for p in self.postings.values()),
        }


def all_variant_ids(index: NameIndex) -> Iterable[int]:
    return range(len(index.variants))


__all__ = [
    "ESSENTIAL_FRACTION",
    "NameIndex",
    "Variant",
    "deletes",
    "phonetic_key",
    "required_fraction",
    "search_names",
    "token_keys",
    "variant_keys",
]
