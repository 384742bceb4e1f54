"""Each normalisation step on single strings."""

from __future__ import annotations

import pytest

from compliance.screening import (
    analyze,
    classify_tokens,
    clean_punctuation,
    fold_confusables,
    nfkc_casefold,
    phonetic_key,
    tokenize,
    transliterate,
)


def test_nfkc_casefold_fullwidth_and_ligatures() -> None:
    assert nfkc_casefold("ＨＵＡＷＥＩ  Tech") == "huawei tech"
    assert nfkc_casefold("ﬁnance") == "finance"
    assert nfkc_casefold("STRASSE Straße") == "strasse strasse"


def test_fold_confusables_mixed_script_word() -> None:
    # Cyrillic а, е, о, с, Т inside Latin words
    assert fold_confusables("huаwei tеchnologies") == "huawei technologies"
    assert fold_confusables("сo ltd") == "co ltd"


def test_fold_confusables_all_lookalike_word_in_latin_name() -> None:
    # "Со" written wholly in Cyrillic inside a mostly Latin name
    assert fold_confusables("huawei со ltd") == "huawei co ltd"


def test_fold_confusables_leaves_real_cyrillic_alone() -> None:
    assert fold_confusables("владимир путин") == "владимир путин"


def test_fold_confusables_greek() -> None:
    assert fold_confusables("sοphgο") == "sophgo"  # Greek omicron


def test_transliterate_han_to_pinyin_with_forms() -> None:
    out = transliterate("华为技术有限公司").replace("\x01", "")
    assert out.split() == ["hua", "wei", "technology", "co", "ltd"]


def test_transliterate_cyrillic_and_diacritics() -> None:
    assert transliterate("владимир путин") == "vladimir putin"
    assert transliterate("société générale") == "societe generale"


def test_transliterate_hangul_splits_syllables() -> None:
    assert transliterate("김정은") == "gim jeong eun"


def test_clean_punctuation_initialisms_and_ampersand() -> None:
    assert clean_punctuation("a.b.c. company") == "abc company"
    assert clean_punctuation("hsbc holdings p.l.c.") == "hsbc holdings plc"
    assert clean_punctuation("at&t inc.") == "at and t inc"
    assert clean_punctuation("deutsche bank's ag") == "deutsche banks ag"
    assert clean_punctuation("coca-cola") == "coca cola"
    assert clean_punctuation("xi’an cambricon") == "xian cambricon"


def test_tokenize_numbers() -> None:
    assert tokenize("brigade forty four") == ["brigade", "44"]
    assert tokenize("brigade forty-4".replace("-", " ")) == ["brigade", "44"]
    assert tokenize("1st international bank") == ["1", "international", "bank"]
    assert tokenize("first international bank") == ["1", "international", "bank"]


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["tactical", "missiles", "corporation", "joint", "stock", "company"], ["tactical", "missiles", "corp", "jsc"]),
        (["ooo", "oboronnye", "initsiativy"], ["llc", "oboronnye", "initsiativy"]),
        (["siemens", "aktiengesellschaft"], ["siemens", "ag"]),
        (["volkswagen", "gesellschaft", "mit", "beschrankter", "haftung"], ["volkswagen", "gmbh"]),
        (["haiguang", "xinxi", "jishu", "youxian", "gongsi"], ["haiguang", "xinxi", "jishu", "ltd"]),
        (["apple", "incorporated"], ["apple", "inc"]),
        (["stripe", "limited", "liability", "company"], ["stripe", "llc"]),
    ],
)
def test_legal_forms_canonical(tokens: list[str], expected: list[str]) -> None:
    assert [t for t, _ in classify_tokens(tokens)] == expected


def test_token_kinds() -> None:
    kinds = dict(classify_tokens(["the", "huawei", "technologies", "co", "ltd", "44"]))
    assert kinds == {"the": "stop", "huawei": "core", "technology": "generic", "co": "form", "ltd": "form", "44": "num"}


def test_a_name_that_is_only_a_form_keeps_its_word() -> None:
    assert classify_tokens(["company"]) == [("company", "core")]


def test_phonetic_key_transliteration_variants() -> None:
    assert phonetic_key("mohamed") == phonetic_key("muhammad") == phonetic_key("mhmd")
    assert phonetic_key("gazprom") == phonetic_key("gasprom")
    assert phonetic_key("huawei") != phonetic_key("hisilicon")


def test_analyze_whole_pipeline_homoglyph_and_forms() -> None:
    a = analyze("Нuаwei Тесhnologies Со., Ltd.")  # Cyrillic Н, а, Т, е, с, С, о
    b = analyze("Huawei Technologies Co., Ltd.")
    assert a.tokens == b.tokens == ("huawei", "technology", "co", "ltd")
    assert a.weights == (1.0, 0.5, 0.25, 0.25)


def test_analyze_han_marks_syllables() -> None:
    form = analyze("华为")
    assert form.tokens == ("hua", "wei")
    assert form.kinds == ("syl", "syl")
