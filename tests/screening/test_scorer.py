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
