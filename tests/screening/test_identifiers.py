"""Identifier screening: a party that gives an identifier a list publishes for an entry is that entry's hit.

Names vary; a Unified Social Credit Code, an LEI or a tax number does not. The CSL's ``ids`` column and OFAC's
remarks carry them; a party's ``identifiers`` are compared after normalisation, with the issuing country
checked for national schemes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle

import pytest
from screening_helpers import AS_OF, example_listing, l40s_sale, party, shared

from compliance import Engine
from compliance.evidence import ListIdentifier
from compliance.screening import Screener, dump_yaml_list, import_csl, parse_yaml_list
from compliance.screening.accepted import create_decision, party_screened_sha256
from compliance.screening.delta import diff_snapshots, rescreen
from compliance.screening.identifiers import comparable, normalize_value, parse_csl_ids, parse_ofac_remarks
from compliance.screening.importers import country_code, import_ofac
from compliance.screening.lists import ListFormatError, ListSnapshot, canonical_json

AECC_USCC = "91110000MA005UCQ5P"
"""AERO ENGINE CORPORATION OF CHINA's USCC in the 2022 CSL (Non-SDN Chinese Military-Industrial Complex list)."""
BELVEB_LEI = "25340038P8SYW80B9W34"
"""BANK BELVEB OJSC's Legal Entity Number in the 2022 CSL (SDN, SSI and CAPTA rows)."""

IDENTIFIERS = """  identifiers:
  - {scheme: lei, value: 9845001B2AD43E6A5D21, label: Legal Entity Number}
  - {scheme: tax_id, value: 91440300MA5G, country: CN, label: Tax ID No.}
"""
LISTED = example_listing("An entry that publishes an identifier", "el-test-lei", IDENTIFIERS)
BARE = example_listing("An entry that publishes an identifier", "el-test-lei")


@pytest.fixture(scope="module")
def csl_snapshot() -> ListSnapshot:
    return import_csl(shared("csl/consolidated.csv.gz"), lists=None)


@pytest.fixture(scope="module")
def csl(csl_snapshot: ListSnapshot) -> Screener:
    return Screener([csl_snapshot])


# -- reading identifiers ------------------------------------------------------------------------------


def test_csl_ids_cells_are_read_as_typed_identifiers_and_the_rest_is_skipped() -> None:
    cell = (
        "RU, 7736640919, Tax ID No.; Ukraine-/Russia-Related Sanctions Regulations, 31 CFR 589.201 and/or "
        "589.209, Secondary sanctions risk:; MM, 2017-01-16, 110364903, Registration Number; Male; "
        "CN, 91110000MA005UCQ5P, Unified Social Credit Code (USCC); RU, 7736640919, Tax ID No."
    )
    assert parse_csl_ids(cell) == [
        ListIdentifier(scheme="tax_id", value="7736640919", country="RU", label="Tax ID No."),
        ListIdentifier(scheme="registration", value="110364903", country="MM", label="Registration Number"),
        ListIdentifier(scheme="uscc", value=AECC_USCC, country="CN", label="Unified Social Credit Code (USCC)"),
    ]
    assert parse_csl_ids("") == parse_csl_ids(None) == parse_csl_ids("Male; Subject to Secondary Sanctions") == []


def test_ofac_remarks_are_read_with_the_issuing_country_from_its_name() -> None:
    remarks = (
        "SWIFT/BIC VTBRRUMM; Website www.vtb.com; BIK (RU) 044030707; Registration ID 1027739609391 (Russia); "
        "alt. Tax ID No. 7702070139 (Russia); Legal Entity Number 253400V1H6ART1UQ0N98; a.k.a. 'VTB'."
    )
    assert [(i.scheme, i.value, i.country) for i in parse_ofac_remarks(remarks, country_code)] == [
        ("swift_bic", "VTBRRUMM", None),
        ("registration", "1027739609391", "RU"),
        ("tax_id", "7702070139", "RU"),
        ("lei", "253400V1H6ART1UQ0N98", None),
    ]


def test_the_real_lists_carry_identifiers(csl_snapshot: ListSnapshot) -> None:
    snap = csl_snapshot
    aecc = next(e for e in snap.entries if e.name == "AERO ENGINE CORPORATION OF CHINA")
    assert (aecc.list_id, [(i.scheme, i.value, i.country) for i in aecc.identifiers]) == (
        "cmic",
        [("uscc", AECC_USCC, "CN")],
    )
    assert sum(bool(e.identifiers) for e in snap.entries) > 3000
    ofac = import_ofac(shared("ofac/sdn.csv"))
    raybeam = next(e for e in ofac.entries if e.name == "RAYBEAM OPTRONICS CO. LTD.")
    assert ("uscc", "9113100033607322XK", "CN") in [(i.scheme, i.value, i.country) for i in raybeam.identifiers]


def test_values_compare_without_case_spaces_or_punctuation() -> None:
    assert normalize_value(" 9111 0000-ma00.5ucq 5p ") == AECC_USCC


# -- screening --------------------------------------------------------------------------------------


def test_a_party_giving_a_listed_uscc_is_a_hit_whatever_its_name(csl: Screener) -> None:
    probe = party("Beijing Blue Sky Trading Co., Ltd.", country="CN", identifiers={"uscc": "9111 0000 ma00 5ucq 5p"})
    (hit,) = csl.screen(probe, as_of=AS_OF)
    assert (hit.entry.list_id, hit.entry.name, hit.score, hit.basis) == (
        "cmic",
        "AERO ENGINE CORPORATION OF CHINA",
        1.0,
        "identifier",
    )
    assert hit.qualifiers["identifier"] == f"uscc {AECC_USCC} (Unified Social Credit Code (USCC), CN)"
    assert hit.qualifiers["name_score"] == "below the review threshold"
    assert csl.screen(party("Beijing Blue Sky Trading Co., Ltd.", country="CN"), as_of=AS_OF) == []
    other = party("Beijing Blue Sky Trading Co., Ltd.", country="CN", identifiers={"uscc": "91110000MA005UCQ5Q"})
    assert csl.screen(other, as_of=AS_OF) == []


def test_an_identifier_turns_a_name_in_the_review_band_into_a_full_hit_and_keeps_the_name_evidence(
    csl: Screener,
) -> None:
    by_name = {h.entry.list_id: h for h in csl.screen(party("Belveb Bank", country="BY"), as_of=AS_OF)}
    with_lei = {
        h.entry.list_id: h
        for h in csl.screen(party("Belveb Bank", country="BY", identifiers={"LEI": BELVEB_LEI}), as_of=AS_OF)
    }
    assert set(with_lei) >= {"sdn", "ssi", "cap"}
    for list_id in ("sdn", "ssi", "cap"):
        hit = with_lei[list_id]
        assert (hit.entry.name, hit.score, hit.basis) == ("BANK BELVEB OJSC", 1.0, "identifier")
        assert hit.qualifiers["name_score"] == f"{by_name[list_id].score:.4f}"
        assert hit.alignment == by_name[list_id].alignment  # the name's own evidence stays


def test_a_national_number_matches_only_for_a_party_of_the_issuing_country(csl: Screener) -> None:
    tax = {"tax_id": "7736640919"}  # a Russian Tax ID No. in the CSL
    assert csl.screen(party("Rheinauen Logistik GmbH", country="DE", identifiers=tax), as_of=AS_OF) == []
    hits = csl.screen(party("Rheinauen Logistik GmbH", country="RU", identifiers=tax), as_of=AS_OF)
    assert [(h.entry.name, h.basis) for h in hits] == [("'WOLF' HOLDING OF SECURITY STRUCTURES", "identifier")]


def test_a_vat_number_matches_with_or_without_its_country_prefix(csl: Screener) -> None:
    """The CSL writes Bulgarian VAT numbers as ``BG 201673717`` and Dutch ones as ``NL852496527B01`` with no
    issuing country; a party may give either form. The prefix is the issuing country's own or is not dropped."""
    names = set()
    for given in ("201673717", "BG201673717", "bg 201 673 717"):
        hits = csl.screen(party("Sofia Render Services OOD", country="BG", identifiers={"vat": given}), as_of=AS_OF)
        assert [h.basis for h in hits] == ["identifier"], given
        assert hits[0].qualifiers["identifier"].startswith("vat BG 201673717 (V.A.T. Number, BG)")
        names.add(hits[0].entry.name)
    assert len(names) == 1
    # another country's party: a national number, so no hit (with or without the prefix)
    for given in ("201673717", "BG201673717"):
        probe = party("Sofia Render Services OOD", country="RO", identifiers={"vat": given})
        assert csl.screen(probe, as_of=AS_OF) == []
    # no issuing country in the list: the prefix gives it
    dutch = csl.screen(party("Delft Compute BV", country="NL", identifiers={"vat": "852496527B01"}), as_of=AS_OF)
    assert [h.basis for h in dutch] == ["identifier"]
    assert csl.screen(party("Delft Compute BV", country="DE", identifiers={"vat": "852496527B01"}), as_of=AS_OF) == []


def test_a_vat_prefix_is_dropped_only_when_it_is_the_issuing_countrys() -> None:
    assert comparable("vat", "BG 201673717", None) == ("201673717", "BG")
    assert comparable("vat", "EL 094014201", "GR") == ("094014201", "GR")  # Greece's prefix is EL
    assert comparable("vat", "AB123456789", "FR") == ("AB123456789", "FR")  # a French key, not a prefix
    assert comparable("vat", "EE123456789", "FR") == ("EE123456789", "FR")
    assert comparable("registration", "BG 201673717", None) == ("BG201673717", None)


def test_an_identifier_hit_honours_the_entrys_dates_and_accepted_matches() -> None:
    screener = Screener([parse_yaml_list(LISTED, "listed.yaml")])
    probe = party("Harbour Lights Computing", country="SG", identifiers={"lei": "9845001b2ad43e6a5d21"})
    assert screener.screen(probe, as_of=dt.date(2024, 12, 31)) == []
    (hit,) = screener.screen(probe, as_of=AS_OF)
    assert (hit.basis, hit.suppressed_by) == ("identifier", None)
    decision = create_decision(
        probe, hit.entry, decision_id="GG-LEI-1", reason="LEI reused in error", reviewer="t", date=AS_OF, expiry=AS_OF
    )
    (suppressed,) = screener.with_decisions([decision]).screen(probe, as_of=AS_OF)
    assert suppressed.suppressed_by == "GG-LEI-1"
    changed = party("Harbour Lights Computing", country="SG", identifiers={"lei": "9845001B2AD43E6A5D21", "vat": "1"})
    assert screener.with_decisions([decision]).screen(changed, as_of=AS_OF)[0].suppressed_by is None


def test_a_pickled_screener_keeps_its_identifiers() -> None:
    screener = Screener([parse_yaml_list(LISTED, "listed.yaml")])
    probe = party("Harbour Lights Computing", country="SG", identifiers={"lei": "9845001b2ad43e6a5d21"})
    clone = pickle.loads(pickle.dumps(screener))
    assert [h.basis for h in clone.screen(probe, as_of=AS_OF)] == ["identifier"]
    assert clone.screen(probe, as_of=AS_OF) == screener.screen(probe, as_of=AS_OF)


def test_identifiers_join_the_hashes_only_when_given() -> None:
    plain = party("Harbour Lights Computing", country="SG")
    before = canonical_json({"name": plain.name, "aliases": [], "country": "SG", "address": None})
    assert party_screened_sha256(plain) == hashlib.sha256(before.encode()).hexdigest()
    assert party_screened_sha256(party("Harbour Lights Computing", country="SG", identifiers={"lei": "X1"})) != (
        party_screened_sha256(plain)
    )
    snap = parse_yaml_list(LISTED, "listed.yaml")
    (entry,) = snap.entries
    bare = parse_yaml_list(BARE, "bare.yaml").entries[0]
    assert entry.content_sha256 != bare.content_sha256
    again = parse_yaml_list(dump_yaml_list(snap), "again.yaml").entries[0]
    assert (again.identifiers, again.content_sha256) == (entry.identifiers, entry.content_sha256)


def test_the_engine_decides_an_identifier_hit_and_says_what_it_rests_on() -> None:
    engine = Engine.load("us-ear", screener=Screener([parse_yaml_list(LISTED, "listed.yaml")]))
    buyer = party("Harbour Lights Computing Pte Ltd", country="SG", identifiers={"lei": "9845001B2AD43E6A5D21"})
    txn = l40s_sale(buyer, txn_id="T-LEI")
    det = engine.evaluate(txn)
    el = [f for f in det.findings if f.rule_id == "EL-PARTY"]
    assert len(el) == 1, [f.rule_id for f in det.findings]
    assert det.outcome.value == "license_required"
    assert "15 CFR 744.11" in " ".join(el[0].citations)
    hit = next(b for b in el[0].facts if b.type == "hit")
    details = " ".join(p.detail for p in hit.provenance)
    assert "gives identifier lei 9845001B2AD43E6A5D21 (Legal Entity Number)" in details
    assert "el-test-lei" in details
    # the reason says what the hit rests on: an identifier, not a name that scored 1
    assert "it gives identifier lei 9845001B2AD43E6A5D21 (Legal Entity Number), which the entry lists" in el[0].because
    assert "name score below the review threshold" in el[0].because
    assert hit.fields["evidence"].startswith("it gives identifier lei")
    without = engine.evaluate(
        txn.model_copy(update={"parties": [txn.parties[0].model_copy(update={"identifiers": {}})]})
    )
    assert [f.rule_id for f in without.findings if f.rule_id.startswith("EL-")] == []


def test_delta_rescreening_finds_the_party_whose_identifier_an_entry_gains() -> None:
    """An entry that gains an identifier has changed (its content hash covers identifiers): re-screening the delta
    reports the stored party that gives it, though its name resembles the entry's in nothing."""
    new = parse_yaml_list(LISTED, "new.yaml")
    old = parse_yaml_list(BARE, "old.yaml")
    diff = diff_snapshots(old, new)
    assert [(o.entry_id, n.entry_id) for o, n in diff.changed] == [("el-test-lei", "el-test-lei")]
    stored = party("Harbour Lights Computing", pid="p9", country="SG", identifiers={"lei": "9845001B2AD43E6A5D21"})
    other = party("Harbour Lights Computing", pid="p8", country="SG")
    (result,) = rescreen([("T-1", stored), ("T-2", other)], diff, as_of=AS_OF)
    assert (result.party_id, result.transaction_id) == ("p9", "T-1")
    assert [(c.entry, c.before, c.after, c.band_after) for c in result.changes] == [
        ("entity_list/el-test-lei", None, 1.0, "match")
    ]


def test_the_whole_csl_with_its_identifiers_round_trips_through_the_yaml_format(csl_snapshot: ListSnapshot) -> None:
    """The audit store keeps list snapshots as YAML and refuses one whose hash does not survive the trip. (The
    Treasury lists besides the SDN, which hold every kind of identifier the CSL gives; the whole file takes half
    a minute of YAML.)"""
    snap = csl_snapshot.filter(["cmic", "ssi", "cap", "ns_mbs", "fse"])
    again = parse_yaml_list(dump_yaml_list(snap), "again.yaml")
    assert again.sha256 == snap.sha256
    assert sum(len(e.identifiers) for e in again.entries) == sum(len(e.identifiers) for e in snap.entries) > 500
    assert {i.scheme for e in again.entries for i in e.identifiers} >= {"lei", "uscc", "swift_bic", "tax_id"}


def test_a_malformed_identifier_in_a_yaml_list_names_its_entry_and_line() -> None:
    bad = LISTED.replace("label: Legal Entity Number}", "label: Legal Entity Number, issuer: GLEIF}")
    with pytest.raises(ListFormatError, match=r"bad.yaml:7: entry 'el-test-lei': identifiers\.0\.issuer"):
        parse_yaml_list(bad, "bad.yaml")


def test_a_name_hit_says_its_score_and_the_name_form_that_scored() -> None:
    """The reason of a name hit gives the name score, and the listed name form that scored when it is not the
    entry's name as written (here the name without its parenthesised short form)."""
    txn = l40s_sale(party("Example Compute Leasing Co., Ltd.", country="CN"), txn_id="T-NAME")
    reasons = {}
    for name in ("Example Compute Leasing Co., Ltd.", "Example Compute Leasing Co., Ltd. (ECL)"):
        listing = BARE.replace("Example Compute Leasing Co., Ltd.", name)
        engine = Engine.load("us-ear", screener=Screener([parse_yaml_list(listing, "listed.yaml")]))
        (el,) = [f for f in engine.evaluate(txn).findings if f.rule_id == "EL-PARTY"]
        reasons[name] = el.because
    assert "(name score 1.000; listed 2025-01-01 by 90 FR 1)" in reasons["Example Compute Leasing Co., Ltd."]
    with_short = reasons["Example Compute Leasing Co., Ltd. (ECL)"]
    assert '(name score 1.000 against "Example Compute Leasing Co., Ltd"; listed' in with_short
    assert "identifier" not in with_short
