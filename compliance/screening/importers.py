"""Importers: trade.gov Consolidated Screening List CSV, OFAC legacy SDN CSV, a restricted-parties JSON.

Each importer returns a ``ListSnapshot``. Only the list sources asked for are imported (by default the
CSL importer keeps Entity List rows only). Bad input raises ``ListFormatError`` naming file and line;
recoverable oddities of the real files (an impossible date, an unknown country name) are kept as a
warning in the entry's ``notes``.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

import pycountry
from pydantic import ValidationError

from compliance.evidence import ListEntry
from compliance.screening.identifiers import parse_csl_ids, parse_ofac_remarks
from compliance.screening.lists import (
    ListFormatError,
    ListSnapshot,
    address_country,
    load_yaml_list,
    make_entry,
    parse_list_date,
    parse_review_policy,
    split_aliases,
    split_federal_register,
)

# ---------------------------------------------------------------------------------------------
# CSL

_CSL_HEADER: Final = (
    "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date,end_date,"
    "standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage,"
    "gross_registered_tonnage,vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships,"
    "dates_of_birth,nationalities,places_of_birth,source_information_url,ids"
)
CSL_COLUMNS_29: Final = _CSL_HEADER.split(",")
CSL_COLUMNS_28: Final = CSL_COLUMNS_29[1:]

# CSL source abbreviation (in parentheses in the ``source`` column) -> our list id.
CSL_LIST_IDS: Final[dict[str, str]] = {
    "EL": "entity_list",
    "MEU": "meu",
    "SDN": "sdn",
    "DPL": "dpl",
    "UVL": "uvl",
    "DTC": "dtc",
    "SSI": "ssi",
    "ISN": "isn",
    "PLC": "plc",
    "CMIC": "cmic",
    "CAP": "cap",
    "NS-MBS LIST": "ns_mbs",
    "NS-MBS": "ns_mbs",
    "FSE": "fse",
}
DEFAULT_CSL_LISTS: Final = frozenset({"entity_list"})


def csl_list_id(source: str) -> str:
    """``"Entity List (EL) - Bureau of Industry and Security"`` -> ``"entity_list"``."""
    m = re.search(r"\(([^)]+)\)", source)
    if m:
        abbr = m.group(1).strip().upper()
        if abbr in CSL_LIST_IDS:
            return CSL_LIST_IDS[abbr]
        return re.sub(r"[^a-z0-9]+", "_", abbr.lower()).strip("_")
    return re.sub(r"[^a-z0-9]+", "_", source.lower()).strip("_") or "unknown"


def _open_text(path: Path) -> tuple[str, bytes]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ListFormatError(path, None, f"corrupt or truncated gzip file ({exc})") from None
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding), raw
        except UnicodeDecodeError:
            continue
    raise ListFormatError(path, None, "cannot decode file")  # pragma: no cover - latin-1 never fails


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    return text or None


def import_csl(
    path: str | Path,
    *,
    lists: Iterable[str] | None = DEFAULT_CSL_LISTS,
    snapshot_date: dt.date | None = None,
    list_id: str | None = None,
) -> ListSnapshot:
    """Import a trade.gov Consolidated Screening List CSV (plain or gzipped, 28 or 29 columns).

    ``lists``: list ids to keep (``entity_list``, ``meu``, ``sdn``...); ``None`` keeps every source.
    ``snapshot_date`` defaults to the latest entry start date in the file (the CSV carries no date).
    """
    p = Path(path)
    text, raw = _open_text(p)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ListFormatError(p, 1, "empty file") from None
    header = [h.strip() for h in header]
    if header == CSL_COLUMNS_29:
        columns = CSL_COLUMNS_29
    elif header == CSL_COLUMNS_28:
        columns = CSL_COLUMNS_28
    else:
        missing = sorted({"source", "name"} - set(header))
        if missing:
            raise ListFormatError(p, 1, f"not a CSL header (missing {', '.join(missing)})")
        columns = header
    keep = set(lists) if lists is not None else None
    entries: list[ListEntry] = []
    seen: set[tuple[str, str]] = set()
    latest: dt.date | None = None
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(columns):
            raise ListFormatError(p, line, f"expected {len(columns)} columns, found {len(row)}")
        rec = dict(zip(columns, row, strict=True))
        lid = csl_list_id(rec["source"])
        if keep is not None and lid not in keep:
            continue
        name = _clean(rec["name"])
        if not name:
            raise ListFormatError(p, line, "row has no name")
        warnings: list[str] = []
        start, warn = parse_list_date(rec.get("start_date"))
        if warn:
            warnings.append(f"start_date: {warn}")
        if start and (latest is None or start > latest):
            latest = start
        end, warn = parse_list_date(rec.get("end_date"))
        if warn:
            warnings.append(f"end_date: {warn}")
        addresses = [a for a in (_clean(x) for x in (rec.get("addresses") or "").split("; ")) if a]
        countries: list[str] = []
        for addr in addresses:
            cc = address_country(addr)
            if cc and cc not in countries:
                countries.append(cc)
        policy_text = _clean(rec.get("license_policy"))
        entry_id = (rec.get("_id") or "").strip() or _row_id(lid, rec)
        if (lid, entry_id) in seen:
            entry_id = f"{entry_id}-{line}"
        seen.add((lid, entry_id))
        notes = [n for n in [_clean(rec.get("remarks")), _clean(rec.get("programs"))] if n]
        notes.extend(warnings)
        try:
            entry = make_entry(
                list_id=lid,
                entry_id=entry_id,
                name=name,
                aliases=split_aliases(rec.get("alt_names")),
                addresses=addresses,
                country=countries[0] if countries else None,
                countries=countries,
                federal_register=split_federal_register(rec.get("federal_register_notice")),
                start_date=start,
                end_date=end,
                license_requirement=_clean(rec.get("license_requirement")),
                review_policy=parse_review_policy(policy_text),
                review_policy_text=policy_text,
                source_url=_clean(rec.get("source_list_url")) or _clean(rec.get("source_information_url")),
                notes="; ".join(notes) or None,
                identifiers=parse_csl_ids(rec.get("ids")),
            )
        except ValidationError as exc:
            raise ListFormatError(p, line, str(exc.errors()[0]["msg"])) from None
        entries.append(entry)
    ids = sorted(keep) if keep is not None and len(keep) == 1 else None
    return ListSnapshot(
        list_id=list_id or (ids[0] if ids else "csl"),
        entries=tuple(entries),
        snapshot_date=snapshot_date or latest,
        source=str(p),
        title="Consolidated Screening List (trade.gov)",
        sources=(str(p),),
        source_sha256=hashlib.sha256(raw).hexdigest(),
    )


def _row_id(list_id: str, rec: dict[str, str]) -> str:
    number = (rec.get("entity_number") or "").strip()
    if number:
        return f"{list_id}-{number}"
    digest = hashlib.sha256(
        "|".join(
            [list_id, rec.get("name", ""), rec.get("addresses", ""), rec.get("federal_register_notice", "")]
        ).encode()
    ).hexdigest()[:16]
    return f"{list_id}-{digest}"


# ---------------------------------------------------------------------------------------------
# OFAC legacy CSV (sdn.csv + alt.csv + add.csv)

_OFAC_NULL: Final = "-0-"


def _ofac_rows(path: Path) -> list[tuple[int, list[str]]]:
    text, _ = _open_text(path)
    text = text.rstrip("\x1a\r\n ")
    out = []
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip().strip("\x1a")):
            continue
        out.append((reader.line_num, [_ofac_value(v) for v in row]))
    return out


def _ofac_value(value: str) -> str:
    v = value.strip()
    return "" if v == _OFAC_NULL else v


def country_code(name: str | None) -> str | None:
    """ISO-2 code for an English country name, or None (``"United Kingdom"`` -> ``"GB"``)."""
    if not name:
        return None
    text = name.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    special = {"russia": "RU", "iran": "IR", "korea, north": "KP", "north korea": "KP", "korea, south": "KR",
               "burma": "MM", "syria": "SY", "turkey": "TR", "venezuela": "VE", "bolivia": "BO",
               "taiwan": "TW", "vietnam": "VN", "laos": "LA", "moldova": "MD", "tanzania": "TZ",
               "congo, democratic republic of the": "CD", "the bahamas": "BS", "bahamas, the": "BS",
               "palestinian": "PS", "west bank": "PS", "gaza": "PS", "kosovo": "XK", "macau": "MO",
               "hong kong": "HK", "czech republic": "CZ", "cote d'ivoire": "CI"}  # fmt: skip
    low = text.lower()
    if low in special:
        return special[low]
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return None


def import_ofac(
    sdn: str | Path,
    alt: str | Path | None = None,
    add: str | Path | None = None,
    *,
    snapshot_date: dt.date | None = None,
    list_id: str = "sdn",
) -> ListSnapshot:
    """Import OFAC's legacy SDN CSV set (no header; ``-0-`` is null; a trailing ``\\x1a``).

    ``alt`` and ``add`` default to ``alt.csv``/``add.csv`` beside ``sdn`` when they exist. Alias and
    address rows whose ``ent_num`` has no SDN row are skipped (the shared 2024/2025 files mix dates).
    """
    sdn_path = Path(sdn)
    alt_path = Path(alt) if alt else sdn_path.with_name("alt.csv")
    add_path = Path(add) if add else sdn_path.with_name("add.csv")
    aliases: dict[str, list[str]] = {}
    if alt_path.exists():
        for line, row in _ofac_rows(alt_path):
            if len(row) < 4:
                raise ListFormatError(alt_path, line, f"expected 5 columns, found {len(row)}")
            if row[3]:
                aliases.setdefault(row[0], []).append(row[3])
    addresses: dict[str, list[tuple[str, str | None]]] = {}
    if add_path.exists():
        for line, row in _ofac_rows(add_path):
            if len(row) < 5:
                raise ListFormatError(add_path, line, f"expected 6 columns, found {len(row)}")
            parts = [x for x in (row[2], row[3], row[4]) if x]
            if parts:
                addresses.setdefault(row[0], []).append((", ".join(parts), country_code(row[4])))
    entries: list[ListEntry] = []
    raw_sdn = sdn_path.read_bytes()
    for line, row in _ofac_rows(sdn_path):
        if len(row) < 12:
            raise ListFormatError(sdn_path, line, f"expected 12 columns, found {len(row)}")
        ent_num, name = row[0], row[1]
        if not ent_num.isdigit():
            raise ListFormatError(sdn_path, line, f"ent_num {ent_num!r} is not a number")
        if not name:
            raise ListFormatError(sdn_path, line, "row has no name")
        addr = addresses.get(ent_num, [])
        countries: list[str] = []
        for _, cc in addr:
            if cc and cc not in countries:
                countries.append(cc)
        notes = [
            x for x in (f"programs: {row[3]}" if row[3] else "", f"type: {row[2]}" if row[2] else "", row[11]) if x
        ]
        entries.append(
            make_entry(
                list_id=list_id,
                entry_id=f"{list_id}-{ent_num}",
                name=name,
                aliases=list(dict.fromkeys(aliases.get(ent_num, []))),
                addresses=[a for a, _ in addr],
                country=countries[0] if countries else None,
                countries=countries,
                notes="; ".join(notes) or None,
                identifiers=parse_ofac_remarks(row[11], country_code),
            )
        )
    return ListSnapshot(
        list_id=list_id,
        entries=tuple(entries),
        snapshot_date=snapshot_date,
        source=str(sdn_path),
        title="OFAC SDN list (legacy CSV)",
        sources=tuple(str(x) for x in (sdn_path, alt_path, add_path) if x.exists()),
        source_sha256=hashlib.sha256(raw_sdn).hexdigest(),
    )


# ---------------------------------------------------------------------------------------------
# Restricted-parties JSON (one record per entry with name.english/native, aliases, Korean countries)

RPL_LIST_IDS: Final[dict[str, str]] = {
    "us-bis-entity-list": "entity_list",
    "us-bis-military-end-user-list": "meu",
    "us-ofac-ns-cmic": "cmic",
    "us-dod-section-1260h": "dod_1260h",
    "us-dhs-uflpa": "uflpa",
    "us-dod-section-1286": "dod_1286",
    "jp-meti-end-user-list": "jp_meti_eul",
    "ca-ised-named-research-organizations": "ca_ised_nro",
}

# Korean country names used by that file -> ISO-2.
KOREAN_COUNTRIES: Final[dict[str, str]] = {
    "중국": "CN", "러시아": "RU", "이란": "IR", "파키스탄": "PK", "아랍에미리트": "AE", "북한": "KP",
    "홍콩": "HK", "튀르키예": "TR", "터키": "TR", "말레이시아": "MY", "벨라루스": "BY", "영국": "GB",
    "시리아": "SY", "우크라이나": "UA", "싱가포르": "SG", "독일": "DE", "아프가니스탄": "AF", "캐나다": "CA",
    "레바논": "LB", "미얀마": "MM", "대만": "TW", "인도": "IN", "핀란드": "FI", "남수단": "SS",
    "남아프리카공화국": "ZA", "이스라엘": "IL", "프랑스": "FR", "아르메니아": "AM", "태국": "TH",
    "키프로스": "CY", "스위스": "CH", "불가리아": "BG", "이집트": "EG", "한국": "KR", "에스토니아": "EE",
    "아일랜드": "IE", "오만": "OM", "네덜란드": "NL", "일본": "JP", "벨기에": "BE", "그리스": "GR",
    "우즈베키스탄": "UZ", "카자흐스탄": "KZ", "몰타": "MT", "조지아": "GE", "브라질": "BR", "멕시코": "MX",
    "이탈리아": "IT", "키르기스스탄": "KG", "예멘": "YE", "스페인": "ES", "이라크": "IQ", "스웨덴": "SE",
    "노르웨이": "NO", "칠레": "CL", "아르헨티나": "AR", "인도네시아": "ID", "베트남": "VN", "바레인": "BH",
    "파나마": "PA", "요르단": "JO", "슬로바키아": "SK", "미국": "US", "호주": "AU", "뉴질랜드": "NZ",
    "볼리비아": "BO", "쿠바": "CU", "덴마크": "DK", "페루": "PE", "카타르": "QA", "포르투갈": "PT",
    "루마니아": "RO", "코스타리카": "CR", "자메이카": "JM", "스리랑카": "LK", "마다가스카르": "MG",
    "모로코": "MA", "파라과이": "PY", "룩셈부르크": "LU", "필리핀": "PH", "사우디아라비아": "SA",
    "라트비아": "LV", "리투아니아": "LT", "폴란드": "PL", "체코": "CZ", "헝가리": "HU", "세르비아": "RS",
    "아제르바이잔": "AZ", "타지키스탄": "TJ", "투르크메니스탄": "TM", "몽골": "MN", "캄보디아": "KH",
    "라오스": "LA", "베네수엘라": "VE", "니카라과": "NI", "수단": "SD", "리비아": "LY", "쿠웨이트": "KW",
    "마카오": "MO", "오스트리아": "AT", "슬로베니아": "SI", "크로아티아": "HR", "몰도바": "MD",
    "세이셸": "SC", "나이지리아": "NG", "케냐": "KE", "에티오피아": "ET", "콜롬비아": "CO", "에콰도르": "EC",
}  # fmt: skip


def import_restricted_parties_json(
    path: str | Path,
    *,
    lists: Iterable[str] | None = ("us-bis-entity-list",),
    snapshot_date: dt.date | None = None,
    list_id: str | None = None,
) -> ListSnapshot:
    """Import the compiled restricted-parties JSON (``../shared/data/bis_entity_list``).

    ``lists`` are the file's ``source.list_id`` values to keep (default: the BIS Entity List); ``None``
    keeps all. The file has no addresses, FR citations or policies; countries are translated from Korean.
    """
    p = Path(path)
    raw = p.read_bytes()
    try:
        records = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ListFormatError(p, exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(records, list):
        raise ListFormatError(p, 1, "expected a JSON array of records")
    keep = set(lists) if lists is not None else None
    entries: list[ListEntry] = []
    latest: dt.date | None = None
    for n, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ListFormatError(p, None, f"record {n} is not an object")
        src = rec.get("source") or {}
        source_list = str(src.get("list_id") or "")
        if keep is not None and source_list not in keep and RPL_LIST_IDS.get(source_list) not in keep:
            continue
        names = rec.get("name") or {}
        english = _clean(names.get("english"))
        native = _clean(names.get("native"))
        if not english and not native:
            raise ListFormatError(p, None, f"record {n} ({rec.get('id')}) has no name")
        aliases = [a for a in (_clean(x) for x in rec.get("aliases") or []) if a]
        if native and english and native not in aliases:
            aliases.append(native)
        countries: list[str] = []
        unknown: list[str] = []
        for field in rec.get("countries") or []:
            for raw_part in str(field).split("/"):
                part = raw_part.strip()
                if not part:
                    continue
                cc = KOREAN_COUNTRIES.get(part) or country_code(part)
                if cc is None:
                    unknown.append(part)
                elif cc not in countries:
                    countries.append(cc)
        notes = [x for x in (_clean(rec.get("listing_rationale")), _clean(rec.get("remarks"))) if x]
        if unknown:
            notes.append(f"unmapped country name(s): {', '.join(unknown)}")
        ingested = str(rec.get("ingested_at") or "")[:10]
        if ingested:
            with_date, _ = parse_list_date(ingested)
            if with_date and (latest is None or with_date > latest):
                latest = with_date
        entries.append(
            make_entry(
                list_id=RPL_LIST_IDS.get(source_list, source_list.replace("-", "_") or "unknown"),
                entry_id=str(rec.get("id") or f"record-{n}"),
                name=english or native or "",
                aliases=aliases,
                country=countries[0] if countries else None,
                countries=countries,
                source_url=_clean(src.get("official_source_url")),
                notes="; ".join(notes) or None,
            )
        )
    ids = sorted(RPL_LIST_IDS.get(x, x) for x in keep) if keep is not None else []
    return ListSnapshot(
        list_id=list_id or (ids[0] if len(ids) == 1 else "restricted_parties"),
        entries=tuple(entries),
        snapshot_date=snapshot_date or latest,
        source=str(p),
        title="Restricted parties (compiled JSON)",
        sources=(str(p),),
        source_sha256=hashlib.sha256(raw).hexdigest(),
    )


# ---------------------------------------------------------------------------------------------
# Dispatcher

ListFormat = Literal["csl", "ofac", "yaml", "json"]


def detect_format(path: str | Path) -> ListFormat:
    """Guess a list file's format from its name and first bytes."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".json"):
        return "json"
    head, _ = _open_text(p) if p.stat().st_size < 50_000_000 else ("", b"")
    first = head.split("\n", 1)[0]
    if "source" in first and "name" in first:
        return "csl"
    if re.match(r"^\d+,", first):
        return "ofac"
    raise ListFormatError(p, 1, "cannot tell the list format; pass --format csl|ofac|yaml|json")


def load_list(
    path: str | Path,
    *,
    format: ListFormat | None = None,
    lists: Iterable[str] | None = None,
) -> ListSnapshot:
    """Load any supported list file. ``lists`` narrows the sources imported (CSL/JSON only)."""
    fmt = format or detect_format(path)
    if fmt == "yaml":
        snap = load_yaml_list(path)
        return snap.filter(lists) if lists is not None else snap
    if fmt == "csl":
        return import_csl(path, lists=lists if lists is not None else DEFAULT_CSL_LISTS)
    if fmt == "ofac":
        return import_ofac(path)
    if fmt == "json":
        return import_restricted_parties_json(path, lists=lists if lists is not None else ("us-bis-entity-list",))
    raise ListFormatError(path, None, f"unknown format {fmt!r}")  # pragma: no cover
