"""Accepted matches: suppress while both hashes match and before expiry; re-open otherwise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from screening_helpers import AS_OF, party

from compliance.screening import (
    ListFormatError,
    ListSnapshot,
    Screener,
    create_decision,
    dump_decisions,
    load_decisions,
    make_entry,
    parse_decisions,
    party_screened_sha256,
)

ENTRY = make_entry(list_id="entity_list", entry_id="e1", name="Orion Compute Systems Co., Ltd.", country="CN")
SNAP = ListSnapshot(list_id="entity_list", entries=(ENTRY,), snapshot_date=dt.date(2026, 1, 1))
PARTY = party("Orion Compute Systems Co Ltd", pid="p7", country="CN", address="1 Main St, Dayton, OH")


def _decision(expiry: dt.date = dt.date(2027, 6, 1)) -> object:
    return create_decision(
        PARTY, ENTRY, decision_id="GG-1", reason="Different company (Ohio, 1998)", reviewer="j.doe",
        date=dt.date(2026, 6, 1), expiry=expiry,
    )  # fmt: skip


def test_party_hash_covers_screened_fields_only() -> None:
    h = party_screened_sha256(PARTY)
    assert h == party_screened_sha256(PARTY.model_copy(update={"roles": ["end_user"]}))
    assert h != party_screened_sha256(PARTY.model_copy(update={"address": "2 Main St"}))
    assert h != party_screened_sha256(PARTY.model_copy(update={"aliases": ["Orion"]}))


def test_suppresses_while_unchanged() -> None:
    d = create_decision(PARTY, ENTRY, decision_id="GG-1", reason="r", reviewer="j", date=dt.date(2026, 6, 1))
    hits = Screener(SNAP, decisions=[d]).screen(PARTY, as_of=AS_OF)
    assert len(hits) == 1
    assert hits[0].suppressed_by == "GG-1"
    assert hits[0].score >= 0.85  # the hit stays in the evidence


def test_reopens_when_party_changes() -> None:
    d = create_decision(PARTY, ENTRY, decision_id="GG-1", reason="r", reviewer="j", date=dt.date(2026, 6, 1))
    moved = PARTY.model_copy(update={"address": "88 Nanjing Rd, Shanghai"})
    hits = Screener(SNAP, decisions=[d]).screen(moved, as_of=AS_OF)
    assert hits[0].suppressed_by is None
    assert d.status(moved, ENTRY, AS_OF) == "party_changed"


def test_reopens_when_entry_changes() -> None:
    d = create_decision(PARTY, ENTRY, decision_id="GG-1", reason="r", reviewer="j", date=dt.date(2026, 6, 1))
    amended = make_entry(**{**ENTRY.model_dump(exclude={"content_sha256"}), "aliases": ["Orion Compute"]})
    snap2 = ListSnapshot(list_id="entity_list", entries=(amended,), snapshot_date=dt.date(2026, 9, 1))
    hits = Screener(snap2, decisions=[d]).screen(PARTY, as_of=AS_OF)
    assert hits[0].suppressed_by is None
    assert d.status(PARTY, amended, AS_OF) == "entry_changed"


def test_expires() -> None:
    d = create_decision(
        PARTY,
        ENTRY,
        decision_id="GG-1",
        reason="r",
        reviewer="j",
        date=dt.date(2026, 1, 1),
        expiry=dt.date(2026, 6, 30),
    )
    screener = Screener(SNAP, decisions=[d])
    assert screener.screen(PARTY, as_of=dt.date(2026, 6, 30))[0].suppressed_by == "GG-1"
    assert screener.screen(PARTY, as_of=dt.date(2026, 7, 1))[0].suppressed_by is None


def test_other_party_id_not_suppressed() -> None:
    d = create_decision(PARTY, ENTRY, decision_id="GG-1", reason="r", reviewer="j", date=dt.date(2026, 6, 1))
    other = PARTY.model_copy(update={"id": "p8"})
    assert Screener(SNAP, decisions=[d]).screen(other, as_of=AS_OF)[0].suppressed_by is None


def test_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    d = create_decision(PARTY, ENTRY, decision_id="GG-1", reason="r", reviewer="j", date=dt.date(2026, 6, 1))
    path = tmp_path / "accepted.yaml"
    path.write_text(dump_decisions([d]), encoding="utf-8")
    assert load_decisions(path) == [d]
    bad = dump_decisions([d]).replace("reviewer: j", "reviewer: j\n  colour: red")
    with pytest.raises(ListFormatError, match=r"x.yaml:2: colour: Extra inputs are not permitted"):
        parse_decisions(bad, "x.yaml")
    dup = dump_decisions([d, d])
    with pytest.raises(ListFormatError, match="duplicate decision id 'GG-1'"):
        parse_decisions(dup, "x.yaml")


def test_with_decisions_reuses_the_index() -> None:
    d = create_decision(PARTY, ENTRY, decision_id="GG-1", reason="r", reviewer="j", date=dt.date(2026, 6, 1))
    base = Screener(SNAP)
    withd = base.with_decisions([d])
    assert withd.index is base.index
    assert base.screen(PARTY, as_of=AS_OF)[0].suppressed_by is None
    assert withd.screen(PARTY, as_of=AS_OF)[0].suppressed_by == "GG-1"
