"""The embedded curated Entity List: well-formed, present in the 2026 file, found under name variants."""

from __future__ import annotations

import json
import random
import re
from functools import cache

import pytest
from screening_helpers import AS_OF, party, shared

from compliance.evidence import ListEntry
from compliance.model import ReviewPolicy
from compliance.screening import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_REVIEW_THRESHOLD,
    Screener,
    load_default_snapshot,
    normalize_text,
)

SNAPSHOT = load_default_snapshot()
ENTRIES = list(SNAPSHOT.entries)


def test_curated_list_size_and_fields() -> None:
    assert len(ENTRIES) >= 80
    assert SNAPSHOT.list_id == "entity_list"
    assert SNAPSHOT.snapshot_date is not None
    ids = [e.entry_id for e in ENTRIES]
    assert len(ids) == len(set(ids))
    for e in ENTRIES:
        assert e.list_id == "entity_list"
        assert e.country, e.entry_id
        assert e.start_date is not None or e.confidence == "unconfirmed", e.entry_id
        assert e.review_policy is not None, e.entry_id
        assert e.content_sha256 and len(e.content_sha256) == 64
        if e.confidence == "unconfirmed":
            assert e.notes, f"{e.entry_id}: an unconfirmed entry says why"


def test_groups_named_in_the_issue_are_present() -> None:
    text = " ".join(e.name for e in ENTRIES).lower()
    words = (
        "huawei|hisilicon|inspur|sugon|higon|haiguang|jiangnan|phytium|sunway|biren|moore thread|sophgo|zhipu|"
        "cambricon|semiconductor manufacturing|yangtze|nettrix|suma|jinan|shenzhen|wuxi|zhengzhou|changsha|"
        "guangzhou|tianjin"
    )
    for word in words.split("|"):
        assert word in text, word


def test_facts_page_details() -> None:
    by_name = {e.name: e for e in ENTRIES}
    inspur = by_name["Inspur Group Co., Ltd."]
    assert inspur.confidence == "unconfirmed" and not inspur.federal_register
    sugon = by_name["Sugon"]
    assert sugon.federal_register == ["84 FR 29373"]
    assert sugon.review_policy is ReviewPolicy.presumption_of_denial
    huawei = by_name["Huawei Technologies Co., Ltd. (Huawei)"]
    assert "1" in huawei.footnotes
    assert any(re.search(r"[\u4e00-\u9fff]", a) for a in huawei.aliases)
    biren = by_name["Shanghai Biren Intelligent Technology Co., Ltd."]
    assert biren.federal_register == ["88 FR 71991"]


def _norm(name: str) -> str:
    return normalize_text(name).replace("\x01", "")


@cache
def _rpl_names() -> frozenset[str]:
    records = json.loads(shared("bis_entity_list/restricted_parties.json").read_text(encoding="utf-8"))
    names: set[str] = set()
    for r in records:
        if r["source"]["list_id"] != "us-bis-entity-list":
            continue
        names.add(_norm(r["name"]["english"]))
        names.update(_norm(a) for a in r["aliases"])
    return frozenset(names)


@pytest.mark.shared_data
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.entry_id)
def test_curated_entry_is_in_the_2026_entity_list(entry: ListEntry) -> None:
    names = _rpl_names()
    candidates = [entry.name, *entry.aliases]
    assert any(_norm(n) in names for n in candidates), f"{entry.name} not in the 2026 Entity List file"


# ---------------------------------------------------------------------------------------------
# Variants

_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "H": "Н", "T": "Т", "C": "С"})


def _latin_names(entry: ListEntry) -> str:
    return entry.name


def _typo(name: str, rng: random.Random) -> str:
    words = name.split()
    i = max(range(len(words)), key=lambda k: (len(re.sub(r"\W", "", words[k])), -k))
    w = words[i]
    letters = [k for k, ch in enumerate(w) if ch.isalpha()]
    if len(letters) < 4:
        return name
    k = letters[len(letters) // 2]
    repl = "x" if w[k].lower() != "x" else "z"
    words[i] = w[:k] + repl + w[k + 1 :]
    return " ".join(words)


def _reorder(name: str) -> str:
    words = name.split()
    if len(words) < 2:
        return name
    return " ".join([words[1], words[0], *words[2:]])


def _legal_form(name: str) -> str:
    if "Co., Ltd." in name:
        return name.replace("Co., Ltd.", "Company Limited")
    if "Co., Ltd" in name:
        return name.replace("Co., Ltd", "Company Limited")
    if name.endswith("Limited"):
        return name[: -len("Limited")] + "Ltd"
    if "Corporation" in name:
        return name.replace("Corporation", "Corp.")
    return name + " Co., Ltd."


VARIANTS = {
    "case": (lambda n, r: n.upper(), DEFAULT_MATCH_THRESHOLD),
    "lower": (lambda n, r: n.lower(), DEFAULT_MATCH_THRESHOLD),
    "punctuation": (lambda n, r: re.sub(r"[^\w\s]", "", n), DEFAULT_MATCH_THRESHOLD),
    "homoglyph": (lambda n, r: n.translate(_CYRILLIC), DEFAULT_MATCH_THRESHOLD),
    "legal_form": (lambda n, r: _legal_form(n), DEFAULT_REVIEW_THRESHOLD),
    "word_order": (lambda n, r: _reorder(n), DEFAULT_REVIEW_THRESHOLD),
    "spelling": (_typo, DEFAULT_REVIEW_THRESHOLD),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_curated_entry_found_under_variant(default_screener: Screener, variant: str) -> None:
    make, floor = VARIANTS[variant]
    rng = random.Random(4)
    missed = []
    for entry in ENTRIES:
        query = make(_latin_names(entry), rng)
        hits = default_screener.screen(party(query, country=entry.country or "CN"), as_of=AS_OF)
        scores = {h.entry.entry_id: h.score for h in hits}
        if scores.get(entry.entry_id, 0.0) < floor:
            missed.append((query, scores.get(entry.entry_id)))
    assert not missed, f"{variant}: {missed}"


def test_exact_names_score_one(default_screener: Screener) -> None:
    for entry in ENTRIES:
        hits = default_screener.screen(party(entry.name, country=entry.country or "CN"), as_of=AS_OF)
        assert hits[0].score == 1.0, entry.name
        assert entry.entry_id in {h.entry.entry_id for h in hits if h.score == 1.0}


def test_chinese_script_aliases_found(default_screener: Screener) -> None:
    for query, entry_id in [
        ("华为技术有限公司", "el-huawei-technologies"),
        ("中芯国际集成电路制造有限公司", "el-smic"),
        ("曙光信息产业股份有限公司", "el-sugon"),
        ("长江存储科技有限责任公司", "el-ymtc"),
    ]:
        hits = default_screener.screen(party(query, country="CN"), as_of=AS_OF)
        assert hits and hits[0].entry.entry_id == entry_id, query


UNRELATED = [
    "Apple Inc.", "Microsoft Corporation", "NVIDIA Corporation", "Advanced Micro Devices, Inc.", "Intel Corporation",
    "Taiwan Semiconductor Manufacturing Company Limited", "Samsung Electronics Co., Ltd.", "SK hynix Inc.",
    "Lenovo Group Limited", "Alibaba Group Holding Limited", "Tencent Holdings Limited", "Baidu, Inc.",
    "Xiaomi Corporation", "Dell Technologies Inc.", "Super Micro Computer, Inc.", "Hewlett Packard Enterprise Company",
    "Quanta Computer Inc.", "Wistron Corporation", "Aivres Systems Inc.", "Foxconn Industrial Internet Co., Ltd.",
    "Oracle Corporation", "CoreWeave, Inc.", "Amazon Web Services, Inc.", "Sony Group Corporation",
    "Tokyo Electron Limited", "ASML Holding N.V.", "Applied Materials, Inc.", "Hua Hong Semiconductor Limited",
    "Kingsoft Cloud Holdings Limited", "Beijing Kingsoft Office Software, Inc.",
]  # fmt: skip


@pytest.mark.parametrize("name", UNRELATED)
def test_plainly_different_companies_not_flagged(default_screener: Screener, name: str) -> None:
    hits = default_screener.screen(party(name), as_of=AS_OF)
    assert not [h for h in hits if h.score >= DEFAULT_MATCH_THRESHOLD], [(h.matched_name, h.score) for h in hits]
