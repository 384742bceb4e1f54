"""The name index: precomputed neighbour rows, lookups and candidates against brute force."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from screening_helpers import shared

from compliance.screening import Screener, import_restricted_parties_json
from compliance.screening import index as index_module
from compliance.screening.index import NameIndex, _merge_sim, deletes, deletes2
from compliance.screening.normalize import analyze, phonetic_key
from compliance.screening.scorer import token_similarity


def _typo(word: str, rng: random.Random) -> str:
    """One or two random edits (substitution, deletion, insertion or transposition)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(rng.choice((1, 1, 2))):
        if len(word) < 3:
            break
        i = rng.randrange(len(word) - 1)
        op = rng.choice(("sub", "del", "ins", "swap"))
        if op == "sub":
            word = word[:i] + rng.choice(letters) + word[i + 1 :]
        elif op == "del":
            word = word[:i] + word[i + 1 :]
        elif op == "ins":
            word = word[:i] + rng.choice(letters) + word[i:]
        else:
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


def test_deletes2_are_all_two_letter_deletions() -> None:
    word = "shenzhen"
    expected = {d2 for d in deletes(word) if d != word for d2 in deletes(d) if d2 != d and len(d2) == len(word) - 2}
    assert deletes2(word) == expected
    assert deletes2("short") == set()


def test_precomputed_rows_equal_the_keyed_lookup(default_screener: Screener) -> None:
    index = default_screener.index
    for vid, tok in enumerate(index.vocab):
        row = index._vocab_row(vid)
        assert row.sim_of == pytest.approx(index.keyed_sims(tok, "core", phonetic_key(tok)), abs=1e-6), tok
        assert list(row.ids) == sorted(row.sim_of)


def _per_form(postings: list[int], best: list[float], credit: list[float]) -> dict[int, tuple[float, float]]:
    """Postings grouped by form: the best similarity and the summed credit."""
    out: dict[int, tuple[float, float]] = {}
    for f, b, c in zip(postings, best, credit, strict=True):
        old_b, old_c = out.get(f, (0.0, 0.0))
        out[f] = (max(old_b, b), old_c + c)
    return out


def test_precomputed_postings_are_aggregated_per_form(default_screener: Screener) -> None:
    index = default_screener.index
    for vid in range(0, index.n_vocab, 7):
        row = index._vocab_row(vid)
        assert row.unique
        assert row.postings.tolist() == sorted(set(row.postings.tolist()))
        fresh = index.expanded(dict(row.sim_of))
        grouped = _per_form(fresh.postings.tolist(), fresh.values.real.tolist(), fresh.values.imag.tolist())
        assert set(grouped) == set(row.postings.tolist())
        for f, b, c in zip(row.postings.tolist(), row.values.real.tolist(), row.values.imag.tolist(), strict=True):
            assert grouped[f] == pytest.approx((b, c), abs=1e-5)


def test_a_lookup_says_when_a_form_repeats(default_screener: Screener) -> None:
    """A form holding two of a lookup's tokens appears twice in its postings, and ``unique`` says so."""
    index = default_screener.index
    form = next(f for f in index.forms if len(set(f.tokens)) >= 2 and all(len(t) > 3 for t in f.tokens))
    a, b = (index.vocab_ids[t] for t in form.tokens[:2])
    lookup = index.expanded({a: 1.0, b: 0.8})
    f_id = index.forms.index(form)
    assert lookup.postings.tolist().count(f_id) == 2
    assert not lookup.unique
    single = index.expanded({a: 1.0})
    assert single.unique == (len(single.postings) == len(set(single.postings.tolist())))


def _within_budget(a: str, b: str) -> bool:
    """Pairs the lookup keys are built to reach: one edit up to six letters, two edits from seven."""
    longest = max(len(a), len(b))
    return Levenshtein.distance(a, b) <= (2 if longest >= 7 else 1)


def test_neighbour_lookup_matches_a_brute_force_scan(default_screener: Screener) -> None:
    index = default_screener.index
    rng = random.Random(7)
    words = [w for w in index.vocab if len(w) >= 4]
    queries = [_typo(rng.choice(words), rng) for _ in range(150)] + rng.sample(words, 50)
    for q in queries:
        ph = phonetic_key(q)
        row = index._token_row(q, "core", ph)
        found = {vid: s for vid, s in row.sim_of.items() if vid < index.n_vocab and len(index.vocab[vid]) > 1}
        for vid, s in found.items():
            assert s == pytest.approx(
                token_similarity(q, index.vocab[vid], ph, phonetic_key(index.vocab[vid])), abs=1e-6
            )
        for vid, other in enumerate(index.vocab):
            s = token_similarity(q, other, ph, phonetic_key(other))
            if len(other) > 1 and s > 0.0 and _within_budget(q, other):
                assert vid in found, (q, other)


def test_the_merge_sketch_misses_no_word_within_the_merge_similarity(default_screener: Screener) -> None:
    """``_may_merge`` is a prefilter: every window that merges into some list word must pass it."""
    index = default_screener.index
    rng = random.Random(17)
    words = [w for w in index.vocab if 8 <= len(w) <= 18]
    texts = [_typo(w, rng) for w in words] + words + ["".join(rng.sample(words, 2))[:12] for _ in range(200)]
    texts = [t for t in texts if 9 <= len(t) <= 17]
    passed = 0
    for text in texts:
        close = process.extract(
            text, index.vocab, scorer=Levenshtein.normalized_similarity, score_cutoff=0.89, limit=None
        )
        merges = [w for w, _, _ in close if len(w) >= 4 and _merge_sim(text, w) > 0.0]
        if merges:
            assert index._may_merge(text), (text, merges)
            passed += 1
        else:
            assert index._window_row(text).n_postings == 0, text
    assert 20 < passed < len(texts)
    assert not index._may_merge("qqqqqqqqqqqq")


def test_variants_with_the_same_analysed_name_share_one_form(default_screener: Screener) -> None:
    index = default_screener.index
    assert len(index.forms) < len(index.variants)
    keys = {(f.tokens, f.kinds) for f in index.forms}
    assert len(keys) == len(index.forms)
    for v_idx, v in enumerate(index.variants):
        form = index.forms[index.form_of[v_idx]]
        assert (form.tokens, form.kinds) == (v.form.tokens, v.form.kinds)
        assert v_idx in index.form_variants[index.form_of[v_idx]]
    shared = next(g for g in index.form_variants if len(g) > 1)
    found = index.candidates(index.variants[shared[0]].form, 0.9)
    assert set(shared) <= set(found)


def test_long_windows_find_what_the_deletion_keys_find(default_screener: Screener) -> None:
    index = default_screener.index
    rng = random.Random(11)
    long_words = [w for w in index.vocab if len(w) >= 19]
    joined = [_typo(w, rng) for w in long_words] + long_words
    for text in joined:
        row = index._window_row(text)
        keys = set(deletes(text)) | deletes2(text)
        reached = {vid for key in keys for vid in index.keys.get(key, ())}
        for vid in reached:
            other = index.vocab[vid]
            la, lb = len(text), len(other)
            sim = Levenshtein.normalized_similarity(text, other)
            if abs(la - lb) <= 0.1 * max(la, lb) and sim >= 0.9:
                assert row.sim_of.get(vid) == pytest.approx(sim), (text, other)


def test_index_equals_brute_force_on_perturbed_curated_names(default_screener: Screener) -> None:
    rng = random.Random(5)
    names = [v.name for v in default_screener.index.variants]
    queries = [" ".join(_typo(w, rng) if len(w) > 4 and rng.random() < 0.4 else w for w in n.split()) for n in names]
    for q in rng.sample(queries, 60):
        brute = [(m.entry.entry_id, m.score, m.matched_name) for m in default_screener.brute_force(q)]
        indexed = [(m.entry.entry_id, m.score, m.matched_name) for m in default_screener.match_name(q)]
        assert indexed == brute, q


@pytest.mark.shared_data
def test_index_equals_brute_force_on_a_sample_of_the_2026_list() -> None:
    screener = Screener(import_restricted_parties_json(shared("bis_entity_list/restricted_parties.json")))
    rng = random.Random(9)
    variants = rng.sample(list(screener.index.variants), 12)
    queries = [" ".join(_typo(w, rng) if len(w) > 5 else w for w in v.name.split()) for v in variants]
    queries += ["Ivan Petrov", "Beijing Institute of Technology", "Shenzhen Electronics Trading Co"]
    total = found = 0
    for q in queries:
        brute = {(m.entry.entry_id, m.score) for m in screener.brute_force(q, threshold=0.75)}
        indexed = {(m.entry.entry_id, m.score) for m in screener.match_name(q, threshold=0.75)}
        assert indexed <= brute, q  # every index hit carries the scorer's own score
        total += len(brute)
        found += len(brute & indexed)
    assert total > 10
    assert found / total >= 0.995


def test_scratch_accumulators_stay_zero(default_screener: Screener) -> None:
    index: NameIndex = default_screener.index
    for q in ["Huawei Technologies Co Ltd", "Inspur Group", "SMIC North", "Sugon Information Industry"]:
        index.bounded_candidates(analyze(q), 0.7)
    acc = index._scratch()
    assert not acc.any()


def test_vectorised_bound_equals_the_plain_bound(default_screener: Screener) -> None:
    """``_bound`` (numpy, many candidates) and ``_bound_small`` (plain Python) compute the same bound."""
    index: NameIndex = default_screener.index
    every = list(range(len(index.forms)))
    for q in [
        "Huawei Technologies Co Ltd",
        "Inspur Group",
        "SMIC North",
        "Sugon Information Industry",
        "hua wei",
        "J Lee",
    ]:
        form = analyze(q)
        rows = index._rows(form)
        q_org = any(k in ("form", "generic") for k in form.kinds)
        vectorised = dict(index._bound(np.asarray(every, dtype=np.int32), rows, form.total_weight, q_org, 0.0))
        plain = dict(index._bound_small(every, rows, form.total_weight, q_org, 0.0))
        assert vectorised.keys() == plain.keys() == set(every)
        for v, b in plain.items():
            assert vectorised[v] == pytest.approx(b, abs=1e-5), (q, index.forms[v].text)
    assert not index._dense_scratch().any()


def test_a_pickled_index_keeps_every_attribute_and_answers_the_same(default_screener: Screener) -> None:
    index = default_screener.index
    # compiled, the index has no __dict__: mypyc lists a native class's attributes instead
    attributes = getattr(type(index), "__mypyc_attrs__", None) or tuple(vars(index))
    assert set(attributes) == set(index_module._PICKLED) | set(index_module._TRANSIENT)
    clone = pickle.loads(pickle.dumps(index))
    for name in index_module._PICKLED:
        mine, theirs = getattr(index, name), getattr(clone, name)
        if isinstance(mine, np.ndarray):
            assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), name
        else:
            assert mine == theirs, name
    for name in ("Huawei Technologies Co Ltd", "Hua Wei", "Sugon Informaton Industry", "Zhang Wei"):
        q = analyze(name)
        assert clone.bounded_forms(q, 0.7) == index.bounded_forms(q, 0.7), name
