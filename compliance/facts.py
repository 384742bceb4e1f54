"""Typed facts: the vocabulary rules are written in.

Enrichment turns a Transaction into flat, typed facts; rules test their fields. The schema below is the
contract between ruleset authors and the engine: the loader rejects a rule that names a fact type or field
not declared here, and rejects an operator that does not suit the field's kind (``any`` on a number, ``gt``
on a list).

Facts are flat on purpose: durable_rules flattens nested objects and caps a message at 255 properties, and
compares loosely typed values, so every field has one declared kind and enrichment guarantees it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeVar

from compliance.model import Provenance

T = TypeVar("T")


class Kind(StrEnum):
    text = "text"
    number = "number"
    boolean = "boolean"
    date = "date"
    """An ISO date string (``YYYY-MM-DD``); compares correctly as text."""
    text_list = "text_list"


FieldValue = str | int | float | bool | list[str]

ProvNote = Provenance | tuple[str, str, str | None, str]
"""A provenance entry: a Provenance, or a cheap (source, detail, reference, confidence) tuple that is
turned into a Provenance only when a finding binds the fact."""

_T, _N, _B, _D, _L = Kind.text, Kind.number, Kind.boolean, Kind.date, Kind.text_list

FACT_SCHEMA: dict[str, dict[str, tuple[Kind, str]]] = {
    "transaction": {
        "id": (_T, "transaction id"),
        "kind": (_T, "sale, lease, service, license or transfer"),
        "date": (_D, "transaction date"),
        "as_of": (_D, "the date the rules are evaluated as of"),
        "export_from": (_T, "ISO country the items leave from"),
        "export_from_groups": (_L, "country groups of export_from on the as-of date"),
        "destination": (_T, "ISO country of destination"),
        "destination_groups": (_L, "country groups of the destination on the as-of date"),
        "value_usd": (_N, "declared value in USD (other currencies are not converted)"),
        "end_use": (_T, "declared end use"),
        "payment": (_T, "payment method"),
        "end_use_statement": (_B, "an end-use statement was obtained"),
        "datacenter_power_confirmed": (_B, "the data centre confirmed power for the quantity"),
        "has_advanced_items": (_B, "at least one item is an advanced computing item"),
        "list_age_days": (_N, "age in days of the oldest list snapshot screened against, at the as-of date"),
        "party_count": (_N, "number of parties"),
    },
    "party": {
        "id": (_T, "party id"),
        "name": (_T, "party name"),
        "roles": (_L, "roles the party plays"),
        "receiving": (_B, "the party has a receiving role (purchaser, consignee, end user)"),
        "country": (_T, "ISO country where the party is located"),
        "country_groups": (_L, "country groups of the party's location"),
        "headquarters": (_T, "ISO country of headquarters"),
        "hq_groups": (_L, "country groups of the headquarters country"),
        "parent_id": (_T, "ultimate parent's party id"),
        "parent_headquarters": (_T, "ultimate parent's headquarters country"),
        "parent_hq_groups": (_L, "country groups of the ultimate parent's headquarters"),
        "control_groups": (_L, "union of hq_groups and parent_hq_groups"),
        "age_days": (_N, "days from founding to the transaction date"),
        "residential_address": (_B, "the address is residential"),
        "verified_identity": (_B, "identity and beneficial owners verified (IaaS KYC)"),
        "us_iaas_provider": (_B, "a US IaaS provider or its foreign reseller"),
        "veu": (_T, "Validated End User status: UVEU or NVEU"),
    },
    "item": {
        "id": (_T, "item id"),
        "model": (_T, "model name as given"),
        "manufacturer": (_T, "manufacturer"),
        "family": (_T, "catalogue family (e.g. H20, Ascend 910B)"),
        "catalogue_id": (_T, "chip catalogue id"),
        "kind": (_T, "commodity, system, software, technology or model_weights"),
        "quantity": (_N, "units"),
        "eccn": (_T, "ECCN used by the rules: the computed one when known, else the declared one"),
        "declared_eccn": (_T, "ECCN the exporter declared"),
        "computed_eccn": (_T, "ECCN computed from specs under the current definitions"),
        "eccn_2022": (_T, "3A090/4A090 under the October 2022 definition"),
        "advanced": (_B, "an advanced computing item (3A090.a/.b, 4A090.a/.b), declared or computed"),
        "eccn_conflict": (_B, "the declared ECCN contradicts the computed one"),
        "unclassified": (_B, "neither a catalogue model nor enough specs to classify"),
        "tpp": (_N, "total processing performance per IC"),
        "performance_density": (_N, "TPP per mm2 of applicable die area"),
        "dram_bandwidth_gbs": (_N, "total DRAM bandwidth, GB/s"),
        "datacenter": (_B, "designed or marketed for data centres"),
        "nac_eligible": (_B, "eligible for License Exception NAC by its ECCN paragraph"),
        "location_verification": (_B, "has a chip security mechanism with location verification"),
        "total_tpp": (_N, "TPP x ICs per unit x quantity"),
        "training_ops": (_N, "training operations (model weights)"),
        "open_weights": (_B, "published model weights"),
        "consignee_cumulative_tpp": (_N, "cumulative TPP to the ultimate consignee this calendar year"),
        "country_cumulative_tpp": (_N, "cumulative TPP to the destination country this calendar year"),
    },
    "lease": {
        "id": (_T, "remote-access grant id"),
        "lessee_id": (_T, "lessee party id"),
        "lessee_name": (_T, "lessee name"),
        "lessee_country": (_T, "lessee location"),
        "lessee_country_groups": (_L, "country groups of the lessee's location"),
        "lessee_headquarters": (_T, "lessee headquarters"),
        "lessee_control_groups": (_L, "country groups of the lessee's headquarters and ultimate parent"),
        "lessee_verified_identity": (_B, "lessor verified the lessee's identity and beneficial owners"),
        "lessee_foreign": (_B, "the lessee is located or headquartered outside the US"),
        "lessor_id": (_T, "lessor party id"),
        "lessor_name": (_T, "lessor name"),
        "lessor_country": (_T, "lessor location"),
        "lessor_us_iaas_provider": (_B, "lessor is a US IaaS provider or its foreign reseller"),
        "share": (_N, "share of the capacity leased"),
        "advanced": (_B, "the grant reaches advanced computing items"),
        "total_tpp": (_N, "TPP reachable through the grant"),
        "trains_large_model": (_B, "the lessee trains a large AI model"),
        "location": (_T, "where the leased hardware is (the transaction destination)"),
    },
    "financing": {
        "id": (_T, "financing id"),
        "party_id": (_T, "financier party id"),
        "party_name": (_T, "financier name"),
        "kind": (_T, "kind of financing"),
        "amount_usd": (_N, "amount in USD"),
        "party_headquarters": (_T, "financier headquarters"),
        "beneficiary_id": (_T, "party the financing is really for"),
        "beneficiary_name": (_T, "beneficiary name"),
        "beneficiary_headquarters": (_T, "beneficiary headquarters"),
        "beneficiary_control_groups": (_L, "country groups of the beneficiary's headquarters and parent"),
        "intermediary": (_B, "the financier buys or finances for a beneficiary headquartered elsewhere"),
    },
    "hit": {
        "id": (_T, "hit id"),
        "party_id": (_T, "screened party id"),
        "party_name": (_T, "screened party name"),
        "party_roles": (_L, "roles of the screened party"),
        "party_receiving": (_B, "the party has a receiving role"),
        "list_id": (_T, "list the entry belongs to (entity_list, meu, sdn...)"),
        "entry_id": (_T, "list entry id"),
        "entry_name": (_T, "list entry name"),
        "matched_name": (_T, "entry name or alias that matched"),
        "score": (_N, "match score 0..1"),
        "band": (_T, "match or review, by the ruleset's thresholds"),
        "review_policy": (_T, "the entry's licence review policy"),
        "start_date": (_D, "date the entry took effect"),
        "end_date": (_D, "last day the entry applies (a denial order's expiry), when it has one"),
        "federal_register": (_T, "Federal Register citation(s) of the entry"),
        "basis": (_T, "what the hit rests on: name, or identifier (the party gave an identifier the entry lists)"),
        "identifier": (_T, "for an identifier hit, the identifier the party shares with the entry"),
        "evidence": (_T, "what the hit rests on, in words: the name and its score, or the identifier shared"),
    },
    "ownership": {
        "id": (_T, "ownership fact id"),
        "party_id": (_T, "owned party id"),
        "party_name": (_T, "owned party name"),
        "party_roles": (_L, "roles of the owned party"),
        "party_receiving": (_B, "the owned party has a receiving role"),
        "listed_share": (_N, "aggregate share held by listed owners, directly or indirectly"),
        "unknown_share": (_B, "a listed owner holds a share of unknown size"),
        "listed_owners": (_L, "listed owner party ids"),
        "most_restrictive_policy": (_T, "most restrictive review policy among listed owners"),
    },
}


def field_kind(fact_type: str, name: str) -> Kind | None:
    fields = FACT_SCHEMA.get(fact_type)
    if fields is None or name not in fields:
        return None
    return fields[name][0]


SHARED = "shared"
"""Memo flag of a fact that enrichment shares between transactions (kept in its fact cache)."""


@dataclass(frozen=True)
class Fact:
    """One typed fact with the provenance of its fields.

    ``fields`` never holds None or an empty list: a missing value is absent, so the durable and
    reference backends agree on what "missing" means.
    """

    type: str
    id: str
    fields: dict[str, FieldValue]
    provenance: dict[str, list[ProvNote]] = field(default_factory=dict)
    group_provenance: dict[str, dict[str, ProvNote]] = field(default_factory=dict)
    """For list-of-group fields: which table row put each group there."""
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Values derived from this fact and nothing else (its encoding for the C core, the BoundFact a rule
    reports): enrichment shares a fact between transactions with the same inputs, so these are computed
    once. A fact is never changed after enrichment; only this memo grows."""

    key: str = field(init=False, repr=False, compare=False)
    """``type:id``, unique within a transaction (computed once: it is read on every lookup)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.type}:{self.id}")

    def memoized(self, name: str, owner: object, make: Callable[[], T]) -> T:
        """A value derived from this fact and ``owner`` (a rule, a field projection), made once and kept.

        The memo entry holds ``owner`` itself, so the ``id(owner)`` in its key is never reused by another
        object while the entry lives.
        """
        key = (name, id(owner))
        cached = self.memo.get(key)
        if cached is not None and cached[0] is owner:
            value: T = cached[1]
            return value
        made = make()
        self.memo[key] = (owner, made)
        return made


def clean_fields(values: dict[str, Any]) -> dict[str, FieldValue]:
    """Drop None and empty lists; convert dates to ISO text; reject NaN/inf (the C parser can't take them)."""
    out: dict[str, FieldValue] = {}
    for name, value in values.items():
        kind = type(value)
        if value is None:
            continue
        if kind is str or kind is bool or kind is int:
            out[name] = value
        elif kind is float:
            if not math.isfinite(value):
                raise ValueError(f"field {name}: {value!r} is not a finite number")
            out[name] = int(value) if value.is_integer() and abs(value) < 2**53 else value
        elif kind is list:
            if value:
                out[name] = sorted({str(v) for v in value})
        elif isinstance(value, Enum):
            out[name] = str(value.value)
        elif isinstance(value, dt.date):
            out[name] = value.isoformat()
        elif isinstance(value, str | int):
            out[name] = value
        else:
            raise TypeError(f"field {name}: unsupported fact value {type(value).__name__}")
    return out
