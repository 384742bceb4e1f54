"""Impact diff of a draft overlay against its baseline over a tiny corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compliance.cli import app
from compliance.rulesets.diff import ImpactReport, diff_rulesets

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def report() -> ImpactReport:
    return diff_rulesets(
        str(DATA / "mini" / "ruleset.yaml"), str(DATA / "mini" / "relax.yaml"), [DATA / "corpus"], screening="none"
    )


def test_counts_by_outcome_transition(report: ImpactReport) -> None:
    assert report.evaluated == 5
    assert dict(report.transitions) == {
        ("clear", "review"): 1,
        ("review", "clear"): 1,
        ("clear", "clear"): 1,
        ("license_required", "license_required"): 2,
    }


def test_outcome_changes_grouped_by_rule(report: ImpactReport) -> None:
    groups = [(rid, what, [i.transaction_id for i in items]) for rid, what, items in report.by_rule()]
    assert groups == [("NI-WATCH", "now fires", ["T-NI-SMALL"]), ("REMOTE-D5", "no longer fires", ["T-US-LEASE"])]
    assert [i.transaction_id for i in report.finding_only_changes] == ["T-NI-SALE"]
    assert [(c.rule_id, c.change) for c in report.rule_changes] == [("NI-WATCH", "added"), ("REMOTE-D5", "removed")]


def test_before_and_after_rationales(report: ImpactReport) -> None:
    lease = next(i for i in report.impacts if i.transaction_id == "T-US-LEASE")
    assert lease.transition == "review → clear"
    assert "    because RedNote Labs (HQ CN) rents capacity from Lago Cloud" in lease.before_rationale
    assert lease.after_rationale[-1] == "  no rule fired"


def test_markdown(report: ImpactReport) -> None:
    text = report.markdown()
    assert text.startswith("# Impact of `mini + mini-relax` against `mini`\n")
    assert "| clear | review | 1 |" in text
    assert "| license_required | license_required (unchanged) | 2 |" in text
    assert "### `NI-WATCH` now fires — 1 transaction(s)" in text
    assert "- `T-NI-SMALL` (tests/testing/data/corpus/ni-small.jsonl:1): clear → review" in text
    assert "- `T-NI-SALE` (license_required): +NI-WATCH (review)" in text


def test_cli_json_to_file_and_fail_on_change(tmp_path: Path) -> None:
    out = tmp_path / "impact.json"
    args = ["rulesets", "diff", str(DATA / "mini"), str(DATA / "mini" / "relax.yaml"), "--corpus", str(DATA / "corpus")]
    result = CliRunner().invoke(app, [*args, "--screening", "none", "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text())
    assert body["outcome_changed"] == 2
    assert body["draft"]["overlays"] == ["mini-relax@0.1.0"]
    assert {(t["before"], t["after"], t["count"]) for t in body["transitions"]} >= {("clear", "review", 1)}
    failing = CliRunner().invoke(app, [*args, "--screening", "none", "--fail-on-change"])
    assert failing.exit_code == 1
    assert "## Outcome transitions" in failing.output


def test_plus_syntax_and_as_of() -> None:
    base = str(DATA / "mini" / "ruleset.yaml")
    same = diff_rulesets(
        base,
        f"{base}+{DATA / 'mini' / 'relax.yaml'}",
        [DATA / "corpus" / "us-lease.json"],
        screening="none",
        as_of=__import__("datetime").date(2025, 1, 1),
    )
    # REMOTE-D5 starts 2025-05-13: as of 2025-01-01 removing it changes nothing.
    assert same.impacts == []
    assert dict(same.transitions) == {("clear", "clear"): 1}
