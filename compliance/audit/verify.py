"""`verify_log`: walk a decision log's hash chain across its rotated files; name the first broken link."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from compliance.audit._chain import GENESIS_HASH, body_hash, decision_id_of, split_record
from compliance.audit.sinks import rotated_files


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain does not hold."""

    kind: str
    """``altered`` (a record's bytes do not match its hash), ``missing`` (records absent: the sequence
    jumps), ``broken-link`` (``prev`` is not the previous record's hash), ``malformed`` (not a record line),
    ``truncated`` (the last line has no newline: an interrupted write) or ``empty`` (no records at all)."""
    record: int
    """1-based position of the record in the chain (counting lines over all files)."""
    file: str
    line: int
    decision_id: str | None
    message: str

    def __str__(self) -> str:
        who = f" (decision_id {self.decision_id})" if self.decision_id else ""
        return f"{self.file}:{self.line}: record {self.record}{who}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    files: tuple[str, ...]
    records: int
    """Records checked up to (not including) the first problem, or all of them."""
    last_hash: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def chain_files(path: str | Path) -> list[Path]:
    """A log's files in chain order; a path to one rotated file (``LOG.3``) is taken as itself only."""
    p = Path(path)
    files = rotated_files(p)
    if not files and not p.exists():
        raise FileNotFoundError(2, "no such decision log", str(p))
    return files or [p]


def iter_lines(files: Sequence[Path]) -> Iterator[tuple[Path, int, bytes, bool]]:
    """(file, line number, line without newline, complete?) over all files in order."""
    for path in files:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                complete = raw.endswith(b"\n")
                yield path, number, raw.rstrip(b"\n"), complete


def verify_log(path: str | Path, *, files: Sequence[Path] | None = None) -> VerifyReport:
    """Check every record's hash and link from genesis to the end; stop at the first problem."""
    chain = list(files) if files is not None else chain_files(path)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0

    def problem(kind: str, file: Path, line: int, raw: bytes, message: str) -> VerifyReport:
        found = ChainProblem(kind, count + 1, str(file), line, decision_id_of(raw), message)
        return VerifyReport(tuple(map(str, chain)), count, expected_prev, found)

    for file, number, raw, complete in iter_lines(chain):
        if not complete:
            return problem("truncated", file, number, raw, "incomplete record (no newline): an interrupted write")
        parts = split_record(raw)
        if parts is None:
            return problem("malformed", file, number, raw, "not a decision record line (damaged or inserted)")
        stated, body = parts
        actual = body_hash(body)
        if actual != stated:
            return problem("altered", file, number, raw, "content does not match its hash: the record was altered")
        try:
            record = json.loads(body)
            prev, seq = record["prev"], record["seq"]
        except (ValueError, KeyError, TypeError):
            return problem("malformed", file, number, raw, "hash matches but the record is not valid JSON")
        if prev != expected_prev:
            if isinstance(seq, int) and seq > expected_seq:
                gap = f"record {expected_seq}" if seq == expected_seq + 1 else f"records {expected_seq}–{seq - 1}"
                return problem(
                    "missing",
                    file,
                    number,
                    raw,
                    f"{gap} missing before this one (sequence jumps from {expected_seq - 1} to {seq}; "
                    f"prev {prev[:12]}… is not the hash of the record before)",
                )
            return problem(
                "broken-link",
                file,
                number,
                raw,
                f"prev {prev[:12]}… is not the hash of the previous record ({expected_prev[:12]}…): "
                "a record before it was replaced or the chain was spliced",
            )
        if seq != expected_seq:
            return problem("broken-link", file, number, raw, f"sequence number {seq}, expected {expected_seq}")
        count += 1
        expected_prev = actual
        expected_seq = seq + 1
    if count == 0:
        empty = ChainProblem("empty", 0, str(chain[0]) if chain else str(path), 0, None, "the log holds no records")
        return VerifyReport(tuple(map(str, chain)), 0, expected_prev, empty)
    return VerifyReport(tuple(map(str, chain)), count, expected_prev, None)
