"""Importers: quirks on small inline samples, then the real shared files (skipped when absent)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest
from screening_helpers import shared

from compliance.model import ReviewPolicy
from compliance.screening import (
    ListFormatError,
    csl_list_id,
    dump_yaml_list,
    import_csl,
    import_ofac,
    import_restricted_parties_json,
    load_list,
    parse_review_policy,
    parse_yaml_list,
    summarize,
)
from compliance.screening.lists import split_aliases, split_federal_register

HEADER_29 = (
    "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,"
    "standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage,gross_registered_tonnage,"
    "vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships,dates_of_birth,nationalities,"
    "places_of_birth,source_information_url,ids"
)
EL = "Entity List (EL) - Bureau of Industry and Security"
ROW_EL = (
    f'abc123,{EL},,,,140 Repair Plant JSC,,"19 Luysi Chalovskoy St., Borisov, 222512, BY; Minsk Rd 1, Minsk, BY",'
    '"87 FR 20299, 88 FR 1234",2022-04-07,,,"For all items subject to the EAR. (See §§734.9(g),3 746.8(a)(3), and '
    '744.21(b) of the EAR.)",Policy of denial. ,,,,,,,,http://bit.ly/1L47xrV,'
    '"Open Joint Stock Company 140 Repair Plant; and JSC 140 Repair Plant",,,,,,'
)
ROW_BAD_DATE = (
    f'def456,{EL},,,,Oriental Engineers,,"Lahore, PK",62 FR 35334,0017-05-26,,,For all items subject to the EAR,'
    "Presumption of denial,,,,,,,,http://bit.ly/1L47xrV,,,,,,,"
)
ROW_SDN = (
    "ghi789,Specially Designated Nationals (SDN) - Treasury Department,306,Entity,CUBA,BANCO NACIONAL DE CUBA,,"
    '"Havana, CU",,,,,,,,,,,,,,,NATIONAL BANK OF CUBA,,,,,,'
)


def _write(tmp_path: Path, text: str, name: str = "csl.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csl_29_columns_entity_list_only_by_default(tmp_path: Path) -> None:
    p = _write(tmp_path, "\n".join([HEADER_29, ROW_EL, ROW_BAD_DATE, ROW_SDN]) + "\n")
    snap = import_csl(p)
    assert [e.name for e in snap.entries] == ["140 Repair Plant JSC", "Oriental Engineers"]
    e = snap.entries[0]
    assert e.list_id == "entity_list" and e.entry_id == "abc123"
    assert e.aliases == ["Open Joint Stock Company 140 Repair Plant", "JSC 140 Repair Plant"]
    assert e.federal_register == ["87 FR 20299", "88 FR 1234"]
    assert e.countries == ["BY"] and e.country == "BY"
    assert len(e.addresses) == 2
    assert e.review_policy is ReviewPolicy.policy_of_denial
    assert e.review_policy_text == "Policy of denial."
    assert e.start_date == dt.date(2022, 4, 7)
    bad = snap.entries[1]
    assert bad.start_date is None
    assert bad.notes is not None and "0017-05-26" in bad.notes
    assert snap.snapshot_date == dt.date(2022, 4, 7)


def test_csl_all_sources_and_gzip(tmp_path: Path) -> None:
    p = tmp_path / "c.csv.gz"
    p.write_bytes(gzip.compress(("\n".join([HEADER_29, ROW_EL, ROW_SDN]) + "\n").encode()))
    snap = import_csl(p, lists=None)
    assert sorted(snap.list_ids()) == ["entity_list", "sdn"]
    sdn = next(e for e in snap.entries if e.list_id == "sdn")
    assert sdn.aliases == ["NATIONAL BANK OF CUBA"]


def test_csl_28_columns(tmp_path: Path) -> None:
    header28 = HEADER_29.split(",", 1)[1]
    row28 = ROW_EL.split(",", 1)[1]
    snap = import_csl(_write(tmp_path, header28 + "\n" + row28 + "\n"))
    assert len(snap.entries) == 1
    assert snap.entries[0].entry_id.startswith("entity_list-")


def test_csl_bad_row_names_file_and_line(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER_29 + "\n" + ROW_EL + "\n" + f"x,{EL},too,few\n")
    with pytest.raises(ListFormatError) as err:
        import_csl(p)
    assert str(err.value) == f"{p}:3: expected 29 columns, found 4"


def test_csl_not_a_csl(tmp_path: Path) -> None:
    with pytest.raises(ListFormatError, match=r":1: not a CSL header"):
        import_csl(_write(tmp_path, "a,b,c\n1,2,3\n"))


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("Presumption of denial.", ReviewPolicy.presumption_of_denial),
        ("Presumption of Denial", ReviewPolicy.presumption_of_denial),
        ("Policy of denial. See §§ 746.8(b) and 744.21(e).", ReviewPolicy.policy_of_denial),
        ("Case-by-case basis.", ReviewPolicy.case_by_case),
        (
            "Case-by-case for all items listed on the CCL. Presumption of approval for EAR99 items",
            ReviewPolicy.case_by_case,
        ),
        ("Presumption of  approval for EAR99 items", ReviewPolicy.presumption_of_approval),
        (
            "Case-by-case review for ECCNs 1A004.c; presumption of denial for all other items subject to the EAR.",
            ReviewPolicy.presumption_of_denial,
        ),
        ("See §746.5(b) of the EAR.", None),
        ("", None),
    ],
)
def test_policy_wording_variants(text: str, policy: ReviewPolicy | None) -> None:
    assert parse_review_policy(text) is policy


def test_split_helpers() -> None:
    assert split_aliases("A; B; and C;") == ["A", "B", "C"]
    assert split_federal_register("84 FR 22961, 85 FR 29852;  86 F.R. 12529") == [
        "84 FR 22961",
        "85 FR 29852",
        "86 FR 12529",
    ]
    assert csl_list_id("Military End User (MEU) List - Bureau of Industry and Security") == "meu"
    assert csl_list_id("Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department") == "ns_mbs"


def test_ofac_inline(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_bytes(
        b'306,"BANCO NACIONAL DE CUBA",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"a.k.a. \'BNC\'."\r\n'
        b'36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a'
    )
    (tmp_path / "alt.csv").write_bytes(
        b'306,220,"aka","NATIONAL BANK OF CUBA",-0- \r\n99999,1,"aka","ORPHAN",-0- \r\n\x1a'
    )
    (tmp_path / "add.csv").write_bytes(b'306,199,"Zweierstrasse 35","Zurich CH-8022","Switzerland",-0- \r\n\x1a')
    snap = import_ofac(tmp_path / "sdn.csv")
    assert [e.entry_id for e in snap.entries] == ["sdn-306", "sdn-36"]
    bnc = snap.entries[0]
    assert bnc.aliases == ["NATIONAL BANK OF CUBA"]
    assert bnc.countries == ["CH"]
    assert bnc.notes is not None and "programs: CUBA" in bnc.notes
    assert snap.entries[1].notes == "programs: CUBA"  # -0- is null


def test_ofac_bad_row(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_text('abc,"X",-0- \n')
    with pytest.raises(ListFormatError, match=r"sdn.csv:1: expected 12 columns"):
        import_ofac(tmp_path / "sdn.csv")


YAML_OK = """\
id: test_list
snapshot_date: 2026-01-01
sources: [hand typed]
entries:
  - id: e1
    name: Example Co., Ltd.
    aliases: [Example]
    country: CN
    start_date: 2025-01-16
    review_policy: presumption_of_denial
"""


def test_yaml_round_trip() -> None:
    snap = parse_yaml_list(YAML_OK, "t.yaml")
    assert snap.entries[0].list_id == "test_list"
    again = parse_yaml_list(dump_yaml_list(snap), "t2.yaml")
    assert again.sha256 == snap.sha256
    assert again.entries[0].content_sha256 == snap.entries[0].content_sha256


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (YAML_OK + "    colour: red\n", "t.yaml:5: unknown entry key(s): colour"),
        (YAML_OK.replace("presumption_of_denial", "maybe"), "t.yaml:5: entry 'e1': review_policy"),
        (YAML_OK + "  - id: e1\n    name: Again\n", "t.yaml:11: duplicate entry id 'e1' (first at line 5)"),
        (YAML_OK.replace("id: test_list", "id: test_list\nid: again"), "t.yaml:2: duplicate key 'id'"),
        ("id: x\nentries:\n  - &a {id: e1, name: A}\n  - *a\n", "t.yaml:3: YAML anchors and aliases are not allowed"),
        ("id: x\nextra: 1\nentries: []\n", "t.yaml:1: unknown top-level key(s): extra"),
    ],
)
def test_yaml_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ListFormatError) as err:
        parse_yaml_list(text, "t.yaml")
    assert str(err.value).startswith(message)


# ---------------------------------------------------------------------------------------------
# Real files


@pytest.mark.shared_data
def test_real_csl_2022() -> None:
    snap = import_csl(shared("csl/consolidated.csv.gz"))
    summary = summarize(snap)
    assert summary["entries"] == 2001
    assert summary["by_list"] == {"entity_list": 2001}
    assert list(summary["by_country"])[:2] == ["RU", "CN"]
    assert all(e.entry_id for e in snap.entries)
    bad = [e for e in snap.entries if e.notes and "implausible date" in e.notes]
    assert bad and all(e.start_date is None for e in bad)
    policies = {e.review_policy for e in snap.entries}
    assert ReviewPolicy.policy_of_denial in policies and ReviewPolicy.presumption_of_denial in policies
    multi = [e for e in snap.entries if len(e.federal_register) > 1]
    assert multi
    everything = import_csl(shared("csl/consolidated.csv.gz"), lists=None)
    assert len(everything.entries) == 14160
    assert {"sdn", "meu", "entity_list", "dpl"} <= set(everything.list_ids())


@pytest.mark.shared_data
def test_real_csl_2019_28_columns_and_2025_sample() -> None:
    old = import_csl(shared("csl_2019/csl.csv"), lists=None)
    assert len(old.entries) == 115
    assert sum(e.list_id == "entity_list" for e in old.entries) == 22
    sample = import_csl(shared("csl_sample_2025/consolidated.csv"))
    assert len(sample.entries) == 1
    assert sample.entries[0].name.startswith("China Electronics Technology Group Corporation")


@pytest.mark.shared_data
def test_real_ofac_2021_consistent_set() -> None:
    snap = import_ofac(shared("ofac_2021/sdn.csv"))
    assert len(snap.entries) == 8976
    assert sum(bool(e.aliases) for e in snap.entries) > 3000
    assert load_list(shared("ofac_2021/sdn.csv")).sha256 == snap.sha256


@pytest.mark.shared_data
def test_real_restricted_parties_json() -> None:
    snap = import_restricted_parties_json(shared("bis_entity_list/restricted_parties.json"))
    assert len(snap.entries) == 3420
    assert snap.list_id == "entity_list"
    countries = summarize(snap)["by_country"]
    assert countries["CN"] > 1000 and countries["RU"] > 1000
    both = import_restricted_parties_json(shared("bis_entity_list/restricted_parties.json"), lists=None)
    assert len(both.entries) == 4940


def test_truncated_gzip_is_a_list_format_error(tmp_path: Path) -> None:
    p = tmp_path / "c.csv.gz"
    p.write_bytes(gzip.compress((HEADER_29 + "\n" + ROW_EL + "\n").encode())[:40])
    with pytest.raises(ListFormatError, match=r"c.csv.gz:\?: corrupt or truncated gzip file"):
        import_csl(p)
