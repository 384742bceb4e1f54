"""Fail closed: every injected fault gives ``error`` with the reason, or stops before screening; never ``clear``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import durable_rules_engine
import pytest
import reliability_support as rs
from typer.testing import CliRunner

from compliance.classify import ChipClassifier
from compliance.errors import RulesetError
from compliance.evidence import Classification
from compliance.model import Determination, Item, Outcome, Transaction
from compliance.rulesets.loader import load_ruleset
from compliance.screening.lists import ListFormatError
from compliance.screening.screener import Screener

runner = CliRunner()

# A transaction that is clear when nothing goes wrong: a fault must not leave it clear.
CLEAR_TXN = Transaction.model_validate(
    {
        "id": "T-CLEAR",
        "date": "2026-01-10",
        "kind": "sale",
        "export_from": "US",
        "destination": "JP",
        "parties": [{"id": "p1", "name": "Kyoto Compute", "roles": ["purchaser"], "country": "JP"}],
        "items": [{"id": "i1", "model": "H200 SXM", "manufacturer": "NVIDIA", "quantity": 8}],
    }
)


def assert_failed_closed(det: Determination, *reason: str) -> None:
    assert det.outcome is Outcome.error, det
    assert det.error is not None
    for part in reason:
        assert part in det.error, det.error


def test_the_control_transaction_is_clear_without_faults() -> None:
    assert rs.engine().evaluate(CLEAR_TXN).outcome is Outcome.clear


# -- the inference core ---------------------------------------------------------------------------


def test_a_durable_rules_error_fails_closed_and_the_handle_is_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = rs.engine()
    real = durable_rules_engine.assert_facts

    def broken(handle: int, payload: str) -> Any:
        raise durable_rules_engine.error("Could not assert facts, error code: 303")

    monkeypatch.setattr(durable_rules_engine, "assert_facts", broken)
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "durable_rules failed", "303")
    monkeypatch.setattr(durable_rules_engine, "assert_facts", real)
    assert engine.evaluate(CLEAR_TXN).outcome is Outcome.clear  # a fresh handle, not the poisoned one


def test_a_silently_truncated_batch_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 4: a batch cut short returns code 0; the missing end sentinel gives it away."""
    engine = rs.engine()
    real = durable_rules_engine.assert_facts

    def truncated(handle: int, payload: str) -> Any:
        facts = json.loads(payload)
        return real(handle, json.dumps(facts[:-1]))  # drop the end sentinel

    monkeypatch.setattr(durable_rules_engine, "assert_facts", truncated)
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "end sentinel not seen")


def test_a_duplicate_fact_id_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = rs.engine()
    monkeypatch.setattr(durable_rules_engine, "assert_facts", lambda handle, payload: (2, 0))
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "duplicate fact id")


# -- enrichment -----------------------------------------------------------------------------------


class RaisingClassifier:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def classify(self, item: Item) -> Classification:
        raise self.exc


def test_an_exception_in_classification_fails_closed() -> None:
    engine = rs.engine(classifier=RaisingClassifier(RuntimeError("catalogue unreadable")))
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "RuntimeError", "catalogue unreadable")


def test_an_exception_in_screening_fails_closed() -> None:
    class RaisingScreener(Screener):
        def screen(self, *args: Any, **kwargs: Any) -> Any:
            raise MemoryError("index gone")

    engine = rs.engine(screening=False)
    broken = RaisingScreener([rs.snapshot()])
    from compliance.engine import Engine

    engine = Engine(engine.ruleset, screener=broken)
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "MemoryError", "index gone")


def test_a_timeout_raised_during_enrichment_fails_closed() -> None:
    """The honest timeout: a deadline checked inside enrichment (here by the classifier) raises."""
    engine = rs.engine(classifier=RaisingClassifier(TimeoutError("deadline of 50 ms passed while classifying")))
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "TimeoutError", "deadline")


def test_a_failing_decision_hook_fails_closed() -> None:
    def hook(*args: Any) -> None:
        raise OSError("audit log unwritable")

    engine = rs.engine(on_decision=hook)
    assert_failed_closed(engine.evaluate(CLEAR_TXN), "decision hook failed", "audit log unwritable")


def test_invalid_input_fails_closed_with_the_field() -> None:
    det = rs.engine().evaluate({"id": "T-BAD", "date": "2026-02-30", "kind": "sale"})
    assert_failed_closed(det, "invalid transaction", "date")
    assert det.transaction_id == "T-BAD"
    # worded as the batch readers word it: the first field, and how many more are wrong
    assert det.error is not None and det.error.endswith("(+2 more)")


def test_the_classifier_still_works_after_a_failure() -> None:
    engine = rs.engine(classifier=ChipClassifier.default())
    assert engine.evaluate(CLEAR_TXN).outcome is Outcome.clear


# -- lists ----------------------------------------------------------------------------------------


def test_a_missing_list_file_stops_before_screening(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        Screener.from_files([tmp_path / "no-such-list.yaml"])
    assert "no-such-list.yaml" in str(info.value)


@pytest.mark.parametrize(
    "content, message",
    [
        ("id: entity_list\nentries:\n  - {id: E1}\n", "an entry needs id and name"),
        ("id: entity_list\nsnapshot_date: 2026-13-01\nentries: []\n", "entity_list.yaml:2: invalid date"),
        ("id: entity_list\nentries: [\n", ""),
        ("just a string\n", "mapping"),
        ("id: entity_list\nbogus: 1\nentries: []\n", "unknown top-level key"),
    ],
)
def test_a_corrupt_list_file_stops_before_screening(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "entity_list.yaml"
    path.write_text(content)
    with pytest.raises(ListFormatError) as info:  # a ComplianceError: the CLI prints it as file:line
        Screener.from_files([path])
    assert str(path) in str(info.value) or "entity_list.yaml" in str(info.value)
    assert message in str(info.value)


def test_a_stale_list_adds_a_review_finding() -> None:
    engine = rs.engine()
    fresh = engine.evaluate(CLEAR_TXN, dt.date(2026, 1, 20))
    assert fresh.outcome is Outcome.clear
    stale = engine.evaluate(CLEAR_TXN, dt.date(2026, 3, 1))  # snapshot of 2026-01-01 is 59 days old
    assert stale.outcome is Outcome.review
    finding = next(f for f in stale.findings if f.rule_id == "LIST-STALE")
    assert "59 days" in finding.because


def test_the_shipped_us_ear_ruleset_flags_a_stale_list() -> None:
    try:
        ruleset = load_ruleset("us-ear")
    except RulesetError as exc:
        pytest.skip(f"us-ear ruleset not available yet: {exc}")
    if not ruleset.has_rule("LIST-STALE"):
        pytest.skip("us-ear has no LIST-STALE rule yet")
    engine = rs.engine(ruleset)
    too_late = dt.date(2026, 1, 1) + dt.timedelta(days=ruleset.max_list_age_days + 1)
    det = engine.evaluate(CLEAR_TXN.model_copy(update={"date": too_late}), too_late)
    assert det.outcome is not Outcome.clear
    assert "LIST-STALE" in det.fired_rule_ids()


# -- rulesets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('any: ["D:5", Macau]', 'any: ["D:9"]', 1), "unknown country group"),
        (lambda t: t.replace("outcome: review", "outcome: clear", 1), "outcome"),
        (lambda t: t + "rules: []\n", "duplicate key"),
        (lambda t: t.replace("id: AC-D5\n", "id: AC-D5\n    id2: x\n", 1), "id2"),
        (lambda t: "base: &a [1]\nother: *a\n" + t, "anchors"),
    ],
)
def test_an_invalid_ruleset_stops_the_command_before_screening(tmp_path: Path, edit: Any, message: str) -> None:
    ruleset_file = rs.copy_ruleset(tmp_path / "rules")
    ruleset_file.write_text(edit(ruleset_file.read_text()))
    with pytest.raises(RulesetError) as info:
        load_ruleset(ruleset_file)
    assert message in str(info.value) and "ruleset.yaml:" in str(info.value)

    txns = tmp_path / "txns.jsonl"
    txns.write_text(CLEAR_TXN.model_dump_json() + "\n")
    from compliance.cli.app import app

    result = runner.invoke(app, ["screen", str(txns), "--ruleset", str(ruleset_file)])
    assert result.exit_code == 2
    assert "T-CLEAR" not in result.stdout  # nothing was screened
