"""Inverted index over list names for candidate retrieval, with a per-candidate score bound.

Every name and alias of every entry (a *variant*) is analysed once. Variants with the same analysed
tokens and kinds (the same name on several lists, or under several entries) share one *form*: the index
retrieves and bounds forms, and the screener scores each form once for all its variants. It keeps:

- a vocabulary of the distinct list tokens, each with its postings (the forms that contain it);
- lookup keys from a token to vocabulary tokens: the token itself, its one-letter deletions (and from
  seven letters its two-letter deletions), those of its singular, its first six letters and its
  phonetic key (a symmetric-delete scheme: two words within the scorer's edit budget share a key);
- the concatenations of two or three adjacent tokens of every variant (``hua wei`` -> ``huawei``) as
  *merge tokens*, looked up by a query word and its one-letter deletions;
- per form, as flat numpy arrays: its tokens, their weights, first letters, and its merge tokens
  with the weight of the words they join;
- per vocabulary word, precomputed at build time (CSR arrays): the tokens it may align with and the
  scorer's similarity to each (``nb_*``), and the forms those reach with, per form, the best
  similarity and the weighted credit (``agg_*``, the two as one complex number). Two words reach each
  other when they share a key, and ``token_similarity`` is symmetric, so every pair is scored once;
- halves of the long list words (``merge_sketch``), so that most joined query windows are found to
  merge into nothing by two set probes.

A query is answered in three steps:

1. **Token similarities.** A query word that is a list word takes its precomputed row. Another word
   looks up its keys and scores the vocabulary words they reach with the scorer's own
   ``token_similarity``. Adjacent query tokens joined (``hua wei``) are compared with whole list words
   at the scorer's merge similarity (from nineteen letters, by a rapidfuzz scan of the few words of a
   close length instead of hundreds of two-letter deletions), and each query word with the list's
   merge tokens. Rows are cached per token. A word found through its keys keeps the raw postings of
   the words it reaches (a form holding two of them appears twice; the first bound sums such repeats,
   which keeps it an upper bound, and the exact bound of step 3 does not use postings).
2. **Candidates.** Only *essential* query tokens generate candidates: the query's tokens with the
   longest postings are skipped while their total weight stays below what a name must match to reach
   the threshold (``required_fraction``); a name matching none of the rest cannot reach it. A first
   bound over all of them (numpy, per-thread scratch accumulators) keeps the few that may reach it.
3. **Score bound.** For each remaining candidate, an upper bound of the score: each query token at its
   best similarity to any of the candidate's tokens, plus each of the candidate's tokens at its best
   similarity to any query token, over the total weight (with the person-name discount where it can
   apply). The alignment is one to one, so a pair ``(i, j)`` with similarity ``s`` adds
   ``s * (w_i + w_j)``, never more than the two best similarities. Only the candidates whose bound
   reaches the threshold go to the full scorer, best bound first.

Where the compiled build is made, steps 2 and 3, and step 1's similarities of a looked-up word, run in the C
kernel ``_kernel.c`` (``kernel``); the Python code here is the reference and the fallback.

The full scorer is the same one brute force uses; the benchmark measures the index's recall against
brute force. What the bound cannot see: a word more than two edits from every list word (unless the
two share their first six letters) earns no credit, so such a pair is found only when the rest of the
name reaches the threshold on its own.
"""

from __future__ import annotations

import re
import threading
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from compliance.evidence import ListEntry, written_name
from compliance.native import by_constructor
from compliance.screening.normalize import NameForm, analyze, phonetic_key
from compliance.screening.scorer import INITIAL_SIM, MERGE_MIN_SIM, PHONETIC_RESCUE, singular, token_similarity
from compliance.screening.scorer import MIN_PHONETIC_KEY as _MIN_PHONETIC

if TYPE_CHECKING:
    from compliance.screening._kernel import Kernel

ESSENTIAL_FRACTION: Final = 1.0
"""Multiplier on ``required_fraction``: 1.0 is the bound; lower values look up more tokens (safer)."""

_PHONETIC_PREFIX: Final = "\x02"
_KEYED_KINDS: Final = frozenset({"core", "generic", "syl", "num"})
_WORDLIKE: Final = frozenset({"core", "generic", "syl", "initial"})
_ORG_KINDS: Final = frozenset({"form", "generic"})
_MIN_DELETE_LEN: Final = 4
_PREFIX_KEY: Final = "\x03"
_PREFIX_LEN: Final = 6
"""Words of seven letters or more are also keyed by their first six: long words vary at the end
(``supercomputer``/``supercomputing``, ``-skiy``/``-skoye``), often by more than two edits."""
_MIN_DELETE2_LEN: Final = 7
"""Two edits reach the scorer's 0.7 cutoff from seven letters on; such words also get two-letter deletions."""
_MERGE_KEY: Final = "\x00merge"
"""Second part of a joined window's key in the lookup cache (words are cached under their kind)."""
_MIN_MERGE_TARGET: Final = 4
"""The scorer merges adjacent tokens only into a word of four letters or more."""
_MERGE_ONE_EDIT: Final = 10
"""Merges need similarity 0.9: one edit is allowed from ten letters on, two from twenty."""
_MERGE_SKETCH_MAX: Final = 2 * _MERGE_ONE_EDIT - 3
"""Up to this length joined text and a word of at most one letter more are within one edit at 0.9."""
_CACHE_SIZE: Final = 100_000
_SMALL: Final = 48
"""Up to this many candidates the bound is computed in plain Python (numpy's per-call cost dominates)."""
_BOUND_SLACK: Final = 1e-4
"""Similarities are float32 in the bound: keep candidates a little under the threshold too."""

_PICKLED: Final = (
    "entries", "variants", "forms", "form_of", "form_variants", "vocab", "vocab_ids", "n_vocab",
    "form_off", "form_tok", "form_w", "form_moff", "form_mtok", "form_mw", "form_total", "form_org",
    "_form_total32", "tok_first", "tok_single", "post_form", "post_w", "post_off", "df",
    "mpost_form", "mpost_w", "mpost_off", "merge_vocab", "keys", "merge_ids", "merge_del_hash",
    "merge_del_id", "_form_toks", "_form_ws", "_form_merges", "_form_total", "_form_org", "_form_single",
    "_vocab_first", "_vocab_single", "_vocab_ph", "all_off", "all_form", "all_w", "_len_ids", "_len_words",
    "_len_off", "_merge_sketch", "nb_off", "nb_id", "nb_sim", "agg_off", "agg_form", "agg_values",
)  # fmt: skip
"""The index's attributes a pickle keeps; the others (``_TRANSIENT``) are caches and per-thread scratch, or
derived again by ``__setstate__``. Named one by one because the compiled index has no ``__dict__``."""
_TRANSIENT: Final = ("_cache", "_token_rows", "_local", "_factors", "_all_starts", "kernel")

_AFFILIATE_RE: Final = re.compile(r"\.?\s*affiliated entit(?:y|ies)\s*:\s*", re.IGNORECASE)
_PAREN_RE: Final = re.compile(r"\(([^()]{1,60})\)")

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float32]
ComplexArray = npt.NDArray[np.complex64]
_NO_IDS: Final[IntArray] = np.zeros(0, dtype=np.int32)
_NO_SIMS: Final[FloatArray] = np.zeros(0, dtype=np.float32)
_NO_VALUES: Final[ComplexArray] = np.zeros(0, dtype=np.complex64)


def search_names(entry: ListEntry) -> list[str]:
    """The names a list entry is searched under: its name and aliases, plus derived forms.

    ``"Huawei Technologies Co., Ltd. (Huawei)"`` also yields ``"Huawei Technologies Co., Ltd."`` and
    ``"Huawei"``; ``"X. Affiliated Entity: Y"`` also yields ``"X"`` and ``"Y"``.
    """
    out: list[str] = []

    def add(name: str) -> None:
        name = written_name(name)
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


def deletes2(token: str) -> set[str]:
    """The token's two-letter deletions (for tokens of ``_MIN_DELETE2_LEN`` letters or more)."""
    n = len(token)
    if n < _MIN_DELETE2_LEN:
        return set()
    # from each one-letter deletion, delete a later letter (two slices per key instead of three)
    return {
        d[:j] + d[j + 1 :]
        for i, d in enumerate(token[:i] + token[i + 1 :] for i in range(n - 1))
        for j in range(i, n - 1)
    }


def _deletes_set(token: str) -> set[str]:
    """``set(deletes(token))``, built without a generator (query-time hot path)."""
    if len(token) < _MIN_DELETE_LEN:
        return {token}
    out = {token[:i] + token[i + 1 :] for i in range(len(token))}
    out.add(token)
    return out


def _hash(key: str) -> int:
    """A stable 63-bit hash (Python's ``hash`` changes between processes; a pickled index must not)."""
    b = key.encode()
    return ((zlib.crc32(b) & 0x7FFFFFFF) << 32) | zlib.crc32(b, 0x9E3779B9)


def _word_keys(tok: str) -> set[str]:
    """Lookup keys of one word: itself, its deletions, its singular's deletions, its phonetic key."""
    keys = set(deletes(tok))
    keys.update(deletes2(tok))
    if len(tok) > _PREFIX_LEN:
        keys.add(_PREFIX_KEY + tok[:_PREFIX_LEN])
    sing = singular(tok)
    if sing != tok:
        keys.update(deletes(sing))
    if tok.isalpha():
        ph = phonetic_key(tok)
        if len(ph) >= _MIN_PHONETIC:
            keys.add(_PHONETIC_PREFIX + ph)
    return keys


def merge_sketch(vocab: Iterable[str]) -> frozenset[str]:
    """Halves of list words, for a quick test of whether joined query tokens may merge into any of them.

    For joined text of length ``L`` (``_MERGE_ONE_EDIT - 1 <= L <= _MERGE_SKETCH_MAX``) the scorer's merge
    similarity of 0.9 allows one edit and a length difference of one. One edit leaves either the first
    ``L // 2`` letters or the last ``L - L // 2`` letters as they are, so a word ``w`` within one edit
    has ``w[:L // 2]`` equal to the text's first half or ends with its second half. Each word of length
    ``L - 1`` to ``L + 1`` is stored under both halves, keyed by ``L``.
    """
    out: set[str] = set()
    for w in vocab:
        lw = len(w)
        for lj in (lw - 1, lw, lw + 1):
            if _MERGE_ONE_EDIT - 1 <= lj <= _MERGE_SKETCH_MAX and lw >= _MIN_MERGE_TARGET:
                half = lj // 2
                # keyed by ``chr(L)``: a one-character string, cheaper to make per query than ``str(L)``
                out.add(chr(lj) + "<" + w[:half])
                out.add(chr(lj) + ">" + w[lw - (lj - half) :])
    return frozenset(out)


def _windows(form: NameForm) -> Iterator[tuple[int, int, str]]:
    """Adjacent windows of two or three tokens the scorer may merge: (start, size, joined text)."""
    toks, kinds = form.tokens, form.kinds
    n = len(toks)
    for size in (2, 3):
        for start in range(n - size + 1):
            if any(kinds[i] in _WORDLIKE for i in range(start, start + size)):
                yield start, size, "".join(toks[start : start + size])


def variant_keys(form: NameForm) -> set[str]:
    """Every lookup key that reaches one analysed name's tokens (for inspection and tests)."""
    keys: set[str] = set()
    for tok in form.tokens:
        keys.update(_word_keys(tok))
    return keys


def token_keys(tok: str, kind: str, phonetic: str) -> set[str]:
    """The keys one query token looks up."""
    if kind in ("form", "stop", "num") or len(tok) == 1:
        return {tok}
    keys = _deletes_set(tok)
    if len(tok) >= _MIN_DELETE2_LEN:
        keys.update(deletes2(tok))
    if len(tok) > _PREFIX_LEN and kind in _WORDLIKE:
        keys.add(_PREFIX_KEY + tok[:_PREFIX_LEN])
    sing = singular(tok)
    if sing != tok:
        keys.update(_deletes_set(sing))
    if kind in _WORDLIKE and len(phonetic) >= _MIN_PHONETIC and tok.isalpha():
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

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


class _Lookup:
    """What one query token (or joined window) may align with; cached per token.

    A plain class, not a dataclass: compiled, a dataclass's generated ``__init__`` runs as Python code, and
    a cold query builds several of these. Nothing mutates one after construction.
    """

    ids: IntArray
    """Sorted token ids (vocabulary ids, or ``n_vocab + merge id`` for merge tokens)."""
    sims: FloatArray
    _sim_of: dict[int, float] | None
    postings: IntArray | None
    """The forms holding any of those tokens (for a list word's precomputed row: sorted, each once). None where
    the C bounds read them from the index's postings themselves (``kernel``; see ``NameIndex.expanded``)."""
    values: ComplexArray | None
    """Per posting, as one complex number (so that the first bound gathers and sums both at once):
    the real part is the query token's similarity to the form's token (the best one when each form is once),
    the imaginary part that similarity x the list token's weight (summed over the form's tokens when each
    form is once). None when ``postings`` is."""
    unique: bool
    """Whether ``postings`` holds each form once; if not, the first bound sums a form's entries."""
    n_postings: int
    """The number of postings (whether or not they are materialised)."""

    def __init__(
        self,
        ids: IntArray,
        sims: FloatArray,
        sim_of: dict[int, float] | None,
        postings: IntArray | None,
        values: ComplexArray | None,
        unique: bool,
        n_postings: int,
    ) -> None:
        self.ids = ids
        self.sims = sims
        self._sim_of = sim_of
        self.postings = postings
        self.values = values
        self.unique = unique
        self.n_postings = n_postings

    @property
    def sim_of(self) -> dict[int, float]:
        """Token id -> similarity (what ``ids`` and ``sims`` hold; for a list word's row, made when first read:
        only the Python bounds read it)."""
        sim_of = self._sim_of
        if sim_of is None:
            sim_of = dict(zip(self.ids.tolist(), self.sims.tolist(), strict=True))
            self._sim_of = sim_of  # (two threads may both make it: the same dict)
        return sim_of


class _Row:
    """One query token (or a window of adjacent query tokens) and the list tokens it may align with.

    A token's row depends on the token and its kind only, and is cached; a window's is built per query.
    Nothing mutates one after construction.
    """

    weight: float
    lookup: _Lookup
    essential_ok: bool
    """False for tokens that never generate candidates (legal forms, stop words)."""
    first: int
    """For a word: its first letter's code (an initial on the list side aligns with it at 0.6)."""
    initial: bool
    """A one-letter word: aligns at 0.6 with any list word starting with that letter."""
    for_kernel: tuple[IntArray, FloatArray, float, int, bool, IntArray | None, ComplexArray | None]
    """The row as the C bounds take it (``Kernel.bound``)."""

    def __init__(self, lookup: _Lookup, weight: float, essential_ok: bool, first: int, initial: bool) -> None:
        self.lookup = lookup
        self.weight = weight
        self.essential_ok = essential_ok
        self.first = first
        self.initial = initial
        self.for_kernel = (lookup.ids, lookup.sims, weight, first, initial, lookup.postings, lookup.values)


@dataclass(frozen=True, slots=True)
class _Postings:
    """A generating row's postings for the Python bounds."""

    postings: IntArray
    values: ComplexArray
    unique: bool
    weight: float


_EMPTY: Final = _Lookup(_NO_IDS, _NO_SIMS, {}, _NO_IDS, _NO_VALUES, True, 0)


def _csr(groups: Sequence[Sequence[int]]) -> tuple[npt.NDArray[np.int64], IntArray]:
    offsets = np.zeros(len(groups) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(g) for g in groups])
    flat = np.fromiter((x for g in groups for x in g), dtype=np.int32, count=int(offsets[-1]))
    return offsets, flat


class NameIndex:
    """Token postings, lookup keys and per-form arrays; immutable after construction (thread-safe reads).

    The only mutable state is a bounded cache of per-token lookups, which threads may share: a lookup
    is a pure function of the token, so a race only computes one twice.
    """

    def __init__(self, entries: Sequence[ListEntry], *, state: dict[str, Any] | None = None) -> None:
        """Index ``entries``; or, given the ``state`` of a pickled index, restore that index (``entries`` unused)."""
        if state is not None:
            self.__setstate__(state)
            return
        self.entries: tuple[ListEntry, ...] = tuple(entries)
        variants: list[Variant] = []
        vocab: dict[str, int] = {}
        merge_vocab: dict[str, int] = {}
        form_ids: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        forms: list[NameForm] = []
        form_of: list[int] = []
        form_tokens: list[list[int]] = []
        form_weights: list[float] = []
        form_merges: list[list[int]] = []
        form_merge_w: list[float] = []
        for e_idx, entry in enumerate(self.entries):
            for name in search_names(entry):
                form = analyze(name)
                if not form.tokens or all(k in ("initial", "stop", "form") for k in form.kinds):
                    continue
                org = any(k in ("form", "generic") for k in form.kinds)
                variants.append(Variant(e_idx, name, form, frozenset(form.tokens), org))
                f_id = form_ids.setdefault((form.tokens, form.kinds), len(forms))
                form_of.append(f_id)
                if f_id < len(forms):
                    continue  # the same analysed name as an earlier variant: indexed once
                forms.append(form)
                form_tokens.append([vocab.setdefault(t, len(vocab)) for t in form.tokens])
                form_weights.extend(form.weights)
                mids: list[int] = []
                for start, size, joined in _windows(form):
                    if len(joined) < _MIN_MERGE_TARGET:
                        continue
                    mids.append(merge_vocab.setdefault(joined, len(merge_vocab)))
                    form_merge_w.append(sum(form.weights[start : start + size]))
                form_merges.append(mids)
        self.variants: tuple[Variant, ...] = tuple(variants)
        self.forms: tuple[NameForm, ...] = tuple(forms)
        """The distinct analysed names (same tokens and kinds) of the variants: what the index retrieves."""
        self.form_of: tuple[int, ...] = tuple(form_of)
        """Per variant, its form's position in ``forms``."""
        by_form: list[list[int]] = [[] for _ in forms]
        for v_idx, f_id in enumerate(form_of):
            by_form[f_id].append(v_idx)
        self.form_variants: tuple[tuple[int, ...], ...] = tuple(tuple(g) for g in by_form)
        """Per form, its variants in ascending order."""
        self.vocab: tuple[str, ...] = tuple(vocab)
        self.vocab_ids: dict[str, int] = vocab
        self.n_vocab = len(vocab)
        # per-form token arrays (CSR)
        self.form_off, self.form_tok = _csr(form_tokens)
        self.form_w: FloatArray = np.asarray(form_weights, dtype=np.float32)
        self.form_moff, form_mtok = _csr(form_merges)
        self.form_mtok: IntArray = (form_mtok + self.n_vocab).astype(np.int32)
        self.form_mw: FloatArray = np.asarray(form_merge_w, dtype=np.float32)
        self.form_total = np.asarray([f.total_weight for f in forms], dtype=np.float64)
        self.form_org = np.asarray([not _ORG_KINDS.isdisjoint(f.kinds) for f in forms], dtype=np.bool_)
        self._form_total32 = self.form_total.astype(np.float32)
        vocab_first = np.asarray([ord(t[0]) for t in self.vocab], dtype=np.int32)
        vocab_single = np.asarray([len(t) == 1 for t in self.vocab], dtype=np.bool_)
        self.tok_first = vocab_first[self.form_tok]
        self.tok_single = vocab_single[self.form_tok]
        # postings: vocabulary id -> forms (CSR), merge id -> forms (CSR)
        owner = np.repeat(np.arange(len(forms), dtype=np.int32), np.diff(self.form_off))
        order = np.argsort(self.form_tok, kind="stable")
        self.post_form: IntArray = owner[order]
        self.post_w: FloatArray = self.form_w[order]
        self.post_off = np.searchsorted(self.form_tok[order], np.arange(self.n_vocab + 1)).astype(np.int64)
        self.df = np.diff(self.post_off)
        m_owner = np.repeat(np.arange(len(forms), dtype=np.int32), np.diff(self.form_moff))
        m_order = np.argsort(form_mtok, kind="stable")
        self.mpost_form: IntArray = m_owner[m_order]
        self.mpost_w: FloatArray = self.form_mw[m_order]
        self.mpost_off = np.searchsorted(form_mtok[m_order], np.arange(len(merge_vocab) + 1)).astype(np.int64)
        self.merge_vocab: tuple[str, ...] = tuple(merge_vocab)
        # lookup keys -> vocabulary ids; merge texts -> merge ids
        keys: dict[str, list[int]] = {}
        for vid, tok in enumerate(self.vocab):
            for key in _word_keys(tok):
                keys.setdefault(key, []).append(vid)
        self.keys: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in keys.items()}
        self.merge_ids: dict[str, int] = merge_vocab
        # one-letter deletions of long merge tokens, as sorted stable hashes (a dict would cost ~100 MB)
        mh: list[int] = []
        mm: list[int] = []
        for mid, text in enumerate(self.merge_vocab):
            if len(text) >= _MERGE_ONE_EDIT:
                for d in deletes(text):
                    if d != text:
                        mh.append(_hash(d))
                        mm.append(mid)
        hashes = np.asarray(mh, dtype=np.int64)
        h_order = np.argsort(hashes, kind="stable")
        self.merge_del_hash: npt.NDArray[np.int64] = hashes[h_order]
        self.merge_del_id: IntArray = np.asarray(mm, dtype=np.int32)[h_order]
        # the same per-form data as Python tuples, for the plain-Python bound
        self._form_toks: list[tuple[int, ...]] = [tuple(t) for t in form_tokens]
        self._form_ws: list[tuple[float, ...]] = [f.weights for f in forms]
        mw_iter = iter(form_merge_w)
        self._form_merges: list[tuple[tuple[int, float], ...]] = [
            tuple((self.n_vocab + mid, next(mw_iter)) for mid in mids) for mids in form_merges
        ]
        self._form_total: list[float] = self.form_total.tolist()
        self._form_org: list[bool] = self.form_org.tolist()
        self._form_single: list[bool] = [any(len(t) == 1 for t in f.tokens) for f in forms]
        self._vocab_first: list[int] = vocab_first.tolist()
        self._vocab_single: list[bool] = vocab_single.tolist()
        self._vocab_ph: tuple[str, ...] = tuple(phonetic_key(t) for t in self.vocab)
        # vocabulary and merge postings in one CSR (ids ``n_vocab + merge id`` follow the vocabulary)
        self.all_off = np.concatenate([self.post_off, self.mpost_off[1:] + self.post_off[-1]])
        self.all_form: IntArray = np.concatenate([self.post_form, self.mpost_form])
        self.all_w = np.concatenate([self.post_w, self.mpost_w]).astype(np.float64)
        self._all_starts: list[int] = self.all_off.tolist()
        """``all_off`` as Python integers: a token's postings slice without numpy scalars (query time)."""
        # vocabulary ids by word length, for scans of a length band
        lengths = np.asarray([len(t) for t in self.vocab], dtype=np.int64)
        by_len = np.argsort(lengths, kind="stable")
        self._len_ids: list[int] = by_len.tolist()
        self._len_words: list[str] = [self.vocab[i] for i in self._len_ids]
        self._len_off: list[int] = np.searchsorted(lengths[by_len], np.arange(int(lengths.max(initial=0)) + 2)).tolist()
        self._merge_sketch: frozenset[str] = merge_sketch(self.vocab)
        self._precompute_vocab_rows()
        self._cache: dict[tuple[str, str], _Lookup] = {}
        self._token_rows: dict[tuple[str, str], _Row] = {}
        self._local = threading.local()
        self._factors: dict[float, FloatArray] = {}
        self.kernel: Kernel | None = self.make_kernel()

    def __len__(self) -> int:
        return len(self.variants)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        # compiled (``compliance.native``), a class cannot be made without its ``__init__`` arguments
        return (_unpickled_index, (self.__getstate__(),))

    def __getstate__(self) -> dict[str, Any]:
        # by name: compiled, the index has no ``__dict__``
        return {k: getattr(self, k) for k in _PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k in _PICKLED:
            setattr(self, k, state[k])
        self._all_starts = self.all_off.tolist()
        self._cache = {}
        self._token_rows = {}
        self._local = threading.local()
        self._factors = {}
        self.kernel = self.make_kernel()

    def make_kernel(self) -> Kernel | None:
        """The C score bounds and word similarities over this index (``_kernel.c``), or None where that extension
        is not built.

        ``kernel`` holds it; set ``kernel`` to None to run the Python bounds and the scorer's own
        ``token_similarity`` (the reference) instead.
        """
        try:
            from compliance.screening._kernel import Kernel
        except ImportError:
            return None
        weights = np.fromiter(chain.from_iterable(self._form_ws), dtype=np.float64, count=len(self.form_w))
        merge_weights = np.fromiter(
            (w for merges in self._form_merges for _, w in merges), dtype=np.float64, count=len(self.form_mw)
        )
        return Kernel(
            self.form_off,
            self.form_tok,
            weights,
            self.form_moff,
            self.form_mtok,
            merge_weights,
            self.form_total,
            self._form_total32,
            self.form_org,
            np.asarray(self._form_single, dtype=np.bool_),
            np.asarray(self._vocab_first, dtype=np.int32),
            np.asarray(self._vocab_single, dtype=np.bool_),
            self.all_off,
            self.all_form,
            self.all_w,
            self.vocab,
            self._vocab_ph,
            INITIAL_SIM,
            PHONETIC_RESCUE,
            _MIN_PHONETIC,
        )

    def _scratch(self) -> npt.NDArray[np.complex64]:
        """A per-form accumulator, all zeros, private to the calling thread (callers zero what they touch).

        Complex: the real part sums the query side of the first bound and the imaginary part the list
        side, so one scatter, one gather and one reset serve both. Complex addition adds the parts
        separately, in float32, exactly as two float32 accumulators would.
        """
        local = self._local
        acc: npt.NDArray[np.complex64] | None = getattr(local, "acc", None)
        if acc is None:
            acc = np.zeros(len(self.forms), dtype=np.complex64)
            local.acc = acc
        return acc

    def _dense_scratch(self) -> FloatArray:
        """A float32 array over all token ids (words and merge tokens), all zeros, private to the thread."""
        local = self._local
        dense: FloatArray | None = getattr(local, "dense", None)
        if dense is None:
            dense = np.zeros(len(self.all_off) - 1, dtype=np.float32)
            local.dense = dense
        return dense

    # -- step 1: token similarities --------------------------------------------------------------

    def _lookup(self, sims: dict[int, float]) -> _Lookup:
        """The tokens in ``sims`` with their similarities, and their postings: materialised by ``expanded``
        for the Python bounds, left to the C bounds (``kernel``) to read from the index where it runs."""
        if self.kernel is None:
            return self.expanded(sims)
        if not sims:
            return _EMPTY
        keys, ids, vals = _sorted_sims(sims)
        off = self._all_starts
        return _Lookup(ids, vals, sims, None, None, False, sum([off[k + 1] - off[k] for k in keys]))

    def expanded(self, sims: dict[int, float]) -> _Lookup:
        """Postings of the tokens in ``sims``, each with its token's similarity and weighted credit.

        Not grouped by form: a form holding two of the tokens appears twice (rare; the first bound sums
        its entries, which stays an upper bound, and ``unique`` tells it whether it must).
        """
        if not sims:
            return _EMPTY
        keys, ids, vals = _sorted_sims(sims)
        off = self._all_starts
        if len(keys) == 1:
            a, b = off[keys[0]], off[keys[0] + 1]
            var = self.all_form[a:b]
            values = _sim_and_credit(len(var), vals[0], self.all_w[a:b] * float(vals[0]))
            # postings of one token are sorted by form: a repeat sits next to its twin
            unique = not len(var) or not bool(np.any(var[1:] == var[:-1]))
            return _Lookup(ids, vals, sims, var, values, unique, len(var))
        # each token's postings are one slice of the CSR arrays: join the slices (a few numpy calls, not a
        # gather through computed positions)
        spans = [(off[k], off[k + 1]) for k in keys]
        lens = [b - a for a, b in spans]
        if not sum(lens):
            return _Lookup(ids, vals, sims, _NO_IDS, _NO_VALUES, True, 0)
        all_form, all_w = self.all_form, self.all_w
        sim = np.repeat(vals, lens)
        values = _sim_and_credit(len(sim), sim, np.concatenate([all_w[a:b] for a, b in spans]) * sim)
        postings = np.concatenate([all_form[a:b] for a, b in spans])
        return _Lookup(ids, vals, sims, postings, values, False, len(postings))

    def _remember(self, key: tuple[str, str], value: _Lookup) -> _Lookup:
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = value
        return value

    def _token_row(self, tok: str, kind: str, phonetic: str) -> _Lookup:
        """Vocabulary tokens ``tok`` may align with and the scorer's similarity to each (cached)."""
        cache_key = (tok, kind)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        vid = self.vocab_ids.get(tok)
        if kind in _WORDLIKE and vid is not None and (len(tok) == 1 or phonetic == self._vocab_ph[vid]):
            return self._remember(cache_key, self._vocab_row(vid))
        return self._remember(cache_key, self._lookup(self.keyed_sims(tok, kind, phonetic)))

    def keyed_sims(self, tok: str, kind: str, phonetic: str) -> dict[int, float]:
        """Token ids ``tok`` may align with and the similarity of each, found through the lookup keys.

        This is how a query word outside the vocabulary is looked up; for a list word the same result
        is precomputed at build time (``_precompute_vocab_rows``).
        """
        sims: dict[int, float] = {}
        if kind in _WORDLIKE:
            # the keys present in the index, intersected in C, then the words they reach
            hit_keys = self.keys.keys() & token_keys(tok, kind, phonetic)
            reached = set(chain.from_iterable(map(self.keys.__getitem__, hit_keys)))
            kernel = self.kernel
            found = None if kernel is None else kernel.similarities(tok, phonetic, reached)
            if found is not None:
                sims = found  # the scorer's ``token_similarity``, computed in C (``_kernel.c``)
            else:
                vocab, vocab_ph = self.vocab, self._vocab_ph
                for v in reached:
                    s = token_similarity(tok, vocab[v], phonetic, vocab_ph[v])
                    if s > 0.0:
                        sims[v] = s
            self._add_initial_and_merges(tok, sims)
        else:
            vid = self.vocab_ids.get(tok)
            if vid is not None:
                sims[vid] = 1.0
        return sims

    def _add_initial_and_merges(self, tok: str, sims: dict[int, float]) -> None:
        """A word's alignments besides other words: list-side initials and the list's merge tokens."""
        # a list-side initial aligns with this word at 0.6
        if len(tok) > 1:
            letter = self.vocab_ids.get(tok[0])
            if letter is not None and sims.get(letter, 0.0) < INITIAL_SIM:
                sims[letter] = INITIAL_SIM
        # merges: this word against the list's joined neighbours (``huawei`` / ``hua wei``)
        if len(tok) >= _MIN_MERGE_TARGET:
            n_vocab = self.n_vocab
            merge_keys = [tok] if len(tok) < _MERGE_ONE_EDIT - 1 else list(deletes(tok))
            found = [mid for mid in map(self.merge_ids.get, merge_keys) if mid is not None]
            if len(tok) >= _MERGE_ONE_EDIT - 1:
                h = np.asarray([_hash(k) for k in merge_keys], dtype=np.int64)
                lo = np.searchsorted(self.merge_del_hash, h, side="left")
                hi = np.searchsorted(self.merge_del_hash, h, side="right")
                for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                    if a < b:
                        found.extend(self.merge_del_id[a:b].tolist())
            for mid in found:
                if n_vocab + mid not in sims:
                    s = _merge_sim(tok, self.merge_vocab[mid])
                    if s > 0.0:
                        sims[n_vocab + mid] = s

    def _vocab_row(self, vid: int) -> _Lookup:
        """The precomputed lookup of a list word (as a query word, kind aside from legal forms and stop words)."""
        a, b = int(self.nb_off[vid]), int(self.nb_off[vid + 1])
        ids, vals = self.nb_id[a:b], self.nb_sim[a:b]
        c, d = int(self.agg_off[vid]), int(self.agg_off[vid + 1])
        return _Lookup(
            ids,
            vals,
            None,
            self.agg_form[c:d],
            self.agg_values[c:d],
            True,
            d - c,
        )

    def _precompute_vocab_rows(self) -> None:
        """Every list word's lookup, as ``_token_row`` would compute it for a query word, in CSR arrays.

        Two words reach each other when they share a lookup key, and ``token_similarity`` is symmetric,
        so each pair is scored once. A query word found in the vocabulary then needs no key lookup.
        """
        n_vocab, vocab, ph = self.n_vocab, self.vocab, self._vocab_ph
        # pairs as int64 codes ``a * n_vocab + b`` (a < b) in a compact array: no Python object per pair
        codes = array("q")
        for group in self.keys.values():
            for x in range(1, len(group)):
                a = group[x]
                codes.extend((b * n_vocab + a) if b < a else (a * n_vocab + b) for b in group[:x])
        pair_codes = np.unique(np.frombuffer(codes, dtype=np.int64))
        del codes
        pair_sims = array("f")
        pair_sims.extend(
            token_similarity(vocab[a], vocab[b], ph[a], ph[b])
            for a, b in zip((pair_codes // n_vocab).tolist(), (pair_codes % n_vocab).tolist(), strict=True)
        )
        sims_np = np.frombuffer(pair_sims, dtype=np.float32)
        hit = sims_np > 0.0
        pa, pb, ps = pair_codes[hit] // n_vocab, pair_codes[hit] % n_vocab, sims_np[hit]
        del pair_codes, pair_sims, sims_np
        e_src = array("q")
        e_dst = array("q")
        e_sim = array("f")
        for vid, tok in enumerate(vocab):
            extra: dict[int, float] = {}
            self._add_initial_and_merges(tok, extra)
            e_src.extend([vid] * len(extra))
            e_dst.extend(extra)
            e_sim.extend(extra.values())
        self_ids = np.arange(n_vocab, dtype=np.int64)
        src_a = np.concatenate([self_ids, pa, pb, np.frombuffer(e_src, dtype=np.int64)])
        dst_a = np.concatenate([self_ids, pb, pa, np.frombuffer(e_dst, dtype=np.int64)])
        sim_a = np.concatenate([np.ones(n_vocab, dtype=np.float32), ps, ps, np.frombuffer(e_sim, dtype=np.float32)])
        order = np.lexsort((-sim_a, dst_a, src_a))
        src_a, dst_a, sim_a = src_a[order], dst_a[order], sim_a[order]
        # one entry per (word, neighbour): the best similarity (an initial's 0.6 against a word's own)
        keep = np.ones(len(src_a), dtype=np.bool_)
        keep[1:] = (src_a[1:] != src_a[:-1]) | (dst_a[1:] != dst_a[:-1])
        src_a, dst_a, sim_a = src_a[keep], dst_a[keep], sim_a[keep]
        self.nb_off = np.searchsorted(src_a, np.arange(n_vocab + 1)).astype(np.int64)
        self.nb_id: IntArray = dst_a.astype(np.int32)
        self.nb_sim: FloatArray = sim_a
        # aggregate the postings per word, in chunks of words to bound the temporary arrays; the output
        # is allocated once at its largest possible size and copied to its exact size at the end
        n_forms = len(self.forms)
        edge_lens = self.all_off[dst_a + 1] - self.all_off[dst_a]
        upper = int(edge_lens.sum())
        out_var = np.empty(upper, dtype=np.int32)
        out_best = np.empty(upper, dtype=np.float32)
        out_credit = np.empty(upper, dtype=np.float32)
        counts = np.zeros(n_vocab, dtype=np.int64)
        filled = 0
        chunk = 512
        for lo in range(0, n_vocab, chunk):
            a, b = int(self.nb_off[lo]), int(self.nb_off[min(lo + chunk, n_vocab)])
            s_src, s_dst, s_sim, lens = src_a[a:b], dst_a[a:b], sim_a[a:b], edge_lens[a:b]
            starts = self.all_off[s_dst]
            total = int(lens.sum())
            if not total:
                continue
            pos = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
            key = np.repeat(s_src, lens) * n_forms + self.all_form[pos]
            psim = np.repeat(s_sim, lens)
            credit = self.all_w[pos] * psim
            order = np.argsort(key, kind="stable")
            key, psim, credit = key[order], psim[order], credit[order]
            head = np.ones(total, dtype=np.bool_)
            head[1:] = key[1:] != key[:-1]
            first = np.flatnonzero(head)
            k = len(first)
            out_var[filled : filled + k] = key[first] % n_forms
            out_best[filled : filled + k] = np.maximum.reduceat(psim, first)
            out_credit[filled : filled + k] = np.add.reduceat(credit, first)
            counts += np.bincount(key[first] // n_forms, minlength=n_vocab)
            filled += k
        self.agg_off = np.zeros(n_vocab + 1, dtype=np.int64)
        self.agg_off[1:] = np.cumsum(counts)
        self.agg_form: IntArray = out_var[:filled].copy()
        self.agg_values: ComplexArray = _sim_and_credit(filled, out_best[:filled], out_credit[:filled])

    def _window_row(self, joined: str) -> _Lookup:
        """Vocabulary words that adjacent query tokens, joined, may merge into (cached)."""
        cache_key = (joined, _MERGE_KEY)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        sims: dict[int, float] = {}
        vocab = self.vocab
        lj = len(joined)
        if lj >= 2 * _MERGE_ONE_EDIT - 1:
            # two edits allowed: scan the few long words of a close length in C rather than look up
            # hundreds of two-letter deletions (a superset of what the keys reach)
            lens = self._len_off
            lo, hi = 9 * lj // 10, min(10 * lj // 9 + 1, len(lens) - 2)
            if lo <= hi:
                a, b = int(lens[lo]), int(lens[hi + 1])
                by_len = self._len_ids
                for _, _, k in process.extract(
                    joined,
                    self._len_words[a:b],
                    scorer=Levenshtein.normalized_similarity,
                    score_cutoff=MERGE_MIN_SIM - 1e-6,
                    limit=None,
                ):
                    vid = by_len[a + k]
                    s = _merge_sim(joined, vocab[vid])
                    if s > 0.0:
                        sims[vid] = s
            return self._remember(cache_key, self._lookup(sims))
        index_keys = self.keys
        if lj < _MERGE_ONE_EDIT - 1:
            reached: Iterable[int] = index_keys.get(joined, ())
        else:
            if lj <= _MERGE_SKETCH_MAX and not self._may_merge(joined):
                return self._remember(cache_key, _EMPTY)
            # most windows reach nothing: intersect the keys in C before touching any word
            hit_keys = index_keys.keys() & _deletes_set(joined)
            if not hit_keys:
                return self._remember(cache_key, _EMPTY)
            reached = set(chain.from_iterable(map(index_keys.__getitem__, hit_keys)))
        for vid in reached:
            other = vocab[vid]
            s = _merge_sim(joined, other) if len(other) >= _MIN_MERGE_TARGET else 0.0
            if s > 0.0:
                sims[vid] = s
        return self._remember(cache_key, self._lookup(sims))

    def _may_merge(self, joined: str) -> bool:
        """False when no list word is within one edit of ``joined`` (see ``_merge_sketch``): a two-probe test."""
        lj = len(joined)
        half = lj // 2
        sketch = self._merge_sketch
        length = chr(lj)
        return (length + "<" + joined[:half]) in sketch or (length + ">" + joined[half:]) in sketch

    def _rows(self, form: NameForm) -> list[_Row]:
        rows: list[_Row] = []
        cached = self._cache.get
        token_rows = self._token_rows
        toks, kinds, weights = form.tokens, form.kinds, form.weights
        wordlike = [k in _WORDLIKE for k in kinds]
        for tok, kind, w, ph, is_word in zip(toks, kinds, weights, form.phonetics, wordlike, strict=True):
            row = token_rows.get((tok, kind))
            if row is None or row.weight != w:
                lk = cached((tok, kind))
                if lk is None:
                    lk = self._token_row(tok, kind, ph)
                row = _Row(
                    lk, w, kind not in ("form", "stop"), ord(tok[0]) if is_word else -1, is_word and len(tok) == 1
                )
                if len(token_rows) >= _CACHE_SIZE:
                    token_rows.clear()
                token_rows[tok, kind] = row
            rows.append(row)
        # the windows ``_windows`` yields, in the same order, without a generator
        n = len(toks)
        for size in (2, 3):
            for start in range(n - size + 1):
                if not (wordlike[start] or wordlike[start + 1] or (size == 3 and wordlike[start + 2])):
                    continue
                joined = "".join(toks[start : start + size])
                if len(joined) < _MIN_MERGE_TARGET:
                    continue
                lk = cached((joined, _MERGE_KEY))
                if lk is None:
                    lk = self._window_row(joined)
                if len(lk.ids):
                    rows.append(_Row(lk, sum(weights[start : start + size]), True, -1, False))
        return rows

    # -- steps 2 and 3: candidates and their bound -----------------------------------------------

    def candidates(self, form: NameForm, threshold: float, fraction: float = ESSENTIAL_FRACTION) -> list[int]:
        """Variants that may score ``threshold`` or more against ``form``, highest score bound first.

        See the module docstring: essential tokens generate candidates, and a vectorised upper bound
        of each candidate's score decides which ones the full scorer sees.
        """
        return [v for v, _ in self.bounded_candidates(form, threshold, fraction)]

    def bounded_candidates(
        self, form: NameForm, threshold: float, fraction: float = ESSENTIAL_FRACTION
    ) -> list[tuple[int, float]]:
        """``(variant, score upper bound)`` for every candidate whose bound reaches ``threshold``, best first."""
        by_form = self.form_variants
        return [(v, bound) for f, bound in self.bounded_forms(form, threshold, fraction) for v in by_form[f]]

    def bounded_forms(
        self, form: NameForm, threshold: float, fraction: float = ESSENTIAL_FRACTION
    ) -> list[tuple[int, float]]:
        """``(form, score upper bound)`` for every distinct list name whose bound reaches ``threshold``, best first.

        A form stands for every variant in ``form_variants`` (they score the same against any query).
        """
        n = len(form.tokens)
        if not n:
            return []
        rows = self._rows(form)
        wq = form.total_weight
        q_org = any(k in ("form", "generic") for k in form.kinds)
        # essential tokens: skip the most frequent while the skipped weight stays below the budget
        sizes = [(r.lookup.n_postings + (1_000_000 if r.initial else 0)) if r.essential_ok else -1 for r in rows[:n]]
        budget = required_fraction(threshold, q_org) * fraction * wq
        weights = form.weights
        order = sorted(range(n), key=lambda i: (sizes[i] >= 0, -sizes[i], weights[i], i))
        skipped: set[int] = set()
        acc = 0.0
        for i in order:
            w = weights[i]
            if acc + w >= budget:
                break
            acc += w
            skipped.add(i)
        # a first bound from the cached per-token postings: generating rows at their best similarity,
        # the other rows at full weight (and twice that on the list side). The sums go to per-thread
        # scratch arrays, read back over the concatenated postings (repeats included) and zeroed again.
        const_q = 0.0
        const_e = 0.0
        gen_at: list[int] = []
        kinds = form.kinds
        for i, r in enumerate(rows):
            if (i < n and (i in skipped or not r.essential_ok)) or r.initial:
                if i < n:
                    const_q += r.weight
                    const_e += r.weight * (1.0 if kinds[i] in ("form", "stop", "num") else 2.0)
            elif r.lookup.n_postings:
                gen_at.append(i)
        if not gen_at:
            return []
        kernel = self.kernel
        if kernel is not None:
            return kernel.bound(
                [r.for_kernel for r in rows],
                gen_at,
                const_q,
                const_e,
                wq,
                q_org,
                threshold,
                _BOUND_SLACK,
            )
        gen = [self._materialised(rows[i]) for i in gen_at]
        # whether a form may appear more than once in ``cat`` (its entries are then summed)
        merged = len(gen) > 1 or not gen[0].unique
        if not merged:
            g = gen[0]
            cat = g.postings
            mq = g.values.real * g.weight
            me = g.values.imag
        else:
            # one scatter into the per-thread complex scratch (query side real, list side imaginary), read
            # back over the concatenated postings (repeats included) and zeroed again
            scratch = self._scratch()
            # platform integers: ``add.at``, ``take`` and ``put`` would each convert int32 indices again
            cat = np.concatenate([r.postings for r in gen]).astype(np.intp)
            vals = np.concatenate([r.values for r in gen])
            # the query side is the similarity x the query token's weight: one multiplication when the
            # generating tokens weigh the same (float32 x float32, as each row's own product would be)
            weight = gen[0].weight
            if any(r.weight != weight for r in gen):
                vals.real *= np.repeat(
                    np.array([r.weight for r in gen], dtype=np.float32), [len(r.postings) for r in gen]
                )
            elif weight != 1.0:
                vals.real *= np.float32(weight)
            try:
                np.add.at(scratch, cat, vals)
                summed = scratch.take(cat)
            finally:
                scratch.put(cat, 0)
            mq = summed.real
            me = summed.imag
        # bound >= t  <=>  m >= t * total (organisations) or m >= t / (2 - t) * total (person discount)
        we = self._form_total32.take(cat)
        if const_q:
            mq = mq + np.float32(const_q)
        m = np.minimum(mq, np.float32(wq))
        me = me + np.float32(const_e) if const_e else me
        m += np.minimum(me, we)
        total = we + np.float32(wq)
        t = threshold - _BOUND_SLACK
        if q_org:
            total *= np.float32(t)
        else:
            total *= self._person_factor(t).take(cat)
        cand = cat[m >= total]
        n_cand = len(cand)
        if not n_cand:
            return []
        if n_cand <= _SMALL or (merged and n_cand <= 4 * _SMALL):
            # candidates in ascending order, without repeats (the same order ``np.unique`` gives)
            small = sorted(set(cand.tolist())) if merged else cand.tolist()
            if len(small) <= _SMALL:
                return self._bound_small(small, rows, wq, q_org, threshold)
            return self._bound(np.asarray(small, dtype=np.int32), rows, wq, q_org, threshold)
        if merged:
            cand = np.unique(cand)
            if len(cand) <= _SMALL:
                return self._bound_small(cand.tolist(), rows, wq, q_org, threshold)
        return self._bound(cand, rows, wq, q_org, threshold)

    def _materialised(self, r: _Row) -> _Postings:
        """A generating row's postings, materialised if the C bounds had left them to be read from the index."""
        lk = r.lookup
        if lk.postings is not None and lk.values is not None:
            return _Postings(lk.postings, lk.values, lk.unique, r.weight)
        lk = self.expanded(lk.sim_of)
        assert lk.postings is not None and lk.values is not None  # (expanded always materialises)
        return _Postings(lk.postings, lk.values, lk.unique, r.weight)

    def _person_factor(self, t: float) -> FloatArray:
        """Per form, the share of the total a person-like query must match: ``t`` or ``t / (2 - t)``."""
        factors = self._factors
        f = factors.get(t)
        if f is None:
            f = np.where(self.form_org, np.float32(t), np.float32(t / (2.0 - t)))
            if len(factors) < 64:
                factors[t] = f
        return f

    def _bound_small(
        self, cand: list[int], rows: list[_Row], wq: float, q_org: bool, threshold: float
    ) -> list[tuple[int, float]]:
        """The same bound as ``_bound``, in plain Python: faster for a few candidates.

        Each candidate's tokens are looked up once in an inverted map of the query rows' similarities
        (token -> the rows reaching it), not once per row: a candidate costs its own tokens, whatever the
        number of rows. Maxima do not depend on the order they are taken in, and the sums run in row and
        token order, so the bound is the one a loop over rows and tokens gives, to the last bit.
        """
        form_toks, form_ws, form_merges = self._form_toks, self._form_ws, self._form_merges
        form_total, form_org, var_single = self._form_total, self._form_org, self._form_single
        vfirst, vsingle = self._vocab_first, self._vocab_single
        floor = threshold - _BOUND_SLACK
        n_rows = len(rows)
        row_w = [r.weight for r in rows]
        reaching: dict[int, list[tuple[int, float]]] = {}
        for i, r in enumerate(rows):
            for t, sv in r.lookup.sim_of.items():
                if sv > 0.0:
                    hits = reaching.get(t)
                    if hits is None:
                        reaching[t] = [(i, sv)]
                    else:
                        hits.append((i, sv))
        # an initial aligns at 0.6 with a word that starts with its letter (either side): a query initial's
        # row with any such candidate word, any query word's row with such a one-letter candidate token
        initials = [(i, r.first, True) for i, r in enumerate(rows) if r.initial]
        with_single = initials + [(i, r.first, False) for i, r in enumerate(rows) if r.first >= 0 and not r.initial]
        out: list[tuple[int, float]] = []
        for v in cand:
            toks = form_toks[v]
            merges = form_merges[v]
            best_e = [0.0] * len(toks)
            best_m = [0.0] * len(merges)
            row_best = [0.0] * n_rows
            for j, t in enumerate(toks):
                found = reaching.get(t)
                if found is not None:
                    for i, sv in found:
                        row_best[i] = max(row_best[i], sv)
                        best_e[j] = max(best_e[j], sv)
            for k, (mid, _) in enumerate(merges):
                found = reaching.get(mid)
                if found is not None:
                    for i, sv in found:
                        row_best[i] = max(row_best[i], sv)
                        best_m[k] = max(best_m[k], sv)
            for i, first, initial in with_single if var_single[v] else initials:
                for j, t in enumerate(toks):
                    # (a similarity of 0.6 or more is in the maxima already: taking 0.6 too changes nothing)
                    if vfirst[t] == first and (initial or vsingle[t]):
                        row_best[i] = max(row_best[i], INITIAL_SIM)
                        best_e[j] = max(best_e[j], INITIAL_SIM)
            mq = 0.0
            for i in range(n_rows):
                mq += row_w[i] * row_best[i]
            me = 0.0
            for wj, bj in zip(form_ws[v], best_e, strict=True):
                me += wj * bj
            for (_, mw), bk in zip(merges, best_m, strict=True):
                me += mw * bk
            we = form_total[v]
            m = (mq if mq < wq else wq) + (me if me < we else we)
            total = wq + we
            if q_org or form_org[v]:
                bound = m / total if total > 0 else 0.0
            else:
                denom = 0.5 * total + 0.5 * m
                bound = m / denom if denom > 0 else 0.0
            if bound >= floor:
                out.append((v, bound))
        out.sort(key=lambda x: -x[1])
        return out

    def _bound(
        self, cand: IntArray, rows: list[_Row], wq: float, q_org: bool, threshold: float
    ) -> list[tuple[int, float]]:
        """The score bound of many candidates, vectorised (see ``_bound_small`` for the same in plain Python)."""
        # gather every candidate's tokens, then its merge tokens, into one flat array with segment ids
        starts, ends = self.form_off[cand], self.form_off[cand + 1]
        lens = (ends - starts).astype(np.int64)
        seg = np.repeat(np.arange(len(cand)), lens)
        pos = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(starts, lens)
        tok = self.form_tok[pos]
        tok_w = self.form_w[pos]
        first = self.tok_first[pos]
        single = self.tok_single[pos]
        mstarts, mends = self.form_moff[cand], self.form_moff[cand + 1]
        mlens = (mends - mstarts).astype(np.int64)
        if int(mlens.sum()):
            mseg = np.repeat(np.arange(len(cand)), mlens)
            mpos = np.arange(int(mlens.sum())) - np.repeat(np.cumsum(mlens) - mlens, mlens) + np.repeat(mstarts, mlens)
            tok = np.concatenate([tok, self.form_mtok[mpos]])
            tok_w = np.concatenate([tok_w, self.form_mw[mpos]])
            seg = np.concatenate([seg, mseg])
            n_real = len(first)
            first = np.concatenate([first, np.full(len(mpos), -2, dtype=first.dtype)])
            single = np.concatenate([single, np.zeros(len(mpos), dtype=np.bool_)])
        else:
            n_real = len(first)
        n_cand = len(cand)
        if n_real < len(tok):
            # merge tokens were appended after all words: regroup everything by candidate (stable, so each
            # candidate's words keep their order, then its merge tokens), making every segment contiguous
            by_cand = np.argsort(seg, kind="stable")
            tok, tok_w, seg, first, single = tok[by_cand], tok_w[by_cand], seg[by_cand], first[by_cand], single[by_cand]
            is_word = by_cand < n_real
        else:
            is_word = None
        tok = tok.astype(np.intp)
        counts = np.bincount(seg, minlength=n_cand)
        seg_start = np.cumsum(counts) - counts
        # a row's similarities are scattered into a dense per-thread array over all token ids, read at the
        # gathered tokens, and zeroed again
        dense = self._dense_scratch()
        best_e = np.zeros(len(tok), dtype=np.float32)
        mq = np.zeros(n_cand, dtype=np.float64)
        for r in rows:
            ids = r.lookup.ids
            if len(ids):
                dense[ids] = r.lookup.sims
                try:
                    sim = dense.take(tok)
                finally:
                    dense[ids] = 0.0
            else:
                sim = np.zeros(len(tok), dtype=np.float32)
            if r.first >= 0:
                # an initial aligns with a word that starts with its letter (either side)
                near = (first == r.first) & (single | r.initial)
                if is_word is not None:
                    near &= is_word
                np.maximum(sim, np.where(near, np.float32(INITIAL_SIM), np.float32(0.0)), out=sim)
            np.maximum(best_e, sim, out=best_e)
            # similarities are >= 0: a segment's maximum equals the maximum started from zero
            mq += r.weight * np.maximum.reduceat(sim, seg_start)
        me = np.bincount(seg, weights=tok_w * best_e, minlength=n_cand)
        we = self.form_total[cand]
        m = np.minimum(mq, wq) + np.minimum(me, we)
        total = wq + we
        person = ~(self.form_org[cand] | q_org)
        bound = np.where(person, m / np.maximum(0.5 * total + 0.5 * m, 1e-9), m / np.maximum(total, 1e-9))
        keep = bound >= threshold - _BOUND_SLACK
        kept, kept_bound = cand[keep], bound[keep]
        order = np.argsort(-kept_bound, kind="stable")
        return list(zip(kept[order].tolist(), kept_bound[order].tolist(), strict=True))

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self.entries),
            "variants": len(self.variants),
            "forms": len(self.forms),
            "vocabulary": self.n_vocab,
            "merge_tokens": len(self.merge_vocab),
            "keys": len(self.keys) + len(self.merge_ids) + len(self.merge_del_hash),
            "postings": int(len(self.post_form) + len(self.mpost_form)),
        }


def _sorted_sims(sims: dict[int, float]) -> tuple[list[int], IntArray, FloatArray]:
    """The token ids of ``sims`` in ascending order, as a list and as an array, and their similarities."""
    keys = sorted(sims)
    return keys, np.array(keys, dtype=np.int32), np.array([sims[k] for k in keys], dtype=np.float32)


def _sim_and_credit(n: int, sim: Any, credit: Any) -> ComplexArray:
    """``n`` postings' values as ``_Lookup.values`` holds them: similarity real, weighted credit imaginary
    (each cast to float32 as it is stored)."""
    values = np.empty(n, dtype=np.complex64)
    values.real = sim
    values.imag = credit
    return values


def _unpickled_index(state: dict[str, Any]) -> NameIndex:
    """The index a pickle holds (``NameIndex.__reduce__``)."""
    return NameIndex((), state=state)


def _merge_sim(a: str, b: str) -> float:
    """The scorer's merge similarity of joined tokens and one word: >= ``MERGE_MIN_SIM`` or 0."""
    la, lb = len(a), len(b)
    if (la - lb if la > lb else lb - la) > 0.1 * (la if la > lb else lb):
        return 0.0
    sim = 1.0 if a == b else Levenshtein.normalized_similarity(a, b)
    return sim if sim >= MERGE_MIN_SIM else 0.0


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
