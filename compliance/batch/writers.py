"""Batch outputs, written chunk by chunk so a killed run can resume without duplicates or gaps.

Text outputs (JSONL determinations, CSV one row per finding) are appended a chunk at a time, flushed and
fsynced before the checkpoint records their new length; a resumed run first truncates each file to the
checkpointed length, discarding whatever a killed run wrote after its last checkpoint. Parquet cannot be
appended to, so each chunk becomes a part file (written to a temporary name, then renamed) and the parts
are joined into the output when the run completes.

Beside a file output, ``<stem>.index.jsonl`` maps every output record back to its input: record number,
source file and line(s), transaction id, outcome, error kind, date and destination (what the report
groups by).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from compliance.batch.worker import FINDING_COLUMNS, OutputFormat, ResultBlock


def index_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.index.jsonl")


def checkpoint_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.checkpoint.json")


class Sink(Protocol):
    def open(self, state: dict[str, Any] | None) -> None: ...

    def write(self, block: ResultBlock) -> None: ...

    def commit(self) -> dict[str, Any]:
        """Make what was written durable; the returned state goes into the checkpoint."""
        ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


def _fsync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class _Appender:
    """A file appended to in chunks; reopened truncated to a checkpointed length on resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None

    def open(self, length: int | None) -> None:
        if length is None:
            self.handle = self.path.open("wb")
            return
        if not self.path.exists() or self.path.stat().st_size < length:
            raise FileNotFoundError(f"{self.path}: shorter than its checkpoint says; cannot resume")
        handle = self.path.open("r+b")
        handle.truncate(length)
        handle.seek(length)
        self.handle = handle

    def write(self, data: bytes) -> None:
        assert self.handle is not None
        self.handle.write(data)

    def commit(self) -> int:
        assert self.handle is not None
        _fsync(self.handle)
        return self.handle.tell()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


class FileSink:
    """JSONL or CSV output to a file, with its index file; resumable."""

    def __init__(self, path: Path, fmt: OutputFormat) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"FileSink writes jsonl or csv, not {fmt}")
        self.fmt = fmt
        self.output = _Appender(path)
        self.index = _Appender(index_path(path))

    def open(self, state: dict[str, Any] | None) -> None:
        self.output.open(None if state is None else int(state["output_bytes"]))
        self.index.open(None if state is None else int(state["index_bytes"]))
        if state is None and self.fmt == "csv":
            self.output.write(_csv_bytes([FINDING_COLUMNS]))

    def write(self, block: ResultBlock) -> None:
        if self.fmt == "jsonl":
            self.output.write(block.determinations)
        else:
            self.output.write(_csv_bytes(block.finding_rows()))
        self.index.write(block.index)

    def commit(self) -> dict[str, Any]:
        return {"output_bytes": self.output.commit(), "index_bytes": self.index.commit()}

    def finish(self) -> None:
        self.close()

    def close(self) -> None:
        self.output.close()
        self.index.close()


class StreamSink:
    """JSONL to stdout (or any text stream): no checkpoint, no index."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def open(self, state: dict[str, Any] | None) -> None:
        return None

    def write(self, block: ResultBlock) -> None:
        self.stream.write(block.determinations.decode("utf-8"))

    def commit(self) -> dict[str, Any]:
        self.stream.flush()
        return {}

    def finish(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        return None


class MemorySink:
    """Keeps the determinations' JSON in memory (the CLI's table format, tests)."""

    def __init__(self) -> None:
        self.determinations: list[str] = []
        self.contexts: list[str] = []

    def open(self, state: dict[str, Any] | None) -> None:
        return None

    def write(self, block: ResultBlock) -> None:
        # split on newlines alone: a determination may hold U+2028, which str.splitlines also breaks at
        self.determinations.extend(block.determinations.decode("utf-8").split("\n")[:-1])
        self.contexts.extend(block.index.decode("utf-8").split("\n")[:-1])

    def commit(self) -> dict[str, Any]:
        return {}

    def finish(self) -> None:
        return None

    def close(self) -> None:
        return None


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        from compliance.batch.pool import BatchError

        raise BatchError("Parquet output needs the parquet extra: pip install 'compliance-engine[parquet]'") from None
    return pyarrow


def finding_table(rows: Sequence[Sequence[str]]) -> Any:
    pa = _pyarrow()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in FINDING_COLUMNS]
    arrays = {}
    for name, values in zip(FINDING_COLUMNS, columns, strict=True):
        if name == "record":
            arrays[name] = pa.array([int(v) for v in values], type=pa.int64())
        else:
            arrays[name] = pa.array(list(values), type=pa.string())
    return pa.table(arrays)


class ParquetSink:
    """Parquet output (one row per finding, the CSV columns): part files per chunk, joined at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parts = path.with_name(f"{path.name}.parts")
        self.index = _Appender(index_path(path))
        self.count = 0

    def open(self, state: dict[str, Any] | None) -> None:
        _pyarrow()
        if state is None:
            shutil.rmtree(self.parts, ignore_errors=True)
            self.parts.mkdir(parents=True)
            self.count = 0
        else:
            self.count = int(state["parts"])
            keep = {self._part(i).name for i in range(self.count)}
            for part in self.parts.iterdir():
                if part.name not in keep:
                    part.unlink()
        self.index.open(None if state is None else int(state["index_bytes"]))

    def _part(self, n: int) -> Path:
        return self.parts / f"part-{n:08d}.parquet"

    def write(self, block: ResultBlock) -> None:
        import pyarrow.parquet as pq

        table = finding_table(block.finding_rows())
        target = self._part(self.count)
        temp = target.with_suffix(".tmp")
        pq.write_table(table, temp)
        os.replace(temp, target)
        self.count += 1
        self.index.write(block.index)

    def commit(self) -> dict[str, Any]:
        return {"parts": self.count, "index_bytes": self.index.commit()}

    def finish(self) -> None:
        import pyarrow.parquet as pq

        temp = self.path.with_name(f"{self.path.name}.tmp")
        schema = finding_table([]).schema
        with pq.ParquetWriter(temp, schema) as writer:
            for i in range(self.count):
                writer.write_table(pq.read_table(self._part(i)))
        os.replace(temp, self.path)
        shutil.rmtree(self.parts, ignore_errors=True)
        self.close()

    def close(self) -> None:
        self.index.close()
