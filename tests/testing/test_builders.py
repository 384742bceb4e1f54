"""Builders and assertion helpers, used directly (no plugin fixture, so nothing counts for coverage)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compliance.engine import Engine
from compliance.model import Outcome
from compliance.rulesets.loader import load_ruleset
from compliance.testing import (
    assert_cites,
    assert_fires,
    assert_not_fires,
    assert_outcome,
    make_item,
    make_lease,
    make_party,
    make_transaction,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_ruleset(DATA / "mini" / "ruleset.yaml"), screener=None)


def test_defaults_make_a_valid_ordinary_sale() -> None:
    txn = make_transaction()
    assert (txn.destination, txn.export_from, txn.kind, str(txn.date)) == ("US", "US", "sale", "2025-12-15")
    assert [p.country for p in txn.parties] == ["US"]
    assert txn.items[0].model == "H100 SXM"


def test_spec_keywords_go_into_specs_and_leases_validate() -> None:
    item = make_item("x", model=None, tpp=4800, datacenter=True, quantity=3)
    assert (item.specs.tpp, item.specs.datacenter, item.quantity, item.model) == (4800, True, 3, None)
    txn = make_transaction(
        "US",
        parties=[make_party("l", roles=["lessor"]), make_party("e", roles=["lessee"], country="SG", headquarters="CN")],
        remote_access=[make_lease("e", "l")],
    )
    assert txn.remote_access[0].lessee == "e"
    with pytest.raises(ValueError, match="not a party"):
        make_transaction(remote_access=[make_lease("nobody", "p1")])


def test_assertions_pass_and_fail_with_rationale(engine: Engine) -> None:
    det = engine.evaluate(make_transaction("IR", items=[make_item(tpp=10)]))
    assert_outcome(det, Outcome.prohibited)
    assert_fires(det, "EMBARGO", because_contains="IR is embargoed")
    assert_cites(det, "EMBARGO", "15 CFR 746")
    assert_not_fires(det, "AC-D5")
    with pytest.raises(AssertionError) as failed:
        assert_outcome(det, "clear")
    assert str(failed.value).splitlines()[:4] == [
        "outcome: expected clear, got prohibited",
        "",
        "rationale:",
        "  TXN-TEST: PROHIBITED as of 2025-12-15",
    ]
    with pytest.raises(AssertionError, match=r"citations: EMBARGO does not cite '746\.1'"):
        assert_cites(det, "EMBARGO", "746.1")
