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
  {role}_founded {role}_id {role}_residential_address {role}_verified_identity {role}_us_iaas_provider
  {role}_veu``. Two roles naming the same party (same name and country) become one party with both roles.

Side files (one row per party / grant / financing, keyed by ``transaction_id``) carry what does not fit in
columns: ownership chains, remote-access grants, financing.

Every value keeps its origin (file, line, column), so a validation error names the export's own column.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycountry
import yaml

from compliance.errors import InputError
from compliance.model import Role

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
    "founded",
    "residential_address",
    "verified_identity",
    "us_iaas_provider",
    "veu",
)
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
        return ColumnMapping(
            columns=self.columns,
            values=self.values,
            defaults=self.defaults,
            date_format=self.date_format,
            delimiter=self.delimiter,
            encoding=self.encoding,
            list_separator=self.list_separator,
            thousands_separator=self.thousands_separator,
            side_files=merged,
            source=self.source,
        )


@dataclass(frozen=True)
class Header:
    """A CSV header resolved against the layout: canonical name → (position, name in the file)."""

    positions: Mapping[str, tuple[int, str]]
    ignored: tuple[str, ...]

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


@dataclass(frozen=True)
class SourceRow:
    """One CSV (or Parquet) row, as canonical column → (value, origin)."""

    line: int
    values: Mapping[str, tuple[str, Origin]]


@dataclass(frozen=True)
class SideRows:
    """Side-file rows of one transaction, by kind."""

    rows: Mapping[str, tuple[SourceRow, ...]] = field(default_factory=dict)


def row_values(cells: Sequence[Any], header: Header, source: str, line: int) -> SourceRow:
    values: dict[str, tuple[str, Origin]] = {}
    for canonical, (index, external) in header.positions.items():
        raw = cells[index] if index < len(cells) else ""
        text = _text(raw)
        if text:
            values[canonical] = (text, (source, line, external))
    return SourceRow(line, values)


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
    side: SideRows = field(default_factory=SideRows)

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
    return all(b == a + 1 for a, b in itertools.pairwise(lines))


def read_csv_rows(path: Path, mapping: ColumnMapping) -> Iterator[SourceRow | InputError]:
    """Rows of a flat-layout CSV file as canonical values; an unreadable row becomes an InputError."""
    source = str(path)
    with path.open("r", encoding=mapping.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=mapping.delimiter)
        try:
            names = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise MappingError(f"cannot read the header: {exc}", source, 1) from None
        header = Header.resolve(names, mapping, source)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield InputError(f"unreadable CSV row: {exc}", source, reader.line_num)
                continue
            if not any(c.strip() for c in cells):
                continue
            yield row_values(cells, header, source, reader.line_num)


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
        tid = row.values.get("transaction_id")
        if tid is None:
            order.append(row)
            continue
        bucket = groups.get(tid[0])
        if bucket is None:
            groups[tid[0]] = [row]
            order.append(tid[0])
        else:
            bucket.append(row)
    for entry in order:
        if isinstance(entry, str):
            yield GroupedTransaction(entry, source, tuple(groups[entry]))
        else:
            yield entry


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
        for cells in reader:
            line = reader.line_num
            values: dict[str, tuple[str, Origin]] = {}
            for i, name in enumerate(names):
                text = cells[i].strip() if i < len(cells) else ""
                if text:
                    values[name] = (text, (source, line, name))
            if "transaction_id" in values:
                out.setdefault(values["transaction_id"][0], []).append(SourceRow(line, values))
    return out


# ------------------------------------------------------------------------------------------------
# Assembling a Transaction dict from grouped rows


class _Assembly:
    """Builds the Transaction JSON shape and remembers each value's origin for error messages."""

    def __init__(self, mapping: ColumnMapping) -> None:
        self.mapping = mapping
        self.origins: dict[tuple[str | int, ...], Origin] = {}

    def value(self, canonical: str, row: SourceRow) -> tuple[str, Origin] | None:
        found = row.values.get(canonical)
        if found is None:
            default = self.mapping.defaults.get(canonical)
            if default is None:
                return None
            source = next(iter(row.values.values()))[1][0] if row.values else ""
            found = (default, (source, row.line, f"{canonical} (default in the mapping file)"))
        text, origin = found
        table = self.mapping.values.get(canonical)
        if table is not None and text in table:
            text = table[text]
        if canonical in _COUNTRY_COLUMNS:
            text = country_code(text)
        return text, origin

    def resolved(self, row: SourceRow) -> dict[str, tuple[str, Origin]]:
        """The row's values with defaults filled, values translated and countries coded."""
        out = dict(row.values)
        mapping = self.mapping
        if mapping.defaults:
            source = next(iter(row.values.values()))[1][0] if row.values else ""
            for canonical, default in mapping.defaults.items():
                if canonical not in out:
                    out[canonical] = (default, (source, row.line, f"{canonical} (default in the mapping file)"))
        for canonical, (text, origin) in out.items():
            table = mapping.values.get(canonical) if mapping.values else None
            new = table.get(text, text) if table is not None else text
            if canonical in _COUNTRY_COLUMNS:
                new = country_code(new)
            if new is not text:
                out[canonical] = (new, origin)
        return out

    def put(self, target: dict[str, Any], key: str, value: Any, path: tuple[str | int, ...], origin: Origin) -> None:
        target[key] = value
        self.origins[(*path, key)] = origin

    def convert(self, text: str, kind: str, origin: Origin, what: str) -> Any:
        try:
            if kind == "number":
                return _number(text, self.mapping.thousands_separator)
            if kind == "integer":
                number = _number(text, self.mapping.thousands_separator)
                if not float(number).is_integer():
                    raise ValueError(f"{text!r} is not a whole number")
                return int(number)
            if kind == "boolean":
                return _boolean(text)
            if kind == "date":
                return _date(text, self.mapping.date_format)
            if kind == "list":
                return [p.strip() for p in text.split(self.mapping.list_separator) if p.strip()]
        except ValueError as exc:
            source, line, column = origin
            raise InputError(f"{what}: {exc}", source, line, column) from None
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


def _date(text: str, fmt: str | None) -> str:
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
    "founded": "date",
    "residential_address": "boolean",
    "verified_identity": "boolean",
    "us_iaas_provider": "boolean",
    "veu": "text",
}


def _set_path(
    asm: _Assembly, root: dict[str, Any], prefix: tuple[str | int, ...], dotted: str, value: Any, origin: Origin
) -> None:
    parts = dotted.split(".")
    target = root
    path: tuple[str | int, ...] = prefix
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        path = (*path, part)
    asm.put(target, parts[-1], value, path, origin)


def assemble(
    group: GroupedTransaction, mapping: ColumnMapping
) -> tuple[dict[str, Any], dict[tuple[str | int, ...], Origin]]:
    """The Transaction shape of one grouped transaction, and the origin of every value in it.

    Raises InputError (naming file, line and the export's column) when rows of one transaction disagree on
    a transaction-level value or a value cannot be converted.
    """
    asm = _Assembly(mapping)
    txn: dict[str, Any] = {"id": group.transaction_id}
    first = group.rows[0]
    asm.origins[("id",)] = first.values["transaction_id"][1]
    seen: dict[str, tuple[str, Origin]] = {}
    resolved = [asm.resolved(row) for row in group.rows]
    for values in resolved:
        for column, (text, origin) in values.items():
            spec = _TXN_FIELDS.get(column)
            if spec is None:
                continue
            kind, dotted = spec
            previous = seen.get(column)
            if previous is not None:
                if previous[0] != text:
                    raise InputError(
                        f"{column} is {text!r} here but {previous[0]!r} on line {previous[1][1]} "
                        "of the same transaction",
                        origin[0],
                        origin[1],
                        origin[2],
                    )
                continue
            seen[column] = (text, origin)
            _set_path(asm, txn, (), dotted, asm.convert(text, kind, origin, column), origin)
    items: list[dict[str, Any]] = []
    for values in resolved:
        item: dict[str, Any] = {}
        for column, (text, origin) in values.items():
            spec = _ITEM_FIELDS.get(column)
            if spec is None:
                continue
            kind, dotted = spec
            _set_path(asm, item, ("items", len(items)), dotted, asm.convert(text, kind, origin, column), origin)
        if item:
            item.setdefault("id", f"i{len(items) + 1}")
            items.append(item)
    if items:
        txn["items"] = items
    parties = _column_parties(asm, resolved)
    side = group.side.rows
    for srow in side.get("parties", ()):
        parties.append(_side_party(asm, srow, len(parties)))
    if parties:
        txn["parties"] = parties
    grants = [_side_record(asm, srow, "remote_access", i) for i, srow in enumerate(side.get("remote_access", ()))]
    if grants:
        txn["remote_access"] = grants
    financing = [_side_record(asm, srow, "financing", i) for i, srow in enumerate(side.get("financing", ()))]
    if financing:
        txn["financing"] = financing
    return txn, asm.origins


def _column_parties(asm: _Assembly, resolved: Sequence[Mapping[str, tuple[str, Origin]]]) -> list[dict[str, Any]]:
    """Parties named in role columns; the same name and country under two roles is one party."""
    by_role: dict[str, dict[str, tuple[str, Origin]]] = {}
    for values in resolved:
        for column, got in values.items():
            spec = _PARTY_COLUMN_INFO.get(column)
            if spec is None:
                continue
            role, f = spec
            fields = by_role.setdefault(role, {})
            previous = fields.get(f)
            if previous is not None and previous[0] != got[0]:
                origin = got[1]
                raise InputError(
                    f"{column} is {got[0]!r} here but {previous[0]!r} on line {previous[1][1]} of the same transaction",
                    origin[0],
                    origin[1],
                    origin[2],
                )
            fields.setdefault(f, got)
    parties: list[dict[str, Any]] = []
    index: dict[tuple[str, str], int] = {}
    for role in PARTY_ROLES:
        role_fields = by_role.get(role)
        if not role_fields:
            continue
        fields = role_fields
        name = fields.get("name")
        country = fields.get("country")
        key = (" ".join(name[0].casefold().split()) if name else "", country[0] if country else "")
        if name is not None and key in index:
            parties[index[key]]["roles"].append(role)
            continue
        n = len(parties)
        party: dict[str, Any] = {"roles": [role]}
        any_origin = next(iter(fields.values()))[1]
        asm.origins[("parties", n, "roles")] = (any_origin[0], any_origin[1], f"{role}_*")
        for f, (text, origin) in fields.items():
            value = asm.convert(text, _PARTY_FIELD_KINDS[f], origin, f"{role}_{f}")
            if f == "lei":
                party.setdefault("identifiers", {})
                asm.put(party["identifiers"], "lei", value, ("parties", n, "identifiers"), origin)
            else:
                asm.put(party, f, value, ("parties", n), origin)
        party.setdefault("id", role)
        if name is None:
            asm.origins[("parties", n, "name")] = (any_origin[0], any_origin[1], f"{role}_name")
        if country is None:
            asm.origins[("parties", n, "country")] = (any_origin[0], any_origin[1], f"{role}_country")
        if name is not None:
            index[key] = n
        parties.append(party)
    return parties


def _side_party(asm: _Assembly, row: SourceRow, n: int) -> dict[str, Any]:
    party: dict[str, Any] = {}
    path: tuple[str | int, ...] = ("parties", n)
    for column, (given, origin) in row.values.items():
        if column == "transaction_id":
            continue
        text = country_code(given) if column in _SIDE_COUNTRY_COLUMNS else given
        if column == "party_id":
            asm.put(party, "id", text, path, origin)
        elif column in ("roles", "aliases"):
            asm.put(party, column, asm.convert(text, "list", origin, column), path, origin)
        elif column == "lei":
            party.setdefault("identifiers", {})
            asm.put(party["identifiers"], "lei", text, (*path, "identifiers"), origin)
        elif column == "owners":
            owners = []
            for part in asm.convert(text, "list", origin, column):
                owner, _, share = part.partition(":")
                entry: dict[str, Any] = {"party": owner.strip()}
                if share.strip():
                    entry["share"] = asm.convert(share.strip(), "number", origin, "owners share")
                owners.append(entry)
            asm.put(party, "owners", owners, path, origin)
        elif column == "founded":
            asm.put(party, column, asm.convert(text, "date", origin, column), path, origin)
        elif column in ("residential_address", "verified_identity", "us_iaas_provider"):
            asm.put(party, column, asm.convert(text, "boolean", origin, column), path, origin)
        else:
            asm.put(party, column, text, path, origin)
    party.setdefault("id", f"p{n + 1}")
    return party


_SIDE_KINDS: dict[str, dict[str, str]] = {
    "remote_access": {"share": "number", "items": "list", "trains_large_model": "boolean"},
    "financing": {"amount": "number"},
}
"""Side-file columns that are not text, per section (everything else is kept as text)."""


def _side_record(asm: _Assembly, row: SourceRow, section: str, n: int) -> dict[str, Any]:
    """One remote-access grant or financing entry from a side-file row, converted per `_SIDE_KINDS`."""
    record: dict[str, Any] = {}
    path: tuple[str | int, ...] = (section, n)
    kinds = _SIDE_KINDS[section]
    for column, (text, origin) in row.values.items():
        if column == "transaction_id":
            continue
        kind = kinds.get(column)
        value = asm.convert(text, kind, origin, column) if kind is not None else text
        asm.put(record, column, value, path, origin)
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
