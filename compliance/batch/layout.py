"""The flat CSV layout: one row per transaction line, parties in columns by role, optional side files.

A procurement or ERP export is a table with one row per order line. This module turns such rows into the
`Transaction` JSON shape without code: a *mapping file* renames the export's columns to the layout's
canonical names, translates values (``"Sales Order" → sale``), fills defaults and names side files. Rows
that share a ``transaction_id`` are one transaction; each row contributes one item.

Canonical columns (all optional except ``transaction_id``; documented in docs/batch.md):

* transaction: ``transaction_id date kind export_from destination value_amount value_currency end_use
  end_use_statement payment datacenter_power_confirmed notes``
* item (one per row): ``item_id item_model item_manufacturer item_quantity item_eccn item_kind item_value
  item_tpp item_die_area_mm2 item_datacenter item_interconnect_gbs item_dram_bandwidth_gbs
  item_location_verification item_ics_per_unit``
* parties, by role (``purchaser``, ``ultimate_consignee``, ``end_user``, ``intermediate_consignee``,
  ``exporter``, ``supplier``, ``forwarder``, ``lessor``, ``lessee``, ``operator``, ``financier``,
  ``owner``): ``{role}_name {role}_country {role}_address {role}_headquarters {role}_aliases {role}_lei
  {role}_uscc {role}_founded {role}_id {role}_residential_address {role}_verified_identity {role}_us_iaas_provider
  {role}_veu``. Two roles naming the same party (same name and country) become one party with both roles.

Side files (one row per party / grant / financing, keyed by ``transaction_id``) carry what does not fit in
columns: ownership chains, remote-access grants, financing.

Every value keeps its origin (file, line, column), so a validation error names the export's own column.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pycountry
import yaml

from compliance.errors import InputError
from compliance.model import Role
from compliance.native import by_constructor

TRANSACTION_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "date",
    "kind",
    "export_from",
    "destination",
    "value_amount",
    "value_currency",
    "end_use",
    "end_use_statement",
    "payment",
    "datacenter_power_confirmed",
    "notes",
)
ITEM_SPEC_COLUMNS: dict[str, str] = {
    "item_tpp": "tpp",
    "item_die_area_mm2": "die_area_mm2",
    "item_datacenter": "datacenter",
    "item_interconnect_gbs": "interconnect_gbs",
    "item_dram_bandwidth_gbs": "dram_bandwidth_gbs",
    "item_location_verification": "location_verification",
    "item_ics_per_unit": "ics_per_unit",
}
ITEM_COLUMNS: tuple[str, ...] = (
    "item_id",
    "item_model",
    "item_manufacturer",
    "item_quantity",
    "item_eccn",
    "item_kind",
    "item_value",
    *ITEM_SPEC_COLUMNS,
)
PARTY_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "country",
    "address",
    "headquarters",
    "aliases",
    "lei",
    "uscc",
    "founded",
    "residential_address",
    "verified_identity",
    "us_iaas_provider",
    "veu",
)
IDENTIFIER_FIELDS = frozenset({"lei", "uscc"})
"""Party columns that fill the party's ``identifiers`` (screened against the identifiers lists publish)."""
PARTY_ROLES: tuple[str, ...] = tuple(r.value for r in Role)
PARTY_COLUMNS: tuple[str, ...] = tuple(f"{role}_{f}" for role in PARTY_ROLES for f in PARTY_FIELDS)
CANONICAL_COLUMNS: frozenset[str] = frozenset((*TRANSACTION_COLUMNS, *ITEM_COLUMNS, *PARTY_COLUMNS))

SIDE_FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "parties": (
        "transaction_id",
        "party_id",
        "name",
        "roles",
        "country",
        "address",
        "headquarters",
        "aliases",
        "lei",
        "uscc",
        "founded",
        "ultimate_parent",
        "owners",
        "residential_address",
        "verified_identity",
        "us_iaas_provider",
        "veu",
    ),
    "remote_access": ("transaction_id", "lessee", "lessor", "share", "items", "trains_large_model"),
    "financing": ("transaction_id", "party", "kind", "amount", "currency", "beneficiary"),
}

_BOOLEAN_TRUE = frozenset({"true", "t", "yes", "y", "1", "x"})
_BOOLEAN_FALSE = frozenset({"false", "f", "no", "n", "0"})
_COUNTRY_COLUMNS = frozenset(
    {"export_from", "destination", *(f"{r}_{f}" for r in PARTY_ROLES for f in ("country", "headquarters"))}
)
_SIDE_COUNTRY_COLUMNS = frozenset({"country", "headquarters"})

Origin = tuple[str, int, str]
"""Where a value came from: (file, line, column as named in that file)."""


class MappingError(InputError):
    """A mapping file or CSV header that cannot be used; names the file and the key."""


@dataclass(frozen=True)
class ColumnMapping:
    """How an export's columns map onto the flat layout (loaded from a YAML or JSON mapping file).

    ``columns`` maps canonical name → export column name; ``values`` maps canonical name → {export value →
    layout value}; ``defaults`` fills a canonical column that is absent or blank.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)
    date_format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    list_separator: str = "|"
    thousands_separator: str | None = None
    side_files: Mapping[str, Path] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> ColumnMapping:
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) if p.suffix != ".json" else json.loads(p.read_text())
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise MappingError(f"cannot parse mapping file: {exc}", str(p)) from None
        if not isinstance(raw, dict):
            raise MappingError("a mapping file is a YAML/JSON object", str(p))
        return cls.from_dict(raw, base=p.parent, source=str(p))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, base: Path = Path("."), source: str | None = None) -> ColumnMapping:
        where = source or "mapping"
        known = {
            "columns",
            "values",
            "defaults",
            "date_format",
            "delimiter",
            "encoding",
            "list_separator",
            "thousands_separator",
            "side_files",
        }
        for key in raw:
            if key not in known:
                raise MappingError(f"unknown key {key!r} (expected one of {', '.join(sorted(known))})", where)
        columns = {str(k): str(v) for k, v in (raw.get("columns") or {}).items()}
        values = {str(k): {str(a): str(b) for a, b in (v or {}).items()} for k, v in (raw.get("values") or {}).items()}
        defaults = {str(k): str(v) for k, v in (raw.get("defaults") or {}).items()}
        for section, names in (("columns", columns), ("values", values), ("defaults", defaults)):
            for name in names:
                if name not in CANONICAL_COLUMNS:
                    raise MappingError(f"{section}: {name!r} is not a column of the flat layout", where)
        side: dict[str, Path] = {}
        for kind, rel in (raw.get("side_files") or {}).items():
            if kind not in SIDE_FILE_COLUMNS:
                raise MappingError(f"side_files: unknown kind {kind!r} (parties, remote_access, financing)", where)
            side[kind] = (base / str(rel)).resolve()
        return cls(
            columns=columns,
            values=values,
            defaults=defaults,
            date_format=raw.get("date_format"),
            delimiter=str(raw.get("delimiter", ",")),
            encoding=str(raw.get("encoding", "utf-8-sig")),
            list_separator=str(raw.get("list_separator", "|")),
            thousands_separator=raw.get("thousands_separator"),
            side_files=side,
            source=source,
        )

    def with_side_files(self, side: Mapping[str, Path]) -> ColumnMapping:
        merged = {**self.side_files, **{k: Path(v) for k, v in side.items()}}
        return replace(self, side_files=merged)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


@dataclass(frozen=True)
class Header:
    """A CSV header resolved against the layout: canonical name → (position, name in the file)."""

    positions: Mapping[str, tuple[int, str]]
    ignored: tuple[str, ...]
    names: Mapping[str, str] = field(init=False, repr=False, compare=False)
    """Canonical name → name in the file, in header order; shared by every row read with this header."""
    columns: tuple[str, ...] = field(init=False, repr=False, compare=False)
    indices: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", {c: ext for c, (_, ext) in self.positions.items()})
        object.__setattr__(self, "columns", tuple(self.positions))
        object.__setattr__(self, "indices", tuple(i for i, _ in self.positions.values()))

    @classmethod
    def resolve(cls, names: Sequence[str], mapping: ColumnMapping, source: str) -> Header:
        by_name = {n.strip(): i for i, n in enumerate(names)}
        positions: dict[str, tuple[int, str]] = {}
        renamed = set(mapping.columns.values())
        for canonical, external in mapping.columns.items():
            if external not in by_name:
                raise MappingError(
                    f"mapping names column {external!r} for {canonical}, but the file has no such column",
                    source,
                    1,
                )
            positions[canonical] = (by_name[external], external)
        for name, index in by_name.items():
            if name in CANONICAL_COLUMNS and name not in positions and name not in renamed:
                positions[name] = (index, name)
        if "transaction_id" not in positions:
            raise MappingError(
                "no transaction_id column (name it in the mapping file's columns: transaction_id: YOUR_COLUMN)",
                source,
                1,
            )
        used = {ext for _, ext in positions.values()}
        return cls(positions, tuple(n for n in by_name if n not in used))

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


class SourceRow:
    """One CSV (or Parquet) row: its non-blank values by canonical column, in header order.

    A value's origin is not stored per value (a row has dozens and only an error needs one): ``names``
    (canonical → column as named in the file) is shared by all rows of a file, and `origin` builds it.

    A CSV row is kept as its raw text (`from_text`) until its values are first read: the parent process
    only groups rows by transaction id, ships the text (one string, cheap to pickle), and the workers that
    assemble the transactions parse it again, in parallel.
    """

    __slots__ = ("_format", "_raw", "_texts", "line", "names", "source", "transaction_id")

    def __init__(
        self,
        line: int,
        source: str,
        texts: Mapping[str, str] | None,
        names: Mapping[str, str],
        *,
        raw: str | tuple[str, ...] = "",
        row_format: RowFormat | None = None,
        transaction_id: str | None = None,
    ) -> None:
        self.line = line
        self.source = source
        self.names = names
        self.transaction_id: str | None = texts.get("transaction_id") if texts is not None else transaction_id
        self._texts: Mapping[str, str] | None = texts
        self._raw: str | tuple[str, ...] = raw
        self._format: RowFormat | None = row_format

    @classmethod
    def from_text(
        cls,
        line: int,
        source: str,
        raw: str | tuple[str, ...],
        row_format: RowFormat,
        names: Mapping[str, str],
        transaction_id: str | None,
    ) -> SourceRow:
        """A row from the text the CSV reader consumed for it: one line, or the lines of a record with quoted
        line breaks. ``row_format`` reads it again; the row must have all the columns it picks."""
        return cls(line, source, None, names, raw=raw, row_format=row_format, transaction_id=transaction_id)

    @property
    def texts(self) -> Mapping[str, str]:
        """Canonical column → stripped non-blank text, in header order."""
        texts = self._texts
        if texts is None:
            assert self._format is not None
            texts = self._format.texts(self._raw)
            self._texts, self._raw = texts, ""
        return texts

    def origin(self, canonical: str) -> Origin:
        return (self.source, self.line, self.names[canonical])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SourceRow):
            return NotImplemented
        return (self.line, self.source, self.texts, self.names) == (other.line, other.source, other.texts, other.names)

    def __hash__(self) -> int:
        return hash((self.line, self.source, self.transaction_id))

    def __repr__(self) -> str:
        return f"SourceRow(line={self.line!r}, source={self.source!r}, texts={dict(self.texts)!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as a constructor call: cheaper both ways than a state protocol. Raw text travels raw.
        if self._texts is None:
            args = (self.line, self.source, self._raw, self._format, self.names, self.transaction_id)
            return (SourceRow.from_text, args)
        return (SourceRow, (self.line, self.source, self._texts, self.names))

    @property
    def values(self) -> dict[str, tuple[str, Origin]]:
        """Canonical column → (value, origin), in header order."""
        return {c: (t, (self.source, self.line, self.names[c])) for c, t in self.texts.items()}


@dataclass(frozen=True)
class RowFormat:
    """How a CSV row's raw text becomes its values: the delimiter, and the canonical columns with the
    positions of their cells (one object per file, shared by its rows)."""

    delimiter: str
    columns: tuple[str, ...]
    indices: tuple[int, ...]

    def texts(self, raw: str | tuple[str, ...]) -> dict[str, str]:
        if isinstance(raw, str) and _plain(raw):
            cells = _split(raw, self.delimiter)
        else:
            cells = next(csv.reader([raw] if isinstance(raw, str) else raw, delimiter=self.delimiter))
        return {c: t for c, i in zip(self.columns, self.indices, strict=True) if (t := cells[i].strip())}

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


@dataclass(frozen=True)
class SideRows:
    """Side-file rows of one transaction, by kind."""

    rows: Mapping[str, tuple[SourceRow, ...]] = field(default_factory=dict)

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


_NO_SIDE_ROWS = SideRows()
"""Shared by every transaction without side-file rows (most of them; one object to pickle per chunk)."""


def row_values(cells: Sequence[Any], header: Header, source: str, line: int) -> SourceRow:
    """The row's non-blank values (cells of any type: CSV strings, Parquet or DataFrame values)."""
    texts: dict[str, str] = {}
    width = len(cells)
    for canonical, index in zip(header.columns, header.indices, strict=True):
        raw = cells[index] if index < width else ""
        text = raw.strip() if type(raw) is str else _text(raw)
        if text:
            texts[canonical] = text
    return SourceRow(line, source, texts, header.names)


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat() if raw.time() == dt.time() else raw.isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    if isinstance(raw, float):
        if math.isnan(raw):  # NaN from a DataFrame means "blank"
            return ""
        return repr(int(raw)) if raw.is_integer() else repr(raw)
    return str(raw).strip()


# ------------------------------------------------------------------------------------------------
# Reading CSV files into grouped rows


@dataclass(frozen=True)
class GroupedTransaction:
    """All rows of one transaction id, in file order, with its side-file rows."""

    transaction_id: str
    source: str
    rows: tuple[SourceRow, ...]
    side: SideRows = _NO_SIDE_ROWS

    def __reduce__(self) -> tuple[type[GroupedTransaction], tuple[str, str, tuple[SourceRow, ...], SideRows]]:
        return (GroupedTransaction, (self.transaction_id, self.source, self.rows, self.side))

    @property
    def first_line(self) -> int:
        return self.rows[0].line

    @property
    def lines(self) -> str:
        lines = [r.line for r in self.rows]
        return (
            str(lines[0])
            if len(lines) == 1
            else f"{lines[0]}-{lines[-1]}"
            if _contiguous(lines)
            else ",".join(str(n) for n in lines)
        )


def _contiguous(lines: Sequence[int]) -> bool:
    """Whether increasing line numbers (a group's rows are in file order) leave no gap."""
    return lines[-1] - lines[0] == len(lines) - 1


def read_csv_rows(path: Path, mapping: ColumnMapping) -> Iterator[SourceRow | InputError]:
    """Rows of a flat-layout CSV file as canonical values; an unreadable row becomes an InputError.

    A line without a quote character is one record whose cells are the line split at the delimiter, exactly
    what the CSV reader would make of it, at a fraction of the cost; only a line with quotes (a cell with a
    delimiter or a line break inside) goes through the reader, which takes as many lines as the record has.
    """
    source = str(path)
    delimiter = mapping.delimiter
    with path.open("r", encoding=mapping.encoding, newline="") as handle:
        lines = iter(handle)
        consumed: list[str] = []  # the lines the reader took for the current record

        def reader_lines() -> Iterator[str]:
            for text in lines:
                consumed.append(text)
                yield text

        try:
            names = next(csv.reader(reader_lines(), delimiter=delimiter))
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise MappingError(f"cannot read the header: {exc}", source, 1) from None
        header = Header.resolve(names, mapping, source)
        row_format = RowFormat(delimiter, header.columns, header.indices)
        shared = header.names
        key = header.indices[header.columns.index("transaction_id")]
        width = max(header.indices) + 1
        line = len(consumed)
        while True:
            try:
                text = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                yield InputError(f"unreadable CSV row: {exc}", source, line + 1)
                continue
            raw: str | tuple[str, ...]
            if _plain(text):
                line += 1
                cells = _split(text, delimiter)
                raw = text
            else:
                consumed[:] = [text]
                try:
                    cells = next(csv.reader(itertools.chain((text,), reader_lines()), delimiter=delimiter))
                except (csv.Error, UnicodeDecodeError) as exc:
                    line += len(consumed)
                    yield InputError(f"unreadable CSV row: {exc}", source, line)
                    continue
                line += len(consumed)
                raw = consumed[0] if len(consumed) == 1 else tuple(consumed)
            if not "".join(cells).strip():  # blank: no cell has a non-space character
                continue
            if len(cells) < width:
                yield row_values(cells, header, source, line)
                continue
            tid = cells[key].strip() or None
            yield SourceRow.from_text(line, source, raw, row_format, shared, tid)


def _plain(text: str) -> bool:
    """A line the CSV reader would split at its delimiters alone: no quote, no NUL."""
    return '"' not in text and "\0" not in text


def _split(text: str, delimiter: str) -> list[str]:
    """A plain line's cells (`_plain`), its line break dropped as the CSV reader drops it."""
    return text.rstrip("\r\n").split(delimiter)


def group_rows(
    rows: Iterable[SourceRow | InputError], source: str
) -> Iterator[GroupedTransaction | InputError | SourceRow]:
    """Group rows by transaction_id, in order of first appearance.

    A row without a transaction id is yielded alone (it becomes an error record naming its line).
    """
    groups: dict[str, list[SourceRow]] = {}
    order: list[str | InputError | SourceRow] = []
    for row in rows:
        if isinstance(row, InputError):
            order.append(row)
            continue
        tid = row.transaction_id
        if tid is None:
            order.append(row)
            continue
        bucket = groups.get(tid)
        if bucket is None:
            groups[tid] = [row]
            order.append(tid)
        else:
            bucket.append(row)
    for entry in order:
        if isinstance(entry, str):
            yield GroupedTransaction(entry, source, tuple(groups[entry]))
        else:
            yield entry


def group_runs(
    rows: Iterable[SourceRow | InputError], source: str, scattered: list[str]
) -> Iterator[GroupedTransaction | InputError | SourceRow]:
    """`group_rows` for a file read as it streams: a run of rows with one transaction id is yielded when the
    next row has another id, so a transaction can be screened before the file is read to its end.

    The result equals `group_rows`'s when each transaction's rows are contiguous, as exports sorted by order
    number are. An id met again after its run ended goes into ``scattered``; the caller must then group the
    whole file with `group_rows` instead (what was yielded is not the file's transactions).
    """
    seen: set[str] = set()
    current: str | None = None
    run: list[SourceRow] = []
    for row in rows:
        tid = None if isinstance(row, InputError) else row.transaction_id
        if tid is not None and tid == current and isinstance(row, SourceRow):
            run.append(row)
            continue
        if current is not None:  # the run ends here
            yield GroupedTransaction(current, source, tuple(run))
            current, run = None, []
        if tid is None or not isinstance(row, SourceRow):
            yield row
            continue
        if tid in seen:
            scattered.append(tid)
        seen.add(tid)
        current, run = tid, [row]
    if current is not None:
        yield GroupedTransaction(current, source, tuple(run))


def read_side_file(kind: str, path: Path, mapping: ColumnMapping) -> dict[str, list[SourceRow]]:
    """A side file's rows grouped by transaction_id (its columns use the canonical side-file names)."""
    source = str(path)
    expected = SIDE_FILE_COLUMNS[kind]
    out: dict[str, list[SourceRow]] = {}
    with path.open("r", encoding=mapping.encoding, newline="") as handle:
        # Side files are often written by another tool than the export: take the delimiter their header uses.
        first = handle.readline()
        handle.seek(0)
        delimiter = max((",", ";", "\t", "|"), key=lambda d: (first.count(d), d == mapping.delimiter))
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            names = [n.strip() for n in next(reader)]
        except StopIteration:
            return out
        for name in names:
            if name not in expected:
                raise MappingError(
                    f"{kind} side file: unknown column {name!r} (expected {', '.join(expected)})", source
                )
        if "transaction_id" not in names:
            raise MappingError(f"{kind} side file: no transaction_id column", source, 1)
        shared = {name: name for name in names}
        for cells in reader:
            line = reader.line_num
            texts: dict[str, str] = {}
            for i, name in enumerate(names):
                text = cells[i].strip() if i < len(cells) else ""
                if text:
                    texts[name] = text
            if "transaction_id" in texts:
                out.setdefault(texts["transaction_id"], []).append(SourceRow(line, source, texts, shared))
    return out


# ------------------------------------------------------------------------------------------------
# Converting values


def _convert(text: str, kind: str | None, mapping: ColumnMapping, origin: Origin, what: str) -> Any:
    """``text`` as a value of ``kind``; an InputError naming ``origin`` when it is not one."""
    try:
        return _value(text, kind, mapping)
    except ValueError as exc:
        source, line, column = origin
        raise InputError(f"{what}: {exc}", source, line, column) from None


def _value(text: str, kind: str | None, mapping: ColumnMapping) -> Any:
    """``text`` as a value of ``kind`` (number, integer, boolean, date, list; else the text); ValueError."""
    if kind == "number":
        return _number(text, mapping.thousands_separator)
    if kind == "integer":
        number = _number(text, mapping.thousands_separator)
        if not float(number).is_integer():
            raise ValueError(f"{text!r} is not a whole number")
        return int(number)
    if kind == "boolean":
        return _boolean(text)
    if kind == "date":
        return _date(text, mapping.date_format)
    if kind == "list":
        return [p.strip() for p in text.split(mapping.list_separator) if p.strip()]
    return text


def _number(text: str, thousands: str | None) -> float | int:
    cleaned = text.replace(thousands, "") if thousands else text
    cleaned = cleaned.replace("_", "").strip()
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def _boolean(text: str) -> bool:
    low = text.casefold()
    if low in _BOOLEAN_TRUE:
        return True
    if low in _BOOLEAN_FALSE:
        return False
    raise ValueError(f"{text!r} is not a yes/no value (true/false, yes/no, y/n, 1/0)")


@functools.lru_cache(maxsize=4096)
def _date(text: str, fmt: str | None) -> str:
    # Cached: an export has few distinct dates, and strptime is slow (a ValueError is not cached).
    if fmt:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            raise ValueError(f"{text!r} does not match the date format {fmt!r}") from None
    head = text[:10]
    try:
        return dt.date.fromisoformat(head).isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD, or set date_format in the mapping file)") from None


_COUNTRY_CACHE: dict[str, str] = {}


def country_code(text: str) -> str:
    """An ISO alpha-2 code from a code, an alpha-3 code or an English country name (else unchanged)."""
    if len(text) == 2:
        return text.upper()
    cached = _COUNTRY_CACHE.get(text)
    if cached is not None:
        return cached
    try:
        code = str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        code = text
    _COUNTRY_CACHE[text] = code
    return code


# ------------------------------------------------------------------------------------------------
# Assembling a Transaction dict from grouped rows

_TXN_FIELDS: dict[str, tuple[str, str]] = {
    # canonical column: (kind, target path in the Transaction shape, dotted)
    "date": ("date", "date"),
    "kind": ("text", "kind"),
    "export_from": ("text", "export_from"),
    "destination": ("text", "destination"),
    "end_use": ("text", "end_use"),
    "notes": ("text", "notes"),
    "value_amount": ("number", "value.amount"),
    "value_currency": ("text", "value.currency"),
    "end_use_statement": ("boolean", "flags.end_use_statement"),
    "payment": ("text", "flags.payment"),
    "datacenter_power_confirmed": ("boolean", "flags.datacenter_power_confirmed"),
}
_ITEM_FIELDS: dict[str, tuple[str, str]] = {
    "item_id": ("text", "id"),
    "item_model": ("text", "model"),
    "item_manufacturer": ("text", "manufacturer"),
    "item_quantity": ("integer", "quantity"),
    "item_eccn": ("text", "eccn"),
    "item_kind": ("text", "kind"),
    "item_value": ("number", "value"),
    "item_tpp": ("number", "specs.tpp"),
    "item_die_area_mm2": ("number", "specs.die_area_mm2"),
    "item_datacenter": ("boolean", "specs.datacenter"),
    "item_interconnect_gbs": ("number", "specs.interconnect_gbs"),
    "item_dram_bandwidth_gbs": ("number", "specs.dram_bandwidth_gbs"),
    "item_location_verification": ("boolean", "specs.location_verification"),
    "item_ics_per_unit": ("integer", "specs.ics_per_unit"),
}
_PARTY_COLUMN_INFO: dict[str, tuple[str, str]] = {f"{r}_{f}": (r, f) for r in PARTY_ROLES for f in PARTY_FIELDS}
_PARTY_FIELD_KINDS: dict[str, str] = {
    "id": "text",
    "name": "text",
    "country": "text",
    "address": "text",
    "headquarters": "text",
    "aliases": "list",
    "lei": "text",
    "uscc": "text",
    "founded": "date",
    "residential_address": "boolean",
    "verified_identity": "boolean",
    "us_iaas_provider": "boolean",
    "veu": "text",
}


@dataclass(frozen=True, slots=True)
class _Column:
    """One canonical column compiled against a mapping: how its text is translated, converted and placed."""

    canonical: str
    kind: str | None
    """Conversion (number, integer, boolean, date, list), None for text."""
    parent: str | None
    """The nested object the value goes in (``value``, ``flags``, ``specs``), None for the top level."""
    key: str
    """The field the value sets (for a party column: the party field)."""
    table: Mapping[str, str] | None
    """The mapping file's value translation for the column."""
    country: bool
    default: str | None = None
    """Set on the plan's default entries: the mapping file's default, used when the row has no value."""
    plain: bool = field(init=False)
    """Neither translated nor a country: `resolve` returns the text as it is."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "plain", self.table is None and not self.country)

    def resolve(self, text: str) -> str:
        """The text translated through the mapping's values and, for a country column, coded."""
        if self.plain:
            return text
        table = self.table
        if table is not None:
            text = table.get(text, text)
        return country_code(text) if self.country else text

    def convert(self, text: str, row: SourceRow, mapping: ColumnMapping) -> Any:
        """The (resolved) text as the column's value; an InputError naming the row's cell when it is not one."""
        if self.kind is None:
            return text
        try:
            return _value(text, self.kind, mapping)
        except ValueError as exc:
            source, line, where = self.origin(row)
            raise InputError(f"{self.canonical}: {exc}", source, line, where) from None

    def origin(self, row: SourceRow) -> Origin:
        if self.default is None:
            return (row.source, row.line, row.names[self.canonical])
        return (row.source if row.texts else "", row.line, f"{self.canonical} (default in the mapping file)")

    def path(self, *prefix: str | int) -> tuple[str | int, ...]:
        return (*prefix, self.key) if self.parent is None else (*prefix, self.parent, self.key)


@dataclass(frozen=True, slots=True)
class _Section:
    """The columns of one part of the shape (transaction, item or party fields) a header has, in header
    order, then the mapping's defaults for that part, in mapping order (a row uses a default when it has no
    value of its own: what comes after the row's own values)."""

    columns: tuple[_Column, ...]
    defaults: tuple[_Column, ...]

    def values(self, row: SourceRow) -> list[tuple[_Column, str]]:
        """(column, text as found or defaulted, before translation) of the row, in processing order."""
        texts = row.texts
        found = [(c, text) for c in self.columns if (text := texts.get(c.canonical)) is not None]
        for c in self.defaults:
            if c.default is not None and c.canonical not in texts:
                found.append((c, c.default))
        return found


@dataclass(frozen=True, slots=True)
class _Plan:
    """A mapping compiled against one header's canonical columns, built once and reused for every row."""

    transaction: _Section
    item: _Section
    party: _Section

    @classmethod
    def compile(cls, mapping: ColumnMapping, canonical: Iterable[str]) -> _Plan:
        by_section: dict[str, tuple[list[_Column], list[_Column]]] = {s: ([], []) for s in ("txn", "item", "party")}

        def column(name: str, default: str | None) -> tuple[str, _Column] | None:
            table = mapping.values.get(name)
            country = name in _COUNTRY_COLUMNS
            spec = _TXN_FIELDS.get(name) or _ITEM_FIELDS.get(name)
            if spec is not None:
                kind, dotted = spec
                parent, _, key = dotted.rpartition(".")
                section = "txn" if name in _TXN_FIELDS else "item"
                conv = None if kind == "text" else kind
                return section, _Column(name, conv, parent or None, key, table, country, default)
            party = _PARTY_COLUMN_INFO.get(name)
            if party is not None:
                role, f = party
                conv = _PARTY_FIELD_KINDS[f]
                return "party", _Column(name, None if conv == "text" else conv, role, f, table, country, default)
            return None

        for name in canonical:
            found = column(name, None)
            if found is not None:
                by_section[found[0]][0].append(found[1])
        for name, default in mapping.defaults.items():
            found = column(name, default)
            if found is not None:
                by_section[found[0]][1].append(found[1])
        txn, item, party = (_Section(tuple(a), tuple(b)) for a, b in by_section.values())
        return cls(txn, item, party)


_PLANS: dict[tuple[int, tuple[str, ...]], tuple[ColumnMapping, _Plan]] = {}
_LAST_PLAN: list[tuple[ColumnMapping, Mapping[str, str], _Plan]] = []


def _plan(mapping: ColumnMapping, row: SourceRow) -> _Plan:
    """The compiled plan for a mapping and the header of ``row`` (cached per process)."""
    if _LAST_PLAN:
        last_mapping, last_names, last = _LAST_PLAN[0]
        if last_mapping is mapping and last_names is row.names:  # the rows of one file share their names
            return last
    key = (id(mapping), tuple(row.names))
    cached = _PLANS.get(key)
    if cached is not None and cached[0] is mapping:
        plan = cached[1]
    else:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        plan = _Plan.compile(mapping, key[1])
        _PLANS[key] = (mapping, plan)
    _LAST_PLAN[:] = [(mapping, row.names, plan)]
    return plan


Origins = dict[tuple[str | int, ...], Origin]


def assemble(
    group: GroupedTransaction, mapping: ColumnMapping, *, track: bool = True
) -> tuple[dict[str, Any], Origins]:
    """The Transaction shape of one grouped transaction, and the origin of every value in it.

    Raises InputError (naming file, line and the export's column) when rows of one transaction disagree on
    a transaction-level value or a value cannot be converted. With ``track=False`` the origins are not
    collected (an empty dict is returned): the fast path, when they are only needed if validation fails.
    """
    origins: Origins | None = {} if track else None
    rows = group.rows
    first = rows[0]
    plan = _plan(mapping, first)
    txn: dict[str, Any] = {"id": group.transaction_id}
    if origins is not None:
        origins[("id",)] = first.origin("transaction_id")
    # Transaction-level values: the first row that has one sets it; the others must agree.
    seen: dict[str, tuple[str, str, int]] = {}  # canonical → (text as found, translated text, line)
    for row in rows:
        for column, raw in plan.transaction.values(row):
            previous = seen.get(column.canonical)
            if previous is not None:
                if raw != previous[0] and (text := column.resolve(raw)) != previous[1]:
                    source, line, where = column.origin(row)
                    raise InputError(
                        f"{column.canonical} is {text!r} here but {previous[1]!r} on line {previous[2]} "
                        "of the same transaction",
                        source,
                        line,
                        where,
                    )
                continue
            text = raw if column.plain else column.resolve(raw)
            seen[column.canonical] = (raw, text, row.line)
            value = text if column.kind is None else column.convert(text, row, mapping)
            target = txn if column.parent is None else txn.setdefault(column.parent, {})
            target[column.key] = value
            if origins is not None:
                origins[column.path()] = column.origin(row)
    # One item per row that has an item value.
    items: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {}
        n = len(items)
        for column, raw in plan.item.values(row):
            text = raw if column.plain else column.resolve(raw)
            value = text if column.kind is None else column.convert(text, row, mapping)
            target = item if column.parent is None else item.setdefault(column.parent, {})
            target[column.key] = value
            if origins is not None:
                origins[column.path("items", n)] = column.origin(row)
        if item:
            item.setdefault("id", f"i{n + 1}")
            items.append(item)
    if items:
        txn["items"] = items
    parties = _column_parties(plan.party, rows, mapping, origins)
    side = group.side.rows
    for srow in side.get("parties", ()):
        parties.append(_side_party(srow, len(parties), mapping, origins))
    if parties:
        txn["parties"] = parties
    grants = [
        _side_record(srow, "remote_access", i, mapping, origins) for i, srow in enumerate(side.get("remote_access", ()))
    ]
    if grants:
        txn["remote_access"] = grants
    financing = [
        _side_record(srow, "financing", i, mapping, origins) for i, srow in enumerate(side.get("financing", ()))
    ]
    if financing:
        txn["financing"] = financing
    return txn, origins if origins is not None else {}


def _column_parties(
    section: _Section, rows: Sequence[SourceRow], mapping: ColumnMapping, origins: Origins | None
) -> list[dict[str, Any]]:
    """Parties named in role columns; the same name and country under two roles is one party."""
    # role → field → (translated text, column, row, text as found), in the order the fields were first seen
    by_role: dict[str, dict[str, tuple[str, _Column, SourceRow, str]]] = {}
    for row in rows:
        for column, raw in section.values(row):
            role = column.parent
            assert role is not None
            fields = by_role.setdefault(role, {})
            previous = fields.get(column.key)
            if previous is None:
                fields[column.key] = (raw if column.plain else column.resolve(raw), column, row, raw)
            elif raw != previous[3] and (text := column.resolve(raw)) != previous[0]:
                source, line, where = column.origin(row)
                raise InputError(
                    f"{column.canonical} is {text!r} here but {previous[0]!r} on line {previous[2].line} "
                    "of the same transaction",
                    source,
                    line,
                    where,
                )
    parties: list[dict[str, Any]] = []
    index: dict[tuple[str, str], int] = {}
    for role in PARTY_ROLES:
        fields = by_role.get(role, {})
        if not fields:
            continue
        name = fields.get("name")
        country = fields.get("country")
        key = (" ".join(name[0].casefold().split()) if name else "", country[0] if country else "")
        if name is not None and key in index:
            parties[index[key]]["roles"].append(role)
            continue
        n = len(parties)
        party: dict[str, Any] = {"roles": [role]}
        for f, (text, column, row, _) in fields.items():
            value = text if column.kind is None else column.convert(text, row, mapping)
            if f in IDENTIFIER_FIELDS:
                party.setdefault("identifiers", {})[f] = value
            else:
                party[f] = value
            if origins is not None:
                path: tuple[str | int, ...] = (
                    ("parties", n, "identifiers", f) if f in IDENTIFIER_FIELDS else ("parties", n, f)
                )
                origins[path] = column.origin(row)
        party.setdefault("id", role)
        if origins is not None:
            _, any_column, any_row, _ = next(iter(fields.values()))
            source, line, _ = any_column.origin(any_row)
            origins[("parties", n, "roles")] = (source, line, f"{role}_*")
            if name is None:
                origins[("parties", n, "name")] = (source, line, f"{role}_name")
            if country is None:
                origins[("parties", n, "country")] = (source, line, f"{role}_country")
        if name is not None:
            index[key] = n
        parties.append(party)
    return parties


def _side_party(row: SourceRow, n: int, mapping: ColumnMapping, origins: Origins | None) -> dict[str, Any]:
    party: dict[str, Any] = {}
    for column, given in row.texts.items():
        if column == "transaction_id":
            continue
        origin = row.origin(column)
        text = country_code(given) if column in _SIDE_COUNTRY_COLUMNS else given
        key = column
        value: Any = text
        if column == "party_id":
            key = "id"
        elif column in ("roles", "aliases"):
            value = _convert(text, "list", mapping, origin, column)
        elif column in IDENTIFIER_FIELDS:
            party.setdefault("identifiers", {})[column] = text
            if origins is not None:
                origins[("parties", n, "identifiers", column)] = origin
            continue
        elif column == "owners":
            value = []
            for part in _convert(text, "list", mapping, origin, column):
                owner, _, share = part.partition(":")
                entry: dict[str, Any] = {"party": owner.strip()}
                if share.strip():
                    entry["share"] = _convert(share.strip(), "number", mapping, origin, "owners share")
                value.append(entry)
        elif column == "founded":
            value = _convert(text, "date", mapping, origin, column)
        elif column in ("residential_address", "verified_identity", "us_iaas_provider"):
            value = _convert(text, "boolean", mapping, origin, column)
        party[key] = value
        if origins is not None:
            origins[("parties", n, key)] = origin
    party.setdefault("id", f"p{n + 1}")
    return party


_SIDE_KINDS: dict[str, dict[str, str]] = {
    "remote_access": {"share": "number", "items": "list", "trains_large_model": "boolean"},
    "financing": {"amount": "number"},
}
"""Side-file columns that are not text, per section (everything else is kept as text)."""


def _side_record(
    row: SourceRow, section: str, n: int, mapping: ColumnMapping, origins: Origins | None
) -> dict[str, Any]:
    """One remote-access grant or financing entry from a side-file row, converted per `_SIDE_KINDS`."""
    record: dict[str, Any] = {}
    kinds = _SIDE_KINDS[section]
    for column, text in row.texts.items():
        if column == "transaction_id":
            continue
        kind = kinds.get(column)
        record[column] = _convert(text, kind, mapping, row.origin(column), column) if kind is not None else text
        if origins is not None:
            origins[(section, n, column)] = row.origin(column)
    return record


def locate(loc: Sequence[str | int], origins: Mapping[tuple[str | int, ...], Origin]) -> Origin | None:
    """The origin of the longest prefix of a pydantic error location that has one."""
    path = tuple(loc)
    while path:
        found = origins.get(path)
        if found is not None:
            return found
        path = path[:-1]
    return None
