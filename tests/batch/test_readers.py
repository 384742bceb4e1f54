"""Readers: the flat CSV layout with a mapping file, side files, located errors; Parquet in and out."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from compliance.batch import ColumnMapping, MappingError, read_inputs
from compliance.batch.readers import parse

EXPORT = """PO Number;Order Date;Type;Ship To Country;Part;Qty;Customer;Customer Country;End User;End User Country
PO-1;15/03/2025;Sales Order;China;H100 SXM;8;Acme Cloud;China;Acme Cloud;China
PO-1;15/03/2025;Sales Order;China;RTX 4090;2;Acme Cloud;China;Acme Cloud;China
PO-2;16/03/2025;Sales Order;DEU;L40S;1;Nordic Compute AB;Sweden;Bravo Labs;Germany
PO-3;16/03/2025;Sales Order;Japan;H20;-3;Tokyo AI K.K.;JP;;
PO-4;17/03/2025;Sales Order;Japan;H20;3;Tokyo AI K.K.;JP;;
PO-4;18/03/2025;Sales Order;Japan;H20;3;Tokyo AI K.K.;JP;;
"""

MAPPING = """
columns:
  transaction_id: PO Number
  date: Order Date
  kind: Type
  destination: Ship To Country
  item_model: Part
  item_quantity: Qty
  purchaser_name: Customer
  purchaser_country: Customer Country
  end_user_name: End User
  end_user_country: End User Country
values:
  kind: {"Sales Order": sale}
defaults:
  export_from: US
date_format: "%d/%m/%Y"
delimiter: ";"
side_files:
  parties: parties.csv
"""

PARTIES = """transaction_id,party_id,name,roles,country,owners
PO-2,owner,Listed Parent Ltd,owner,CN,
PO-2,sub,Bravo Labs Holding,owner,DE,owner:0.6
"""


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, ColumnMapping]:
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "parties.csv").write_text(PARTIES, encoding="utf-8")
    return tmp_path / "export.csv", ColumnMapping.load(tmp_path / "mapping.yaml")


def test_rows_of_one_order_are_one_transaction_with_an_item_each(export: tuple[Path, ColumnMapping]) -> None:
    path, mapping = export
    inputs = read_inputs([path], mapping)
    assert inputs.rows_read == 6
    assert len(inputs.records) == 4  # PO-1 (2 rows), PO-2, PO-3, PO-4 (2 rows)
    po1 = parse(inputs.records[0], mapping).transaction
    assert po1 is not None
    assert (po1.id, po1.date.isoformat(), po1.kind, po1.export_from, po1.destination) == (
        "PO-1",
        "2025-03-15",
        "sale",
        "US",
        "CN",
    )
    assert [(i.id, i.model, i.quantity) for i in po1.items] == [("i1", "H100 SXM", 8), ("i2", "RTX 4090", 2)]
    # the same name and country as purchaser and end user is one party with both roles
    assert [(p.name, [r.value for r in p.roles]) for p in po1.parties] == [("Acme Cloud", ["end_user", "purchaser"])]


def test_country_names_and_side_file_parties(export: tuple[Path, ColumnMapping]) -> None:
    path, mapping = export
    po2 = parse(read_inputs([path], mapping).records[1], mapping).transaction
    assert po2 is not None
    assert po2.destination == "DE"
    by_id = {p.id: p for p in po2.parties}
    assert by_id["purchaser"].country == "SE"
    assert by_id["end_user"].name == "Bravo Labs"
    assert by_id["sub"].owners[0].party == "owner"
    assert by_id["sub"].owners[0].share == 0.6


def test_identifier_columns_fill_the_partys_identifiers(tmp_path: Path) -> None:
    """``{role}_lei`` / ``{role}_uscc`` columns, and ``lei`` / ``uscc`` in the parties side file, become the party's
    identifiers, which screening compares with those the lists publish."""
    (tmp_path / "export.csv").write_text(
        "transaction_id,date,destination,item_model,item_quantity,purchaser_name,purchaser_country,purchaser_uscc\n"
        "T1,2026-11-23,CN,L40S,1,Beijing Blue Sky Trading,CN,91110000MA005UCQ5P\n",
        encoding="utf-8",
    )
    (tmp_path / "mapping.yaml").write_text(
        "defaults: {export_from: US, kind: sale}\nside_files: {parties: parties.csv}\n", encoding="utf-8"
    )
    (tmp_path / "parties.csv").write_text(
        "transaction_id,party_id,name,roles,country,lei,uscc\n"
        "T1,fw,Harbour Freight,forwarder,SG,9845001B2AD43E6A5D21,\n",
        encoding="utf-8",
    )
    mapping = ColumnMapping.load(tmp_path / "mapping.yaml")
    txn = parse(read_inputs([tmp_path / "export.csv"], mapping).records[0], mapping).transaction
    assert txn is not None
    assert {p.id: p.identifiers for p in txn.parties} == {
        "purchaser": {"uscc": "91110000MA005UCQ5P"},
        "fw": {"lei": "9845001B2AD43E6A5D21"},
    }


def test_errors_name_the_row_the_export_column_and_the_problem(export: tuple[Path, ColumnMapping]) -> None:
    path, mapping = export
    records = [parse(r, mapping) for r in read_inputs([path], mapping).records]
    bad_qty, disagree = records[2].error, records[3].error
    assert bad_qty is not None and disagree is not None
    assert (bad_qty.line, bad_qty.field) == (5, "Qty → items.0.quantity")
    assert "greater than or equal to 1" in bad_qty.message
    assert (disagree.line, disagree.field) == (7, "Order Date")
    assert "'18/03/2025' here but '17/03/2025' on line 6" in disagree.message


def test_a_mapping_naming_a_missing_column_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("id,date\n1,2025-01-01\n", encoding="utf-8")
    mapping = ColumnMapping.from_dict({"columns": {"transaction_id": "Order"}})
    with pytest.raises(MappingError, match="no such column"):
        read_inputs([tmp_path / "x.csv"], mapping)
    with pytest.raises(MappingError, match="not a column of the flat layout"):
        ColumnMapping.from_dict({"columns": {"purchaser_nmae": "Customer"}})


def test_parquet_in_reads_the_same_layout(export: tuple[Path, ColumnMapping], tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="the parquet extra (pyarrow) is not installed")
    import pyarrow.parquet as pq

    path, mapping = export
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    table = pa.table({name: [r[i] for r in rows[1:]] for i, name in enumerate(rows[0])})
    pq.write_table(table, tmp_path / "export.parquet")
    from_csv = [parse(r, mapping) for r in read_inputs([path], mapping).records]
    from_parquet = [parse(r, mapping) for r in read_inputs([tmp_path / "export.parquet"], mapping).records]
    assert [r.transaction for r in from_parquet] == [r.transaction for r in from_csv]
    assert [str(r.error).split(": ", 1)[1] for r in from_parquet if r.error] == [
        str(r.error).split(": ", 1)[1] for r in from_csv if r.error
    ]


def test_a_row_travels_as_its_raw_text_and_reads_the_same_in_a_worker(
    tmp_path: Path, export: tuple[Path, ColumnMapping]
) -> None:
    """The parent keeps a CSV row as the text the reader consumed (a quoted line break included) and a worker
    parses it again after unpickling: the values, line numbers and transactions equal a direct read's."""
    import pickle

    path, mapping = export
    text = EXPORT.replace("Acme Cloud;China;Acme", '"Acme\nCloud";China;Acme')
    path.write_text(text, encoding="utf-8")
    inputs = read_inputs([path], mapping)
    shipped = pickle.loads(pickle.dumps(inputs.records))
    first = shipped[0].payload.rows
    assert first[0].texts["purchaser_name"] == "Acme\nCloud"
    assert [r.line for r in first] == [3, 5]  # the reader's line numbers: each quoted break takes a line
    assert first[1].texts["item_model"] == "RTX 4090"
    direct = [parse(r, mapping) for r in read_inputs([path], mapping).records]
    again = [parse(r, mapping) for r in shipped]
    assert [(r.line, r.transaction, str(r.error)) for r in again] == [
        (r.line, r.transaction, str(r.error)) for r in direct
    ]
    assert direct[0].transaction is not None
    assert direct[0].transaction.parties[0].name == "Acme\nCloud"


def test_what_crosses_to_a_worker_pickles_to_an_equal_value(export: tuple[Path, ColumnMapping]) -> None:
    """The spec (with its column mapping) and the records go to spawned workers and Dask pickled; compiled, a
    frozen dataclass unpickles only through its constructor, so each must come back equal, header included."""
    import pickle

    from compliance.batch import EngineSpec

    path, mapping = export
    spec = EngineSpec(overlays=("iaas-kyc-2024",), screening="none", mapping=mapping, output="csv")
    assert pickle.loads(pickle.dumps(spec)) == spec
    inputs = read_inputs([path], mapping)
    again = pickle.loads(pickle.dumps(inputs))
    assert again == inputs
    assert (again.files, again.rows_read, again.ignored_columns) == (inputs.files, inputs.rows_read, {})
    assert [r.index for r in again.records] == [r.index for r in inputs.records]
    assert [parse(r, mapping).transaction for r in again.records] == [
        parse(r, mapping).transaction for r in inputs.records
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_plain_lines_split_as_the_csv_reader_splits_them(tmp_path: Path, newline: str) -> None:
    """Lines without a quote are split at the delimiter without the CSV reader (`layout._plain`): each row's
    values and line number must equal what the reader makes of the same file, quoted records, blank lines,
    short rows and line-break flavours included."""
    from compliance.batch.layout import SourceRow, read_csv_rows

    header = "PO;Date;Kind;From;To;Model;Qty;Buyer;Country"
    body = [
        "PO-1;2025-01-02;sale;US;DE;H100;2; Acme GmbH ;Germany",
        "",
        "   ",
        'PO-2;2025-01-03;sale;US;JP;"H200; SXM";4;"Kobe ""K"" KK";Japan',
        'PO-3;2025-01-04;sale;US;JP;H20;1;"Two\nLines";Japan',
        "PO-4;2025-01-05;sale;US;FR",  # short: fewer cells than the mapping needs
        "PO-5;2025-01-06;sale;US;FR;L40S;3;Élan SARL;France;extra",
        'PO-6;2025-01-07;sale;US;FR;L40S;3;a"b;France',  # a quote inside an unquoted cell
    ]
    path = tmp_path / "export.csv"
    path.write_bytes((newline.join([header, *body]) + newline).encode("utf-8"))
    mapping = ColumnMapping.from_dict(
        {
            "delimiter": ";",
            "columns": {
                "transaction_id": "PO",
                "date": "Date",
                "kind": "Kind",
                "export_from": "From",
                "destination": "To",
                "item_model": "Model",
                "item_quantity": "Qty",
                "purchaser_name": "Buyer",
                "purchaser_country": "Country",
            },
        }
    )
    rows = [r for r in read_csv_rows(path, mapping) if isinstance(r, SourceRow)]
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=";")
        names = next(reader)
        expected = []
        for cells in reader:
            if "".join(cells).strip():
                values = {n: c.strip() for n, c in zip(names, cells, strict=False) if c.strip()}
                expected.append((reader.line_num, values))
    got = [(r.line, {r.names[k]: v for k, v in r.texts.items()}) for r in rows]
    assert got == expected
    assert [r.transaction_id for r in rows] == [f"PO-{n}" for n in range(1, 7)]


def test_streamed_records_equal_the_whole_file_records(export: tuple[Path, ColumnMapping], tmp_path: Path) -> None:
    """`stream_inputs` frames the same records as `read_inputs` (side-file rows attached, rows counted,
    ignored columns), and says when a transaction's rows were apart, the one case where they differ."""
    from compliance.batch.readers import stream_inputs

    path, mapping = export
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text('{"id": "J-1"}\n\n{"id": "J-2"}\n', encoding="utf-8")
    whole = read_inputs([path, jsonl], mapping)
    stream, records = stream_inputs([path, jsonl], mapping)
    streamed = list(records)
    assert stream.finished and not stream.scattered
    assert streamed == whole.records and [r.index for r in streamed] == list(range(len(streamed)))
    assert (stream.rows_read, stream.ignored_columns) == (whole.rows_read, whole.ignored_columns)
    assert any(r.payload.side.rows for r in streamed if hasattr(r.payload, "side")), "the side file was attached"

    lines = EXPORT.splitlines()
    path.write_text("\n".join([*lines[:2], *lines[3:], lines[2]]) + "\n", encoding="utf-8")  # PO-1's row last
    whole = read_inputs([path], mapping)
    stream, records = stream_inputs([path], mapping)
    streamed = list(records)
    assert stream.scattered == ["PO-1"] and streamed != whole.records
    assert len(whole.records) == len(streamed) - 1  # PO-1 streamed as two runs, one transaction as a whole
