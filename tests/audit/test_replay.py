"""Replay: recorded decisions re-run from the content-addressed store, never from today's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import reliability_support as rs
from typer.testing import CliRunner

from compliance.audit import AuditLog, SnapshotStore, replay_log, verify_log
from compliance.cli.app import app
from compliance.model import Outcome
from compliance.rulesets.loader import load_ruleset

runner = CliRunner()


def _edit_ruleset(path: Path) -> None:
    text = path.read_text()
    old = "outcome: license_required\n    review_policy: presumption_of_denial\n    exceptions"
    assert old in text
    path.write_text(text.replace(old, "outcome: review\n    exceptions", 1))


def test_a_1000_record_log_replays_without_differences_and_never_uses_an_edited_file(tmp_path: Path) -> None:
    ruleset_file = rs.copy_ruleset(tmp_path / "rules")
    log = tmp_path / "decisions.jsonl"
    ruleset = load_ruleset(ruleset_file)
    with AuditLog(log) as audit:
        engine = rs.engine(ruleset, on_decision=audit)
        audit.attach(engine)
        outcomes = [engine.evaluate(txn).outcome for txn in rs.transactions(1000)]
    assert Outcome.error not in outcomes and len(set(outcomes)) > 1
    assert verify_log(log).records == 1000

    result = runner.invoke(app, ["audit", "replay", str(log)])
    assert result.exit_code == 0, result.output
    assert "1000 records: 1000 same, 0 different" in result.output

    # Edit the ruleset on disk: replay still uses the stored copy, by hash, and still matches.
    _edit_ruleset(ruleset_file)
    assert load_ruleset(ruleset_file).sha256 != ruleset.sha256
    assert replay_log(log).count("same") == 1000

    # Without the stored copy, the recorded hash is reported missing; the edited file is not used.
    shutil.rmtree(tmp_path / "decisions.jsonl.store" / "rulesets")
    report = replay_log(log)
    assert report.count("missing") == 1000 and report.count("same") == 0
    detail = report.results[0].detail
    assert f"ruleset {ruleset.sha256} is not in the store" in detail
    assert "now hashes to" in detail and "(not used)" in detail
    result = runner.invoke(app, ["audit", "replay", str(log)])
    assert result.exit_code == 1 and "MISSING" in result.output


def test_a_file_edited_before_the_first_decision_is_recorded_as_not_stored(tmp_path: Path) -> None:
    """Without ``attach`` the store is filled at the first decision; by then the file may have changed."""
    ruleset_file = rs.copy_ruleset(tmp_path / "rules")
    ruleset = load_ruleset(ruleset_file)
    _edit_ruleset(ruleset_file)
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log, lists=[rs.snapshot()]) as audit:
        engine = rs.engine(ruleset, on_decision=audit)
        for txn in rs.transactions(3):
            engine.evaluate(txn)
    record = json.loads(b"{" + log.read_bytes().splitlines()[0].split(b",", 1)[1])
    assert record["ruleset"]["stored"] is False
    assert "changed after the ruleset was loaded" in record["ruleset"]["reason"]
    report = replay_log(log)
    assert report.count("missing") == 3
    assert "changed after the ruleset was loaded" in report.results[0].detail


def test_a_list_snapshot_not_given_to_the_log_is_reported_missing(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log) as audit:  # no attach, no lists=: the log only knows the list by hash
        engine = rs.engine(on_decision=audit)
        engine.evaluate(rs.transactions(1)[0])
    report = replay_log(log)
    assert report.results[0].status == "missing"
    assert "list snapshot(s) not in the store: entity_list" in report.results[0].detail


def test_a_changed_determination_is_reported_as_a_difference(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log) as audit:
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)
        for txn in rs.transactions(20):
            engine.evaluate(txn)
    records = log.read_bytes().splitlines(keepends=True)
    target = next(i for i, r in enumerate(records) if b'"outcome":"license_required"' in r)
    records[target] = records[target].replace(b'"outcome":"license_required"', b'"outcome":"clear"')
    log.write_bytes(b"".join(records))
    report = replay_log(log)
    different = [r for r in report.results if r.status == "different"]
    assert len(different) == 1 and different[0].record == target + 1
    assert "outcome clear → license_required" in different[0].detail


def test_masked_inputs_are_reported_not_replayed(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log, mask=["/parties/*/name"]) as audit:
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)
        for txn in rs.transactions(5):
            engine.evaluate(txn)
    report = replay_log(log)
    assert report.count("masked") == 5
    assert "cannot be replayed exactly" in report.results[0].detail


def test_invalid_inputs_are_recorded_and_reported_as_not_replayable(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log) as audit:
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)
        det = engine.evaluate({"id": "BAD-1", "kind": "gift"})
    assert det.outcome is Outcome.error
    assert verify_log(log).ok
    report = replay_log(log)
    assert report.results[0].status == "no-input"


def test_the_store_refuses_a_damaged_entry(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log) as audit:
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)
        engine.evaluate(rs.transactions(1)[0])
    store = SnapshotStore(tmp_path / "decisions.jsonl.store")
    for blob in (store.root / "files").iterdir():
        blob.write_bytes(blob.read_bytes() + b"\n# tampered\n")
    report = replay_log(log)
    assert report.results[0].status == "missing"
    assert "does not match its hash" in report.results[0].detail


def test_the_shipped_ruleset_with_an_overlay_is_stored_and_replays(tmp_path: Path) -> None:
    from compliance.errors import RulesetError
    from compliance.rulesets.loader import available_rulesets

    overlays = [p for p in available_rulesets() if p.parent.name == "scenarios"]
    try:
        ruleset = load_ruleset("us-ear", overlays[:1])
    except RulesetError as exc:
        pytest.skip(f"us-ear (with {overlays[:1]}) does not load yet: {exc}")
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log) as audit:
        engine = rs.engine(ruleset, on_decision=audit)
        audit.attach(engine)
        dets = [engine.evaluate(txn) for txn in rs.transactions(40)]
    assert Outcome.error not in {d.outcome for d in dets}, [d.error for d in dets if d.error][:2]
    manifest = json.loads((tmp_path / "decisions.jsonl.store" / "rulesets" / f"{ruleset.sha256}.json").read_text())
    assert len(manifest["includes"]) == len(ruleset.files) - 1 - len(ruleset.overlays)
    assert len(manifest["overlays"]) == len(ruleset.overlays)
    report = replay_log(log)
    assert report.ok, report.problems()[:3]


def test_a_valid_mapping_input_is_recorded_and_replays(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    with AuditLog(log) as audit:
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)
        engine.evaluate(rs.transactions(1)[0].model_dump(mode="json"))
    assert replay_log(log).ok


def test_screen_with_audit_log_writes_a_verifiable_replayable_log(tmp_path: Path) -> None:
    help_text = runner.invoke(app, ["screen", "--help"]).output
    assert "--audit-log" in help_text
    txns = tmp_path / "txns.jsonl"
    txns.write_text("".join(t.model_dump_json() + "\n" for t in rs.transactions(30)))
    log = tmp_path / "decisions.jsonl"
    result = runner.invoke(
        app,
        [
            "screen",
            str(txns),
            "--ruleset",
            str(rs.RULESET),
            "--lists",
            str(rs.ENTITY_LIST),
            "--workers",
            "2",
            "--audit-log",
            str(log),
            "--fail-on",
            "never",
            "--output",
            str(tmp_path / "out.jsonl"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    report = verify_log(log)
    assert report.ok and report.records == 30
    assert replay_log(log).ok
