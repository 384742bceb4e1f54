"""The Screener: hits explain themselves, dates, qualifiers, pickling, threads, index vs brute force."""

from __future__ import annotations

import datetime as dt
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest
from screening_helpers import AS_OF, party, shared

from compliance.evidence import PartyScreener
from compliance.screening import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_REVIEW_THRESHOLD,
    ListSnapshot,
    Screener,
    import_restricted_parties_json,
    make_entry,
)


def _snap(*entries: dict[str, object], list_id: str = "entity_list") -> ListSnapshot:
    return ListSnapshot(
        list_id=list_id,
        entries=tuple(make_entry(list_id=list_id, **e) for e in entries),
        snapshot_date=dt.date(2026, 1, 1),
    )


SNAP = _snap(
    {"entry_id": "a", "name": "Sophgo Technologies Ltd.", "aliases": ["Sophgo"], "country": "CN",
     "addresses": ["Haidian District, Beijing, CN"], "start_date": dt.date(2025, 1, 16)},
    {"entry_id": "b", "name": "Future Listed Compute Co., Ltd.", "country": "CN", "start_date": dt.date(2027, 1, 1)},
    {"entry_id": "c", "name": "Undated Example Trading LLC", "country": "AE"},
)  # fmt: skip


def test_is_a_party_screener() -> None:
    screener: PartyScreener = Screener(SNAP)
    assert screener.list_refs()[0].sha256 == SNAP.sha256


def test_hit_explains_itself() -> None:
    hits = Screener(SNAP).screen(party("SOPHGO TECHNOLOGIES LIMITED", country="CN"), as_of=AS_OF, review_threshold=0.7)
    assert len(hits) == 1
    hit = hits[0]
    assert hit.entry.entry_id == "a"
    assert hit.score == 1.0
    assert hit.matched_name == "Sophgo Technologies Ltd"
    assert hit.query_name == "SOPHGO TECHNOLOGIES LIMITED"
    assert [(a.query_token, a.entry_token, a.score) for a in hit.alignment] == [
        ("sophgo", "sophgo", 1.0),
        ("technology", "technology", 1.0),
        ("ltd", "ltd", 1.0),
    ]
    assert hit.qualifiers == {"country": "match"}
    assert hit.matcher.name and hit.matcher.version and "weight.core" in hit.matcher.config
    assert hit.snapshot == SNAP.ref()
    assert hit.suppressed_by is None


def test_entries_not_yet_in_force_are_not_evidence() -> None:
    screener = Screener(SNAP)
    p = party("Future Listed Compute Company Limited", country="CN")
    assert screener.screen(p, as_of=AS_OF) == []
    assert [h.entry.entry_id for h in screener.screen(p, as_of=dt.date(2027, 1, 2))] == ["b"]
    before = screener.screen(party("Sophgo", country="CN"), as_of=dt.date(2025, 1, 15))
    assert before == []
    # no start date: always in force
    assert screener.screen(party("Undated Example Trading", country="AE"), as_of=dt.date(1990, 1, 1))


def test_country_mismatch_lowers_score_a_little() -> None:
    screener = Screener(SNAP)
    same = screener.screen(party("Sophgo", country="CN"), as_of=AS_OF)[0]
    other = screener.screen(party("Sophgo", country="US"), as_of=AS_OF)[0]
    assert same.score == 1.0 and same.qualifiers["country"] == "match"
    assert other.score == pytest.approx(0.97)
    assert other.qualifiers["country"] == "mismatch"
    assert other.qualifiers["country_adjustment"] == "-0.03"


def test_address_qualifier_recorded() -> None:
    p = party("Sophgo", country="CN", address="Haidian District, Beijing, CN")
    hit = Screener(SNAP).screen(p, as_of=AS_OF)[0]
    assert hit.qualifiers["address"].startswith("similar")


def test_aliases_of_the_party_are_screened_and_best_kept() -> None:
    p = party("Acme Widgets", aliases=["Sophgo Technologies"], country="CN")
    hits = Screener(SNAP).screen(p, as_of=AS_OF)
    assert len(hits) == 1 and hits[0].query_name == "Sophgo Technologies"


def test_review_threshold_respected_and_sorted(default_screener: Screener) -> None:
    hits = default_screener.screen(party("Huawei Technologies", country="CN"), as_of=AS_OF, review_threshold=0.8)
    assert hits and all(h.score >= 0.8 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_default_thresholds() -> None:
    assert DEFAULT_REVIEW_THRESHOLD < DEFAULT_MATCH_THRESHOLD
    assert (DEFAULT_REVIEW_THRESHOLD, DEFAULT_MATCH_THRESHOLD) == (0.70, 0.85)


def test_pickle_round_trip(default_screener: Screener) -> None:
    default_screener.as_of_period(AS_OF)  # fills the screener's caches, which are not pickled
    clone = pickle.loads(pickle.dumps(default_screener))
    p = party("Sugon", country="CN")
    assert clone.screen(p, as_of=AS_OF) == default_screener.screen(p, as_of=AS_OF)
    assert clone.as_of_period(AS_OF) == default_screener.as_of_period(AS_OF)


def test_thread_safe_reads(default_screener: Screener) -> None:
    names = ["Huawei", "Sugon", "Biren Technology", "Inspur Group", "Apple Inc."] * 20
    expected = {n: default_screener.screen(party(n), as_of=AS_OF) for n in set(names)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: (n, default_screener.screen(party(n), as_of=AS_OF)), names))
    assert all(r == expected[n] for n, r in results)


def test_index_finds_what_brute_force_finds_on_the_curated_list(default_screener: Screener) -> None:
    queries = ["Huawei Technologies Co Ltd", "Inspur", "Sophgo Tech", "Nettrix", "Cambricon Kunshan", "SMIC North",
               "National Supercomputer Centre Jinan", "Moore Threads", "Phytium Technology", "Zhipu AI"]  # fmt: skip
    for q in queries:
        brute = {m.entry.entry_id for m in default_screener.brute_force(q)}
        indexed = {m.entry.entry_id for m in default_screener.match_name(q)}
        assert brute and brute == indexed, q


@pytest.mark.shared_data
def test_index_recall_against_brute_force_on_the_2026_list() -> None:
    snap = import_restricted_parties_json(shared("bis_entity_list/restricted_parties.json"))
    screener = Screener(snap)
    queries = [
        "Huawei Technologies",
        "Rostec",
        "Beijing Zhipu Huazhang Tech",
        "Shenzhen Hisilicon",
        "Moscow Institute of Physics and Technology",
        "Sophgo Technology",
    ]
    total = found = 0
    for q in queries:
        brute = {m.entry.entry_id for m in screener.brute_force(q)}
        indexed = {m.entry.entry_id for m in screener.match_name(q)}
        total += len(brute)
        found += len(brute & indexed)
    assert total > 20
    assert found / total >= 0.995
