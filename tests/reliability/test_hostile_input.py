"""Hostile and malformed input: every reader either yields a located error or a valid value, never a crash.

Property tests (hypothesis) drive the transaction parser, the strict YAML loader, the CSL importer and the
CSV reader with arbitrary bytes and structures; the named cases below pin the classic attacks. The limits
they enforce are listed in docs/reliability.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import reliability_support as rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.errors import InputError, RulesetError
from compliance.model import MAX_NAME_LENGTH, MAX_PARTIES, Outcome, Transaction
from compliance.records import MAX_JSON_DEPTH, MAX_RECORD_BYTES, record_from_line, validate_transaction
from compliance.rulesets.yaml_source import MAX_FILE_BYTES, load_yaml_file, load_yaml_text
from compliance.screening.importers import import_csl
from compliance.screening.lists import ListFormatError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=40,
)

# Keys a transaction has, so generated objects get past "unknown field" and reach deeper validators.
TXN_KEYS = ["id", "date", "kind", "export_from", "destination", "parties", "items", "remote_access", "value"]
near_transactions = st.fixed_dictionaries({}, optional={k: json_values for k in TXN_KEYS})


# -- the transaction parser -----------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400).map(lambda b: b.replace(b"\n", b" ")))
def test_any_bytes_become_one_located_record(line: bytes) -> None:
    record = record_from_line(line, "fuzz.jsonl", 7)
    assert (record.transaction is None) != (record.error is None)
    if record.error is not None:
        assert isinstance(record.error, InputError)
        assert str(record.error).startswith("fuzz.jsonl:7")


def test_a_truncated_jsonl_line_is_reported_at_its_own_line() -> None:
    record = record_from_line(b'{"id": "T1", \n', "in.jsonl", 7)
    assert str(record.error).startswith("in.jsonl:7:")


@FUZZ
@given(st.one_of(json_values, near_transactions))
def test_any_json_value_validates_or_names_its_error(value: Any) -> None:
    try:
        txn = validate_transaction(value, "fuzz.json", 1)
    except InputError as exc:
        assert "fuzz.json:1" in str(exc)
    else:
        assert isinstance(txn, Transaction)


@FUZZ
@given(near_transactions)
def test_the_engine_never_raises_and_invalid_input_is_an_error(value: dict[str, Any]) -> None:
    det = ENGINE.evaluate(value)
    try:
        Transaction.model_validate(value)
    except ValueError:
        assert det.outcome is Outcome.error and det.error


ENGINE = rs.engine()
PYTHON_ENGINE = rs.engine(backend="python")

# Within a physically meaningful range (see the overflow test below for the rest): the point is the JSON
# spelling (1e-05, 1e+16, 5e-324 ...), which durable_rules' C parser rejects unless normalised.
tricky_numbers = st.sampled_from(
    [1e-05, 1e-7, 5e-324, 0.1 + 0.2, 4799.999999999999, 4800.0, 15832.0, 1e9, 1.5e-300]
) | st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
"""Numbers json prints with exponents, within the specs' bounds (TPP and bandwidth at most 1e9)."""


@FUZZ
@given(
    tpp=tricky_numbers,
    area=st.sampled_from([1e-3, 2.5e-3, 814.0]) | st.floats(min_value=1e-3, max_value=1e6),
    bandwidth=tricky_numbers,
    ics=st.integers(1, 2**70),
)
def test_numbers_that_break_json_round_trips_give_the_same_result_on_both_backends(
    tpp: float, area: float, bandwidth: float, ics: int
) -> None:
    """durable_rules rejects ``1e-05``-style numbers (finding 4); the adapter must normalise them."""
    data = {
        "id": "T-NUM",
        "date": "2026-01-10",
        "kind": "sale",
        "export_from": "US",
        "destination": "CN",
        "parties": [{"id": "p1", "name": "Kyoto Compute", "roles": ["purchaser"], "country": "CN"}],
        "items": [
            {
                "id": "i1",
                "quantity": 3,
                "specs": {
                    "tpp": tpp,
                    "die_area_mm2": area or 1.0,
                    "dram_bandwidth_gbs": bandwidth,
                    "ics_per_unit": ics,
                    "datacenter": True,
                },
            }
        ],
    }
    txn = Transaction.model_validate(json.loads(json.dumps(data)))
    durable, python = ENGINE.evaluate(txn), PYTHON_ENGINE.evaluate(txn)
    assert durable.outcome is not Outcome.error, durable.error
    strip = {"engine", "decision_id", "timestamp"}
    assert durable.model_dump(exclude=strip) == python.model_dump(exclude=strip)
    again = type(durable).model_validate_json(durable.model_dump_json())
    assert again.canonical_json() == durable.canonical_json()


@pytest.mark.parametrize(
    ("specs", "field"),
    [
        ({"tpp": 1.7e308}, "items.0.specs.tpp"),
        ({"die_area_mm2": 1e-05}, "items.0.specs.die_area_mm2"),
        ({"dram_bandwidth_gbs": 1e16}, "items.0.specs.dram_bandwidth_gbs"),
    ],
)
def test_specs_that_could_overflow_are_rejected_with_the_field(specs: dict[str, float], field: str) -> None:
    """TPP near the float maximum over a tiny die would overflow performance density to infinity: the specs'
    bounds reject it at validation, naming the field, and evaluating the mapping fails closed."""
    data = rs.transactions(1)[0].model_dump(mode="json")
    data["items"] = [{"id": "i1", "quantity": 1, "specs": specs}]
    record = record_from_line(json.dumps(data).encode(), "in.jsonl", 7)
    assert record.error is not None and record.error.field == field and record.error.line == 7
    det = ENGINE.evaluate(data)
    assert det.outcome is Outcome.error and det.error and field in det.error


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_rejected_with_the_field(text: str) -> None:
    line = (
        '{"id":"T","date":"2026-01-01","kind":"sale","export_from":"US","destination":"JP",'
        f'"value":{{"amount":{text}}}}}'
    ).encode()
    record = record_from_line(line, "in.jsonl", 1)
    assert record.error is not None and "value.amount" in str(record.error)


def test_huge_integers_are_rejected_where_they_are_bounded() -> None:
    record = record_from_line(
        json.dumps(
            {
                "id": "T",
                "date": "2026-01-01",
                "kind": "sale",
                "export_from": "US",
                "destination": "JP",
                "items": [{"id": "i1", "quantity": 10**40}],
            }
        ).encode(),
        "in.jsonl",
        1,
    )
    assert record.error is not None and "quantity" in str(record.error)


def test_deep_nesting_is_rejected_not_a_recursion_crash() -> None:
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        line = ('{"id":"T","notes":' + "[" * depth + "]" * depth + "}").encode()
        record = record_from_line(line, "deep.jsonl", 3)
        assert record.error is not None
        assert "deep" in str(record.error) or "nested" in str(record.error)


def test_an_oversized_record_is_rejected_before_decoding() -> None:
    line = b'{"id":"' + b"x" * MAX_RECORD_BYTES + b'"}'
    record = record_from_line(line, "big.jsonl", 1)
    assert record.error is not None and "larger than" in str(record.error)


def test_oversized_fields_are_rejected_with_the_field() -> None:
    data = rs.transactions(1)[0].model_dump(mode="json")
    data["parties"][0]["name"] = "N" * (MAX_NAME_LENGTH + 1)
    with pytest.raises(InputError) as info:
        validate_transaction(data, "in.json", 1)
    assert "parties.0.name" in str(info.value)


def test_invalid_utf8_and_raw_nul_bytes_are_located_errors() -> None:
    assert "UTF-8" in str(record_from_line(b'{"id":"\xff\xfe"}', "in.jsonl", 4).error)
    assert record_from_line(b'{"id":"T\x00"}', "in.jsonl", 5).error is not None


def test_escaped_nul_and_control_characters_in_names_are_evaluated_safely() -> None:
    data = rs.transactions(1)[0].model_dump(mode="json")
    data["parties"][0]["name"] = "Sinotest\u0000 Computing\u0007 Co Ltd\u202e"
    txn = Transaction.model_validate(data)
    durable, python = ENGINE.evaluate(txn), PYTHON_ENGINE.evaluate(txn)
    assert durable.outcome is not Outcome.error, durable.error
    assert durable.fired_rule_ids() == python.fired_rule_ids()


@pytest.mark.parametrize(
    "name",
    [
        "\u0405inotest Computing Co Ltd",  # Cyrillic DZE for S
        "Sin\u03bftest Computing Co Ltd",  # Greek omicron for o
        "\uff33\uff49\uff4e\uff4f\uff54\uff45\uff53\uff54 Computing Co Ltd",  # fullwidth
        "Sinotest\u200b Computing Co Ltd",  # zero-width space
        "SINOTEST COMPUTING CO., LTD.",
    ],
)
def test_homoglyph_names_of_a_listed_party_are_not_cleared(name: str) -> None:
    data = {
        "id": "T-HOMOGLYPH",
        "date": "2026-01-10",
        "kind": "sale",
        "export_from": "US",
        "destination": "JP",
        "parties": [{"id": "p1", "name": name, "roles": ["purchaser"], "country": "CN"}],
        "items": [{"id": "i1", "model": "RTX 4090", "manufacturer": "NVIDIA", "quantity": 1}],
    }
    det = ENGINE.evaluate(data)
    assert det.outcome is not Outcome.clear
    assert "EL-MATCH" in det.fired_rule_ids()


def test_ten_thousand_parties_are_evaluated_and_one_more_is_refused() -> None:
    data = rs.transactions(1)[0].model_dump(mode="json")
    data["remote_access"] = []
    data["parties"] = [
        {"id": f"p{i}", "name": f"Party {i}", "roles": ["end_user"], "country": "JP"} for i in range(MAX_PARTIES)
    ]
    det = ENGINE.evaluate(Transaction.model_validate(data))
    assert det.outcome is not Outcome.error, det.error
    data["parties"].append({"id": "extra", "name": "Extra", "roles": ["end_user"], "country": "JP"})
    with pytest.raises(InputError) as info:
        validate_transaction(data, "in.json", 1)
    assert "parties" in str(info.value) and str(MAX_PARTIES) in str(info.value)


# -- the strict YAML loader -----------------------------------------------------------------------


printable_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")) | st.sampled_from("\n\t"), max_size=300
)


@FUZZ
@given(printable_text)
def test_any_text_loads_or_gives_a_located_ruleset_error(text: str) -> None:
    try:
        load_yaml_text(text, "fuzz.yaml")
    except RulesetError as exc:
        assert exc.file == "fuzz.yaml"
    except RecursionError:  # pragma: no cover - reported by the deep-nesting test below
        pytest.fail("RecursionError escaped the YAML loader")


yaml_fragments = st.lists(
    st.sampled_from(
        [
            "a:",
            " b",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ": ",
            "\n",
            "  ",
            "&x ",
            "*x",
            "!!python/object:os.system ",
            "NO",
            "2026-13-45",
            "'",
            '"',
            "#",
            "---",
            "...",
            "? ",
            "|",
            ">",
            "%YAML 1.1",
            "\t",
            "0x1F",
            "1e-05",
            "~",
        ]
    ),
    max_size=40,
).map("".join)


@FUZZ
@given(yaml_fragments)
def test_yaml_shaped_noise_loads_or_gives_a_located_ruleset_error(text: str) -> None:
    try:
        load_yaml_text(text, "fuzz.yaml")
    except RulesetError as exc:
        assert exc.file == "fuzz.yaml"


def test_a_billion_laughs_file_is_refused_at_the_first_anchor() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(RulesetError) as info:
        load_yaml_text("\n".join(lines), "laughs.yaml")
    assert "anchors and aliases are not allowed" in str(info.value) and "laughs.yaml:1" in str(info.value)


def test_python_tags_are_refused() -> None:
    with pytest.raises(RulesetError):
        load_yaml_text("x: !!python/object/apply:os.system ['true']", "tag.yaml")


def test_norway_stays_a_string() -> None:
    assert load_yaml_text("country: NO\nflag: on\n", "no.yaml") == {"country": "NO", "flag": "on"}


def test_moderately_deep_yaml_is_refused_with_a_location() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(80)) + "  " * 80 + "v: 1\n"
    with pytest.raises(RulesetError) as info:
        load_yaml_text(text, "deep.yaml")
    assert "nesting deeper than" in str(info.value)


def test_pathologically_deep_flow_yaml_is_a_ruleset_error() -> None:
    with pytest.raises(RulesetError, match="nesting deeper"):
        load_yaml_text("[" * 20_000 + "]" * 20_000, "deep.yaml")


def test_a_nul_byte_in_yaml_is_a_ruleset_error() -> None:
    with pytest.raises(RulesetError):
        load_yaml_text('a: "\x00"\n', "nul.yaml")


def test_invalid_utf8_and_oversized_yaml_files_are_ruleset_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"id: x\ntitle: \xff\xfe\n")
    with pytest.raises(RulesetError) as info:
        load_yaml_file(bad)
    assert "bad.yaml:2" in str(info.value) and "UTF-8" in str(info.value)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(RulesetError) as info:
        load_yaml_file(big)
    assert "larger than" in str(info.value)


# -- the CSL importer and the CSV reader ----------------------------------------------------------

CSL_HEADER = "source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,"


def test_a_truncated_gzip_list_is_a_located_list_error(tmp_path: Path) -> None:
    path = tmp_path / "csl.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00")
    with pytest.raises(ListFormatError):
        import_csl(path, lists=None)


@FUZZ
@given(st.binary(max_size=600) | st.binary(max_size=200).map(lambda b: b"\x1f\x8b" + b))
def test_any_bytes_import_as_a_csl_list_or_give_a_located_error(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("csl") / "csl.csv"
    path.write_bytes(data)
    try:
        import_csl(path, lists=None)
    except ListFormatError as exc:
        assert "csl.csv" in str(exc)


@FUZZ
@given(
    rows=st.lists(
        st.lists(st.text(max_size=20), min_size=2, max_size=4).map(
            lambda cells: ",".join(json.dumps(c) for c in cells)
        ),
        max_size=6,
    )
)
def test_csl_shaped_rows_import_or_give_a_located_error(tmp_path_factory: Any, rows: list[str]) -> None:
    path = tmp_path_factory.mktemp("csl") / "csl.csv"
    path.write_text("source,name,alt_names,start_date\n" + "\n".join(rows) + "\n", encoding="utf-8")
    try:
        snapshot = import_csl(path, lists=None)
    except ListFormatError as exc:
        assert "csl.csv" in str(exc)
    else:
        assert all(e.name for e in snapshot.entries)


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes_read_as_a_csv_batch_or_give_a_located_error(tmp_path_factory: Any, data: bytes) -> None:
    readers = pytest.importorskip("compliance.batch.readers")
    path = tmp_path_factory.mktemp("csv") / "batch.csv"
    path.write_bytes(data)
    try:
        inputs = readers.read_inputs([path])
    except InputError as exc:
        assert "batch.csv" in str(exc)
        return
    for raw in inputs.records:
        record = readers.parse(raw)
        assert (record.transaction is None) != (record.error is None)


def test_floats_in_records_survive_a_json_round_trip() -> None:
    for value in (1e-05, 1e16, 0.1 + 0.2, 5e-324):
        assert json.loads(json.dumps(value)) == value
        assert not math.isnan(value)
