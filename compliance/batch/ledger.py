"""Stateful batch facts: cumulative TPP per consignee and per country, in date order, for any worker count.

Overlays such as ai-diffusion count across transactions (a consignee's low-processing-performance
allowance per calendar year; a country's cap). A batch must see its own transactions in date order and
give the same result whether one worker or twenty evaluate it. So the batch runs a first pass:

1. each transaction is reduced to a `LedgerEntry` (date, year, consignee key, destination, and the TPP of
   its advanced items — computed exactly as enrichment computes it);
2. the entries are sorted by (date, input position) and summed per (consignee, year) and
   (country, year), starting from the caller's opening balances (`OpeningBalances`, e.g. last quarter's
   shipments);
3. each transaction is evaluated with a `PriorLedger` holding only its own prior totals.

The year is the calendar year the engine asks about: the ``--as-of`` date's year when given, else the
transaction's. Every valid transaction in the batch counts (what the export plans to ship), whatever its
own outcome. The pass is skipped when no rule tests the cumulative fields.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compliance.engine.enrich import _consignee
from compliance.errors import InputError
from compliance.evidence import ItemClassifier
from compliance.model import Transaction


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What one transaction adds to the ledger."""

    index: int
    day: int
    """The transaction date as a proleptic ordinal (sort key)."""
    year: int
    consignee: str | None
    country: str
    tpp: float


def ledger_entry(index: int, txn: Transaction, as_of: dt.date | None, classifier: ItemClassifier) -> LedgerEntry:
    """The transaction's advanced-item TPP, keyed as `compliance.engine.enrich` keys it."""
    tpp = 0.0
    for item in txn.items:
        c = classifier.classify(item)
        if c.advanced and c.total_tpp is not None:
            tpp += c.total_tpp
    year = (as_of or txn.date).year
    return LedgerEntry(index, txn.date.toordinal(), year, _consignee(txn), txn.destination, tpp)


@dataclass
class OpeningBalances:
    """TPP already shipped before this batch, per (consignee key, year) and (country, year).

    File format (YAML or JSON)::

        consignee:            # keys as the engine computes them: "lei:<LEI>" or "<name casefolded>|<CC>"
          2025: {"lei:5493001KJTIIGC8Y1R12": 1200000, "gulf ai labs|AE": 40000}
        country:
          2025: {AE: 5000000}
    """

    consignee: dict[tuple[str, int], float] = field(default_factory=dict)
    country: dict[tuple[str, int], float] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> OpeningBalances:
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        try:
            raw = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"cannot parse ledger file: {exc}", str(p)) from None
        return cls.from_dict(raw or {}, source=str(p))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str | None = None) -> OpeningBalances:
        where = source or "ledger"
        out = cls(source=source)
        for key in raw:
            if key not in ("consignee", "country"):
                raise InputError(f"unknown key {key!r} (expected consignee, country)", where)
        for scope, target in (("consignee", out.consignee), ("country", out.country)):
            for year, balances in (raw.get(scope) or {}).items():
                try:
                    y = int(year)
                except (TypeError, ValueError):
                    raise InputError(f"{scope}: {year!r} is not a year", where) from None
                if not isinstance(balances, Mapping):
                    raise InputError(f"{scope}.{year}: expected a mapping of key to TPP", where)
                for name, tpp in balances.items():
                    if not isinstance(tpp, int | float) or isinstance(tpp, bool) or tpp < 0:
                        raise InputError(f"{scope}.{year}.{name}: {tpp!r} is not a TPP amount", where)
                    k = str(name).upper() if scope == "country" else str(name)
                    target[(k, y)] = float(tpp)
        return out


@dataclass(frozen=True, slots=True)
class PriorLedger:
    """One transaction's view of the ledger: the totals before it (implements the engine's Ledger)."""

    consignee: str | None
    country: str
    year: int
    consignee_tpp: float
    country_tpp: float

    def prior_consignee_tpp(self, consignee: str, year: int) -> float:
        return self.consignee_tpp if (consignee, year) == (self.consignee, self.year) else 0.0

    def prior_country_tpp(self, country: str, year: int) -> float:
        return self.country_tpp if (country, year) == (self.country, self.year) else 0.0


def prior_ledgers(entries: Iterable[LedgerEntry], opening: OpeningBalances | None = None) -> dict[int, PriorLedger]:
    """Each transaction's prior totals, accumulated in (date, input position) order."""
    opening = opening or OpeningBalances()
    by_consignee: dict[tuple[str, int], float] = dict(opening.consignee)
    by_country: dict[tuple[str, int], float] = dict(opening.country)
    out: dict[int, PriorLedger] = {}
    for e in sorted(entries, key=lambda e: (e.day, e.index)):
        ck = (e.consignee, e.year) if e.consignee is not None else None
        kk = (e.country, e.year)
        prior_c = by_consignee.get(ck, 0.0) if ck is not None else 0.0
        prior_k = by_country.get(kk, 0.0)
        out[e.index] = PriorLedger(e.consignee, e.country, e.year, prior_c, prior_k)
        if e.tpp:
            if ck is not None:
                by_consignee[ck] = prior_c + e.tpp
            by_country[kk] = prior_k + e.tpp
    return out
