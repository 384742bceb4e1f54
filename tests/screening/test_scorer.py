"""The scorer on single pairs: token similarity, alignment, merges, legal forms, explanations."""

from __future__ import annotations

import pytest

from compliance.screening import analyze, score_names, token_similarity
from compliance.screening.scorer import align, explain


def test_token_similarity_cutoffs() -> None:
    assert token_similarity("huawei", "huawei") == 1.0
    assert token_similarity("sugon", "sugan") == pytest.approx(0.8)
    assert token_similarity("gas", "oil") == 0.0
    assert token_similarity("cvc", "cvs") == 0.0  # three letters: exact only
    assert token_similarity("estonia", "ethiopia") == 0.0
    assert token_similarity("j", "john") == pytest.approx(0.6)  # an initial


def test_phonetic_rescue() -> None:
    assert token_similarity("aleksandr", "alexander", "LKNTR", "LKNTR") == pytest.approx(0.8)
    assert token_similarity("mhmd", "mohamed", "MT", "MT") == 0.0  # a two-consonant key is too common


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Siemens AG", "Siemens Aktiengesellschaft"),
        ("Goodwill Company", "Good Will Company"),
        ("PricewaterhouseCoopers LLP", "Pricewaterhouse Coopers LLP"),
        ("ABC Co.", "A.B.C. Company"),
        ("OAO Gazprom", "Open Joint Stock Company Gazprom"),
        ("Procter & Gamble Co.", "Procter and Gamble Co."),
        ("SAMSUNG ELECTRONICS CO., LTD.", "Samsung Electronics Co., Ltd."),
        ("Société Générale S.A.", "Societe Generale S.A."),
    ],
)
def test_equivalent_names_score_one(a: str, b: str) -> None:
    assert score_names(a, b) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Government of Estonia", "Government of Ethiopia"),
        ("Saudi Arabian Gas Company", "Saudi Arabian Oil Company"),
        ("Bank of Armenia Corporation", "Bank of America Corporation"),
        ("Volkswagen AG", "Siemens AG"),
        ("Octavian Scholz", "Olaf Scholz"),
    ],
)
def test_different_names_stay_below_review(a: str, b: str) -> None:
    assert score_names(a, b) < 0.7


def test_symmetric() -> None:
    pairs = [("Deutsche Bank AG", "Deutsche Bank (Schweiz) AG"), ("Sergey Lavrov", "Sergey Viktorovich Lavrov")]
    for a, b in pairs:
        assert score_names(a, b) == score_names(b, a)


def test_person_middle_name_discount_only_for_persons() -> None:
    assert score_names("Sergey Viktorovich Lavrov", "Sergey Lavrov") >= 0.85
    assert score_names("Deutsche Bank Trust Company", "Deutsche Bank") < 0.85


def test_alignment_explains_merges() -> None:
    q, e = analyze("Good Will Company"), analyze("Goodwil Company")
    rows = explain(q, e, align(q, e))
    assert ("good will", "goodwil", 0.875) not in rows  # a merge needs similarity >= 0.9
    q, e = analyze("Good Will Kompany Trading"), analyze("Goodwill Company Trading")
    rows = explain(q, e, align(q, e))
    assert ("good will", "goodwill", 1.0) in rows
    assert ("trading", "trading", 1.0) in rows


def test_unmatched_tokens_are_listed() -> None:
    q, e = analyze("Huawei Cloud"), analyze("Huawei")
    rows = explain(q, e, align(q, e))
    assert ("cloud", "", 0.0) in rows


def test_identical_tokens_align_one_to_one_in_order() -> None:
    # the shortcut for equal token sequences gives what the exact pass gives, repeated words included
    q = analyze("Bank Melli Bank Iran")
    pairs = align(q, analyze("BANK MELLI BANK IRAN"))
    assert pairs == [((0,), (0,), 1.0), ((1,), (1,), 1.0), ((2,), (2,), 1.0), ((3,), (3,), 1.0)]
    assert explain(q, q, pairs) == [
        ("bank", "bank", 1.0),
        ("melli", "melli", 1.0),
        ("bank", "bank", 1.0),
        ("iran", "iran", 1.0),
    ]


def test_fuzzy_alignment_is_greedy_best_first_with_positional_ties() -> None:
    # two query words tie for one list word: the earlier query word takes it
    pairs = align(analyze("petrov petrov"), analyze("petrof"))
    assert pairs == [((0,), (0,), pytest.approx(token_similarity("petrov", "petrof")))]


def test_short_and_plural_word_similarities() -> None:
    assert token_similarity("abc", "abd") == 0.0  # three letters: exact only
    # a misspelt plural against a singular: 0.67 as spelt, rescued by comparing singulars
    assert token_similarity("technxlogies", "technology") == pytest.approx(0.7667, abs=1e-4)
    assert token_similarity("technxlogiez", "technology") == 0.0  # no plural, no rescue
