"""A worker's results cross the pipe as one `ResultBlock` per chunk: its bytes must be exactly what the
per-record path writes, its counts the same, and its error records recoverable one by one."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from collections import Counter
from pathlib import Path

from batch_support import RULESET, transactions

from compliance.batch import BatchOptions, EngineSpec, ResultBlock, ResultRow, screen_batch
from compliance.batch.readers import RawRecord
from compliance.batch.runner import BatchSummary
from compliance.batch.worker import WorkerState, result_row
from compliance.batch.writers import MemorySink
from compliance.engine import Engine
from compliance.model import Determination


def _records(count: int, first: int = 0) -> list[RawRecord]:
    lines = [json.dumps(t).encode("utf-8") + b"\n" for t in transactions(count)]
    return [RawRecord(first + n, "export.jsonl", n + 1, line) for n, line in enumerate(lines)]


def test_a_block_holds_the_bytes_the_per_record_path_writes() -> None:
    spec = EngineSpec(ruleset=RULESET, screening="none", as_of=dt.date(2025, 6, 1))
    state = WorkerState(spec)
    records = _records(60, first=100)
    block = state.evaluate(records, {})
    assert block.first == 100 and len(block) == 60
    lines = block.determinations.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 61
    errors = {offset: (kind, message) for offset, kind, message in block.errors}
    assert errors, "the generated export has invalid rows (destination XX)"
    for offset, line in enumerate(lines[:-1]):
        det = Determination.model_validate_json(line)
        # the same bytes as model_dump_json, and the outcome counted is the determination's
        assert det.model_dump_json().encode("utf-8") == line
        assert block.outcomes[offset] == det.outcome.value
        if offset in errors:
            kind, message = errors[offset]
            assert kind == "input" and det.error == message and "destination" in message
    index = [json.loads(x) for x in block.index.decode("utf-8").split("\n")[:-1]]
    assert [x["record"] for x in index] == list(range(101, 161))
    assert [x["error"] for x in index] == [errors.get(n, (None,))[0] for n in range(60)]


def test_a_block_round_trips_its_rows_and_pickles_to_an_equal_block() -> None:
    engine = Engine.load(RULESET, screener=None)
    raws = [RawRecord(7 + n, "x.csv", 2 + n, b"{}") for n in range(3)]
    # A determination holding U+2028 and non-ASCII text: lines are split at newlines only.
    det = engine.evaluate({"id": "PO\u2028Zürich"}, dt.date(2025, 1, 1))
    rows = [
        result_row(raws[0], det, None, None, "2025-01-01", "DE", "csv"),
        result_row(raws[1], det, "input", "x.csv:3: bad date", None, None, "csv"),
        result_row(raws[2], det, None, None, "2025-01-02", "JP", "csv"),
    ]
    block = ResultBlock.of(rows)
    assert block.first == 7 and block.errors == ((1, "input", "x.csv:3: bad date"),)
    assert block.result_rows() == rows
    assert pickle.loads(pickle.dumps(block)) == block
    sink = MemorySink()
    sink.write(block)
    assert sink.determinations == [r.determination for r in rows]
    assert sink.contexts == [r.context for r in rows]
    by_block = BatchSummary()
    by_block.add_block(block)
    by_row = (
        dict(Counter(r.outcome for r in rows)),
        dict(Counter(r.error_kind for r in rows if r.error_kind is not None)),
        sum(1 for r in rows if r.error_kind is None),
    )
    assert (by_block.outcomes, by_block.errors, by_block.determinations) == by_row


def test_on_error_gets_each_error_record_once_in_order(tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    source.write_text("".join(json.dumps(t) + "\n" for t in transactions(200)), encoding="utf-8")
    spec = EngineSpec(ruleset=RULESET, screening="none")
    seen: list[ResultRow] = []
    summary = screen_batch(
        [source], tmp_path / "out.jsonl", spec, BatchOptions(workers=0, chunk_size=16, on_error=seen.append)
    )
    assert summary.balanced and summary.errors == {"input": len(seen)} and seen
    assert [r.index for r in seen] == sorted(r.index for r in seen)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").split("\n")
    for row in seen:
        assert row.error_kind == "input" and row.message
        assert lines[row.index] == row.determination
        assert json.loads(row.context)["record"] == row.index + 1
