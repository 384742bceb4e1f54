"""Facts shared between transactions: caching must never change a determination.

Enrichment keeps party and item facts, screening results and findings per content key and reuses them
across evaluations. These tests pin what each key must contain: a warm engine gives the same determinations
as a cold one, dates and group periods are part of the key, and the caches stay bounded.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from compliance import Engine, Transaction, load_ruleset
from compliance.countries import CountryGroups
from compliance.engine.backends import _bindings, encode_facts
from compliance.facts import SHARED, Fact
from compliance.memo import BoundedCache
from compliance.records import iter_records
from compliance.screening import Screener
from compliance.screening.accepted import AcceptedMatch, EntryRef, PartyRef
from compliance.screening.screener import load_default_snapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transactions"


def _canonical(engine: Engine, txn: Transaction) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(engine.evaluate(txn).canonical_json())
    return out


def _corpus() -> list[Transaction]:
    txns = []
    for record in iter_records([FIXTURES]):
        assert record.transaction is not None, record.error
        txns.append(record.transaction)
    return txns


def test_a_warm_engine_decides_exactly_like_a_cold_one() -> None:
    """Every fixture, evaluated after the whole corpus warmed the caches, equals a fresh engine's answer."""
    corpus = _corpus()
    warm = Engine.load("us-ear")
    for txn in corpus:
        warm.evaluate(txn)
    for txn in corpus:
        cold = Engine.load("us-ear")
        assert _canonical(warm, txn) == _canonical(cold, txn), txn.id
    enricher = warm._loaded.enricher
    assert enricher.party_facts.hits > 0 and enricher.item_facts.hits > 0


def _txn(day: str, *, founded: str | None = None, country: str = "AE", txn_id: str = "T1") -> Transaction:
    party: dict[str, Any] = {"id": "p1", "name": "Gulf Compute LLC", "roles": ["purchaser"], "country": country}
    if founded:
        party["founded"] = founded
    return Transaction.model_validate(
        {
            "id": txn_id,
            "date": day,
            "kind": "sale",
            "export_from": "US",
            "destination": country,
            "parties": [
                {"id": "x", "name": "Exporter Inc", "roles": ["exporter"], "country": "US"},
                party,
            ],
            "items": [{"id": "i1", "model": "H100 SXM", "quantity": 8}],
        }
    )


def _party_fact(engine: Engine, txn: Transaction) -> Fact:
    evidence, _ = engine.fire(txn)
    return next(f for f in evidence.facts if f.type == "party" and f.id == "p1")


def test_a_party_fact_is_shared_between_transactions_with_the_same_inputs() -> None:
    engine = Engine.load("us-ear")
    first = _party_fact(engine, _txn("2025-03-01", txn_id="A"))
    second = _party_fact(engine, _txn("2025-03-02", txn_id="B"))
    assert first is second
    assert first.memo[SHARED] is True


def test_the_founding_date_makes_the_transaction_date_part_of_the_key() -> None:
    engine = Engine.load("us-ear")
    a = _party_fact(engine, _txn("2025-03-01", founded="2025-01-01"))
    b = _party_fact(engine, _txn("2025-03-11", founded="2025-01-01"))
    assert (a.fields["age_days"], b.fields["age_days"]) == (59, 69)


def test_a_group_membership_change_splits_the_cache() -> None:
    """A country's groups on either side of a change date come from different cache entries."""
    ruleset = load_ruleset("us-ear")
    groups = CountryGroups(ruleset.groups)
    change_days = list(groups.changes.days)
    assert change_days, "the baseline has dated group rows"
    countries = sorted({m.country for spec in ruleset.groups.values() for m in spec.members})
    for change in change_days:
        before, on = change - dt.timedelta(days=1), change
        assert groups.period(before) != groups.period(on)
        for country in countries:
            for day in (before, on):
                names, prov = groups.at(country, day)
                assert names == sorted(groups.groups_of(country, day)), (country, day)
                assert set(prov) == set(names)


def test_periods_agree_with_day_by_day_membership() -> None:
    """Within one period every day gives the same groups (checked over every day of 2022-2026)."""
    groups = CountryGroups(load_ruleset("us-ear").groups)
    day, end = dt.date(2022, 1, 1), dt.date(2026, 12, 31)
    seen: dict[tuple[str, int], list[str]] = {}
    while day <= end:
        for country in ("CN", "AE", "SA", "MO", "RU", "IN", "JP"):
            current = sorted(groups.groups_of(country, day))
            assert seen.setdefault((country, groups.period(day)), current) == current, (country, day)
        day += dt.timedelta(days=1)


def test_screening_periods_change_on_entry_start_and_decision_dates() -> None:
    snapshot = load_default_snapshot()
    entry = next(e for e in snapshot.entries if e.start_date is not None)
    assert entry.start_date is not None
    decision = AcceptedMatch(
        id="AM-1",
        party=PartyRef(id="p1", sha256="0" * 64),
        entry=EntryRef(list=entry.list_id, id=entry.entry_id, sha256=entry.content_sha256),
        reason="different company",
        reviewer="qa",
        date=dt.date(2030, 1, 10),
        expiry=dt.date(2030, 6, 30),
    )
    screener = Screener([snapshot], decisions=[decision])
    start = entry.start_date
    assert screener.as_of_period(start - dt.timedelta(days=1)) != screener.as_of_period(start)
    assert screener.as_of_period(dt.date(2030, 1, 9)) != screener.as_of_period(dt.date(2030, 1, 10))
    assert screener.as_of_period(dt.date(2030, 1, 10)) == screener.as_of_period(dt.date(2030, 6, 30))
    assert screener.as_of_period(dt.date(2030, 6, 30)) != screener.as_of_period(dt.date(2030, 7, 1))
    # A clone with other decisions recomputes its change days.
    assert screener.with_decisions([]).as_of_period(dt.date(2030, 1, 9)) == screener.with_decisions([]).as_of_period(
        dt.date(2030, 7, 1)
    )


def test_a_listed_party_is_not_listed_before_its_entry_starts_even_with_a_warm_cache() -> None:
    snapshot = load_default_snapshot()
    entry = next(e for e in snapshot.entries if e.start_date is not None and e.start_date.year >= 2020)
    assert entry.start_date is not None
    engine = Engine.load("us-ear")

    def hits(day: dt.date) -> list[str]:
        txn = _txn(day.isoformat(), country=entry.countries[0] if entry.countries else "CN")
        txn = txn.model_copy(
            update={"parties": [txn.parties[0], txn.parties[1].model_copy(update={"name": entry.name})]}
        )
        evidence, _ = engine.fire(txn)
        return [h.entry.entry_id for h in evidence.hits]

    after = hits(entry.start_date)
    before = hits(entry.start_date - dt.timedelta(days=1))
    assert entry.entry_id in after
    assert entry.entry_id not in before


def test_bounded_cache_evicts_oldest_first_and_counts() -> None:
    cache: BoundedCache[str] = BoundedCache(2)
    assert cache.get_or_make("a", lambda: "A") == "A"
    assert cache.get_or_make("b", lambda: "B") == "B"
    assert cache.get_or_make("a", lambda: "never") == "A"
    assert cache.get_or_make("c", lambda: "C") == "C"  # evicts "a", the oldest insert
    assert len(cache) == 2
    assert cache.get_or_make("a", lambda: "A2") == "A2"
    assert (cache.hits, cache.misses) == (1, 4)
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_bounded_cache_survives_concurrent_inserts() -> None:
    cache: BoundedCache[int] = BoundedCache(64)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(5_000):
                key = (offset + i) % 500
                assert cache.get_or_make(key, lambda key=key: key * 2) == key * 2  # type: ignore[misc]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 37,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) <= 64


def test_activation_bindings_are_read_without_parsing_and_match_a_full_parse() -> None:
    facts = [
        Fact("transaction", "T1", {"id": "T1"}),
        Fact("party", "p1", {"id": "p1", "name": 'He said "item":{"id":"f0"}'}),
        Fact("item", "i1", {"id": "i1"}),
    ]
    payload = encode_facts(facts, "s1")
    assert '"id":"f1"' in payload and '"id":"f2"' in payload
    message = (
        '{"R1":{"party":{"name":"He said \\"item\\":{\\"id\\":\\"f0\\"}","oid":"p1","t":"party","id":"f1",'
        '"sid":"s1"},"item":{"oid":"i1","t":"item","id":"f2","sid":"s1"}}}'
    )
    expected = (("item", "item:i1"), ("party", "party:p1"))
    assert _bindings(message, ("party", "item"), facts) == expected
    # An alias the message does not hold falls back to parsing it in full, with the same answer.
    assert _bindings(message, ("party", "item", "lease"), facts) == expected


def test_findings_on_shared_facts_are_reused_and_the_cache_is_bounded() -> None:
    decide_module = importlib.import_module("compliance.engine.decide")  # the package re-exports `decide`
    engine = Engine.load("us-ear")
    caches = engine._loaded.caches
    # Findings that bind only party and item facts (not the transaction's own fact) are served again.
    corpus = _corpus()
    first = [engine.evaluate(t) for t in corpus]
    second = [engine.evaluate(t) for t in corpus]
    reused = sum(
        1 for a, b in zip(first, second, strict=True) for fa, fb in zip(a.findings, b.findings, strict=True) if fa is fb
    )
    assert [d.canonical_json() for d in first] == [d.canonical_json() for d in second]
    assert reused > 0, "no finding on shared facts was served from the cache"
    assert 0 < len(caches.findings) <= decide_module.FINDING_CACHE_SIZE


def test_change_days_split_on_first_days_and_the_day_after_last_days() -> None:
    from compliance.periods import ChangeDays

    d = dt.date
    changes = ChangeDays([(d(2024, 1, 10), d(2024, 3, 31)), (None, d(2025, 1, 1)), (d(2024, 1, 10), None)])
    assert changes.days == (d(2024, 1, 10), d(2024, 4, 1), d(2025, 1, 2))
    assert changes.period(d(2024, 1, 9)) != changes.period(d(2024, 1, 10))
    assert changes.period(d(2024, 1, 10)) == changes.period(d(2024, 3, 31))
    assert changes.period(d(2024, 3, 31)) != changes.period(d(2024, 4, 1))
    assert ChangeDays([(None, dt.date.max)]).days == ()


def test_findings_on_the_transaction_fact_are_reused_with_the_new_transaction_id() -> None:
    """Two transactions that differ only in id get the same findings, the second served from the content
    cache with its own id on the transaction's bound fact (and equal to what a cold engine gives)."""
    engine = Engine.load("us-ear")
    by_content = engine._loaded.caches.by_content
    before = len(by_content)
    first = engine.evaluate(_txn("2025-03-01", country="CN", txn_id="FIRST"))
    kept = len(by_content)
    assert kept > before, "the findings on the transaction fact were not kept by content"
    second = engine.evaluate(_txn("2025-03-01", country="CN", txn_id="SECOND"))
    assert len(by_content) == kept, "a finding on the transaction fact was made again, not served from the cache"
    bound = [(f.rule_id, b.id, b.fields.get("id")) for f in second.findings for b in f.facts if b.type == "transaction"]
    assert bound, "a rule on the transaction fact fired"
    assert all(fact_id == "SECOND" and field_id == "SECOND" for _, fact_id, field_id in bound)
    assert [(f.rule_id, f.because) for f in first.findings] == [(f.rule_id, f.because) for f in second.findings]
    cold = Engine.load("us-ear").evaluate(_txn("2025-03-01", country="CN", txn_id="SECOND"))
    assert second.canonical_json() == cold.canonical_json()
    # The cached finding handed to the first transaction is untouched, and each copy is what pydantic's
    # model_copy makes (values, fields counted as set, model_dump) from the finding it was made from.
    assert {b.id for f in first.findings for b in f.facts if b.type == "transaction"} == {"FIRST"}
    for old, new in zip(first.findings, second.findings, strict=True):
        reference = old.model_copy(
            update={
                "facts": [
                    b.model_copy(update={"id": "SECOND", "fields": {**b.fields, "id": "SECOND"}})
                    if b.type == "transaction"
                    else b
                    for b in old.facts
                ]
            }
        )
        assert new.model_dump() == reference.model_dump()
        assert new.model_fields_set == reference.model_fields_set
        assert [b.model_fields_set for b in new.facts] == [b.model_fields_set for b in reference.facts]


def test_a_transaction_differing_in_a_field_a_finding_reads_gets_its_own_finding() -> None:
    """The content key holds every field the finding reads: another destination is another finding."""
    engine = Engine.load("us-ear")
    engine.evaluate(_txn("2025-03-01", country="CN", txn_id="A"))
    other = engine.evaluate(_txn("2025-03-01", country="RU", txn_id="B"))
    cold = Engine.load("us-ear").evaluate(_txn("2025-03-01", country="RU", txn_id="B"))
    assert other.canonical_json() == cold.canonical_json()
    destinations = {b.fields.get("destination") for f in other.findings for b in f.facts if b.type == "transaction"}
    assert destinations <= {"RU"}


def test_a_name_is_matched_once_whatever_the_dates_and_filtered_by_entry_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The screener's memo holds a name's matches over every entry; the as-of date only filters them."""
    snapshot = load_default_snapshot()
    entry = next(e for e in snapshot.entries if e.start_date is not None and e.start_date.year >= 2020)
    assert entry.start_date is not None
    screener = Screener(snapshot)
    computed: list[str] = []
    real = screener._compute_matches

    def spy(name: str, threshold: float, as_of: dt.date | None, *, brute: bool) -> Any:
        computed.append(name)
        return real(name, threshold, as_of, brute=brute)

    monkeypatch.setattr(screener, "_compute_matches", spy)
    days = [entry.start_date - dt.timedelta(days=1), entry.start_date, entry.start_date + dt.timedelta(days=400)]
    found = [{m.entry.entry_id for m in screener.match_name(entry.name, as_of=day)} for day in days]
    assert computed == [entry.name]
    assert entry.entry_id not in found[0] and entry.entry_id in found[1] and entry.entry_id in found[2]
    cold = Screener(snapshot, memo_size=0)
    assert [{m.entry.entry_id for m in cold.match_name(entry.name, as_of=day)} for day in days] == found
