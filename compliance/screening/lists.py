"""List snapshots: typed entries, content hashes, the project's YAML list format.

A ``ListSnapshot`` is one loaded list (or a bundle of lists, such as the whole CSL): its entries, the
snapshot date, and a sha256 that every determination records. The sha256 is computed over the
snapshot's canonical content (id, snapshot date and the sorted content hash of every entry), so the same
list imported from CSV or reloaded from our YAML has the same hash; ``source_sha256`` keeps the hash of
the file bytes as well.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from compliance.errors import ComplianceError
from compliance.evidence import ListEntry
from compliance.model import ListRef, ReviewPolicy
from compliance.native import by_constructor


class ListFormatError(ComplianceError, ValueError):
    """Malformed list input; ``str()`` is ``file:line: message``."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line if line is not None else '?'}: {message}")


# ---------------------------------------------------------------------------------------------
# Hashing


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_content_sha256(entry: ListEntry) -> str:
    """sha256 of an entry's canonical content (every field but ``content_sha256``; ``end_date`` and
    ``identifiers`` only when set, so entries without them keep the hash they had before those fields
    existed, and accepted matches bound to them stay closed)."""
    exclude = {"content_sha256"}
    if entry.end_date is None:
        exclude.add("end_date")
    if not entry.identifiers:
        exclude.add("identifiers")
    payload = entry.model_dump(mode="json", exclude=exclude)
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def with_hash(entry: ListEntry) -> ListEntry:
    """The entry with ``content_sha256`` filled in."""
    return entry.model_copy(update={"content_sha256": entry_content_sha256(entry)})


def make_entry(**fields: Any) -> ListEntry:
    """Build a validated entry and fill in its content hash."""
    return with_hash(ListEntry(**fields))


# ---------------------------------------------------------------------------------------------
# Field parsing shared by importers

_POLICY_PATTERNS: Final[list[tuple[re.Pattern[str], ReviewPolicy]]] = [
    (re.compile(r"policy\s+of\s+denial"), ReviewPolicy.policy_of_denial),
    (re.compile(r"presumption\s+of\s+denial"), ReviewPolicy.presumption_of_denial),
    (re.compile(r"case[\s-]*by[\s-]*case|casa-by-case"), ReviewPolicy.case_by_case),
    (re.compile(r"presumption\s+of\s+approval"), ReviewPolicy.presumption_of_approval),
]


def parse_review_policy(text: str | None) -> ReviewPolicy | None:
    """Map the licence-review-policy wording to the enum; the most restrictive policy named wins.

    ``"Presumption of denial. "`` -> presumption_of_denial; ``"Policy of denial. See §§ 746.8(b)..."`` ->
    policy_of_denial; ``"Case-by-case for ... ; presumption of denial for all other items"`` ->
    presumption_of_denial (a mixed policy is reduced to its most restrictive part; the full wording is
    kept in ``review_policy_text``); ``"See §746.5(b) of the EAR."`` -> None.
    """
    if not text:
        return None
    low = " ".join(text.lower().split())
    found = [policy for pattern, policy in _POLICY_PATTERNS if pattern.search(low)]
    if not found:
        return None
    return max(found, key=lambda p: p.restrictiveness)


_FR_RE: Final = re.compile(r"(\d+)\s*F\.?\s*R\.?\s*(\d[\d,]*\d|\d)", re.IGNORECASE)


def split_federal_register(text: str | None) -> list[str]:
    """``"84 FR 22961, 85 FR 29852; 86 F.R. 12529"`` -> ``["84 FR 22961", "85 FR 29852", "86 FR 12529"]``."""
    if not text:
        return []
    out: list[str] = []
    for m in _FR_RE.finditer(text):
        cite = f"{m.group(1)} FR {m.group(2).replace(',', '')}"
        if cite not in out:
            out.append(cite)
    if not out and text.strip():
        out = [p.strip() for p in re.split(r"[;,]", text) if p.strip()]
    return out


def parse_list_date(value: str | None) -> tuple[dt.date | None, str | None]:
    """Parse a list date; impossible ones (``0017-05-26``) give ``(None, warning)``."""
    if value is None or not value.strip():
        return None, None
    raw = value.strip()
    try:
        parsed = dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None, f"unparseable date {raw!r} ignored"
    if parsed.year < 1900:
        return None, f"implausible date {raw!r} ignored"
    return parsed, None


_ALIAS_SPLIT_RE: Final = re.compile(r";\s*(?:and\s+)?")


def split_aliases(text: str | None) -> list[str]:
    """``"A; B; and C"`` -> ``["A", "B", "C"]``."""
    if not text:
        return []
    out: list[str] = []
    for part in _ALIAS_SPLIT_RE.split(text):
        alias = " ".join(part.split()).strip(" ;,")
        if alias.lower().startswith("and "):
            alias = alias[4:]
        if alias and alias not in out:
            out.append(alias)
    return out


_ISO2_TAIL_RE: Final = re.compile(r",\s*([A-Z]{2})\s*$")


def address_country(address: str) -> str | None:
    """The ISO-2 code a CSL address ends with (``"..., Borisov, 222512, BY"`` -> ``"BY"``)."""
    m = _ISO2_TAIL_RE.search(address)
    return m.group(1) if m else None


# ---------------------------------------------------------------------------------------------
# Snapshot


@dataclass(frozen=True)
class ListSnapshot:
    """One loaded list: entries plus the identity a determination records."""

    list_id: str
    entries: tuple[ListEntry, ...]
    snapshot_date: dt.date | None
    source: str = ""
    title: str = ""
    sources: tuple[str, ...] = ()
    source_sha256: str | None = None
    sha256: str = field(default="")

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", self.content_sha256())

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor

    def content_sha256(self) -> str:
        hashes = sorted(f"{e.list_id}/{e.entry_id}/{e.content_sha256 or entry_content_sha256(e)}" for e in self.entries)
        payload = canonical_json(
            {
                "id": self.list_id,
                "snapshot_date": self.snapshot_date.isoformat() if self.snapshot_date else None,
                "entries": hashes,
            }
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def ref(self) -> ListRef:
        return ListRef(id=self.list_id, snapshot_date=self.snapshot_date, sha256=self.sha256)

    def by_id(self) -> dict[tuple[str, str], ListEntry]:
        return {(e.list_id, e.entry_id): e for e in self.entries}

    def list_ids(self) -> list[str]:
        return sorted({e.list_id for e in self.entries})

    def filter(self, list_ids: Iterable[str]) -> ListSnapshot:
        keep = set(list_ids)
        return ListSnapshot(
            list_id=self.list_id,
            entries=tuple(e for e in self.entries if e.list_id in keep),
            snapshot_date=self.snapshot_date,
            source=self.source,
            title=self.title,
            sources=self.sources,
        )


def summarize(snapshot: ListSnapshot) -> dict[str, Any]:
    """Counts by list and by country, snapshot date, hashes: what ``compliance lists show`` prints."""
    by_list: dict[str, int] = {}
    by_country: dict[str, int] = {}
    unconfirmed = 0
    for e in snapshot.entries:
        by_list[e.list_id] = by_list.get(e.list_id, 0) + 1
        key = e.country or "??"
        by_country[key] = by_country.get(key, 0) + 1
        unconfirmed += e.confidence == "unconfirmed"
    return {
        "id": snapshot.list_id,
        "title": snapshot.title,
        "source": snapshot.source,
        "snapshot_date": snapshot.snapshot_date.isoformat() if snapshot.snapshot_date else None,
        "sha256": snapshot.sha256,
        "source_sha256": snapshot.source_sha256,
        "entries": len(snapshot.entries),
        "names": sum(1 + len(e.aliases) for e in snapshot.entries),
        "with_identifiers": sum(bool(e.identifiers) for e in snapshot.entries),
        "unconfirmed": unconfirmed,
        "by_list": dict(sorted(by_list.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_country": dict(sorted(by_country.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


# ---------------------------------------------------------------------------------------------
# The project's YAML list format

_TOP_KEYS: Final = frozenset({"id", "title", "snapshot_date", "sources", "entries"})
_ENTRY_KEYS: Final[dict[str, str]] = {
    # YAML key -> ListEntry field
    "id": "entry_id",
    "list": "list_id",
    "name": "name",
    "aliases": "aliases",
    "addresses": "addresses",
    "country": "country",
    "countries": "countries",
    "federal_register": "federal_register",
    "start_date": "start_date",
    "end_date": "end_date",
    "license_requirement": "license_requirement",
    "review_policy": "review_policy",
    "review_policy_text": "review_policy_text",
    "footnotes": "footnotes",
    "source_url": "source_url",
    "confidence": "confidence",
    "notes": "notes",
    "identifiers": "identifiers",
}
_LINE_KEY: Final = "__line__"


class _LineLoader(yaml.SafeLoader):
    """Safe loader that records each mapping's line, rejects duplicate keys, anchors and aliases."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node)
    mapping[_LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def safe_yaml_load(text: str, path: str) -> Any:
    if re.search(r"^\s*[^#\n]*[&*][A-Za-z0-9_-]+", text, re.MULTILINE):
        # cheap pre-check; the real check is on the event stream below
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line = event.start_mark.line + 1 if event.start_mark else None
                raise ListFormatError(path, line, "YAML anchors and aliases are not allowed")
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ListFormatError(path, line, str(exc.problem or exc)) from None
    except yaml.YAMLError as exc:
        raise ListFormatError(path, None, f"YAML: {exc}") from None
    except ValueError as exc:  # an impossible date (2026-13-01) raised while constructing a timestamp
        raise ListFormatError(path, _line_of_date(text, str(exc)), f"invalid date: {exc}") from None
    except RecursionError:
        raise ListFormatError(path, None, "nesting too deep") from None


def _line_of_date(text: str, message: str) -> int | None:
    """Best effort: the first line holding an impossible YYYY-MM-DD date."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in re.finditer(r"\b(\d{4})-(\d{2})-(\d{2})\b", line):
            try:
                dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                return number
    return None


def strip_line_marks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_line_marks(v) for k, v in value.items() if k != _LINE_KEY}
    if isinstance(value, list):
        return [strip_line_marks(v) for v in value]
    return value


def parse_yaml_list(text: str, path: str = "<string>") -> ListSnapshot:
    """Parse our YAML list format (see ``compliance/data/entity_list.yaml``)."""
    doc = safe_yaml_load(text, path)
    if not isinstance(doc, dict):
        raise ListFormatError(path, 1, "a list file is a mapping with id, snapshot_date and entries")
    unknown = sorted(str(k) for k in doc if k not in _TOP_KEYS and k != _LINE_KEY)
    if unknown:
        raise ListFormatError(path, 1, f"unknown top-level key(s): {', '.join(unknown)}")
    for key in ("id", "entries"):
        if key not in doc:
            raise ListFormatError(path, 1, f"missing top-level key {key!r}")
    list_id = str(doc["id"])
    snap = doc.get("snapshot_date")
    if snap is not None and not isinstance(snap, dt.date):
        raise ListFormatError(path, 1, f"snapshot_date {snap!r} is not a date (YYYY-MM-DD)")
    raw_entries = doc["entries"]
    if not isinstance(raw_entries, list):
        raise ListFormatError(path, doc[_LINE_KEY], "entries must be a list")
    entries: list[ListEntry] = []
    seen: dict[tuple[str, str], int] = {}
    for raw in raw_entries:
        if not isinstance(raw, dict):
            raise ListFormatError(path, None, "each entry must be a mapping")
        line = int(raw.get(_LINE_KEY, 0)) or None
        unknown = sorted(str(k) for k in raw if k not in _ENTRY_KEYS and k != _LINE_KEY)
        if unknown:
            raise ListFormatError(path, line, f"unknown entry key(s): {', '.join(unknown)}")
        fields = {_ENTRY_KEYS[k]: strip_line_marks(v) for k, v in raw.items() if k != _LINE_KEY}
        fields.setdefault("list_id", list_id)
        if "entry_id" not in fields or "name" not in fields:
            raise ListFormatError(path, line, "an entry needs id and name")
        fields["entry_id"] = str(fields["entry_id"])
        try:
            entry = make_entry(**fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ListFormatError(path, line, f"entry {fields['entry_id']!r}: {loc}: {err['msg']}") from None
        ident = (entry.list_id, entry.entry_id)
        if ident in seen:
            raise ListFormatError(path, line, f"duplicate entry id {entry.entry_id!r} (first at line {seen[ident]})")
        seen[ident] = line or 0
        entries.append(entry)
    sources = doc.get("sources") or []
    return ListSnapshot(
        list_id=list_id,
        entries=tuple(entries),
        snapshot_date=snap,
        source=path,
        title=str(doc.get("title") or ""),
        sources=tuple(str(s) for s in sources),
        source_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def load_yaml_list(path: str | Path) -> ListSnapshot:
    p = Path(path)
    return parse_yaml_list(p.read_text(encoding="utf-8"), str(p))


class _NoAliasDumper(yaml.SafeDumper):
    """Never writes anchors or aliases (our loaders reject them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def safe_yaml_dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=120)


def dump_yaml_list(snapshot: ListSnapshot) -> str:
    """Write a snapshot in our YAML list format (round-trips through ``parse_yaml_list``)."""
    reverse = {v: k for k, v in _ENTRY_KEYS.items()}
    entries: list[dict[str, Any]] = []
    for e in snapshot.entries:
        data = e.model_dump(mode="json", exclude={"content_sha256"})
        out: dict[str, Any] = {}
        for fname in _ENTRY_KEYS.values():
            value = data.get(fname)
            if fname == "list_id" and value == snapshot.list_id:
                continue
            if fname == "confidence" and value == "confirmed":
                continue
            if value in (None, [], ""):
                continue
            if fname == "identifiers":
                out["identifiers"] = [{k: v for k, v in ident.items() if v is not None} for ident in value]
            else:
                out[reverse[fname]] = dt.date.fromisoformat(value) if fname in ("start_date", "end_date") else value
        entries.append(out)
    doc: dict[str, Any] = {"id": snapshot.list_id}
    if snapshot.title:
        doc["title"] = snapshot.title
    doc["snapshot_date"] = snapshot.snapshot_date
    doc["sources"] = list(snapshot.sources) or ([snapshot.source] if snapshot.source else [])
    doc["entries"] = entries
    return safe_yaml_dump(doc)


def merge_snapshots(snapshots: Sequence[ListSnapshot], list_id: str = "combined") -> ListSnapshot:
    """One snapshot holding the entries of several (for tests and benchmarks)."""
    entries = tuple(e for s in snapshots for e in s.entries)
    dates = [s.snapshot_date for s in snapshots if s.snapshot_date]
    return ListSnapshot(list_id=list_id, entries=entries, snapshot_date=max(dates) if dates else None)


def entries_from_mapping(rows: Iterable[Mapping[str, Any]], list_id: str) -> list[ListEntry]:
    """Entries from plain dicts in our YAML key names (tests use this)."""
    out = []
    for row in rows:
        fields = {_ENTRY_KEYS[k]: v for k, v in row.items()}
        fields.setdefault("list_id", list_id)
        out.append(make_entry(**fields))
    return out
