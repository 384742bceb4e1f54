"""`why_not` and `compliance explain`: which condition failed, with what value, and why a rule is silent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compliance.cli import app
from compliance.engine import Engine
from compliance.explain import rationale_lines, why_not
from compliance.rulesets.loader import load_ruleset
from compliance.testing import make_item, make_party, make_transaction

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_ruleset(DATA / "mini" / "ruleset.yaml"), screener=None)


def test_failing_test_with_actual_value(engine: Engine) -> None:
    txn = make_transaction("JP", items=[make_item(tpp=9000)])
    report = why_not(engine, txn, "AC-D5")
    assert report.verdict == "did not fire: its conditions fail"
    lines = report.lines()
    assert (
        "  ✗ txn (transaction) TXN-TEST: destination_groups contains any of [D:5] is false "
        "(destination_groups = (missing))"
    ) in lines
    assert "  ✓ item (item) i1: all tests hold" in lines
    assert lines[1].startswith("  defined at ") and lines[1].endswith("mini/ruleset.yaml:28")


def test_not_in_force_but_conditions_hold(engine: Engine) -> None:
    txn = make_transaction("CN", items=[make_item(tpp=9000)])
    report = why_not(engine, txn, "AC-D5-CASE", dt.date(2025, 12, 15))
    assert report.matched and not report.in_force
    assert report.verdict == "did not fire: its conditions hold, but it is NOT IN FORCE on the as-of date"
    assert "  in force on 2025-12-15: NO (effective 2026-01-15 → …)" in report.lines()


def test_dated_group_membership_hint(engine: Engine) -> None:
    txn = make_transaction("NI", items=[make_item(tpp=9000)], date="2024-01-01")
    lines = why_not(engine, txn, "AC-D5").lines()
    assert (
        "  ✗ txn (transaction) TXN-TEST: note: NI is in D:5 from 2024-03-15 (89 FR 18350), not on 2024-01-01" in lines
    )


def test_overridden_rule_and_the_override(engine: Engine) -> None:
    txn = make_transaction("CN", items=[make_item(tpp=9000)])
    day = dt.date(2026, 2, 1)
    target = why_not(engine, txn, "AC-D5", day)
    assert target.verdict == "fired but was OVERRIDDEN"
    assert "  may be overridden by AC-D5-CASE (in force on 2026-02-01, fired)" in target.lines()
    assert "  overridden by AC-D5-CASE (Lower-performance item to China, case by case)" in target.lines()
    winner = why_not(engine, txn, "AC-D5-CASE", day)
    assert winner.fired
    assert "  overrides AC-D5 (overrode it here)" in winner.lines()
    det = engine.evaluate(txn, day)
    assert "    would have found: license_required because H100 SXM (TPP 9,000) is going to CN, in D:5" in (
        rationale_lines(det)
    )


def test_party_pattern_failures_per_party(engine: Engine) -> None:
    txn = make_transaction(
        "SG", parties=[make_party("p1", country="SG", headquarters="SG"), make_party("p2", roles=["lessor"])]
    )
    lines = why_not(engine, txn, "AC-HQ").lines()
    assert "  ✗ party (party) p1: hq_groups contains any of [D:5] is false (hq_groups = (missing))" in lines
    assert "  ✗ party (party) p2: roles contains any of [purchaser, end_user] is false (roles = [lessor])" in lines


def test_cli_json_and_unknown_rule(tmp_path: Path) -> None:
    txn = tmp_path / "t.json"
    txn.write_text(make_transaction("CN", items=[make_item(tpp=9000)]).model_dump_json(), encoding="utf-8")
    base = ["explain", str(txn), "-r", str(DATA / "mini"), "--screening", "none"]
    result = CliRunner().invoke(app, [*base, "--why-not", "EMBARGO", "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["determination"]["outcome"] == "license_required"
    assert body["why_not"][0]["verdict"] == "did not fire: its conditions fail"
    assert body["why_not"][0]["patterns"][0]["failures"]
    typo = CliRunner().invoke(app, [*base, "--why-not", "AC-D55"])
    assert typo.exit_code == 2
    assert "no rule 'AC-D55' in mini (did you mean AC-D5, AC-D5-CASE?)" in typo.output
    text = CliRunner().invoke(app, [*base, "--why-not", "REMOTE-D5"])
    assert "REMOTE-D5: Remote access for a D:5 lessee — did not fire: its conditions fail" in text.output
    assert "  ✗ lease (lease): no lease fact in this transaction" in text.output
