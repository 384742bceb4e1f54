"""The shipped regulatory content: every rule sourced and dated, doubts visible, overlays loadable, cases complete."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

import compliance
from compliance.engine import Engine
from compliance.model import Determination, Transaction
from compliance.rulesets.loader import Ruleset

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "rulesets"
FIXTURES = ROOT / "fixtures" / "transactions"
OVERLAYS = ["ai-diffusion-2025", "remote-access-security-act", "iaas-kyc-2024", "chip-security-act"]
OVERLAY_STATUS = {
    "ai-diffusion-2025": "rescinded",
    "remote-access-security-act": "pending-bill",
    "iaas-kyc-2024": "proposed",
    "chip-security-act": "pending-bill",
}
CATALOGUE_IDS = [
    "EL-PARTY",
    "EL-POSSIBLE",
    "EL-ROLE-OTHER",
    "EL-AFFILIATE",
    "EL-AFFILIATE-SUSPENDED",
    "EL-OWNER-UNKNOWN",
    "AC-2022-CN",
    "AC-D5",
    "AC-D5-H200",
    "AC-D1D4",
    "AC-HQ",
    "H20-INFORMED",
    "REMOTE-D5",
    "REMOTE-MIL",
    "ASCEND-GP10",
    "EMBARGO",
    "KYC-FLAGS",
    "LIST-STALE",
]


@pytest.fixture(scope="module")
def baseline() -> Ruleset:
    return compliance.load_ruleset("us-ear")


def _all_rulesets() -> list[Ruleset]:
    return [compliance.load_ruleset("us-ear")] + [compliance.load_ruleset("us-ear", [o]) for o in OVERLAYS]


def test_baseline_loads(baseline: Ruleset) -> None:
    assert baseline.id == "us-ear"
    assert baseline.version == "1.2.0"
    assert baseline.status == "in_force"
    assert baseline.max_list_age_days == 30
    assert baseline.parameters["max_list_age_days"].value == baseline.max_list_age_days
    assert baseline.sources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_loads_on_baseline(overlay: str) -> None:
    rs = compliance.load_ruleset("us-ear", [overlay])
    assert [o.id for o in rs.overlays] == [overlay]
    assert rs.overlays[0].status == OVERLAY_STATUS[overlay]
    assert rs.overlays[0].sources
    own = [r for r in rs.rules if r.defined_in == overlay]
    assert own, f"{overlay} adds or replaces no rule"


def test_every_catalogue_row_is_encoded(baseline: Ruleset) -> None:
    names = {r.id for r in baseline.rules} | {r.spec.family for r in baseline.rules if r.spec.family}
    missing = [cid for cid in CATALOGUE_IDS if cid not in names]
    assert not missing, f"catalogue rows without a rule: {missing}"


def test_kyc_flags_are_one_rule_per_flag(baseline: Ruleset) -> None:
    flags = {r.id for r in baseline.rules if r.spec.family == "KYC-FLAGS"}
    assert flags == {
        "KYC-NEW-PURCHASER",
        "KYC-FORWARDER-CONSIGNEE",
        "KYC-RESIDENTIAL",
        "KYC-NO-EUS",
        "KYC-CASH",
        "KYC-INTERMEDIARY",
        "KYC-DC-POWER",
    }


@pytest.mark.parametrize("rs", _all_rulesets(), ids=lambda r: r.label)
def test_every_rule_is_cited_dated_and_explained(rs: Ruleset) -> None:
    for rule in rs.rules:
        spec = rule.spec
        assert spec.citations and all(c.strip() for c in spec.citations), rule.id
        assert spec.periods(), rule.id
        assert "{" in spec.because and spec.because.strip().endswith("."), (
            f"{rule.id}: because must be a sentence naming facts"
        )
        if spec.confidence == "unconfirmed":
            assert spec.note, f"{rule.id} is unconfirmed without a note saying why"
        if spec.outcome.value == "license_required" and rs.overlays == ():
            assert spec.review_policy is not None or rule.id == "CSA-LOCATION", (
                f"{rule.id}: licence rule without policy"
            )


@pytest.mark.parametrize("rs", _all_rulesets(), ids=lambda r: r.label)
def test_every_parameter_and_membership_is_sourced(rs: Ruleset) -> None:
    for name, param in rs.parameters.items():
        assert param.source.strip(), name
        if param.confidence == "unconfirmed":
            assert param.note, f"parameter {name} is unconfirmed without a note"
    for gname, group in rs.groups.items():
        assert group.members, gname
        for m in group.members:
            assert m.source.strip(), f"{gname}/{m.country}"
            if m.confidence == "unconfirmed":
                assert m.note, f"{gname}/{m.country} is unconfirmed without a note"


def test_dated_memberships(baseline: Ruleset) -> None:
    from compliance.countries import CountryGroups

    groups = CountryGroups(baseline.groups)
    day = dt.date.fromisoformat
    assert "D:5" not in groups.groups_of("NI", day("2024-03-14"))
    assert "D:5" in groups.groups_of("NI", day("2024-03-15"))
    assert "D:5" in groups.groups_of("KH", day("2026-02-02"))
    assert "D:5" not in groups.groups_of("KH", day("2026-02-03"))
    assert "D:1" in groups.groups_of("KH", day("2026-02-03"))
    assert {"China", "D:5"} <= set(groups.groups_of("HK", day("2025-01-01")))
    assert groups.groups_of("SY", day("2025-06-01"))["D:5"].confidence == "unconfirmed"
    assert groups.groups_of("SY", day("2024-06-01"))["D:5"].confidence == "confirmed"
    for country in ("CY", "ET", "KG"):
        assert groups.groups_of(country, day("2025-06-01"))["D:5"].confidence == "unconfirmed"
    assert groups.groups_of("MO", day("2025-06-01"))["D:1"].confidence == "unconfirmed"
    assert groups.groups_of("MO", day("2025-06-01"))["Macau"].confidence == "confirmed"


def _evaluate(fixture: str, as_of: str, overlays: list[str] | None = None) -> Determination:
    txn = Transaction.model_validate(json.loads((FIXTURES / fixture).read_text(encoding="utf-8")))
    return Engine.load("us-ear", overlays or []).evaluate(txn, as_of=dt.date.fromisoformat(as_of))


@pytest.mark.parametrize(
    ("fixture", "as_of", "rule_id", "says"),
    [
        ("boundaries/h20-to-cn.json", "2025-04-09", "H20-INFORMED", "is-informed"),
        ("boundaries/affiliate-50pct.json", "2026-11-20", "EL-AFFILIATE", "return date"),
        ("boundaries/embargo-sy.json", "2025-06-01", "EMBARGO", "2025 sanctions relief"),
        ("boundaries/embargo-ir.json", "2025-06-01", "EMBARGO", "not verified"),
        ("boundaries/kyc-residential-8.json", "2025-12-01", "KYC-RESIDENTIAL", "kyc_commercial_quantity"),
    ],
)
def test_unconfirmed_sources_surface_in_findings(fixture: str, as_of: str, rule_id: str, says: str) -> None:
    det = _evaluate(fixture, as_of)
    found = [f for f in det.findings if f.rule_id == rule_id]
    assert found, f"{rule_id} did not fire: {[f.rule_id for f in det.findings]}"
    for f in found:
        assert f.confidence == "unconfirmed"
        assert any(says in n for n in f.notes), f.notes


def test_confirmed_membership_stays_confirmed() -> None:
    det = _evaluate("boundaries/h100-to-ni.json", "2024-03-15")
    ac = [f for f in det.findings if f.rule_id == "AC-D5"]
    assert ac and all(f.confidence == "confirmed" for f in ac)
    table = [p for f in ac for b in f.facts for p in b.provenance if p.source == "table"]
    assert any("NI is in D:5 from 2024-03-15" in p.detail for p in table)


def test_every_rule_has_a_firing_and_a_near_miss_case() -> None:
    """Each rule of the baseline and the overlays fires in some case and is asserted absent in another."""
    fired: dict[str, set[str]] = {}
    absent: dict[str, set[str]] = {}
    for path in RULESETS.rglob("*.cases.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        key = ",".join(doc.get("overlays") or []) or "us-ear"
        for case in doc["cases"]:
            expect = case.get("expect") or {}
            for rid in list(expect.get("findings") or []) + list(expect.get("suppressed") or []):
                fired.setdefault(rid, set()).add(key)
            for rid in expect.get("absent") or []:
                absent.setdefault(rid, set()).add(key)
    problems = []
    for rs in _all_rulesets():
        scope = rs.overlays[0].id if rs.overlays else "us-ear"
        own = [r for r in rs.rules if (r.defined_in == scope)]
        for rule in own:
            if scope not in fired.get(rule.id, set()):
                problems.append(f"{scope}: no case fires {rule.id}")
            if scope not in absent.get(rule.id, set()):
                problems.append(f"{scope}: no near-miss case for {rule.id}")
    assert not problems, "\n".join(problems)


def test_every_fixture_has_a_case() -> None:
    used: set[Path] = set()
    for path in RULESETS.rglob("*.cases.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            if isinstance(case.get("transaction"), str):
                used.add((path.parent / case["transaction"]).resolve())
    fixtures = {p.resolve() for p in FIXTURES.rglob("*.json")}
    assert fixtures - used == set(), sorted(str(p) for p in fixtures - used)


def test_fixtures_validate() -> None:
    paths = sorted(FIXTURES.rglob("*.json"))
    assert len([p for p in paths if p.parent.name == "news"]) >= 4
    assert len([p for p in paths if p.parent.name == "boundaries"]) >= 25
    for path in paths:
        Transaction.model_validate(json.loads(path.read_text(encoding="utf-8")))
