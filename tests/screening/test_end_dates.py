"""A listing applies from its start date through its end date (a Denied Persons List order's expiry).

An expired denial order is not evidence after its last day; on that day it still is. Entries without an end
date keep the content hash they had before the field existed, so accepted matches bound to them stay closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from screening_helpers import example_listing, l40s_sale, party, shared

from compliance import Engine
from compliance.screening import Screener, dump_yaml_list, import_csl, parse_yaml_list
from compliance.screening.screener import load_default_snapshot

LAST_DAY = dt.date(2023, 10, 3)
"""ABDULAMIR MAHDI's denial order (68 F.R. 57406) ends on 2023-10-03 in the 2022 CSL."""

LISTED_UNTIL = example_listing("An entry with an end date", "el-test-until", "  end_date: 2025-06-30\n")


def _dpl() -> Screener:
    return Screener([import_csl(shared("csl/consolidated.csv.gz"), lists=["dpl"])])


def test_the_csl_importer_keeps_a_denial_orders_end_date() -> None:
    snap = import_csl(shared("csl/consolidated.csv.gz"), lists=["dpl"])
    mahdi = [e for e in snap.entries if e.name == "ABDULAMIR MAHDI"]
    assert [(e.start_date, e.end_date, e.federal_register) for e in mahdi] == [
        (dt.date(2003, 10, 3), LAST_DAY, ["68 FR 57406"])
    ]
    assert sum(e.end_date is not None for e in snap.entries) > 400  # the CSL gives an end date on 417 DPL rows


def test_an_expired_denial_order_is_evidence_through_its_last_day_and_not_after() -> None:
    for memo_size in (0, 1024):  # computed afresh, and from the whole-query memo filtered by date
        screener = _dpl()
        screener.memo_size = memo_size
        probe = party("Abdulamir Mahdi", country="CA")
        on_last_day = screener.screen(probe, as_of=LAST_DAY)
        assert [(h.entry.name, h.entry.end_date) for h in on_last_day] == [("ABDULAMIR MAHDI", LAST_DAY)]
        assert screener.screen(probe, as_of=LAST_DAY + dt.timedelta(days=1)) == []
        assert screener.screen(probe, as_of=dt.date(2003, 10, 2)) == []  # before the order
        assert screener.as_of_period(LAST_DAY) != screener.as_of_period(LAST_DAY + dt.timedelta(days=1))


def test_a_warm_engine_stops_flagging_a_listing_the_day_after_it_ends() -> None:
    """The enrichment cache keys screening by the screener's period, which now splits after end dates."""
    screener = Screener([parse_yaml_list(LISTED_UNTIL, "until.yaml")])
    engine = Engine.load("us-ear", screener=screener)

    def evaluate(day: str) -> list[str]:
        buyer = party("Example Compute Leasing Co Ltd", country="CN")
        txn = l40s_sale(buyer, txn_id=f"T-{day}", day=day, destination="CN")
        det = engine.evaluate(txn)
        assert det.outcome.value != "error", det.error
        return sorted({f.rule_id for f in det.findings if f.rule_id.startswith("EL-")})

    assert evaluate("2025-06-30") == ["EL-PARTY"]
    assert evaluate("2025-07-01") == []
    assert evaluate("2025-06-29") == ["EL-PARTY"]


def test_the_yaml_list_format_round_trips_an_end_date() -> None:
    snap = parse_yaml_list(LISTED_UNTIL, "until.yaml")
    (entry,) = snap.entries
    assert (entry.start_date, entry.end_date) == (dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    again = parse_yaml_list(dump_yaml_list(snap), "again.yaml")
    assert again.entries[0].end_date == entry.end_date
    assert again.entries[0].content_sha256 == entry.content_sha256


def test_an_end_date_is_part_of_the_content_hash_and_entries_without_one_keep_their_hash() -> None:
    snap = parse_yaml_list(LISTED_UNTIL, "until.yaml")
    open_ended = parse_yaml_list(LISTED_UNTIL.replace("  end_date: 2025-06-30\n", ""), "open.yaml")
    assert snap.entries[0].content_sha256 != open_ended.entries[0].content_sha256
    # pinned before end dates existed: accepted matches bound to these hashes must not re-open
    default = load_default_snapshot()
    huawei = next(e for e in default.entries if e.entry_id == "el-huawei-technologies")
    assert huawei.content_sha256 == "425984b9ef5c4037f84cf2228b1750737fcd604ea0e8cfbeb49212c3f4a1bd64"
    every = hashlib.sha256("".join(e.content_sha256 for e in default.entries).encode()).hexdigest()
    assert every == "312b4b8c375df1c86cb9e9f024e9cd8ff97127064d1a451c7fc93d4d041069e3"
