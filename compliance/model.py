"""The public data contracts: transactions in, determinations out.

These pydantic models are the source of truth for the JSON Schema that `compliance schema` prints.
Validation is strict on purpose: an unknown field, a country code that is not ISO 3166-1 alpha-2, an
ownership share outside [0, 1] or an impossible date is a data error that must be fixed upstream, not
guessed at, because durable_rules compares values loosely (``"abc" > 10`` is true there).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# Limits on hostile input (documented in docs/reliability.md); a transaction beyond them is rejected.
MAX_PARTIES = 10_000
MAX_ITEMS = 10_000
MAX_NAME_LENGTH = 1_000
MAX_ALIASES = 200
MAX_TEXT_LENGTH = 10_000

_ALPHA2 = frozenset(c.alpha_2 for c in pycountry.countries)


def _check_country(code: str) -> str:
    upper = code.upper()
    if upper not in _ALPHA2:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return upper


CountryCode = Annotated[str, AfterValidator(_check_country)]
"""An ISO 3166-1 alpha-2 code, upper-cased (``HK`` and ``MO`` are their own codes)."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Role(StrEnum):
    """EAR party roles plus the compute roles of remote-access deals."""

    exporter = "exporter"
    purchaser = "purchaser"
    intermediate_consignee = "intermediate_consignee"
    ultimate_consignee = "ultimate_consignee"
    end_user = "end_user"
    lessor = "lessor"
    lessee = "lessee"
    operator = "operator"
    financier = "financier"
    supplier = "supplier"
    forwarder = "forwarder"
    owner = "owner"


RECEIVING_ROLES: frozenset[Role] = frozenset(
    {Role.purchaser, Role.intermediate_consignee, Role.ultimate_consignee, Role.end_user}
)


class Outcome(StrEnum):
    """Outcomes, from most to least severe; ``error`` is never treated as clear (fail closed)."""

    error = "error"
    prohibited = "prohibited"
    license_required = "license_required"
    review = "review"
    clear = "clear"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    Outcome.error: 4,
    Outcome.prohibited: 3,
    Outcome.license_required: 2,
    Outcome.review: 1,
    Outcome.clear: 0,
}


class ReviewPolicy(StrEnum):
    presumption_of_denial = "presumption_of_denial"
    policy_of_denial = "policy_of_denial"
    case_by_case = "case_by_case"
    presumption_of_approval = "presumption_of_approval"

    @property
    def restrictiveness(self) -> int:
        """Higher is more restrictive; used for the Affiliates Rule's most-restrictive-owner standard."""
        return _RESTRICTIVENESS[self]


_RESTRICTIVENESS = {
    ReviewPolicy.presumption_of_approval: 0,
    ReviewPolicy.case_by_case: 1,
    ReviewPolicy.presumption_of_denial: 2,
    ReviewPolicy.policy_of_denial: 3,
}


class Owner(_Strict):
    """A direct owner of a party. ``share`` is None when the share is known to exist but not its size."""

    party: Identifier
    share: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)


class Party(_Strict):
    id: Identifier
    name: Name
    aliases: list[Name] = Field(default_factory=list, max_length=MAX_ALIASES)
    roles: list[Role] = Field(min_length=1)
    country: CountryCode
    address: Text | None = None
    residential_address: bool | None = None
    headquarters: CountryCode | None = None
    ultimate_parent: Identifier | None = None
    owners: list[Owner] = Field(default_factory=list, max_length=MAX_ALIASES)
    founded: dt.date | None = None
    identifiers: dict[Identifier, Name] = Field(default_factory=dict)
    verified_identity: bool | None = None
    """For IaaS KYC: the lessor verified this party's identity and beneficial owners."""
    us_iaas_provider: bool | None = None
    """For IaaS KYC: a US IaaS provider or its foreign reseller."""
    veu: Literal["UVEU", "NVEU"] | None = None
    """Validated End User status (AI Diffusion scenarios)."""

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[Role]) -> list[Role]:
        # Role is a StrEnum: members sort as their values
        return roles if len(roles) == 1 else sorted(set(roles))


class ItemSpecs(_Strict):
    """Technical parameters an item may declare instead of (or besides) a catalogue model name."""

    # Upper bounds keep arithmetic finite (TPP / die area must not overflow to infinity): each is orders of
    # magnitude above any real device (B300 TPP 56,000; die areas are hundreds of mm²).
    tpp: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    die_area_mm2: float | None = Field(default=None, ge=1e-3, le=1e6, allow_inf_nan=False)
    datacenter: bool | None = None
    interconnect_gbs: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    dram_bandwidth_gbs: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)
    location_verification: bool | None = None
    dense_tops: (
        dict[
            Literal["fp4", "fp8", "int8", "fp16", "bf16", "tf32", "fp32", "fp64", "int4"],
            Annotated[float, Field(ge=0, le=1e8, allow_inf_nan=False)],
        ]
        | None
    ) = None
    """Dense datasheet TOPS/TFLOPS per precision; TPP is the maximum of value × bit length."""
    ics_per_unit: int | None = Field(default=None, ge=1)
    """For systems (4A090): the number of accelerator ICs in one unit (e.g. 72 in a GB200 NVL72 rack)."""
    training_ops: float | None = Field(default=None, ge=0, le=1e40, allow_inf_nan=False)
    """For model weights (4E091): operations used to train the model."""
    open_weights: bool | None = None


class Item(_Strict):
    id: Identifier
    model: Name | None = None
    manufacturer: Name | None = None
    quantity: int = Field(default=1, ge=1, le=10_000_000)
    eccn: Annotated[str, StringConstraints(pattern=r"^[0-9][A-E][0-9]{3}(\.[a-z0-9]+)*$|^EAR99$")] | None = None
    kind: Literal["commodity", "system", "software", "technology", "model_weights"] = "commodity"
    specs: ItemSpecs = Field(default_factory=ItemSpecs)
    value: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class RemoteAccess(_Strict):
    lessee: Identifier
    lessor: Identifier
    share: float = Field(default=1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    items: list[Identifier] = Field(default_factory=list)
    """The items reachable through this grant; empty means all items of the transaction."""
    trains_large_model: bool | None = None


class Financing(_Strict):
    party: Identifier
    kind: Literal["private_credit", "bank_loan", "equity", "lease_financing", "vendor_financing", "other"]
    amount: float = Field(ge=0, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"
    beneficiary: Identifier | None = None
    """The party the money or purchase is really for, when an intermediary finances or buys for it."""


class Money(_Strict):
    amount: float = Field(ge=0, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "USD"


class Flags(_Strict):
    end_use_statement: bool | None = None
    payment: Literal["wire", "letter_of_credit", "card", "cash", "crypto", "other"] | None = None
    datacenter_power_confirmed: bool | None = None


class Transaction(_Strict):
    """One deal to evaluate: a sale, lease, service, licence or transfer of AI compute hardware."""

    id: Identifier
    date: dt.date
    kind: Literal["sale", "lease", "service", "license", "transfer"]
    export_from: CountryCode
    destination: CountryCode
    value: Money | None = None
    end_use: Annotated[str, StringConstraints(max_length=200)] | None = None
    parties: list[Party] = Field(default_factory=list, max_length=MAX_PARTIES)
    items: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS)
    remote_access: list[RemoteAccess] = Field(default_factory=list, max_length=MAX_PARTIES)
    financing: list[Financing] = Field(default_factory=list, max_length=MAX_PARTIES)
    flags: Flags = Field(default_factory=Flags)
    notes: Text | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> Transaction:
        ids = [p.id for p in self.parties]
        known = set(ids)
        if len(known) != len(ids):
            raise ValueError(f"duplicate party id(s): {sorted({i for i in ids if ids.count(i) > 1})}")
        item_ids = [i.id for i in self.items]
        if len(set(item_ids)) != len(item_ids):
            raise ValueError("duplicate item id(s)")
        for p in self.parties:
            for o in p.owners:
                if o.party not in known:
                    raise ValueError(f"party {p.id}: owner {o.party!r} is not a party of the transaction")
            if p.ultimate_parent is not None and p.ultimate_parent not in known:
                raise ValueError(f"party {p.id}: ultimate_parent {p.ultimate_parent!r} is not a party")
        for g in self.remote_access:
            for ref in (g.lessee, g.lessor):
                if ref not in known:
                    raise ValueError(f"remote_access: {ref!r} is not a party of the transaction")
            for it in g.items:
                if it not in item_ids:
                    raise ValueError(f"remote_access: item {it!r} is not an item of the transaction")
        for f in self.financing:
            for fin_ref in (f.party, f.beneficiary):
                if fin_ref is not None and fin_ref not in known:
                    raise ValueError(f"financing: {fin_ref!r} is not a party of the transaction")
        return self

    def party(self, party_id: str) -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise KeyError(party_id)


# ----------------------------------------------------------------------------------------------
# Output


class Provenance(_Strict):
    """Where a fact came from: a derivation (formula, list entry, ownership path, table row)."""

    source: str
    """What produced the fact: ``input``, ``classification``, ``screening``, ``ownership``, ``table``..."""
    detail: str
    """Human-readable derivation, e.g. ``TPP = 2 x 989.5 MacTOPS x 16 bit = 15,832``."""
    reference: str | None = None
    """A citation, list snapshot or catalogue source behind it."""
    confidence: Literal["confirmed", "unconfirmed"] = "confirmed"
    data: dict[str, Any] = Field(default_factory=dict)


class BoundFact(_Strict):
    """A fact a rule bound when it fired: the fact's type and id, the fields the rule tested, provenance."""

    alias: str
    type: str
    id: str
    fields: dict[str, Any]
    provenance: list[Provenance] = Field(default_factory=list)


class Finding(_Strict):
    rule_id: str
    title: str
    outcome: Outcome
    review_policy: ReviewPolicy | None = None
    exceptions: list[str] = Field(default_factory=list)
    citations: list[str]
    because: str
    facts: list[BoundFact] = Field(default_factory=list)
    confidence: Literal["confirmed", "unconfirmed"] = "confirmed"
    notes: list[str] = Field(default_factory=list)
    ruleset: str | None = None
    """The ruleset or overlay file that defined the rule."""


class RulesetRef(_Strict):
    id: str
    version: str
    sha256: str
    overlays: list[str] = Field(default_factory=list)


class ListRef(_Strict):
    id: str
    snapshot_date: dt.date | None
    sha256: str


class EngineRef(_Strict):
    version: str
    backend: Literal["durable", "python"]


class Determination(_Strict):
    transaction_id: str
    outcome: Outcome
    findings: list[Finding] = Field(default_factory=list)
    suppressed: list[Finding] = Field(default_factory=list)
    """Findings that fired but were overridden by a declared exception (``overrides``)."""
    accepted_matches: list[str] = Field(default_factory=list)
    """Screening hits suppressed by an accepted-match (good-guy) decision, with the decision id."""
    as_of: dt.date
    ruleset: RulesetRef
    lists: list[ListRef] = Field(default_factory=list)
    engine: EngineRef
    input_sha256: str
    decision_id: str
    timestamp: dt.datetime
    error: str | None = None

    def fired_rule_ids(self) -> list[str]:
        return sorted({f.rule_id for f in self.findings})

    def canonical_json(self) -> str:
        """The determination without ``decision_id`` and ``timestamp``: byte-identical for equal inputs."""
        return self.model_dump_json(exclude={"decision_id", "timestamp"})
