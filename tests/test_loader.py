"""The ruleset loader is strict and every rejection says `file:line: message`."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from compliance import RulesetError, load_ruleset
from compliance.rulesets.yaml_source import load_yaml_text

BASE = """\
id: tiny
version: 1.0.0
title: Tiny
status: draft
sources: [{id: ear, title: EAR}]
max_list_age_days: 30
screening: {match_threshold: 0.9, review_threshold: 0.8, source: test}
groups:
  "D:5":
    title: D:5
    members:
      - {country: CN, source: s}
      - {country: NI, from: 2024-03-15, source: s}
parameters:
  cap: {value: 21000, source: "91 FR 1684"}
rules:
  - id: AC-D5
    title: Advanced item to D:5
    citations: ["15 CFR 742.6"]
    effective: {from: 2023-11-17}
    outcome: license_required
    review_policy: presumption_of_denial
    when:
      transaction: {destination_groups: {any: ["D:5"]}}
      item: {advanced: true, tpp: {lt: {param: cap}}}
    because: "{item.model} to {transaction.destination}"
"""


def write(tmp_path: Path, text: str, name: str = "ruleset.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> RulesetError:
    path = write(tmp_path, text)
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    return info.value


def test_valid_ruleset_loads_with_hash(tmp_path: Path) -> None:
    rs = load_ruleset(write(tmp_path, BASE))
    assert [r.id for r in rs.rules] == ["AC-D5"]
    assert len(rs.sha256) == 64
    assert rs.rule("AC-D5").parameters_used == ("cap",)
    assert rs.rule("AC-D5").in_force(dt.date(2023, 11, 17))
    assert not rs.rule("AC-D5").in_force(dt.date(2023, 11, 16))


def test_hash_changes_with_content_not_with_formatting(tmp_path: Path) -> None:
    a = load_ruleset(write(tmp_path, BASE, "a.yaml")).sha256
    b = load_ruleset(write(tmp_path, BASE.replace("title: Tiny", "title:   Tiny  # comment"), "b.yaml")).sha256
    c = load_ruleset(write(tmp_path, BASE.replace("value: 21000", "value: 21001"), "c.yaml")).sha256
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    ("change", "message", "line"),
    [
        (("title: Tiny", "title: Tiny\nbogus: 1"), "bogus: Extra inputs are not permitted", 4),
        (("title: Tiny", "title: Tiny\ntitle: Again"), "duplicate key 'title' (first at line 3)", 4),
        (('any: ["D:5"]', 'any: ["D:9"]'), "unknown country group 'D:9'", None),
        (("tpp: {lt:", "teraflops: {lt:"), "fact type 'item' has no field 'teraflops'", None),
        (("from: 2023-11-17", "from: 2023-02-30"), "invalid date '2023-02-30'", 20),
        (("param: cap", "param: nope"), "unknown parameter 'nope'", None),
        (("{item.model}", "{item.colour}"), "because: item has no field 'colour'", None),
        (("outcome: license_required", "outcome: forbidden"), "outcome", 21),
        (("country: NI, from", "country: XX, from"), "not an ISO 3166-1 alpha-2 country code", 13),
    ],
)
def test_rejections_name_file_and_line(tmp_path: Path, change: tuple[str, str], message: str, line: int | None) -> None:
    err = error_for(tmp_path, BASE.replace(*change, 1))
    assert message in str(err)
    assert err.file is not None and err.file.endswith("ruleset.yaml")
    assert err.line is not None
    if line is not None:
        assert err.line == line, str(err)


def test_anchors_and_aliases_are_refused(tmp_path: Path) -> None:
    text = BASE.replace("sources: [{id: ear, title: EAR}]", "sources: &s [{id: ear, title: EAR}]\nx: *s")
    err = error_for(tmp_path, text)
    assert "anchors and aliases are not allowed" in str(err)
    assert err.line == 5


def test_billion_laughs_is_refused_before_expansion() -> None:
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 10):
        laughs += f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)},*{chr(96 + i)}]\n"
    with pytest.raises(RulesetError, match="anchors and aliases"):
        load_yaml_text(laughs, "laughs.yaml")


def test_norway_is_not_false() -> None:
    assert load_yaml_text("countries: [NO, no, ON, yes, true]", "x.yaml") == {
        "countries": ["NO", "no", "ON", "yes", True]
    }


def test_override_of_unknown_rule_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("    because:", "    overrides: [NOPE]\n    because:")
    assert "overrides unknown rule 'NOPE'" in str(error_for(tmp_path, text))


def test_non_equality_reference_is_refused(tmp_path: Path) -> None:
    text = BASE.replace(
        "item: {advanced: true, tpp: {lt: {param: cap}}}",
        "item: {advanced: true, tpp: {lt: {ref: transaction.value_usd}}}",
    )
    assert "only equality may reference another fact" in str(error_for(tmp_path, text))


OVERLAY_HEADER = """\
id: draft
version: 0.1.0
title: Draft
status: draft
extends: tiny
sources: [{id: bill, title: A bill}]
"""


def write_overlay(tmp_path: Path, body: str) -> Path:
    """An overlay on the tiny ruleset: the common header plus ``body``."""
    return write(tmp_path, OVERLAY_HEADER + textwrap.dedent(body), "overlay.yaml")


def test_overlay_adds_replaces_removes_and_patches(tmp_path: Path) -> None:
    base = write(tmp_path, BASE)
    overlay = write_overlay(
        tmp_path,
        """\
        patch_groups:
          "D:5": {add: [{country: KH, source: draft}], remove: [NI]}
        replace_parameters:
          cap: {value: 30000, source: draft}
        rules:
          - id: NEW
            title: New rule
            citations: [draft]
            effective: {}
            outcome: review
            when: {item: {advanced: true}}
            because: "{item.model}"
        """,
    )
    rs = load_ruleset(base, [overlay])
    assert [r.id for r in rs.rules] == ["AC-D5", "NEW"]
    assert rs.parameters["cap"].value == 30000
    assert {m.country for m in rs.groups["D:5"].members} == {"CN", "KH"}
    assert rs.rule("NEW").defined_in == "draft"
    assert rs.sha256 != load_ruleset(base).sha256
    assert [o.id for o in rs.overlays] == ["draft"]


def test_overlay_must_name_existing_targets(tmp_path: Path) -> None:
    base = write(tmp_path, BASE)
    overlay = write_overlay(tmp_path, "remove_rules: [GONE]\n")
    with pytest.raises(RulesetError, match="no rule 'GONE' to remove") as info:
        load_ruleset(base, [overlay])
    assert info.value.file is not None and info.value.file.endswith("overlay.yaml")


def test_shipped_rulesets_load() -> None:
    rs = load_ruleset("us-ear")
    assert rs.id == "us-ear"
    assert len(rs.rules) >= 25
    for overlay in ("ai-diffusion-2025", "remote-access-security-act", "iaas-kyc-2024", "chip-security-act"):
        assert load_ruleset("us-ear", [overlay]).overlays[0].id == overlay
