"""The case-file plugin, run the way users run it: pytest collecting ``*.cases.yaml`` (through pytester)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

MINI = "ruleset: {data}/mini/ruleset.yaml\n"


@pytest.fixture
def project(pytester: pytest.Pytester, data: Path) -> pytest.Pytester:
    """A pytest project with the toolkit's data copied in and party screening off (no lists needed)."""
    shutil.copytree(data / "mini", pytester.path / "mini")
    shutil.copytree(data / "corpus", pytester.path / "corpus")
    shutil.copytree(data / "cases", pytester.path / "cases")
    pytester.makeini("[pytest]\ncompliance_screening = none\n")
    return pytester


def write_cases(pytester: pytest.Pytester, name: str, body: str) -> Path:
    path = pytester.path / "cases" / f"{name}.cases.yaml"
    path.write_text(body, encoding="utf-8")
    return path


FAILING = """\
ruleset: ../mini/ruleset.yaml
as_of: 2025-12-15
cases:
  - name: expects-the-wrong-thing
    transaction: ../corpus/cn-h100.json
    expect:
      outcome: review
      findings: [REMOTE-D5, AC-D5-CASE]
      absent: [AC-HQ]
      review_policy: {AC-D5: case_by_case}
"""


def test_each_case_is_a_passing_item(project: pytest.Pytester) -> None:
    result = project.runpytest("cases", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*cases/mini.cases.yaml::cn-h100-denied PASSED*",
            "*cases/mini.cases.yaml::cn-h100-case-by-case-2026 PASSED*",
            "*cases/mini.cases.yaml::lease-to-rednote PASSED*",
            "*cases/mini.cases.yaml::iran-inline PASSED*",
        ]
    )


def test_cases_are_selectable_with_k(project: pytest.Pytester) -> None:
    result = project.runpytest("cases", "-k", "rednote or iran", "-v")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["*::lease-to-rednote PASSED*", "*::iran-inline PASSED*"])


def test_failure_shows_mismatches_findings_table_why_not_and_rationale(project: pytest.Pytester) -> None:
    write_cases(project, "failing", FAILING)
    result = project.runpytest("cases/failing.cases.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "case expects-the-wrong-thing (*failing.cases.yaml:4) under mini 1.0.0",
            "  ✗ outcome: expected review, got license_required",
            "  ✗ REMOTE-D5 did not fire",
            "  ✗ AC-D5-CASE did not fire",
            "  ✗ AC-HQ fired but was expected absent: Accelerator X is for Blue Harbor Compute, headquartered in CN",
            "  ✗ review_policy: AC-D5 expected case_by_case, got presumption_of_denial",
            "  findings (✓ as expected, ✗ not as expected):",
            "    ✓ AC-D5       finding     finding (license_required)",
            "    ✗ AC-D5-CASE  finding     did not fire",
            "    ✗ AC-HQ       absent      finding (license_required)",
            "    ✗ REMOTE-D5   finding     did not fire",
            "  why not REMOTE-D5:",
            "*lease (lease): no lease fact in this transaction",
            "  why not AC-D5-CASE:",
            "*AC-D5-CASE: * — did not fire: its conditions hold, but it is NOT IN FORCE on the as-of date",
            "  rationale:",
            "    T-CN-H100: LICENSE_REQUIRED as of 2025-12-15",
            "*because Accelerator X (TPP 15,832) is going to CN, in D:5",
        ]
    )


def test_unknown_rule_in_expectation_suggests_the_close_one(project: pytest.Pytester) -> None:
    write_cases(
        project,
        "typo",
        "ruleset: ../mini/ruleset.yaml\ncases:\n  - name: typo\n    transaction: ../corpus/cn-h100.json\n"
        "    expect: {absent: [AC-HQQ]}\n",
    )
    result = project.runpytest("cases/typo.cases.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  ✗ absent: no rule 'AC-HQQ' in the ruleset (did you mean AC-HQ?)"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "ruleset: ../mini/ruleset.yaml\ncases:\n  - name: a\n    transaction: ../corpus/cn-h100.json\n"
            "    expect: {outcome: clear}\n    expected: {outcome: clear}\n",
            "*bad.cases.yaml:6: cases.0.expected: Extra inputs are not permitted",
        ),
        (
            "ruleset: ../mini/ruleset.yaml\ncases:\n  - name: a\n    transaction: ../corpus/cn-h100.json\n"
            "    expect: {outcome: blocked}\n",
            "*bad.cases.yaml:5: cases.0.expect.outcome: Input should be *",
        ),
        (
            "ruleset: ../mini/ruleset.yaml\ncases:\n  - name: a\n    transaction: ../corpus/cn-h100.json\n"
            "    expect: {}\n",
            "*bad.cases.yaml:5: cases.0.expect: Value error, a case must expect something*",
        ),
        (
            "ruleset: ../mini/ruleset.yaml\ncases:\n  - {name: a, transaction: x.json, expect: {outcome: clear}}\n"
            "  - {name: a, transaction: x.json, expect: {outcome: clear}}\n",
            "*bad.cases.yaml:4: cases.1.name: case name 'a' is used twice (first at line 3)",
        ),
        (
            "ruleset: no-such-ruleset\ncases:\n  - {name: a, transaction: x.json, expect: {outcome: clear}}\n",
            "*bad.cases.yaml:1: ruleset: no ruleset named 'no-such-ruleset'*",
        ),
        (
            "ruleset: ../mini/ruleset.yaml\nruleset: ../mini/ruleset.yaml\ncases: []\n",
            "*bad.cases.yaml:2: duplicate key 'ruleset' (first at line 1)",
        ),
        (
            "ruleset: ../mini/ruleset.yaml\nlists:\n  - ../nowhere/list.yaml\n"
            "cases:\n  - {name: a, transaction: x.json, expect: {outcome: clear}}\n",
            "*bad.cases.yaml:3: lists.0: list file '../nowhere/list.yaml' not found",
        ),
    ],
    ids=[
        "unknown-key",
        "bad-outcome",
        "empty-expect",
        "duplicate-name",
        "unknown-ruleset",
        "duplicate-key",
        "missing-list-file",
    ],
)
def test_invalid_case_files_are_collection_errors_at_file_line(
    project: pytest.Pytester, body: str, message: str
) -> None:
    write_cases(project, "bad", body)
    result = project.runpytest("cases/bad.cases.yaml")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])


def test_missing_transaction_file_fails_only_that_case(project: pytest.Pytester) -> None:
    write_cases(
        project,
        "missing",
        "ruleset: ../mini/ruleset.yaml\ncases:\n"
        "  - {name: gone, transaction: ../corpus/nope.json, expect: {outcome: clear}}\n"
        "  - {name: here, transaction: ../corpus/cn-h100.json, expect: {outcome: license_required}}\n",
    )
    result = project.runpytest("cases/missing.cases.yaml")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*missing.cases.yaml:3: case gone: transaction file '../corpus/nope.json' not found"])


DRAFT = """\
ruleset: ../mini/ruleset.yaml
draft:
  id: inline-draft
  version: 0.0.1
  title: Inline draft
  status: draft
  extends: mini
  sources: [{id: memo, title: Memo}]
  rules:
    - id: JP-WATCH
      title: Watch Japan
      citations: ["memo"]
      effective: {}
      outcome: review
      when:
        txn: {fact: transaction, destination: JP}
      because: "{txn.destination} is watched"
cases:
  - name: draft-fires
    transaction: {id: T-JP, date: 2025-12-15, kind: sale, export_from: US, destination: JP}
    expect: {outcome: review, findings: [JP-WATCH], because_contains: {JP-WATCH: JP is watched}}
  - name: draft-wrong
    transaction: {id: T-JP, date: 2025-12-15, kind: sale, export_from: US, destination: JP}
    expect: {outcome: clear}
"""


def test_inline_draft_applies_and_its_rules_point_into_the_case_file(project: pytest.Pytester) -> None:
    write_cases(project, "draft", DRAFT)
    result = project.runpytest("cases/draft.cases.yaml", "--compliance-coverage")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*✗ outcome: expected clear, got review",
            "*ruleset mini 1.0.0 + inline-draft@0.0.1*",
            "inline-draft * cases/draft.cases.yaml * 1 * 1 * 100.0%",
        ]
    )


def test_inline_draft_errors_point_into_the_case_file(project: pytest.Pytester) -> None:
    write_cases(
        project, "draftbad", DRAFT.replace("destination: JP}\n      because", "destination: XX}\n      because")
    )
    result = project.runpytest("cases/draftbad.cases.yaml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*draftbad.cases.yaml:16: rule JP-WATCH: txn.destination: 'XX' is not an ISO*"])


def test_coverage_table_lists_rules_that_never_fired(project: pytest.Pytester) -> None:
    result = project.runpytest("cases", "-k", "denied", "--compliance-coverage")
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "*- compliance rule coverage -*",
            "ruleset/overlay  file * rules  fired   cover",
            "mini * mini/ruleset.yaml * 5 * 2 *  40.0%",
            "TOTAL * 5 * 2 *  40.0%",
            "never fired:",
            "  mini/ruleset.yaml:40: AC-D5-CASE (mini)",
            "  mini/ruleset.yaml:61: REMOTE-D5 (mini)",
            "  mini/ruleset.yaml:69: EMBARGO (mini)",
            "combinations loaded:",
            "  mini 1.0.0: 1 evaluation(s), 2/5 rules fired",
        ]
    )
    assert result.ret == 0


def test_coverage_fail_under_fails_the_run(project: pytest.Pytester) -> None:
    result = project.runpytest("cases", "-k", "denied", "--compliance-coverage-fail-under", "100")
    result.assert_outcomes(passed=1, deselected=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAIL Required compliance rule coverage of 100% not reached. Total coverage: 40.00%"])


def test_full_case_file_reaches_100_percent(project: pytest.Pytester) -> None:
    report = project.path / "coverage.json"
    result = project.runpytest(
        "cases/mini.cases.yaml", "--compliance-coverage-fail-under", "100", "--compliance-coverage-json", str(report)
    )
    result.assert_outcomes(passed=4)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["Required compliance rule coverage of 100% reached. Total coverage: 100.00%"])
    body = json.loads(report.read_text())
    assert body["percent"] == 100.0
    assert body["rules"] == 5
    assert body["sources"][0]["missed"] == []


def test_coverage_counts_overlay_rules_by_where_they_are_defined(project: pytest.Pytester) -> None:
    write_cases(
        project,
        "overlay",
        "ruleset: ../mini/ruleset.yaml\noverlays: [../mini/relax.yaml]\ncases:\n"
        "  - name: ni\n    transaction: ../corpus/ni-small.jsonl\n"
        "    expect: {outcome: review, findings: [NI-WATCH]}\n",
    )
    (project.path / "corpus" / "ni-small.jsonl").write_text(
        (project.path / "corpus" / "ni-small.jsonl").read_text().splitlines()[0] + "\n"
    )
    result = project.runpytest("cases", "--compliance-coverage")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "mini * mini/ruleset.yaml * 5 * 5 * 100.0%",
            "mini-relax * mini/relax.yaml * 1 * 1 * 100.0%",
            "TOTAL * 6 * 6 * 100.0%",
            "  mini 1.0.0: 4 evaluation(s), 5/5 rules fired",
            "  mini 1.0.0 + mini-relax 0.1.0: 1 evaluation(s), 1/5 rules fired",
        ]
    )


FIXTURE_TESTS = """
import pytest
from compliance.testing import (
    assert_cites, assert_fires, assert_not_fires, assert_outcome, assert_overridden, make_item, make_party,
    make_transaction,
)

pytestmark = pytest.mark.compliance_ruleset("mini/ruleset.yaml")


def test_hq_rule(evaluate):
    txn = make_transaction("SG", parties=[make_party(country="SG", headquarters="CN")], items=[make_item(tpp=9000)])
    det = evaluate(txn)
    assert_outcome(det, "license_required")
    finding = assert_fires(det, "AC-HQ", review_policy="presumption_of_denial", because_contains="headquartered in CN")
    assert finding.rule_id == "AC-HQ"
    assert_not_fires(det, "AC-D5")
    assert_cites(det, "AC-HQ", "742.6(a)(6)(iii)(A)")


def test_override(evaluate):
    det = evaluate(make_transaction("CN", items=[make_item(tpp=9000)]), "2026-02-01")
    assert_overridden(det, "AC-D5", by="AC-D5-CASE")


def test_engine_fixture(engine):
    assert engine.ruleset.id == "mini"


def test_failing_assertion_prints_rationale(evaluate):
    det = evaluate(make_transaction("JP", items=[make_item(tpp=9000)]))
    assert_fires(det, "AC-D5", review_policy="case_by_case")
"""


def test_fixtures_and_assertions_in_user_tests(project: pytest.Pytester) -> None:
    project.makepyfile(test_user=FIXTURE_TESTS)
    result = project.runpytest("test_user.py", "--compliance-coverage")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E*AssertionError: AC-D5 did not fire",
            "E*rationale:",
            "E*TXN-TEST: CLEAR as of 2025-12-15",
            "mini * 5 * 3 *  60.0%",
        ]
    )


ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_example_passes(pytester: pytest.Pytester) -> None:
    """docs/policy-authoring.md shows docs/examples/draft.cases.yaml passing against the shipped us-ear."""
    result = pytester.runpytest(str(ROOT / "docs" / "examples"), "--compliance-coverage")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["draft-my-th *docs/examples/draft-overlay.yaml * 1 * 1 * 100.0%"])


def test_fail_under_fails_when_no_ruleset_loads(project: pytest.Pytester) -> None:
    write_cases(
        project,
        "unloadable",
        "ruleset: ../mini/ruleset.yaml\noverlays: [../mini/missing-overlay.yaml]\ncases:\n"
        "  - {name: a, transaction: ../corpus/cn-h100.json, expect: {outcome: clear}}\n",
    )
    result = project.runpytest("cases/unloadable.cases.yaml", "--compliance-coverage-fail-under", "100")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["FAIL Required compliance rule coverage of 100% cannot be measured: no ruleset was loaded"]
    )
