"""Reading transactions from JSON and JSONL files, one located record at a time.

Every input record yields exactly one `Record`: either a validated Transaction or the reason it is not
one, located by file, line and field, so a batch never silently drops a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compliance.errors import InputError
from compliance.model import Transaction

MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Record:
    source: str
    line: int
    transaction: Transaction | None
    error: InputError | None
    raw_id: str | None = None

    def __post_init__(self) -> None:
        # The error is data here: without its traceback it holds no frames, whose locals (a worker's results
        # among them) would otherwise stay alive in a reference cycle until the cyclic collector runs.
        error: BaseException | None = self.error
        while error is not None:
            error.__traceback__ = None
            error = error.__cause__ or error.__context__

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


def validate_transaction(raw: Any, source: str, line: int) -> Transaction:
    """Validate one decoded record; the error names file, line and the first failing field."""
    if not isinstance(raw, dict):
        raise InputError(f"expected a JSON object, got {type(raw).__name__}", source, line)
    _check_depth(raw, source, line)
    try:
        return Transaction.model_validate(raw)
    except ValidationError as exc:
        where, message = first_validation_error(exc)
        raise InputError(message, source, line, ".".join(str(p) for p in where) or None) from None


def first_validation_error(exc: ValidationError) -> tuple[tuple[str | int, ...], str]:
    """The first error's location and message (with how many more there are).

    Read in a function of its own: the error's details hold the validator's exception, whose traceback
    reaches the caller's frame, so a caller that kept them in a local would make a reference cycle that keeps
    every frame above it (a worker's results among their locals) alive until the cyclic collector runs.
    """
    err = exc.errors()[0]
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return tuple(err["loc"]), f"{err['msg']}{more}"


def _check_depth(raw: Any, source: str, line: int) -> None:
    stack: list[tuple[Any, int]] = [(raw, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InputError(f"nested deeper than {MAX_JSON_DEPTH} levels", source, line)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _record(raw: Any, source: str, line: int) -> Record:
    raw_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    try:
        return Record(source, line, validate_transaction(raw, source, line), None, raw_id)
    except InputError as exc:
        return Record(source, line, None, exc, raw_id)


def _decode(text: str, source: str, line: int, *, single_line: bool = False) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # A JSONL record is one line: its trailing newline must not push the error onto the next line.
        where = line if single_line else line + exc.lineno - 1
        raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", source, where) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", source, line) from None


def record_from_line(raw_line: bytes, source: str, number: int) -> Record:
    """One JSONL line (bytes, as read) as a located Record: size, UTF-8, JSON and schema checked."""
    if len(raw_line) > MAX_RECORD_BYTES:
        return Record(source, number, None, InputError(f"record larger than {MAX_RECORD_BYTES} bytes", source, number))
    try:
        text = raw_line.decode("utf-8")
        return record_from_object(_decode(text, source, number, single_line=True), source, number)
    except UnicodeDecodeError:
        return Record(source, number, None, InputError("line is not valid UTF-8", source, number))
    except InputError as exc:
        return Record(source, number, None, exc)


def record_from_object(raw: Any, source: str, line: int) -> Record:
    """A decoded JSON value as a located Record (validated, or the reason it is not a Transaction)."""
    return _record(raw, source, line)


def iter_jsonl(path: Path) -> Iterator[Record]:
    source = str(path)
    with path.open("rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            yield record_from_line(raw_line, source, number)


def iter_json(path: Path) -> Iterator[Record]:
    """A JSON file holding one transaction or a list of them (records located by list index as line)."""
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
        data = _decode(text, source, 1)
    except UnicodeDecodeError:
        yield Record(source, 1, None, InputError("file is not valid UTF-8", source, 1))
        return
    except InputError as exc:
        yield Record(source, exc.line or 1, None, exc)
        return
    if isinstance(data, list):
        for index, raw in enumerate(data, start=1):
            yield _record(raw, f"{source}[{index}]", 1)
    else:
        yield _record(data, source, 1)


def iter_records(paths: Sequence[Path]) -> Iterator[Record]:
    """Records from files or directories (``*.json`` and ``*.jsonl``, sorted), in order."""
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
            if not files:
                raise InputError("no .json or .jsonl files in directory", str(path))
            yield from iter_records(files)
        elif not path.exists():
            raise InputError("no such file", str(path))
        elif path.suffix == ".jsonl":
            yield from iter_jsonl(path)
        else:
            yield from iter_json(path)
