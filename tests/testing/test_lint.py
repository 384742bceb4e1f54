"""`compliance rulesets lint` on purpose-built bad rulesets: each defect gets its code, line and message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compliance.cli import app
from compliance.rulesets.lint import LintReport, lint_ruleset


def by_code(report: LintReport) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in report.messages:
        out.setdefault(m.code, []).append(f"{Path(m.file).name}:{m.line}: {m.severity}: {m.message}")
    return out


@pytest.fixture(scope="module")
def dead(data: Path = Path(__file__).parent / "data") -> LintReport:
    return lint_ruleset(data / "lint" / "dead.yaml")


def test_contradictory_tests_are_rules_that_never_fire(dead: LintReport) -> None:
    assert by_code(dead)["CL008"] == [
        "dead.yaml:20: error: rule DISJOINT can never fire: no value of txn.destination satisfies "
        "txn.destination = CN and txn.destination in [JP, KR]",
        "dead.yaml:28: error: rule EMPTY-RANGE can never fire: the range of item.tpp is empty: "
        "item.tpp ≥ 5,000 and item.tpp < 4,800",
    ]


def test_group_without_members_in_the_rule_period(dead: LintReport) -> None:
    assert by_code(dead)["CL009"] == [
        "dead.yaml:36: error: rule DEAD-GROUP can never fire: txn.destination_groups tests FUTURE, which has no "
        "member while the rule is in force (2023-01-01 → 2025-12-31)"
    ]


def test_placeholder_citation_and_factless_because(dead: LintReport) -> None:
    codes = by_code(dead)
    assert codes["CL003"] == ["dead.yaml:44: error: rule PLACEHOLDER cites a placeholder: 'TODO'"]
    assert codes["CL004"] == [
        "dead.yaml:44: warning: rule PLACEHOLDER: `because` names no fact, so a finding cannot say which party or "
        "item it is about"
    ]


def test_family_gap_and_conflicting_overlap(dead: LintReport) -> None:
    codes = by_code(dead)
    assert codes["CL006"] == [
        "dead.yaml:61: warning: family cn: no rule is in force 2023-11-17 → 2023-11-30 (before NEW-CN starts)"
    ]
    assert len(codes["CL005"]) == 1
    assert codes["CL005"][0].startswith(
        "dead.yaml:71: error: family cn: NEWER-CN (license_required · case_by_case) and NEW-CN "
        "(license_required · presumption_of_denial) can both fire on the same facts 2025-01-01 → …"
    )


def test_overrides_that_can_never_apply(dead: LintReport) -> None:
    codes = by_code(dead)["CL007"]
    assert codes[0] == (
        "dead.yaml:81: error: rule LATE-OVERRIDE overrides OLD-CN, but the override can never apply: OLD-CN is in "
        "force 2022-10-07 → 2023-11-16, LATE-OVERRIDE only 2026-01-15 → …"
    )
    assert codes[1] == (
        "dead.yaml:90: error: rule JP-OVERRIDE overrides NEW-CN, but the override can never apply: on the shared "
        "txn, no value of txn.destination satisfies txn.destination = JP and txn.destination = CN"
    )
    assert codes[2].startswith("dead.yaml:99: warning: rule GLOBAL-OVERRIDE overrides NEWER-CN with no alias in common")


def test_healthy_rule_is_not_reported_and_errors_fail(dead: LintReport) -> None:
    assert not [m for m in dead.messages if m.rule_id == "HEALTHY"]
    assert dead.rules_checked == 11
    assert dead.failed()
    assert sorted(dead.codes()) == ["CL003", "CL004", "CL005", "CL006", "CL007", "CL008", "CL009"]


def test_every_loader_error_is_reported_not_only_the_first(data: Path) -> None:
    codes = by_code(lint_ruleset(data / "lint" / "broken.yaml"))
    assert codes["CL003"] == ["broken.yaml:9: error: rule NO-CITE has no citations: cite the provision it encodes"]
    assert codes["CL004"] == ["broken.yaml:9: error: rule NO-CITE has no `because` template"]
    assert codes["CL001"] == [
        "broken.yaml:21: error: rule BAD-GROUP: unknown country group 'D:9' in txn.destination_groups (defined: )"
    ]


def test_rule_ids_across_overlays(data: Path) -> None:
    lint = data / "lint"
    codes = by_code(lint_ruleset(lint / "dead.yaml", [lint / "twice-a.yaml", lint / "twice-b.yaml"]))
    assert codes["CL002"] == [
        "twice-b.yaml:8: warning: rule HEALTHY was already replaced at tests/testing/data/lint/twice-a.yaml:8; "
        "that replacement is discarded",
        "twice-b.yaml:17: error: rule EXTRA is already defined at tests/testing/data/lint/twice-a.yaml:17",
    ]


def test_an_overlay_is_linted_on_the_ruleset_it_extends(data: Path) -> None:
    report = lint_ruleset(data / "mini" / "relax.yaml")
    assert report.target.endswith("mini/ruleset.yaml + tests/testing/data/mini/relax.yaml")
    assert report.messages == []
    assert report.rules_checked == 5  # REMOTE-D5 removed, NI-WATCH added


def test_cases_find_untested_rules_failing_cases_and_unknown_ids(data: Path, tmp_path: Path) -> None:
    cases = tmp_path / "some.cases.yaml"
    cases.write_text(
        f"ruleset: {data}/mini/ruleset.yaml\ncases:\n"
        f"  - name: ir\n    transaction: {data}/corpus/cn-h100.json\n"
        "    expect: {findings: [AC-D5], absent: [NOPE]}\n",
        encoding="utf-8",
    )
    report = lint_ruleset(data / "mini" / "ruleset.yaml", cases=[tmp_path], screening="none")
    codes = by_code(report)
    assert report.cases_run == 1
    assert codes["CL011"] == ["some.cases.yaml:3: error: case ir: absent: no rule 'NOPE' in the ruleset"]
    assert [m.split(": ", 2)[2] for m in codes["CL010"]] == [
        "no case fires rule AC-D5-CASE (as a finding or overridden)",
        "no case fires rule REMOTE-D5 (as a finding or overridden)",
        "no case fires rule EMBARGO (as a finding or overridden)",
    ]
    assert "CL012" not in codes  # the only mismatch is the unknown id, reported once


def test_cli_text_json_and_exit_codes(data: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["rulesets", "lint", str(data / "lint" / "dead.yaml")])
    assert bad.exit_code == 1
    assert "dead.yaml:20: CL008: error: rule DISJOINT can never fire" in bad.output
    assert bad.output.strip().endswith("7 error(s), 3 warning(s) in 11 rule(s)")
    clean = runner.invoke(app, ["rulesets", "lint", str(data / "mini")])
    assert clean.exit_code == 0, clean.output
    as_json = runner.invoke(app, ["rulesets", "lint", str(data / "lint" / "dead.yaml"), "--format", "json"])
    body = json.loads(as_json.output)
    assert (body["errors"], body["warnings"]) == (7, 3)
    assert {"file", "line", "code", "severity", "message", "rule_id"} <= set(body["messages"][0])


def test_warnings_fail_only_with_strict(tmp_path: Path, data: Path) -> None:
    overlay = tmp_path / "warn.yaml"
    overlay.write_text(
        "id: warn\nversion: 0.1.0\ntitle: W\nstatus: draft\nextends: mini\nsources: [{id: x, title: X}]\n"
        "rules:\n  - id: STATIC\n    title: Static reason\n    citations: [memo]\n    effective: {}\n"
        "    outcome: review\n    when: {txn: {fact: transaction, destination: KP}}\n    because: Always the same\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    args = ["rulesets", "lint", str(data / "mini"), "-O", str(overlay)]
    assert runner.invoke(app, args).exit_code == 0
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 1
    assert "warn.yaml:8: CL004: warning: rule STATIC: `because` names no fact" in strict.output


def test_the_documented_draft_overlay_is_clean() -> None:
    examples = Path(__file__).resolve().parents[2] / "docs" / "examples"
    report = lint_ruleset(examples / "draft-overlay.yaml")
    assert report.messages == []
    assert report.rules_checked == 33
    with_cases = lint_ruleset(examples / "draft-overlay.yaml", cases=[examples])
    untested = {m.rule_id for m in with_cases.messages if m.code == "CL010"}
    assert with_cases.cases_run == 4
    assert "AC-MY-TH" not in untested
    assert "AC-D5" in untested  # the draft's own cases do not exercise the baseline
