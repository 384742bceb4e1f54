"""Registry and tax identifiers: read from the lists, compared with the ones a party gives.

A name can be spelt a hundred ways; a Unified Social Credit Code or an LEI cannot. When a party gives an
identifier that a list publishes for an entry, the party is that entry's hit whatever its name, and the
hit says which identifier it rests on.

The CSL publishes identifiers in its ``ids`` column, mostly for Treasury's lists (SDN, SSI, CMIC, CAPTA):
``"CN, 91110000MA005UCQ5P, Unified Social Credit Code (USCC); RU, 7736640919, Tax ID No."``. Each part is
``[country,] [date,] value, label``; parts whose label is not an identifier (gender, sanctions directives,
"Organization Type:") are not read. Values are compared after `normalize_value` (case, spaces and
punctuation do not count).

A scheme that one registry issues worldwide (LEI, SWIFT/BIC) or one country issues (USCC: China)
matches on the value alone. A national scheme (a tax id, a company registration number) matches only when
the list's issuing country is the party's country or is not given: registration numbers are short and
repeat across countries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from compliance.evidence import ListEntry, ListIdentifier
from compliance.model import Party
from compliance.native import by_constructor

SCHEMES: Final[Mapping[str, str]] = {
    # the CSL's label (its ``ids`` column) -> our scheme
    "Legal Entity Number": "lei",
    "Unified Social Credit Code (USCC)": "uscc",
    "SWIFT/BIC": "swift_bic",
    "Tax ID No.": "tax_id",
    "NIT #": "tax_id",
    "R.F.C.": "tax_id",
    "RUC #": "tax_id",
    "RIF #": "tax_id",
    "C.U.I.T.": "tax_id",
    "V.A.T. Number": "vat",
    "Registration Number": "registration",
    "Registration ID": "registration",
    "Business Registration Number": "registration",
    "Business Registration Document #": "registration",
    "Commercial Registry Number": "registration",
    "C.R. No.": "registration",
    "Company Number": "registration",
    "UK Company Number": "registration",
    "Chamber of Commerce Number": "registration",
    "Enterprise Number": "registration",
    "Government Gazette Number": "registration",
    "Folio Mercantil No.": "registration",
    "Matricula Mercantil No": "registration",
    "Trade License No.": "registration",
    "Identification Number": "registration",
    "National ID No.": "national_id",
}
"""Labels the 2022 CSL uses for identifiers (counted in its ``ids`` column), by our scheme."""

PARTY_SCHEMES: Final[Mapping[str, str]] = {
    "lei": "lei",
    "uscc": "uscc",
    "usci": "uscc",
    "swift": "swift_bic",
    "bic": "swift_bic",
    "swift_bic": "swift_bic",
    "tax_id": "tax_id",
    "tin": "tax_id",
    "vat": "vat",
    "registration": "registration",
    "registration_number": "registration",
    "company_number": "registration",
    "national_id": "national_id",
}
"""A party's ``identifiers`` keys (lower-cased), by scheme; other keys are compared as they are."""

ISSUER_WIDE: Final = frozenset({"lei", "uscc", "swift_bic"})
"""Schemes whose values are unique without a country: they match on the value alone."""

_STRIP: Final = re.compile(r"[\s\-./_,:;'\"()]+")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2} [A-Z][a-z]{2} \d{4}$")


_VAT_COUNTRIES: Final = "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI GB"
VAT_PREFIXES: Final = frozenset(_VAT_COUNTRIES.split())
"""The country prefixes of EU VAT numbers (Greece's is ``EL``; Northern Ireland's ``XI``) and the UK's."""


def normalize_value(value: str) -> str:
    """The form identifiers are compared in: upper case, without spaces and punctuation."""
    return _STRIP.sub("", value).upper()


def comparable(scheme: str, value: str, country: str | None) -> tuple[str, str | None]:
    """The normalised value and the issuing country that two identifiers are compared by.

    A VAT number is written with or without its country prefix (``BG 201673717``, ``201673717``): the prefix
    is dropped, and gives the issuing country when none is known. It is dropped only when it is the issuing
    country's own (a French number's two-character key may be letters, e.g. ``FRAB123456789``).
    """
    normal = normalize_value(value)
    if scheme == "vat" and len(normal) > 4 and normal[:2] in VAT_PREFIXES:
        prefix = normal[:2]
        issuer = "GR" if prefix == "EL" else "GB" if prefix == "XI" else prefix
        if country is None or country == issuer:
            return normal[2:], issuer
    return normal, country


def parse_csl_ids(text: str | None) -> list[ListIdentifier]:
    """The identifiers in a CSL ``ids`` cell, in order, without repeats; other parts are skipped."""
    out: list[ListIdentifier] = []
    seen: set[tuple[str, str]] = set()
    for part in (text or "").split("; "):
        bits = [b.strip() for b in part.split(", ")]
        if len(bits) < 2:
            continue
        label = bits[-1]
        scheme = SCHEMES.get(label)
        if scheme is None:
            continue
        head = bits[:-1]
        country = head[0] if len(head) >= 2 and _COUNTRY.match(head[0]) else None
        rest = head[1:] if country else head
        values = [b for b in rest if not _DATE.match(b)]  # "MM, 2017-01-16, 110364903, ...": issue date first
        if not values:
            continue
        value = values[-1]
        key = (scheme, normalize_value(value))
        if not key[1] or key in seen:
            continue
        seen.add(key)
        out.append(ListIdentifier(scheme=scheme, value=value, country=country, label=label))
    return out


_OFAC_LABELS: Final = sorted(SCHEMES, key=len, reverse=True)
_TRAILING_COUNTRY: Final = re.compile(r"^(.*\S)\s+\(([^()]+)\)$")


def parse_ofac_remarks(text: str | None, country_of: Callable[[str], str | None]) -> list[ListIdentifier]:
    """The identifiers in an OFAC SDN ``remarks`` cell (``Tax ID No. 7702070139 (Russia); alt. SWIFT/BIC
    VTBRRUMM``): each part that starts with a known label (`SCHEMES`), with the issuing country's name in
    brackets turned into its code by ``country_of``."""
    out: list[ListIdentifier] = []
    seen: set[tuple[str, str]] = set()
    for raw in (text or "").split(";"):
        part = raw.strip().removeprefix("alt. ").strip()
        label = next((lab for lab in _OFAC_LABELS if part.startswith(lab + " ")), None)
        if label is None:
            continue
        rest = part[len(label) :].strip().rstrip(".")
        country: str | None = None
        bracket = _TRAILING_COUNTRY.match(rest)
        if bracket is not None and (code := country_of(bracket.group(2))) is not None:
            rest, country = bracket.group(1), code
        scheme = SCHEMES[label]
        key = (scheme, normalize_value(rest))
        if not key[1] or key in seen or (" " in rest.strip() and scheme in ISSUER_WIDE):
            continue
        seen.add(key)
        out.append(ListIdentifier(scheme=scheme, value=rest, country=country, label=label))
    return out


def party_identifiers(party: Party) -> list[tuple[str, str]]:
    """(scheme, comparable value) for each identifier the party gives, sorted; the party's country is taken
    as the issuer (see `comparable`)."""
    out = []
    for key, value in party.identifiers.items():
        scheme = PARTY_SCHEMES.get(key.lower(), key.lower())
        normal, _ = comparable(scheme, value, party.country)
        if normal:
            out.append((scheme, normal))
    return sorted(out)


def describe(identifier: ListIdentifier) -> str:
    """``uscc 91110000MA005UCQ5P (Unified Social Credit Code (USCC), CN)``: how a hit names it."""
    extra = ", ".join(x for x in (identifier.label, identifier.country) if x)
    return f"{identifier.scheme} {identifier.value}" + (f" ({extra})" if extra else "")


@dataclass(frozen=True, slots=True)
class IdentifierMatch:
    entry: int
    """Index of the entry in the screener's entries."""
    identifier: ListIdentifier
    issuer: str | None
    """The issuing country: the list's, or read from a VAT number's prefix (see `comparable`)."""

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


class IdentifierIndex:
    """Entries by (scheme, normalised value) of their identifiers."""

    def __init__(self, entries: Sequence[ListEntry]) -> None:
        by_key: dict[tuple[str, str], list[IdentifierMatch]] = {}
        for e_idx, entry in enumerate(entries):
            for ident in entry.identifiers:
                normal, issuer = comparable(ident.scheme, ident.value, ident.country)
                by_key.setdefault((ident.scheme, normal), []).append(IdentifierMatch(e_idx, ident, issuer))
        self._by_key = {key: tuple(found) for key, found in by_key.items()}

    def __len__(self) -> int:
        return len(self._by_key)

    def __reduce__(self) -> tuple[Callable[..., IdentifierIndex], tuple[object, ...]]:
        # pickled with its screener; compiled (compliance.native), a class is rebuilt only through a call
        return (_index_of, (self._by_key,))

    def matches(self, party: Party) -> Iterable[IdentifierMatch]:
        """Entries that list an identifier the party gives, where the countries agree for a national scheme
        (see the module docstring)."""
        if not party.identifiers or not self._by_key:
            return
        for scheme, normal in party_identifiers(party):
            for found in self._by_key.get((scheme, normal), ()):
                issuer = found.issuer
                if scheme in ISSUER_WIDE or issuer is None or issuer == party.country:
                    yield found


def _index_of(by_key: dict[tuple[str, str], tuple[IdentifierMatch, ...]]) -> IdentifierIndex:
    """An index holding ``by_key`` as it is (unpickling)."""
    index = IdentifierIndex(())
    index._by_key = by_key
    return index
