"""The decision log's hash chain: tampering is named by record and decision id; rotation keeps the chain."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import threading
from pathlib import Path

import pytest
import reliability_support as rs
import structlog
from typer.testing import CliRunner

from compliance.audit import (
    GENESIS_HASH,
    MASK,
    AuditLog,
    LoggingSink,
    PointerError,
    StreamSink,
    rotated_files,
    verify_log,
)
from compliance.cli.app import app
from compliance.model import Outcome

runner = CliRunner()


def write_log(path: Path, count: int, **kwargs: object) -> list[str]:
    """``count`` decisions written through the engine hook; returns their decision ids in order."""
    with AuditLog(path, **kwargs) as audit:  # type: ignore[arg-type]
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)
        dets = [engine.evaluate(txn) for txn in rs.transactions(count)]
    assert all(d.outcome is not Outcome.error for d in dets), [d.error for d in dets if d.error]
    return [d.decision_id for d in dets]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_records_carry_what_an_auditor_needs(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3)
    first = json.loads(b"{" + lines(log)[0].split(b",", 1)[1])
    assert first["prev"] == GENESIS_HASH and first["seq"] == 1
    for key in ("decision_id", "timestamp", "input_sha256", "input", "as_of", "outcome", "matcher", "engine"):
        assert key in first
    assert first["ruleset"]["id"] == "reliability" and len(first["ruleset"]["sha256"]) == 64
    assert first["ruleset"]["stored"] is True
    assert first["lists"][0]["sha256"] == rs.snapshot().sha256 and first["lists"][0]["stored"] is True
    assert first["determination"]["findings"] is not None
    assert first["engine"]["backend"] == "durable"


def test_intact_log_verifies(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 25)
    report = verify_log(log)
    assert report.ok and report.records == 25
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 0, result.output
    assert "OK: 25 record(s)" in result.output


def test_one_edited_byte_is_named_by_record_and_decision_id(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    ids = write_log(log, 40)
    content = bytearray(log.read_bytes())
    starts = [0, *[i + 1 for i, b in enumerate(content) if b == ord("\n")]]
    # Change one byte inside record 17's outcome text ("outcome":"x..." → "outcome":"y...").
    where = content.index(b'"outcome":"', starts[16]) + len('"outcome":"')
    content[where] = ord("X") if content[where] != ord("X") else ord("Y")
    log.write_bytes(bytes(content))

    report = verify_log(log)
    assert report.problem is not None
    assert report.problem.kind == "altered"
    assert report.problem.record == 17
    assert report.problem.decision_id == ids[16]
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 1
    assert "record 17" in result.output and ids[16] in result.output


def test_a_deleted_record_is_named_as_a_gap(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    ids = write_log(log, 40)
    records = lines(log)
    del records[22]  # record 23
    log.write_bytes(b"".join(records))

    report = verify_log(log)
    assert report.problem is not None
    assert report.problem.kind == "missing"
    assert "record 23 missing" in report.problem.message
    assert report.problem.decision_id == ids[23]  # the record after the gap, where the link breaks
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 1 and "record 23 missing" in result.output


def test_swapped_records_and_a_rewritten_hash_break_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 10)
    records = lines(log)
    records[4], records[5] = records[5], records[4]
    log.write_bytes(b"".join(records))
    problem = verify_log(log).problem
    assert problem is not None and problem.record == 5 and problem.kind in ("missing", "broken-link")


def test_a_re_hashed_forgery_still_breaks_the_next_link(tmp_path: Path) -> None:
    """Editing a record *and* recomputing its hash moves the break to the next record's ``prev``."""
    from compliance.audit._chain import body_hash, split_record

    log = tmp_path / "decisions.jsonl"
    ids = write_log(log, 10)
    records = lines(log)
    _stated, body = split_record(records[3].rstrip(b"\n")) or ("", b"")
    forged_body = body.replace(b'"outcome":"', b'"outcome":"clear","was":"', 1)
    records[3] = b'{"hash":"' + body_hash(forged_body).encode() + b'",' + forged_body[1:] + b"\n"
    log.write_bytes(b"".join(records))
    problem = verify_log(log).problem
    assert problem is not None and problem.record == 5 and problem.kind == "broken-link"
    assert problem.decision_id == ids[4]


def test_an_interrupted_write_is_reported_and_the_next_writer_starts_a_clean_line(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 5)
    data = log.read_bytes()
    log.write_bytes(data + data.splitlines(keepends=True)[0][:100])  # half a record, no newline
    problem = verify_log(log).problem
    assert problem is not None and problem.kind == "truncated" and problem.record == 6
    write_log(log, 2)  # appending again terminates the damaged line; verify still stops at it
    problem = verify_log(log).problem
    assert problem is not None and problem.record == 6 and problem.kind in ("altered", "malformed")


def test_removing_the_tail_is_caught_with_an_anchored_head(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 6)
    head = verify_log(log).last_hash
    log.write_bytes(b"".join(lines(log)[:-1]))
    assert verify_log(log).ok  # a chain alone cannot see a shortened tail...
    result = runner.invoke(app, ["audit", "verify", str(log), "--head", head])
    assert result.exit_code == 1 and "anchored head" in result.output  # ...an anchored head can


def test_rotation_keeps_one_chain_across_files(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 30, max_bytes=12_000)
    files = rotated_files(log)
    assert len(files) > 3 and files[-1] == log
    report = verify_log(log)
    assert report.ok and report.records == 30
    # A reopened log continues the same chain into the current file.
    write_log(log, 3, max_bytes=12_000)
    assert verify_log(log).records == 33
    # Losing a whole rotated file is a gap.
    files[1].unlink()
    problem = verify_log(log).problem
    assert problem is not None and problem.kind == "missing"


def test_appends_from_many_threads_form_one_chain(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    txns = rs.transactions(50)
    with AuditLog(log) as audit:
        engine = rs.engine(on_decision=audit)
        audit.attach(engine)

        def work() -> None:
            for txn in txns:
                assert engine.evaluate(txn).outcome is not Outcome.error

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report = verify_log(log)
    assert report.ok and report.records == 400


def _process_writer(path: str, seed: int) -> None:
    with AuditLog(path, max_bytes=60_000) as audit:
        engine = rs.engine(on_decision=audit)
        for txn in rs.transactions(40, seed=seed):
            engine.evaluate(txn)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_appends_from_many_processes_form_one_chain(tmp_path: Path, method: str) -> None:
    log = tmp_path / "decisions.jsonl"
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=_process_writer, args=(str(log), seed)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    report = verify_log(log)
    assert report.ok, report.problem
    assert report.records == 160
    assert len(rotated_files(log)) > 1


def test_masked_fields_are_replaced_and_listed(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    write_log(log, 3, mask=["/parties/*/address", "/parties/0/name", "/notes"])
    record = json.loads(b"{" + lines(log)[0].split(b",", 1)[1])
    assert record["input"]["parties"][0]["name"] == MASK
    assert all(p["address"] == MASK for p in record["input"]["parties"])
    assert "/parties/0/address" in record["masked"] and "/notes" not in record["masked"]  # notes was null
    assert len(record["input_sha256"]) == 64  # the hash is of the unmasked input
    with pytest.raises(PointerError):
        AuditLog(tmp_path / "other.jsonl", mask=["parties/0/name"])


def test_stream_and_logging_sinks_receive_the_same_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    log = tmp_path / "decisions.jsonl"
    with caplog.at_level(logging.INFO, logger="compliance.audit"):
        write_log(log, 3, sinks=[StreamSink(stream), LoggingSink()])
    assert stream.getvalue().encode() == log.read_bytes()
    assert [r.getMessage() + "\n" for r in caplog.records] == stream.getvalue().splitlines(keepends=True)


def test_without_a_file_the_chain_lives_in_memory(tmp_path: Path) -> None:
    stream = io.StringIO()
    with AuditLog(sinks=[StreamSink(stream)], store=False) as audit:
        engine = rs.engine(on_decision=audit)
        for txn in rs.transactions(3):
            engine.evaluate(txn)
    copy = tmp_path / "copy.jsonl"
    copy.write_text(stream.getvalue())
    assert verify_log(copy).records == 3


def test_the_host_applications_structlog_configuration_is_left_alone(tmp_path: Path) -> None:
    seen: list[str] = []

    def host_processor(logger: object, method: str, event: dict[str, object]) -> str:
        seen.append(str(event.get("event")))
        return "host"

    structlog.configure(processors=[host_processor], logger_factory=structlog.ReturnLoggerFactory())
    try:
        before = structlog.get_config()
        log = tmp_path / "decisions.jsonl"
        write_log(log, 2)
        assert structlog.get_config() == before
        assert seen == []  # our records never went through the host's pipeline
        assert verify_log(log).ok  # and the host's pipeline never touched our records
    finally:
        structlog.reset_defaults()


def test_a_record_that_cannot_be_written_makes_the_determination_an_error(tmp_path: Path) -> None:
    class BrokenSink:
        def write(self, line: bytes) -> None:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    audit = AuditLog(sinks=[BrokenSink()], store=False)
    engine = rs.engine(on_decision=audit)
    det = engine.evaluate(rs.transactions(1)[0])
    assert det.outcome is Outcome.error
    assert det.error is not None and "No space left on device" in det.error
