"""Ownership look-through: 49 % vs 50 %, aggregation, hops, caught affiliates, unknown shares, cycles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from compliance.model import ReviewPolicy, Transaction
from compliance.screening import caught_parties, resolve_listed_ownership

PoD = ReviewPolicy.presumption_of_denial
POLICY = ReviewPolicy.policy_of_denial


def txn(*parties: tuple[str, list[tuple[str, float | None]]]) -> Transaction:
    data: dict[str, Any] = {
        "id": "T1",
        "date": dt.date(2026, 11, 23),
        "kind": "sale",
        "export_from": "US",
        "destination": "CN",
        "parties": [
            {
                "id": pid,
                "name": f"Party {pid}",
                "roles": ["purchaser"],
                "country": "CN",
                "owners": [{"party": o, "share": s} for o, s in owners],
            }
            for pid, owners in parties
        ],
    }
    return Transaction.model_validate(data)


def test_49_percent_is_not_caught_50_is() -> None:
    t49 = txn(("L", []), ("A", [("L", 0.49)]))
    t50 = txn(("L", []), ("A", [("L", 0.50)]))
    r49 = resolve_listed_ownership(t49, {"L": PoD})
    r50 = resolve_listed_ownership(t50, {"L": PoD})
    assert r49["A"].listed_share == pytest.approx(0.49)
    assert caught_parties(t49, {"L": PoD}) == {}
    assert r50["A"].listed_share == pytest.approx(0.50)
    assert caught_parties(t50, {"L": PoD}) == {"A": PoD}


def test_aggregation_across_two_listed_owners() -> None:
    t = txn(("L1", []), ("L2", []), ("A", [("L1", 0.30), ("L2", 0.25)]))
    r = resolve_listed_ownership(t, {"L1": PoD, "L2": POLICY})["A"]
    assert r.listed_share == pytest.approx(0.55)
    assert r.listed_owners == ["L1", "L2"]
    assert r.most_restrictive_policy is POLICY  # the most restrictive owner's policy
    assert sorted(p.effective_share for p in r.paths if p.effective_share is not None) == pytest.approx([0.25, 0.30])
    assert "A" in caught_parties(t, {"L1": PoD, "L2": POLICY})


def test_two_hops_caught_affiliate_passes_listing_down() -> None:
    # listed L owns 60 % of A; A owns 80 % of B: A is caught, so B is 80 % owned by a listed-equivalent owner
    t = txn(("L", []), ("A", [("L", 0.6)]), ("B", [("A", 0.8)]))
    r = resolve_listed_ownership(t, {"L": PoD})
    assert r["A"].listed_share == pytest.approx(0.6)
    assert r["B"].listed_share == pytest.approx(0.8)
    assert r["B"].listed_owners == ["A"]
    assert r["B"].most_restrictive_policy is PoD
    assert caught_parties(t, {"L": PoD}) == {"A": PoD, "B": PoD}
    path = r["B"].paths[0]
    assert [(lk.owner, lk.owned, lk.share) for lk in path.links] == [("A", "B", 0.8)]


def test_indirect_shares_multiply_through_unlisted_owners() -> None:
    # L owns 40 % of A (A not caught), A owns 100 % of B, L owns 20 % of B directly: B = 0.4 + 0.2 = 0.6
    t = txn(("L", []), ("A", [("L", 0.4)]), ("B", [("A", 1.0), ("L", 0.2)]))
    r = resolve_listed_ownership(t, {"L": PoD})
    assert r["A"].listed_share == pytest.approx(0.4)
    assert r["B"].listed_share == pytest.approx(0.6)
    links = sorted([[(lk.owner, lk.owned, lk.share) for lk in p.links] for p in r["B"].paths])
    assert links == [[("L", "A", 0.4), ("A", "B", 1.0)], [("L", "B", 0.2)]]
    assert "B" in caught_parties(t, {"L": PoD})


def test_unknown_share_is_its_own_fact() -> None:
    t = txn(("L", []), ("A", [("L", None)]), ("B", [("X", 1.0)]), ("X", []))
    r = resolve_listed_ownership(t, {"L": PoD})
    assert r["A"].unknown_share is True
    assert r["A"].listed_share == 0.0
    assert r["A"].paths[0].effective_share is None
    assert "B" not in r  # owned only by unlisted parties


def test_cycles_terminate_and_count_once() -> None:
    # L owns 30 % of A; A and B own 40 % of each other
    t = txn(("L", []), ("A", [("L", 0.3), ("B", 0.4)]), ("B", [("A", 0.4)]))
    r = resolve_listed_ownership(t, {"L": PoD})
    assert r["A"].listed_share == pytest.approx(0.3)
    assert r["B"].listed_share == pytest.approx(0.12)
    assert caught_parties(t, {"L": PoD}) == {}


def test_cycle_with_caught_members() -> None:
    t = txn(("L", []), ("A", [("L", 0.5), ("B", 0.5)]), ("B", [("A", 0.5)]))
    caught = caught_parties(t, {"L": PoD})
    assert caught == {"A": PoD, "B": PoD}


def test_no_listed_owners_no_output() -> None:
    t = txn(("A", []), ("B", [("A", 1.0)]))
    assert resolve_listed_ownership(t, {}) == {}
