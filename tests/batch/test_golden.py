"""A mapped CSV export screened end to end must give byte-identical output: parsed transactions, error
messages (file, line, column), the index file and the CSV rows are pinned in tests/batch/golden/mapped/.

The export exercises the mapping file (renamed columns, translated values, defaults for absent and blank
cells, a date format, thousands separators), country names and codes, rows of one order that are not
adjacent, two roles naming one party, side files (parties with owners, remote access, financing), a short
row, a blank row, a row without an id, and every kind of located error. The expected files were written
by the implementation before the batch parse path was optimised; a change to them is a change of output.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from batch_support import RULESET

from compliance.batch import BatchOptions, ColumnMapping, EngineSpec, read_inputs, screen_batch
from compliance.batch.readers import parse

GOLDEN = Path(__file__).parent / "golden" / "mapped"
FINDING_KEYS = ("record", "source", "transaction_id", "outcome", "error", "finding_rule_id", "finding_outcome")


def _normalised(text: str) -> str:
    return text.replace(str(GOLDEN), "<dir>")


def _expected(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


def test_parsed_transactions_and_located_errors_are_pinned() -> None:
    mapping = ColumnMapping.load(GOLDEN / "mapping.yaml")
    lines = []
    for raw in read_inputs([GOLDEN / "export.csv"], mapping).records:
        record = parse(raw, mapping)
        txn = record.transaction
        entry = {
            "record": raw.index + 1,
            "location": raw.location,
            "transaction": None if txn is None else json.loads(txn.model_dump_json()),
            "error": None if record.error is None else str(record.error),
        }
        lines.append(json.dumps(entry, ensure_ascii=False) + "\n")
    assert _normalised("".join(lines)) == _expected("expected.parsed.jsonl")


def test_screened_outputs_are_pinned(tmp_path: Path) -> None:
    mapping = ColumnMapping.load(GOLDEN / "mapping.yaml")
    export = [GOLDEN / "export.csv"]
    spec = EngineSpec(ruleset=RULESET, screening="none", mapping=mapping)
    screen_batch(export, tmp_path / "out.jsonl", spec, BatchOptions(workers=0, chunk_size=7))
    index = (tmp_path / "out.index.jsonl").read_text(encoding="utf-8")
    assert _normalised(index) == _expected("expected.index.jsonl")
    # each determination is the engine's JSON as is; an input error carries the pinned message
    parsed = [json.loads(line) for line in _expected("expected.parsed.jsonl").splitlines()]
    for line, want in zip((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines(), parsed, strict=True):
        det = json.loads(line)
        if want["error"] is not None:
            assert (det["outcome"], _normalised(det["error"])) == ("error", want["error"])
        else:
            assert det["transaction_id"] == want["transaction"]["id"] and det["error"] is None

    csv_spec = EngineSpec(ruleset=RULESET, screening="none", mapping=mapping, output="csv")
    screen_batch(export, tmp_path / "out.csv", csv_spec, BatchOptions(workers=0, chunk_size=7))
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [rows[0].index(k) for k in FINDING_KEYS]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[row[i] for i in keep] for row in rows])
    assert _normalised(buffer.getvalue()) == _expected("expected.findings.csv")
    assert (tmp_path / "out.index.jsonl").read_text(encoding="utf-8") == index


def test_the_index_line_is_what_json_dumps_writes() -> None:
    import datetime as dt

    from compliance.batch.readers import RawRecord
    from compliance.batch.worker import result_row
    from compliance.engine import Engine

    engine = Engine.load(RULESET, screener=None)
    det = engine.evaluate({"id": 'PO "7"\\ Zürich\u2028\x01'}, dt.date(2025, 1, 1))
    raw = RawRecord(41, 'exp\u00e9rt "x".csv', 9, b"{}", "9-10")
    for kind, date, destination in ((None, None, None), ("input", "2025-01-01", "DE"), ("crash", "\t", "\ud83d")):
        row = result_row(raw, det, kind, None, date, destination, "jsonl")  # type: ignore[arg-type]
        expected = {
            "record": 42,
            "source": raw.location,
            "transaction_id": det.transaction_id,
            "outcome": det.outcome.value,
            "error": kind,
            "date": date,
            "destination": destination,
        }
        assert row.context == json.dumps(expected, separators=(",", ":"))
