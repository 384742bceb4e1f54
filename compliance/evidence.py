"""Evidence that enrichment gathers before rules decide: screening hits, ownership, classifications.

Evidence never decides an outcome. It becomes typed facts with provenance; only rules decide.
The producers (``compliance.screening``, ``compliance.classify``) and the consumer
(``compliance.engine.enrich``) meet here, so neither imports the other.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from compliance.model import Item, ListRef, Party, Provenance, ReviewPolicy


class _Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatcherInfo(_Evidence):
    """The matcher that produced a score, pinned so a score can be reproduced later."""

    name: str
    version: str
    config: dict[str, str | float | int | bool]


class TokenAlignment(_Evidence):
    query_token: str
    entry_token: str
    score: float


class ListIdentifier(_Evidence):
    """A registry or tax identifier a list publishes for an entry (the CSL's ``ids`` column)."""

    scheme: str
    """Ours, lower-case: ``lei``, ``uscc``, ``swift_bic``, ``tax_id``, ``vat``, ``registration``,
    ``national_id`` (see ``compliance.screening.identifiers.SCHEMES``)."""
    value: str
    """As the list publishes it."""
    country: str | None = None
    """ISO-2 code of the issuing country, where the list gives one."""
    label: str | None = None
    """The list's own name for it (``Unified Social Credit Code (USCC)``, ``Tax ID No.``)."""


class ListEntry(_Evidence):
    """One restricted-party list entry, keeping export-control semantics as typed fields."""

    list_id: str
    """``entity_list``, ``meu``, ``sdn``, ``dpl``... (lower-case source list id)."""
    entry_id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)
    country: str | None = None
    countries: list[str] = Field(default_factory=list)
    federal_register: list[str] = Field(default_factory=list)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    """The last day the listing applies (a Denied Persons List order's expiry); None while it is open-ended."""
    license_requirement: str | None = None
    review_policy: ReviewPolicy | None = None
    review_policy_text: str | None = None
    footnotes: list[str] = Field(default_factory=list)
    source_url: str | None = None
    confidence: Literal["confirmed", "unconfirmed"] = "confirmed"
    notes: str | None = None
    identifiers: list[ListIdentifier] = Field(default_factory=list)
    """Registry and tax identifiers; a party that gives one of them is a hit whatever its name."""
    content_sha256: str = ""
    """sha256 of the entry's canonical content; accepted-match decisions bind to it."""

    def in_force(self, day: dt.date) -> bool:
        """Whether the listing applies on ``day``: from its start date through its end date, both inclusive."""
        return (self.start_date is None or self.start_date <= day) and (self.end_date is None or day <= self.end_date)


def written_name(name: str) -> str:
    """A list name in the form screening indexes it (and a hit's ``matched_name`` takes): spaces collapsed,
    punctuation at either end stripped."""
    return " ".join(name.split()).strip(" .,;:")


class ScreeningHit(_Evidence):
    """A party scored against a list entry at or above the review threshold."""

    party_id: str
    entry: ListEntry
    score: float
    """0..1, higher is closer."""
    query_name: str
    matched_name: str
    """The entry name or alias that matched best, as `written_name` gives it (or a part of one)."""
    alignment: list[TokenAlignment] = Field(default_factory=list)
    qualifiers: dict[str, str] = Field(default_factory=dict)
    """Country/address qualifier outcomes, e.g. ``{"country": "match"}``."""
    matcher: MatcherInfo
    snapshot: ListRef
    suppressed_by: str | None = None
    """Id of an accepted-match decision that suppresses this hit (kept for the rationale)."""
    basis: Literal["name", "identifier"] = "name"
    """``identifier``: the party gave an identifier the entry lists (``qualifiers["identifier"]`` says which);
    the score is then 1.0 and the name's own score, if it reached the review threshold, is in
    ``qualifiers["name_score"]``."""


class OwnershipLink(_Evidence):
    owner: str
    owned: str
    share: float | None


class OwnershipPath(_Evidence):
    """A chain from a listed owner down to the screened party, with the share at each hop."""

    listed_owner: str
    links: list[OwnershipLink]
    effective_share: float | None
    """Product of the shares along the path; None when any hop's share is unknown."""


class ListedOwnership(_Evidence):
    """How much of a party listed parties own, directly or indirectly, alone or in aggregate."""

    party_id: str
    listed_share: float
    """Aggregate share held by listed owners through known shares (0..1)."""
    unknown_share: bool
    """A listed owner holds a share of unknown size somewhere on a path to this party."""
    listed_owners: list[str]
    most_restrictive_policy: ReviewPolicy | None
    paths: list[OwnershipPath]


class PartyScreener(Protocol):
    """What the engine needs from restricted-party screening."""

    def screen(self, party: Party, *, as_of: dt.date, review_threshold: float) -> list[ScreeningHit]:
        """Hits with score >= review_threshold for the party's name and aliases, best first."""
        ...

    def list_refs(self) -> list[ListRef]:
        """The snapshots screened against (id, snapshot date, sha256) for the determination."""
        ...


class Classification(_Evidence):
    """An item's export classification derived from its specs or catalogue entry."""

    item_id: str
    eccn: str | None
    """Computed ECCN under the current (post-2023-11-17) definitions: ``3A090.a``, ``4A090.b``... or None."""
    eccn_2022: str | None
    """``3A090``/``4A090`` under the Oct 2022 definition (TPP >= 4800 and I/O >= 600 GB/s), else None."""
    advanced: bool
    """3A090.a/.b or 4A090.a/.b (an 'advanced computing item')."""
    tpp: float | None
    performance_density: float | None
    dram_bandwidth_gbs: float | None
    datacenter: bool | None
    nac_eligible: bool
    catalogue_id: str | None
    family: str | None
    """Catalogue family, e.g. ``Ascend 910B`` or ``H20``, for rules naming products."""
    total_tpp: float | None
    """TPP × ICs per unit × quantity: what counts against a cumulative limit (LPP, country cap)."""
    confidence: Literal["confirmed", "unconfirmed"] = "confirmed"
    provenance: list[Provenance]


class ItemClassifier(Protocol):
    def classify(self, item: Item) -> Classification: ...
