"""Batch inputs: JSONL, JSON, flat-layout CSV and Parquet files as a sequence of raw records.

Reading is split in two so the main process stays cheap: `read_inputs` only frames the input (a JSONL
line, a JSON object, a CSV transaction's rows) into picklable `RawRecord`s; `parse` (run in the worker
processes) decodes, assembles and validates one of them into a located `compliance.records.Record`.
Every raw record becomes exactly one output record. `stream_inputs` frames the same records as the files
are read, so that workers can start on them before the end (see `InputStream` for the one case where the
two differ).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compliance.batch.layout import (
    ColumnMapping,
    GroupedTransaction,
    Header,
    MappingError,
    SideRows,
    SourceRow,
    assemble,
    group_rows,
    group_runs,
    locate,
    read_csv_rows,
    read_side_file,
    row_values,
)
from compliance.errors import InputError
from compliance.model import Transaction
from compliance.native import by_constructor
from compliance.records import Record, first_validation_error, record_from_line, record_from_object

INPUT_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record before parsing: its position, where it is, and its unparsed payload.

    ``payload`` is the bytes of a JSONL line, a decoded JSON value, a CSV/Parquet transaction's rows, or
    the InputError that stopped the reader from framing it.
    """

    index: int
    source: str
    line: int
    payload: bytes | GroupedTransaction | InputError | SourceRow | Any
    lines: str = ""

    @property
    def location(self) -> str:
        return f"{self.source}:{self.lines or self.line}"

    def __reduce__(self) -> tuple[type[RawRecord], tuple[int, str, int, Any, str]]:
        # Chunks of raw records are pickled to the workers: a constructor call is the cheapest form both ways.
        return (RawRecord, (self.index, self.source, self.line, self.payload, self.lines))


@dataclass(frozen=True)
class InputSet:
    """All raw records of a batch, in input order, and what was read."""

    records: list[RawRecord]
    files: list[Path]
    rows_read: int
    ignored_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


def input_files(paths: Sequence[Path]) -> list[Path]:
    """Files to read: the paths given, with directories expanded to their input files, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in INPUT_SUFFIXES and p.is_file())
            if not found:
                raise InputError("no .json, .jsonl, .csv or .parquet files in directory", str(path))
            files.extend(found)
        elif not path.exists():
            raise InputError("no such file", str(path))
        else:
            files.append(path)
    return files


def read_inputs(paths: Sequence[Path], mapping: ColumnMapping | None = None) -> InputSet:
    """Frame every input record of the files (in order) as a RawRecord; side files are attached."""
    stream = InputStream(input_files(paths), whole_files=True)
    records = list(stream.records(mapping or ColumnMapping()))
    return InputSet(records, stream.files, stream.rows_read, stream.ignored_columns)


def _csv_ignored(path: Path, mapping: ColumnMapping) -> tuple[str, ...]:
    import csv

    with path.open("r", encoding=mapping.encoding, newline="") as handle:
        try:
            names = next(csv.reader(handle, delimiter=mapping.delimiter))
        except (StopIteration, csv.Error, UnicodeDecodeError):
            return ()
    return Header.resolve(names, mapping, str(path)).ignored


def _frame_json(path: Path, first: int) -> list[RawRecord]:
    """A JSON file's records (one per element of a top-level array), numbered from ``first``."""
    source = str(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        return [RawRecord(first, source, 1, InputError("file is not valid UTF-8", source, 1))]
    except json.JSONDecodeError as exc:
        return [RawRecord(first, source, exc.lineno, InputError(f"invalid JSON: {exc.msg}", source, exc.lineno))]
    except RecursionError:
        return [RawRecord(first, source, 1, InputError("JSON nested too deeply", source, 1))]
    if isinstance(data, list):
        return [RawRecord(first + i, f"{source}[{i + 1}]", 1, _Decoded(e)) for i, e in enumerate(data)]
    return [RawRecord(first, source, 1, _Decoded(data))]


@dataclass(frozen=True, slots=True)
class _Decoded:
    """An already decoded JSON value (from a .json file or a DataFrame column)."""

    value: Any

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


def _framed(
    index: int,
    entry: GroupedTransaction | InputError | SourceRow,
    source: str,
    side: Mapping[str, Mapping[str, list[SourceRow]]],
) -> RawRecord:
    if isinstance(entry, GroupedTransaction):
        attached = {kind: tuple(rows.get(entry.transaction_id, ())) for kind, rows in side.items()}
        group = entry
        if any(attached.values()):
            group = GroupedTransaction(entry.transaction_id, entry.source, entry.rows, SideRows(attached))
        return RawRecord(index, source, group.first_line, group, group.lines)
    if isinstance(entry, InputError):
        return RawRecord(index, source, entry.line or 0, entry)
    return RawRecord(index, source, entry.line, entry)


@dataclass
class InputStream:
    """The input's raw records as the files are read (`records`), and what has been read so far: final once
    `records` is exhausted. `read_inputs` and `stream_inputs` both read through it."""

    files: list[Path]
    whole_files: bool = False
    """Group a CSV file's rows by transaction id over the whole file (`group_rows`: rows of one transaction
    may be anywhere) before its first record, or yield each run of rows as it ends (`group_runs`)."""
    rows_read: int = 0
    count: int = 0
    """Raw records yielded so far."""
    ignored_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scattered: list[str] = field(default_factory=list)
    """Transaction ids whose rows were found apart in their file while streaming runs. If any, the records
    yielded are not the batch's records: `read_inputs` must read it again, grouping each whole file."""
    finished: bool = False

    def records(self, mapping: ColumnMapping) -> Iterator[RawRecord]:
        """Raw records in input order, side-file rows attached."""
        side = {kind: read_side_file(kind, path, mapping) for kind, path in mapping.side_files.items()}
        for path in self.files:
            source = str(path)
            if path.suffix == ".jsonl":
                with path.open("rb") as handle:
                    for number, raw_line in enumerate(handle, start=1):
                        if raw_line.strip():
                            self.rows_read += 1
                            self.count += 1
                            yield RawRecord(self.count - 1, source, number, raw_line)
            elif path.suffix in (".csv", ".parquet"):
                if path.suffix == ".csv":
                    rows: Iterable[SourceRow | InputError] = self._counted(read_csv_rows(path, mapping))
                    ignored = _csv_ignored(path, mapping)
                else:
                    rows, header = _parquet_rows(path, mapping)
                    self.rows_read += len(rows)
                    ignored = header.ignored
                grouped = (
                    group_rows(rows, source)
                    if self.whole_files or path.suffix == ".parquet"
                    else group_runs(rows, source, self.scattered)
                )
                for entry in grouped:
                    self.count += 1
                    yield _framed(self.count - 1, entry, source, side)
                if ignored:
                    self.ignored_columns[source] = ignored
            else:
                framed = _frame_json(path, self.count)
                self.rows_read += len(framed)
                self.count += len(framed)
                yield from framed
        self.finished = True

    def _counted(self, rows: Iterable[SourceRow | InputError]) -> Iterator[SourceRow | InputError]:
        for row in rows:
            self.rows_read += 1
            yield row


def stream_inputs(
    paths: Sequence[Path], mapping: ColumnMapping | None = None
) -> tuple[InputStream, Iterator[RawRecord]]:
    """The input's raw records as the files are read, and the stream's state (see `InputStream`).

    The same records as `read_inputs` unless a CSV transaction's rows are scattered over its file
    (``InputStream.scattered``), which is known only at the end.
    """
    stream = InputStream(input_files(paths))
    return stream, stream.records(mapping or ColumnMapping())


def _parquet_rows(path: Path, mapping: ColumnMapping) -> tuple[list[SourceRow], Header]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise InputError(
            "reading Parquet needs the parquet extra: pip install 'compliance-engine[parquet]'", str(path)
        ) from None
    source = str(path)
    table = pq.ParquetFile(path)
    names = list(table.schema_arrow.names)
    header = Header.resolve(names, mapping, source)
    rows: list[SourceRow] = []
    number = 1  # Parquet has no lines: row n of the file is reported as line n + 1, as in a CSV with a header
    for batch in table.iter_batches():
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for r in range(batch.num_rows):
            number += 1
            rows.append(row_values([col[r] for col in columns], header, source, number))
    return rows, header


def frame_rows(
    rows: Iterable[Sequence[Any]], names: Sequence[str], source: str, mapping: ColumnMapping, first_line: int = 2
) -> list[RawRecord]:
    """Raw records of an in-memory flat-layout table (a DataFrame partition): grouped by transaction id."""
    header = Header.resolve(list(names), mapping, source)
    source_rows = [row_values(cells, header, source, first_line + i) for i, cells in enumerate(rows)]
    return [_framed(i, entry, source, {}) for i, entry in enumerate(group_rows(source_rows, source))]


# ------------------------------------------------------------------------------------------------
# Parsing (runs in the workers)


def parse(raw: RawRecord, mapping: ColumnMapping | None = None) -> Record:
    """Decode, assemble and validate one raw record into a located Record (never raises for bad data)."""
    payload = raw.payload
    if isinstance(payload, bytes):
        return record_from_line(payload, raw.source, raw.line)
    if isinstance(payload, _Decoded):
        return record_from_object(payload.value, raw.source, raw.line)
    if isinstance(payload, InputError):
        return Record(raw.source, raw.line, None, payload)
    if isinstance(payload, SourceRow):
        missing = InputError("row has no transaction_id", raw.source, raw.line, "transaction_id")
        return Record(raw.source, raw.line, None, missing)
    if isinstance(payload, GroupedTransaction):
        return _parse_grouped(payload, mapping or ColumnMapping())
    return Record(raw.source, raw.line, None, InputError(f"unsupported record {type(payload).__name__}"))


def _parse_grouped(group: GroupedTransaction, mapping: ColumnMapping) -> Record:
    source, line = group.source, group.first_line
    try:
        shape, _ = assemble(group, mapping, track=False)
    except MappingError:
        raise
    except InputError as exc:
        return Record(source, line, None, exc, group.transaction_id)
    try:
        txn = Transaction.model_validate(shape)
    except ValidationError as exc:
        loc, message = first_validation_error(exc)
        _, origins = assemble(group, mapping)  # again, collecting origins: only an error needs them
        origin = locate(loc, origins)
        dotted = ".".join(str(p) for p in loc)
        if origin is None:
            error = InputError(message, source, line, dotted or None)
        else:
            field_name = origin[2] if not dotted else f"{origin[2]} → {dotted}"
            error = InputError(message, origin[0], origin[1], field_name)
        return Record(source, line, None, error, group.transaction_id)
    except (RecursionError, ValueError) as exc:  # pragma: no cover - defensive
        return Record(source, line, None, InputError(str(exc), source, line), group.transaction_id)
    return Record(source, line, txn, None, group.transaction_id)


def iter_parsed(records: Iterable[RawRecord], mapping: ColumnMapping | None = None) -> Iterator[Record]:
    for raw in records:
        yield parse(raw, mapping)
