"""Score two analysed names: a weighted token alignment, 0..1, that explains itself.

Tokens of the query and of the list name are aligned one to one, in three passes:

1. exact: equal tokens (after normalisation) align with similarity 1;
2. merge: two or three adjacent tokens on one side that, joined, equal (similarity >= 0.9) one token on
   the other (``good will`` / ``goodwill``, ``hua wei`` / ``huawei``, ``siemensag`` / ``siemens ag``);
3. fuzzy: the remaining pairs by Levenshtein similarity, greedily best first, counted only above a
   length-dependent cutoff; equal phonetic keys rescue transliteration variants (``mhmd``/``mohamed``).

The score is a weighted Dice coefficient::

    score = sum(sim(pair) * (weight of the pair's query tokens + weight of its list tokens))
            / (total query weight + total list-name weight)

so every unmatched token lowers the score by its weight (a distinctive word 1.0, a generic word such as
``technology`` 0.5, a legal form 0.25, a stop word 0.2). Legal forms only align with legal forms.
The function is symmetric and pure: brute force and the index use the same one.
"""

from __future__ import annotations

from typing import Final

from rapidfuzz.distance import Levenshtein

from compliance.screening.normalize import NameForm

_normalized_similarity: Final = Levenshtein.normalized_similarity

SCORER_NAME: Final = "compliance.screening.weighted-token-dice"
SCORER_VERSION: Final = "1.0.0"

MERGE_MIN_SIM: Final = 0.9
PHONETIC_RESCUE: Final = 0.8
INITIAL_SIM: Final = 0.6
MIN_PHONETIC_KEY: Final = 3
"""Phonetic keys shorter than this are too common to rescue a pair (the index uses the same bound)."""
MAX_MERGE: Final = 3

_WORDLIKE: Final = frozenset({"core", "generic", "syl", "initial"})
_VOWELS: Final = frozenset("aeiouy")
_ORG_KINDS: Final = frozenset({"form", "generic"})
EXTRA_TOKEN_DISCOUNT: Final = 0.5
"""Person names: when every word of one name is matched, the other name's extra words (a middle name, a
patronymic) count half. Names with a legal form or a generic organisation word get no discount, since
an extra word there usually names a different company (``Deutsche Bank Trust Company``)."""


def fuzzy_cutoff(length: int) -> float:
    """Minimum Levenshtein similarity for two words to count as the same word, by the longer length.

    Three letters or fewer: exact only. Four or five: one edit. Six or more: 0.7 (two edits in seven).
    """
    if length <= 3:
        return 1.01
    if length <= 5:
        return 0.75
    return 0.7


def token_similarity(a: str, b: str, pa: str = "", pb: str = "") -> float:
    """Similarity of two word tokens, 0 when below the cutoff. ``pa``/``pb`` are their phonetic keys."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if la == 1 or lb == 1:
        # an initial meets a word that starts with it
        return INITIAL_SIM if a[0] == b[0] else 0.0
    longest = la if la > lb else lb
    if longest <= 3:
        return 0.0  # exact only (``fuzzy_cutoff``), too short for the plural and phonetic rescues below
    # ``fuzzy_cutoff(longest)``, inlined: this runs for every word pair the index and the aligner compare
    cutoff = 0.75 if longest <= 5 else 0.7
    sim = _normalized_similarity(a, b)
    if sim >= cutoff:
        return sim
    if longest >= 6 and (a[-1] == "s" or b[-1] == "s"):  # ``singular`` changes only words ending in s
        # compare singulars: a misspelt plural (``technoxogies``) against a canonical singular (``technology``)
        sa, sb = singular(a), singular(b)
        if sa != a or sb != b:
            sim2 = _normalized_similarity(sa, sb)
            if sim2 >= fuzzy_cutoff(max(len(sa), len(sb))):
                return min(sim2, sim + 0.1)
    if (
        pa
        and pa == pb
        and len(pa) >= MIN_PHONETIC_KEY
        and sim >= 0.4
        and (a[0] == b[0] or (a[0] in _VOWELS and b[0] in _VOWELS))
    ):
        return PHONETIC_RESCUE
    return 0.0


def singular(tok: str) -> str:
    """A crude English singular for matching ("technologies" ~ "technology"); short words are kept."""
    if tok.endswith("ies") and len(tok) > 4:
        return tok[:-3] + "y"
    if tok.endswith("s") and not tok.endswith("ss") and len(tok) > 4:
        return tok[:-1]
    return tok


Pair = tuple[tuple[int, ...], tuple[int, ...], float]
"""Query token indices, list-name token indices, similarity."""


def align(q: NameForm, e: NameForm) -> list[Pair]:
    """The one-to-one (or merged) alignment of the query's tokens to the list name's tokens."""
    qt, et = q.tokens, e.tokens
    if qt == et:
        # the same tokens: the exact pass pairs each with itself (a frequent case: a listed name as is)
        return [((i,), (i,), 1.0) for i in range(len(qt))]
    qk, ek = q.kinds, e.kinds
    nq, ne = len(qt), len(et)
    q_free = [True] * nq
    e_free = [True] * ne
    pairs: list[Pair] = []

    # 1. exact: each query token, in order, takes the first free list token equal to it (names are short:
    # a scan costs less than a dictionary of positions)
    for i, tok in enumerate(qt):
        for j in range(ne):
            if e_free[j] and et[j] == tok:
                q_free[i] = False
                e_free[j] = False
                pairs.append(((i,), (j,), 1.0))
                break
    if len(pairs) == nq or len(pairs) == ne:
        return pairs  # one side fully matched: nothing left to align

    # 2. merges of adjacent free word tokens on either side
    _merge(qt, qk, q_free, et, ek, e_free, pairs, flip=False)
    _merge(et, ek, e_free, qt, qk, q_free, pairs, flip=True)

    # 3. fuzzy, greedy best first
    fq = [i for i in range(nq) if q_free[i] and qk[i] in _WORDLIKE]
    fe = [j for j in range(ne) if e_free[j] and ek[j] in _WORDLIKE]
    if fq and fe:
        cands: list[tuple[float, int, int]] = []
        qp, ep = q.phonetics, e.phonetics
        for i in fq:
            for j in fe:
                s = token_similarity(qt[i], et[j], qp[i], ep[j])
                if s > 0.0:
                    cands.append((-s, i, j))
        cands.sort()  # best first, then by query position, then by list position
        for neg_s, i, j in cands:
            if q_free[i] and e_free[j]:
                q_free[i] = False
                e_free[j] = False
                pairs.append(((i,), (j,), -neg_s))
    return pairs


def _merge(
    xt: tuple[str, ...],
    xk: tuple[str, ...],
    x_free: list[bool],
    yt: tuple[str, ...],
    yk: tuple[str, ...],
    y_free: list[bool],
    pairs: list[Pair],
    *,
    flip: bool,
) -> None:
    """Join 2-3 adjacent free tokens of x and align them with one free word token of y."""
    nx = len(xt)
    if nx < 2:
        return
    # every window starts with two adjacent free tokens: none, nothing to merge (the usual case once the
    # exact pass has paired most tokens)
    for i in range(nx - 1):
        if x_free[i] and x_free[i + 1]:
            break
    else:
        return
    free_y = [j for j in range(len(yt)) if y_free[j] and len(yt[j]) >= 4 and yk[j] in _WORDLIKE]
    if not free_y:
        return
    x_len = [len(t) for t in xt]
    for size in (3, 2):
        for start in range(nx - size + 1):
            if not (x_free[start] and x_free[start + 1] and (size == 2 or x_free[start + 2])):
                continue
            if not (xk[start] in _WORDLIKE or xk[start + 1] in _WORDLIKE or (size == 3 and xk[start + 2] in _WORDLIKE)):
                continue
            lj = x_len[start] + x_len[start + 1] + (x_len[start + 2] if size == 3 else 0)
            joined = ""
            for j in free_y:
                if not y_free[j]:
                    continue
                target = yt[j]
                lt = len(target)
                # the length test first: the joined text is built only for a target of a close length
                if (lt - lj if lt > lj else lj - lt) > 0.1 * (lt if lt > lj else lj):
                    continue
                if not joined:
                    joined = "".join(xt[start : start + size])
                sim = 1.0 if target == joined else Levenshtein.normalized_similarity(joined, target)
                if sim >= MERGE_MIN_SIM:
                    window = tuple(range(start, start + size))
                    for i in window:
                        x_free[i] = False
                    y_free[j] = False
                    pairs.append(((j,), window, sim) if flip else (window, (j,), sim))
                    break


def is_org_like(q: NameForm, e: NameForm) -> bool:
    """True when either name carries a legal form or a generic organisation word."""
    return not (_ORG_KINDS.isdisjoint(q.kinds) and _ORG_KINDS.isdisjoint(e.kinds))


def score_pairs(q: NameForm, e: NameForm, pairs: list[Pair]) -> float:
    total = q.total_weight + e.total_weight
    if total <= 0.0:
        return 0.0
    qw, ew = q.weights, e.weights
    acc = 0.0
    matched_q = 0.0
    matched_e = 0.0
    for qi, ei, s in pairs:
        w = 0.0
        for i in qi:
            w += qw[i]
        matched_q += w
        we = 0.0
        for j in ei:
            we += ew[j]
        matched_e += we
        acc += s * (w + we)
    if pairs and not is_org_like(q, e):
        extra_q = q.total_weight - matched_q
        extra_e = e.total_weight - matched_e
        if extra_q <= 1e-9 < extra_e:
            total -= EXTRA_TOKEN_DISCOUNT * extra_e
        elif extra_e <= 1e-9 < extra_q:
            total -= EXTRA_TOKEN_DISCOUNT * extra_q
    return acc / total


def score(q: NameForm, e: NameForm) -> float:
    """The similarity of two analysed names, 0..1 (1 = same tokens after normalisation)."""
    return score_pairs(q, e, align(q, e))


def explain(q: NameForm, e: NameForm, pairs: list[Pair]) -> list[tuple[str, str, float]]:
    """Alignment as (query token(s), list token(s), similarity); unmatched tokens pair with ``""``."""
    qt, et = q.tokens, e.tokens
    out: list[tuple[str, str, float]] = []
    used_q = [False] * len(qt)
    used_e = [False] * len(et)
    n_used_q = n_used_e = 0
    # by query position: a query token is in one pair at most, so plain tuple order is that order
    for qi, ei, s in sorted(pairs):
        for i in qi:
            used_q[i] = True
        for j in ei:
            used_e[j] = True
        n_used_q += len(qi)
        n_used_e += len(ei)
        out.append(
            (
                qt[qi[0]] if len(qi) == 1 else " ".join([qt[i] for i in qi]),
                et[ei[0]] if len(ei) == 1 else " ".join([et[j] for j in ei]),
                rounded(s),
            )
        )
    if n_used_q < len(qt):
        out.extend((qt[i], "", 0.0) for i in range(len(qt)) if not used_q[i])
    if n_used_e < len(et):
        out.extend(("", et[j], 0.0) for j in range(len(et)) if not used_e[j])
    return out


_ROUNDED: Final[dict[float, float]] = {}
_ROUNDED_SIZE: Final = 65_536


def rounded(score: float) -> float:
    """``round(score, 4)``, the way scores are reported. Decimal rounding costs a string conversion, and scores
    repeat (ratios of small integers): each is rounded once and remembered; 1.0 (an exact token) is as is."""
    if score == 1.0:
        return score
    done = _ROUNDED.get(score)
    if done is None:
        done = round(score, 4)
        if len(_ROUNDED) >= _ROUNDED_SIZE:
            _ROUNDED.clear()
        _ROUNDED[score] = done
    return done


def matcher_config() -> dict[str, str | float | int | bool]:
    """The scorer's configuration, recorded with every hit so a score can be reproduced."""
    from compliance.screening.normalize import WEIGHTS

    cfg: dict[str, str | float | int | bool] = {f"weight.{k}": v for k, v in WEIGHTS.items()}
    cfg.update(
        {
            "merge_min_sim": MERGE_MIN_SIM,
            "phonetic_rescue": PHONETIC_RESCUE,
            "initial_sim": INITIAL_SIM,
            "fuzzy_cutoff.len<=3": "exact",
            "fuzzy_cutoff.len4-5": 0.75,
            "fuzzy_cutoff.len>=6": 0.7,
        }
    )
    return cfg
