"""The C kernel (``compliance/screening/_kernel.c``) against the Python code it replaces: score bounds, word
similarities.

The index runs the C kernel where the compiled build made it and the Python bounds elsewhere (Python 3.12 in
CI, a plain ``pip install``). Both must keep the same candidates with the same bounds: the Python code is the
reference. Queries are list names with typos, word swaps and dropped words, clean person names, initials and
split words, at thresholds from 0.5 to 0.9, so both the few-candidate and the many-candidate paths run.
"""

from __future__ import annotations

import pickle
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from screening_helpers import shared

from compliance.screening import Screener, import_restricted_parties_json
from compliance.screening.index import NameIndex
from compliance.screening.normalize import analyze, phonetic_key
from compliance.screening.scorer import token_similarity

needs_kernel = pytest.mark.skipif(
    Screener.default().index.kernel is None,
    reason="the C bounds are not built here (pure-Python modules): the Python bounds are the ones in use",
)

pytestmark = needs_kernel


@contextmanager
def python_bounds(index: NameIndex) -> Iterator[None]:
    """Run ``index`` on the Python bounds for the duration (the reference)."""
    kernel = index.kernel
    index.kernel = None
    try:
        yield
    finally:
        index.kernel = kernel


def _perturbed(name: str, rng: random.Random) -> str:
    words = name.split()
    op = rng.choice(("typo", "swap", "drop", "case", "none"))
    if op == "typo":
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif op == "swap" and len(words) > 1:
        words[0], words[1] = words[1], words[0]
    elif op == "drop" and len(words) > 1:
        words.pop()
    elif op == "case":
        return name.upper()
    return " ".join(words)


def _queries(index: NameIndex, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = [_perturbed(v.name, rng) for v in rng.sample(list(index.variants), n)]
    return [
        *names,
        "Huawei Technologies Co Ltd",
        "hua wei",
        "J Lee",
        "Zhang Wei",
        "Ivan Petrov",
        "Beijing Institute of Technology",
        "Shenzhen Electronics Trading Co",
        "Sugon Informaton Industry",
        "A B C",
        "the",
        "Ltd",
    ]


def _compare(index: NameIndex, queries: list[str], thresholds: tuple[float, ...]) -> int:
    """Assert that both bounds keep the same forms with the same bounds, best first; return the pairs seen."""
    seen = 0
    for q in queries:
        form = analyze(q)
        for t in thresholds:
            fast = index.bounded_forms(form, t)
            with python_bounds(index):
                reference = index.bounded_forms(form, t)
            assert [f for f, _ in fast] == sorted((f for f, _ in fast), key=dict(fast).__getitem__, reverse=True)
            assert dict(fast).keys() == dict(reference).keys(), (q, t)
            for f, b in reference:
                # the C bound reads similarities as the rows store them (float32), the Python bound a word's
                # similarities as computed (double) up to 48 candidates and float32 above
                assert dict(fast)[f] == pytest.approx(b, abs=1e-6), (q, t, index.forms[f].text)
            seen += len(fast)
    return seen


def test_the_c_bounds_equal_the_python_bounds_on_the_curated_list(default_screener: Screener) -> None:
    index = default_screener.index
    assert _compare(index, _queries(index, 150, seed=3), (0.5, 0.75, 0.9)) > 300


@pytest.mark.shared_data
def test_the_c_bounds_equal_the_python_bounds_on_the_2026_entity_list() -> None:
    screener = Screener(import_restricted_parties_json(shared("bis_entity_list/restricted_parties.json")))
    index = screener.index
    assert _compare(index, _queries(index, 300, seed=11), (0.6, 0.75)) > 1000


def test_screening_results_are_the_same_with_either_bound(default_screener: Screener) -> None:
    index = default_screener.index
    queries = _queries(index, 60, seed=8)
    memo_size, default_screener.memo_size = default_screener.memo_size, 0  # every query computed, twice
    try:
        fast = [[(m.entry.entry_id, m.score, m.matched_name) for m in default_screener.match_name(q)] for q in queries]
        with python_bounds(index):
            reference = [
                [(m.entry.entry_id, m.score, m.matched_name) for m in default_screener.match_name(q)] for q in queries
            ]
    finally:
        default_screener.memo_size = memo_size
    assert fast == reference
    assert sum(map(len, fast)) > 40


def test_threads_sharing_one_kernel_get_the_serial_answers(default_screener: Screener) -> None:
    index = default_screener.index
    forms = [analyze(q) for q in _queries(index, 120, seed=13)]
    serial = [index.bounded_forms(f, 0.7) for f in forms]
    results: list[list[list[tuple[int, float]]]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        for _ in range(3):
            results[k] = [index.bounded_forms(f, 0.7) for f in forms]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == serial for r in results)


def test_a_pickled_index_builds_its_own_kernel(default_screener: Screener) -> None:
    index = default_screener.index
    clone = pickle.loads(pickle.dumps(index))
    assert clone.kernel is not None and clone.kernel is not index.kernel
    for q in ("Huawei Technologies Co Ltd", "Inspur Group", "hua wei"):
        form = analyze(q)
        assert clone.bounded_forms(form, 0.7) == index.bounded_forms(form, 0.7)


def test_bad_input_is_refused_and_leaves_the_kernel_clean(default_screener: Screener) -> None:
    """The kernel checks what it is given (types, lengths, ids in range) before it touches its scratch."""
    index = default_screener.index
    kernel = index.kernel
    assert kernel is not None
    form = analyze("Huawei Technologies Co Ltd")
    before = index.bounded_forms(form, 0.7)
    ids = np.array([0], dtype=np.int32)
    sims = np.array([1.0], dtype=np.float32)
    post = np.array([0], dtype=np.int32)
    vals = np.array([1 + 1j], dtype=np.complex64)
    row = (ids, sims, 1.0, -1, False, None, None)
    posted = (ids, sims, 1.0, -1, False, post, vals)
    for rows, gen, error, message in [
        ([(ids, sims, 1.0, -1, False, post.astype(np.int64), vals)], [0], TypeError, "postings"),
        ([(ids, sims, 1.0, -1, False, post, vals.astype(np.complex128))], [0], TypeError, "values"),
        ([(ids, sims, 1.0, -1, False, post, None)], [0], TypeError, "values"),
        ([(ids, sims, 1.0, -1, False, np.array([len(index.forms)], np.int32), vals)], [0], ValueError, "not a form"),
        ([(ids, sims, 1.0, -1, False, post, vals[:0])], [0], ValueError, "differ in length"),
        ([(np.array([-1], dtype=np.int32), sims, 1.0, -1, False, None, None)], [0], ValueError, "out of range"),
        ([(ids, sims.astype(np.float64), 1.0, -1, False, None, None)], [0], TypeError, "row sims"),
        ([(ids, sims, "heavy", -1, False, None, None)], [0], TypeError, "must be real number"),
        ([(ids, sims)], [0], TypeError, "each row is"),
        ([row], [1], ValueError, "not the position of a row"),
        ([row], ["0"], TypeError, "integer"),
        ([row], None, TypeError, "gen must be a sequence"),
        (None, [0], TypeError, "rows must be a sequence"),
    ]:
        with pytest.raises(error, match=message):
            kernel.bound(rows, gen, 0.0, 0.0, 1.0, False, 0.7, 1e-4)  # type: ignore[arg-type]
    # a row's postings given, or read from the index: the forms of the postings, each with its exact bound
    given = kernel.bound([posted], [0], 0.0, 0.0, 1.0, False, 0.0, 1e-4)
    read = dict(kernel.bound([row], [0], 0.0, 0.0, 1.0, False, 0.0, 1e-4))
    assert [f for f, _ in given] == [0]
    assert sorted(read) == sorted(set(index.all_form[index.all_off[0] : index.all_off[1]].tolist()))
    assert read[0] == given[0][1] > 0
    assert index.bounded_forms(form, 0.7) == before


def _typo(word: str, rng: random.Random) -> str:
    """One or two random edits, sometimes a plural or a different first letter."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(rng.choice((1, 1, 2))):
        op = rng.choice(("sub", "del", "ins", "swap", "plural", "ies", "first"))
        i = rng.randrange(max(1, len(word) - 1))
        if op == "sub":
            word = word[:i] + rng.choice(letters) + word[i + 1 :]
        elif op == "del" and len(word) > 1:
            word = word[:i] + word[i + 1 :]
        elif op == "ins":
            word = word[:i] + rng.choice(letters) + word[i:]
        elif op == "swap" and len(word) > 2:
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif op == "plural":
            word += "s"
        elif op == "ies" and word.endswith("y"):
            word = word[:-1] + "ies"
        elif op == "first":
            word = rng.choice("aeiouyk") + word[1:]
    return word


def _word_pairs_agree(index: NameIndex, tokens: list[str]) -> int:
    """Assert the kernel's similarities of each token to every vocabulary word it reaches equal the scorer's."""
    kernel = index.kernel
    assert kernel is not None
    compared = 0
    for tok in tokens:
        ph = phonetic_key(tok)
        reached = {v for key in index_module_keys(index, tok, ph) for v in index.keys[key]}
        reached |= set(random.Random(tok).sample(range(index.n_vocab), 20))  # words no key reaches, too
        expected = {}
        for v in reached:
            s = token_similarity(tok, index.vocab[v], ph, index._vocab_ph[v])
            if s > 0.0:
                expected[v] = s
        assert kernel.similarities(tok, ph, reached) == expected, tok
        compared += len(reached)
    return compared


def index_module_keys(index: NameIndex, tok: str, ph: str) -> set[str]:
    from compliance.screening.index import token_keys

    return index.keys.keys() & token_keys(tok, "core", ph)


def test_the_c_word_similarity_is_the_scorers_on_the_curated_list(default_screener: Screener) -> None:
    """Exactly the scorer's ``token_similarity`` (the same doubles): typos, plurals (the singular rescue),
    sound-alikes (the phonetic rescue), initials and short words, against every word the keys reach."""
    index = default_screener.index
    rng = random.Random(17)
    words = [w for w in index.vocab if w.isascii()]
    tokens = [_typo(w, rng) for w in words] + words + ["a", "h", "ab", "abc", "x" * 140, "technologies", "huawey"]
    assert _word_pairs_agree(index, tokens) > 8_000


@pytest.mark.shared_data
def test_the_c_word_similarity_is_the_scorers_on_the_2026_entity_list() -> None:
    screener = Screener(import_restricted_parties_json(shared("bis_entity_list/restricted_parties.json")))
    index = screener.index
    rng = random.Random(23)
    tokens = [_typo(w, rng) for w in rng.sample([w for w in index.vocab if w.isascii()], 1500)]
    assert _word_pairs_agree(index, tokens) > 30_000


def test_the_c_word_similarity_leaves_non_ascii_and_bad_ids_to_python(default_screener: Screener) -> None:
    kernel = default_screener.index.kernel
    assert kernel is not None
    assert kernel.similarities("hu\u00e0wei", "hw", [0, 1]) is None  # the caller computes these in Python
    assert kernel.similarities("", "", [0]) is None
    with pytest.raises(ValueError, match="not a vocabulary id"):
        kernel.similarities("huawei", "hw", [len(default_screener.index.vocab)])
    with pytest.raises(TypeError):
        kernel.similarities("huawei", "hw", ["0"])  # type: ignore[list-item]
    assert kernel.similarities("huawei", "hw", []) == {}
