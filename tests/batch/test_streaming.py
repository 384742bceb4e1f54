"""A large input's workers start on its first chunks while the parent is still reading it (runner's streamed
path): the output must be exactly the whole-file run's, and a CSV whose transactions' rows are scattered must
fall back to grouping the whole file, losing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_support import canonical, transactions, write_jsonl

from compliance.batch import BatchOptions, EngineSpec, screen_batch
from compliance.batch.testing import ABORT_MARKER, ABORT_ONCE_MARKER, CRASH_DIR_ENV

HEADER = "transaction_id,date,kind,export_from,destination,item_model,item_quantity,purchaser_name,purchaser_country"


def _csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _orders(count: int) -> list[str]:
    """Orders of one to three lines each, every order's lines together (as an export sorted by order)."""
    dests = ["CN", "DE", "JP", "MO", "AE", "XX"]  # XX: a bad country, an error record
    lines = []
    for n in range(count):
        for k in range(1 + n % 3):
            model = ["H100 SXM", "H20", "RTX 4090"][k]
            lines.append(f"PO-{n},2025-03-{1 + n % 28:02d},sale,US,{dests[n % 6]},{model},{k + 1},Buyer {n % 7},DE")
    return lines


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every input counts as large (workers launched before reading); counts which reader ran."""
    from compliance.batch import runner

    calls = {"stream": 0, "whole": 0}
    real_stream, real_read = runner.stream_inputs, runner.read_inputs

    def stream(*args: object, **kwargs: object) -> object:
        calls["stream"] += 1
        return real_stream(*args, **kwargs)  # type: ignore[arg-type]

    def whole(*args: object, **kwargs: object) -> object:
        calls["whole"] += 1
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "EARLY_LAUNCH_BYTES", 1)
    monkeypatch.setattr(runner, "stream_inputs", stream)
    monkeypatch.setattr(runner, "read_inputs", whole)
    return calls


SPEC = EngineSpec(ruleset="us-ear", screening="none")


def _same_as_inline(tmp_path: Path, source: Path, summary_records: int) -> None:
    inline = screen_batch([source], tmp_path / "inline.jsonl", SPEC, BatchOptions(workers=0, chunk_size=7))
    assert inline.records_in == summary_records
    assert canonical(tmp_path / "inline.jsonl") == canonical(tmp_path / "out.jsonl")
    index = (tmp_path / "inline.index.jsonl").read_text(encoding="utf-8")
    assert index == (tmp_path / "out.index.jsonl").read_text(encoding="utf-8")


def test_a_streamed_csv_gives_the_whole_file_runs_output(tmp_path: Path, streamed: dict[str, int]) -> None:
    source = _csv(tmp_path / "export.csv", _orders(120))
    summary = screen_batch([source], tmp_path / "out.jsonl", SPEC, BatchOptions(workers=2, chunk_size=7))
    assert streamed == {"stream": 1, "whole": 0}
    assert summary.balanced and summary.records_in == 120 and summary.rows_read == len(_orders(120))
    assert summary.errors == {"input": 20}
    assert not (tmp_path / "out.checkpoint.json").exists()
    _same_as_inline(tmp_path, source, 120)


def test_scattered_rows_of_a_transaction_fall_back_to_grouping_the_whole_file(
    tmp_path: Path, streamed: dict[str, int]
) -> None:
    lines = _orders(60)
    lines.append(lines[0].replace("H100 SXM", "L40S"))  # a second line of PO-0, at the end of the file
    source = _csv(tmp_path / "export.csv", lines)
    summary = screen_batch([source], tmp_path / "out.jsonl", SPEC, BatchOptions(workers=2, chunk_size=7))
    assert streamed == {"stream": 1, "whole": 1}
    assert summary.balanced and summary.records_in == 60 and summary.rows_read == len(lines)
    first = canonical(tmp_path / "out.jsonl")[0]
    assert first["transaction_id"] == "PO-0"
    _same_as_inline(tmp_path, source, 60)


def test_a_streamed_jsonl_run_survives_a_worker_crash(
    tmp_path: Path, streamed: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    marked = {4: ABORT_ONCE_MARKER.decode(), 41: ABORT_MARKER.decode()}
    txns = transactions(80, markers=marked)
    for txn in txns:
        txn["items"][0]["model"] = "H100 SXM"
    source = write_jsonl(tmp_path / "in.jsonl", txns)
    monkeypatch.setenv(CRASH_DIR_ENV, str(tmp_path))
    spec = EngineSpec(ruleset="us-ear", screening="none", hook="compliance.batch.testing:abort_if_marked")
    summary = screen_batch([source], tmp_path / "out.jsonl", spec, BatchOptions(workers=2, chunk_size=6))
    assert streamed["stream"] == 1 and streamed["whole"] == 0
    out = canonical(tmp_path / "out.jsonl")
    assert len(out) == summary.records_in == 80 and summary.errors.get("crash") == 1
    assert out[41]["outcome"] == "error" and "SIGABRT" in out[41]["error"]
    inline = screen_batch([source], tmp_path / "inline.jsonl", SPEC, BatchOptions(workers=0))
    assert [d for i, d in enumerate(out) if i != 41] == [
        d for i, d in enumerate(canonical(tmp_path / "inline.jsonl")) if i != 41
    ]
    assert inline.error_count == summary.error_count - 1


def test_an_empty_streamed_input_writes_an_empty_output(tmp_path: Path, streamed: dict[str, int]) -> None:
    source = _csv(tmp_path / "export.csv", [])
    summary = screen_batch([source], tmp_path / "out.jsonl", SPEC, BatchOptions(workers=2))
    assert streamed == {"stream": 1, "whole": 0}
    assert summary.records_in == 0 and summary.balanced
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == ""
