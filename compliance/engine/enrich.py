"""Enrichment: a validated Transaction becomes typed facts with provenance.

Evidence (classifications, screening hits, ownership aggregates, dated country groups) is gathered here;
no outcome is decided here. Provenance is kept as cheap tuples and turned into pydantic objects only for
the facts a finding actually binds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Protocol

from compliance.classify import declared_eccn_conflict, is_determinate, item_key
from compliance.countries import CountryGroups
from compliance.evidence import (
    Classification,
    ItemClassifier,
    ListedOwnership,
    PartyScreener,
    ScreeningHit,
    written_name,
)
from compliance.facts import SHARED, Fact, ProvNote, clean_fields
from compliance.memo import BoundedCache
from compliance.model import RECEIVING_ROLES, Item, ListRef, Party, Provenance, ReviewPolicy, Role, Transaction
from compliance.rulesets.loader import Ruleset

ADVANCED_ECCNS = frozenset({"3A090.a", "3A090.b", "4A090.a", "4A090.b"})
LISTS_FOR_AFFILIATES = frozenset({"entity_list", "meu", "sdn"})
MILITARY_END_USES = frozenset({"military", "military_intelligence", "intelligence", "wmd"})
LEDGER_FIELDS = frozenset({"consignee_cumulative_tpp", "country_cumulative_tpp"})
"""Item fields that count across transactions (they need the ledger and every item of the transaction)."""


def uses_ledger(ruleset: Ruleset) -> bool:
    """True when a rule tests or reports a cumulative field.

    Only then are those fields computed: they make each item's fact specific to its transaction, where
    otherwise the fact of a recurring item is shared."""
    return any(LEDGER_FIELDS & set(fields) for rule in ruleset.rules for fields in rule.reported.values())


def to_provenance(note: ProvNote) -> Provenance:
    if isinstance(note, Provenance):
        return note
    return _tuple_provenance(note)


@lru_cache(maxsize=65_536)
def _tuple_provenance(note: tuple[str, str, str | None, str]) -> Provenance:
    source, detail, reference, confidence = note
    return Provenance(
        source=source,
        detail=detail,
        reference=reference,
        confidence="unconfirmed" if confidence == "unconfirmed" else "confirmed",
    )


class Ledger(Protocol):
    """Cumulative quantities carried across transactions (AI Diffusion LPP and country caps)."""

    def prior_consignee_tpp(self, consignee: str, year: int) -> float: ...

    def prior_country_tpp(self, country: str, year: int) -> float: ...


OwnershipResolver = Callable[[Transaction, Mapping[str, ReviewPolicy | None]], Mapping[str, ListedOwnership]]


@dataclass
class Evidence:
    """What enrichment produced besides facts: kept for the determination's rationale."""

    facts: list[Fact] = field(default_factory=list)
    hits: list[ScreeningHit] = field(default_factory=list)
    suppressed_hits: list[ScreeningHit] = field(default_factory=list)
    classifications: dict[str, Classification] = field(default_factory=dict)
    ownership: dict[str, ListedOwnership] = field(default_factory=dict)
    lists: list[ListRef] = field(default_factory=list)


@dataclass(frozen=True)
class Enricher:
    ruleset: Ruleset
    groups: CountryGroups
    classifier: ItemClassifier
    screener: PartyScreener | None
    resolve_ownership: OwnershipResolver | None
    screening_cache_size: int = 65_536
    fact_cache_size: int = 16_384
    screenings: BoundedCache[tuple[ScreeningHit, ...]] = field(init=False, repr=False, compare=False)
    party_facts: BoundedCache[Fact] = field(init=False, repr=False, compare=False)
    item_facts: BoundedCache[Fact] = field(init=False, repr=False, compare=False)
    list_ages: BoundedCache[tuple[int | None, ProvNote | None]] = field(init=False, repr=False, compare=False)
    """Per as-of day, the oldest list snapshot's age and its note (the lists are this enricher's screener's)."""
    cumulative: bool = field(init=False, repr=False, compare=False)
    """Whether item facts carry the cumulative (ledger) fields: only when a rule reads them."""
    screening_period: Callable[[dt.date], Hashable] = field(init=False, repr=False, compare=False)
    """The screener's ``as_of_period`` when it has one (the cache then keys on the period), else the day."""

    def __post_init__(self) -> None:
        # Counterparties recur across transactions. Screening is a pure function of the screened fields, the
        # threshold and the as-of date; a screener that says over which stretch of days its answer holds
        # (``as_of_period``) lets the cache key on that stretch instead of the day.
        object.__setattr__(self, "screenings", BoundedCache[tuple[ScreeningHit, ...]](self.screening_cache_size))
        # Party and item facts are cached too: each is a pure function of the inputs in its key (see
        # _party_key and _item_facts), and sharing the Fact object lets the backend and the decision step
        # reuse its encoding and its bound form (Fact.memo).
        object.__setattr__(self, "party_facts", BoundedCache[Fact](self.fact_cache_size))
        object.__setattr__(self, "item_facts", BoundedCache[Fact](self.fact_cache_size))
        object.__setattr__(self, "list_ages", BoundedCache[tuple[int | None, ProvNote | None]](4096))
        object.__setattr__(self, "cumulative", uses_ledger(self.ruleset))
        period_of = getattr(self.screener, "as_of_period", None)
        object.__setattr__(self, "screening_period", period_of if callable(period_of) else _same_day)

    def screen_party(self, party: Party, as_of: dt.date, period: Hashable | None = None) -> list[ScreeningHit]:
        """Hits for a party, from the cache when its screened fields were seen before in that period.

        ``period`` is ``screening_period(as_of)``, when the caller has it already (once per transaction)."""
        assert self.screener is not None
        screener = self.screener
        threshold = self.ruleset.screening.review_threshold
        if period is None:
            period = self.screening_period(as_of)
        aliases = tuple(party.aliases)
        identifiers = tuple(sorted(party.identifiers.items()))
        # Accepted-match decisions bind to the party id and these screened fields, so both are the key.
        key = (party.id, party.name, aliases, party.country, party.address, identifiers, period, threshold)

        def run() -> tuple[ScreeningHit, ...]:
            probe = Party(
                id=party.id,
                name=party.name,
                aliases=list(aliases),
                roles=[Role.purchaser],
                country=party.country,
                address=party.address,
                identifiers=dict(identifiers),
            )
            return tuple(screener.screen(probe, as_of=as_of, review_threshold=threshold))

        return list(self.screenings.get_or_make(key, run))

    # -- country groups ------------------------------------------------------------------------

    def _groups(self, country: str | None, day: dt.date) -> tuple[list[str], dict[str, ProvNote]]:
        if country is None:
            return [], {}
        return self.groups.at(country, day)

    # -- main entry ----------------------------------------------------------------------------

    def enrich(self, txn: Transaction, as_of: dt.date, ledger: Ledger | None = None) -> Evidence:
        ev = Evidence()
        parties = {p.id: p for p in txn.parties}
        ev.classifications = {item.id: self.classifier.classify(item) for item in txn.items}
        if self.screener is not None:
            ev.lists = list(self.screener.list_refs())
            self._screen(txn, as_of, ev)
        ev.facts.append(self._transaction_fact(txn, as_of, ev))
        for party in txn.parties:
            ev.facts.append(self.party_fact(party, parties, txn, as_of))
        ev.facts.extend(self._item_facts(txn, as_of, ev, ledger))
        for i, grant in enumerate(txn.remote_access):
            ev.facts.append(self._lease_fact(i, grant.lessee, grant.lessor, parties, txn, as_of, ev, grant))
        for i, fin in enumerate(txn.financing):
            ev.facts.append(self._financing_fact(i, fin, parties, as_of))
        return ev

    # -- screening and ownership ----------------------------------------------------------------

    def _screen(self, txn: Transaction, as_of: dt.date, ev: Evidence) -> None:
        assert self.screener is not None
        settings = self.ruleset.screening
        listed: dict[str, ReviewPolicy | None] = {}
        period = self.screening_period(as_of)
        for party in txn.parties:
            for hit in self.screen_party(party, as_of, period):
                if hit.suppressed_by is not None:
                    ev.suppressed_hits.append(hit)
                    continue
                ev.hits.append(hit)
                band = "match" if hit.score >= settings.match_threshold else "review"
                ev.facts.append(self._hit_fact(party, hit, band, len(ev.hits)))
                if band == "match" and hit.entry.list_id in LISTS_FOR_AFFILIATES:
                    policy = hit.entry.review_policy
                    current = listed.get(party.id)
                    if party.id not in listed or _more_restrictive(policy, current):
                        listed[party.id] = policy
        if listed and self.resolve_ownership is not None:
            ev.ownership = dict(self.resolve_ownership(txn, listed))
            for own in ev.ownership.values():
                ev.facts.append(self._ownership_fact(txn.party(own.party_id), own))

    def _hit_fact(self, party: Party, hit: ScreeningHit, band: str, n: int) -> Fact:
        entry = hit.entry
        settings = self.ruleset.screening
        if hit.basis == "identifier":
            detail = (
                f"{party.name!r} gives identifier {hit.qualifiers['identifier']}, listed for {entry.list_id} entry "
                f"{entry.entry_id} ({entry.name}): score 1.000, band {band} (name score "
                f"{hit.qualifiers['name_score']})"
            )
        else:
            detail = (
                f"{party.name!r} ~ {hit.matched_name!r} ({entry.list_id} entry {entry.entry_id}, {entry.name}): "
                f"score {hit.score:.3f}, band {band} (match ≥ {settings.match_threshold}, "
                f"review ≥ {settings.review_threshold}); matcher {hit.matcher.name} {hit.matcher.version}"
            )
        conf = "unconfirmed" if entry.confidence == "unconfirmed" else "confirmed"
        evidence = _hit_evidence(hit)
        ref = f"{hit.snapshot.id} snapshot {hit.snapshot.snapshot_date} sha256 {hit.snapshot.sha256[:12]}"
        fields = clean_fields(
            {
                "id": f"h{n}",
                "party_id": party.id,
                "party_name": party.name,
                "party_roles": [r.value for r in party.roles],
                "party_receiving": _receiving(party),
                "list_id": entry.list_id,
                "entry_id": entry.entry_id,
                "entry_name": entry.name,
                "matched_name": hit.matched_name,
                "score": round(hit.score, 6),
                "band": band,
                "review_policy": entry.review_policy.value if entry.review_policy else None,
                "start_date": entry.start_date,
                "end_date": entry.end_date,
                "federal_register": ", ".join(entry.federal_register) or None,
                "basis": hit.basis,
                "identifier": hit.qualifiers.get("identifier"),  # set on identifier hits only
                "evidence": evidence,
            }
        )
        prov: ProvNote = Provenance(
            source="screening",
            detail=detail,
            reference=ref,
            confidence="unconfirmed" if conf == "unconfirmed" else "confirmed",
            data={
                "alignment": [a.model_dump() for a in hit.alignment],
                "qualifiers": dict(hit.qualifiers),
                "matcher": hit.matcher.model_dump(),
                "entry_sha256": entry.content_sha256,
            },
        )
        return Fact(
            "hit",
            f"h{n}",
            fields,
            {"score": [prov], "band": [prov], "entry_id": [prov], "identifier": [prov], "evidence": [prov]},
        )

    def _ownership_fact(self, party: Party, own: ListedOwnership) -> Fact:
        paths = []
        for path in own.paths:
            hops = " → ".join(
                f"{link.owner} {'?' if link.share is None else f'{link.share:.0%}'} of {link.owned}"
                for link in path.links
            )
            eff = "unknown" if path.effective_share is None else f"{path.effective_share:.1%}"
            paths.append(f"{path.listed_owner}: {hops} (effective {eff})")
        detail = (
            f"listed owners {', '.join(own.listed_owners)} hold {own.listed_share:.1%} of {party.name}"
            + (" plus a share of unknown size" if own.unknown_share else "")
            + (f"; paths: {'; '.join(paths)}" if paths else "")
        )
        prov: ProvNote = (
            "ownership",
            detail,
            "50 % aggregate look-through (Affiliates Rule, 90 FR 47201)",
            "confirmed",
        )
        fields = clean_fields(
            {
                "id": party.id,
                "party_id": party.id,
                "party_name": party.name,
                "party_roles": [r.value for r in party.roles],
                "party_receiving": _receiving(party),
                "listed_share": round(own.listed_share, 6),
                "unknown_share": own.unknown_share,
                "listed_owners": own.listed_owners,
                "most_restrictive_policy": own.most_restrictive_policy.value if own.most_restrictive_policy else None,
            }
        )
        return Fact("ownership", party.id, fields, {k: [prov] for k in ("listed_share", "unknown_share")})

    # -- transaction ------------------------------------------------------------------------------

    def _transaction_fact(self, txn: Transaction, as_of: dt.date, ev: Evidence) -> Fact:
        dest_groups, dest_prov = self._groups(txn.destination, as_of)
        from_groups, from_prov = self._groups(txn.export_from, as_of)
        prov: dict[str, list[ProvNote]] = {}
        value_usd = None
        if txn.value is not None:
            if txn.value.currency == "USD":
                value_usd = txn.value.amount
            else:
                prov["value_usd"] = [
                    ("input", f"value given in {txn.value.currency}; not converted", None, "unconfirmed")
                ]
        list_age, age_note = self.list_ages.get_or_make(as_of, lambda: _list_age(ev.lists, as_of))
        if age_note is not None:
            prov["list_age_days"] = [age_note]
        advanced = any(c.advanced for c in ev.classifications.values()) or any(
            i.eccn in ADVANCED_ECCNS for i in txn.items
        )
        fields = clean_fields(
            {
                "id": txn.id,
                "kind": txn.kind,
                "date": txn.date,
                "as_of": as_of,
                "export_from": txn.export_from,
                "export_from_groups": from_groups,
                "destination": txn.destination,
                "destination_groups": dest_groups,
                "value_usd": value_usd,
                "end_use": txn.end_use,
                "payment": txn.flags.payment,
                "end_use_statement": txn.flags.end_use_statement,
                "datacenter_power_confirmed": txn.flags.datacenter_power_confirmed,
                "has_advanced_items": advanced,
                "list_age_days": list_age,
                "party_count": len(txn.parties),
            }
        )
        return Fact(
            "transaction", txn.id, fields, prov, {"destination_groups": dest_prov, "export_from_groups": from_prov}
        )

    # -- parties ----------------------------------------------------------------------------------

    def _headquarters(self, party: Party) -> tuple[str, ProvNote | None]:
        if party.headquarters is not None:
            return party.headquarters, None
        return party.country, (
            "input",
            f"{party.name}: headquarters not given; taken as its location {party.country}",
            None,
            "unconfirmed",
        )

    def _control(
        self, party: Party, parties: Mapping[str, Party], day: dt.date
    ) -> tuple[dict[str, Any], dict[str, list[ProvNote]], dict[str, dict[str, ProvNote]]]:
        """Headquarters, ultimate parent and the union of their groups: the D:5/Macau HQ test's inputs."""
        hq, hq_note = self._headquarters(party)
        hq_groups, hq_prov = self._groups(hq, day)
        values: dict[str, Any] = {"headquarters": hq, "hq_groups": hq_groups}
        prov: dict[str, list[ProvNote]] = {}
        gprov: dict[str, dict[str, ProvNote]] = {"hq_groups": hq_prov}
        if hq_note is not None:
            prov["headquarters"] = [hq_note]
            prov["hq_groups"] = [hq_note]
        control = dict(hq_prov)
        if party.ultimate_parent is not None and party.ultimate_parent != party.id:
            parent = parties[party.ultimate_parent]
            phq, pnote = self._headquarters(parent)
            pgroups, pprov = self._groups(phq, day)
            values.update(parent_id=parent.id, parent_headquarters=phq, parent_hq_groups=pgroups)
            note: ProvNote = (
                "input",
                f"ultimate parent of {party.name} is {parent.name}, headquartered in {phq}",
                None,
                "unconfirmed" if pnote else "confirmed",
            )
            prov["parent_headquarters"] = [note]
            gprov["parent_hq_groups"] = pprov
            for g, p in pprov.items():
                control.setdefault(g, p)
            prov["control_groups"] = [note]
        values["control_groups"] = sorted(control)
        gprov["control_groups"] = control
        return values, prov, gprov

    def party_fact(self, party: Party, parties: Mapping[str, Party], txn: Transaction, day: dt.date) -> Fact:
        """The party's fact, shared with earlier transactions that gave the same inputs."""
        key = self._party_key(party, parties, txn, day)
        return self.party_facts.get_or_make(key, lambda: _shared(self._party_fact(party, parties, txn, day)))

    def _party_key(self, party: Party, parties: Mapping[str, Party], txn: Transaction, day: dt.date) -> tuple[Any, ...]:
        """Everything `_party_fact` reads: the party's own fields, its parent's, the country-group period and,
        when a founding date is given, the transaction date its age is counted to."""
        parent: tuple[str, str, str, str | None] | None = None
        if party.ultimate_parent is not None and party.ultimate_parent != party.id:
            p = parties[party.ultimate_parent]
            parent = (p.id, p.name, p.country, p.headquarters)
        return (
            party.id,
            party.name,
            tuple(party.roles),
            party.country,
            party.headquarters,
            parent,
            party.founded,
            txn.date if party.founded is not None else None,
            party.residential_address,
            party.verified_identity,
            party.us_iaas_provider,
            party.veu,
            self.groups.period(day),
        )

    def _party_fact(self, party: Party, parties: Mapping[str, Party], txn: Transaction, day: dt.date) -> Fact:
        loc_groups, loc_prov = self._groups(party.country, day)
        control, prov, gprov = self._control(party, parties, day)
        gprov["country_groups"] = loc_prov
        age = (txn.date - party.founded).days if party.founded is not None else None
        if age is not None:
            prov["age_days"] = [
                ("input", f"{party.name} founded {party.founded}, {age} days before {txn.date}", None, "confirmed")
            ]
        fields = clean_fields(
            {
                "id": party.id,
                "name": party.name,
                "roles": [r.value for r in party.roles],
                "receiving": _receiving(party),
                "country": party.country,
                "country_groups": loc_groups,
                **control,
                "age_days": age,
                "residential_address": party.residential_address,
                "verified_identity": party.verified_identity,
                "us_iaas_provider": party.us_iaas_provider,
                "veu": party.veu,
            }
        )
        return Fact("party", party.id, fields, prov, gprov)

    # -- items ------------------------------------------------------------------------------------

    def _item_facts(self, txn: Transaction, as_of: dt.date, ev: Evidence, ledger: Ledger | None) -> list[Fact]:
        consignee = _consignee(txn)
        year = as_of.year
        advanced_tpp = sum(
            (c.total_tpp or 0.0) for c in ev.classifications.values() if c.advanced and c.total_tpp is not None
        )
        prior_consignee = ledger.prior_consignee_tpp(consignee, year) if ledger and consignee else 0.0
        prior_country = ledger.prior_country_tpp(txn.destination, year) if ledger else 0.0
        out: list[Fact] = []
        for item in txn.items:
            c = ev.classifications[item.id]
            # Everything the fact reads: the item, and for an advanced item the cumulative figures' inputs.
            context = (consignee, txn.destination, year, prior_consignee, prior_country, advanced_tpp)
            key = (item.id, item.eccn, item_key(item), context if c.advanced and self.cumulative else None)
            make = partial(self._item_fact, item, c, *context)
            out.append(self.item_facts.get_or_make(key, lambda make=make: _shared(make())))  # type: ignore[misc]
        return out

    def _item_fact(
        self,
        item: Item,
        c: Classification,
        consignee: str | None,
        destination: str,
        year: int,
        prior_consignee: float,
        prior_country: float,
        advanced_tpp: float,
    ) -> Fact:
        computed_known = is_determinate(c)
        eccn = c.eccn if computed_known else (item.eccn or c.eccn)
        conflict = declared_eccn_conflict(item.eccn, c) if computed_known else None
        prov: dict[str, list[ProvNote]] = {
            key: list(c.provenance)
            for key in (
                "computed_eccn",
                "eccn",
                "tpp",
                "performance_density",
                "advanced",
                "eccn_2022",
                "nac_eligible",
                "total_tpp",
                "dram_bandwidth_gbs",
            )
        }
        if not computed_known:
            prov["eccn"] = [
                ("input", f"no classification from specs; declared ECCN {item.eccn} used", None, "unconfirmed")
            ]
        if conflict:
            prov["eccn_conflict"] = [("classification", conflict, None, c.confidence)]
        cumulative: dict[str, Any] = {}
        if c.advanced:
            cumulative["consignee_cumulative_tpp"] = prior_consignee + advanced_tpp
            cumulative["country_cumulative_tpp"] = prior_country + advanced_tpp
            note: ProvNote = (
                "ledger",
                f"{prior_consignee:,.0f} TPP earlier in {year} to consignee "
                f"{consignee} + {advanced_tpp:,.0f} in this transaction",
                None,
                "confirmed",
            )
            prov["consignee_cumulative_tpp"] = [note]
            prov["country_cumulative_tpp"] = [
                (
                    "ledger",
                    f"{prior_country:,.0f} TPP earlier in {year} to {destination} + {advanced_tpp:,.0f} here",
                    None,
                    "confirmed",
                )
            ]
        fields = clean_fields(
            {
                "id": item.id,
                "model": item.model,
                "manufacturer": item.manufacturer,
                "family": c.family,
                "catalogue_id": c.catalogue_id,
                "kind": item.kind,
                "quantity": item.quantity,
                "eccn": eccn,
                "declared_eccn": item.eccn,
                "computed_eccn": c.eccn,
                "eccn_2022": c.eccn_2022,
                "advanced": c.advanced or (item.eccn in ADVANCED_ECCNS),
                "eccn_conflict": conflict is not None,
                "unclassified": not computed_known and item.eccn is None,
                "tpp": c.tpp,
                "performance_density": None if c.performance_density is None else round(c.performance_density, 4),
                "dram_bandwidth_gbs": c.dram_bandwidth_gbs,
                "datacenter": c.datacenter,
                "nac_eligible": c.nac_eligible,
                "location_verification": item.specs.location_verification,
                "total_tpp": c.total_tpp,
                "training_ops": item.specs.training_ops,
                "open_weights": item.specs.open_weights,
                **cumulative,
            }
        )
        return Fact("item", item.id, fields, prov)

    # -- remote access and financing -------------------------------------------------------------

    def _lease_fact(
        self,
        index: int,
        lessee_id: str,
        lessor_id: str,
        parties: Mapping[str, Party],
        txn: Transaction,
        day: dt.date,
        ev: Evidence,
        grant: Any,
    ) -> Fact:
        lessee, lessor = parties[lessee_id], parties[lessor_id]
        control, prov, gprov = self._control(lessee, parties, day)
        loc_groups, loc_prov = self._groups(lessee.country, day)
        reachable = grant.items or [i.id for i in txn.items]
        cls = [ev.classifications[i] for i in reachable]
        advanced = any(c.advanced for c in cls) or any(i.eccn in ADVANCED_ECCNS for i in txn.items if i.id in reachable)
        total = sum(c.total_tpp or 0.0 for c in cls if c.advanced) * grant.share
        hq = control["headquarters"]
        lease_prov: dict[str, list[ProvNote]] = {
            "lessee_control_groups": prov.get("control_groups", []) or prov.get("hq_groups", []),
            "lessee_headquarters": prov.get("headquarters", []),
        }
        fields = clean_fields(
            {
                "id": f"g{index + 1}",
                "lessee_id": lessee.id,
                "lessee_name": lessee.name,
                "lessee_country": lessee.country,
                "lessee_country_groups": loc_groups,
                "lessee_headquarters": hq,
                "lessee_control_groups": control["control_groups"],
                "lessee_verified_identity": lessee.verified_identity,
                "lessee_foreign": lessee.country != "US" or hq != "US",
                "lessor_id": lessor.id,
                "lessor_name": lessor.name,
                "lessor_country": lessor.country,
                "lessor_us_iaas_provider": lessor.us_iaas_provider,
                "share": grant.share,
                "advanced": advanced,
                "total_tpp": total or None,
                "trains_large_model": grant.trains_large_model,
                "location": txn.destination,
            }
        )
        return Fact(
            "lease",
            f"g{index + 1}",
            fields,
            {k: v for k, v in lease_prov.items() if v},
            {"lessee_control_groups": gprov["control_groups"], "lessee_country_groups": loc_prov},
        )

    def _financing_fact(self, index: int, fin: Any, parties: Mapping[str, Party], day: dt.date) -> Fact:
        financier = parties[fin.party]
        fin_hq, _ = self._headquarters(financier)
        values: dict[str, Any] = {}
        gprov: dict[str, dict[str, ProvNote]] = {}
        prov: dict[str, list[ProvNote]] = {}
        if fin.beneficiary is not None:
            beneficiary = parties[fin.beneficiary]
            control, _, cprov = self._control(beneficiary, parties, day)
            intermediary = control["headquarters"] != fin_hq
            values = {
                "beneficiary_id": beneficiary.id,
                "beneficiary_name": beneficiary.name,
                "beneficiary_headquarters": control["headquarters"],
                "beneficiary_control_groups": control["control_groups"],
                "intermediary": intermediary,
            }
            gprov["beneficiary_control_groups"] = cprov["control_groups"]
            prov["intermediary"] = [
                (
                    "input",
                    f"{financier.name} (HQ {fin_hq}) finances for {beneficiary.name} (HQ {control['headquarters']})",
                    None,
                    "confirmed",
                )
            ]
        fields = clean_fields(
            {
                "id": f"f{index + 1}",
                "party_id": financier.id,
                "party_name": financier.name,
                "kind": fin.kind,
                "amount_usd": fin.amount if fin.currency == "USD" else None,
                "party_headquarters": fin_hq,
                **values,
            }
        )
        return Fact("financing", f"f{index + 1}", fields, prov, gprov)


def _same_day(day: dt.date) -> Hashable:
    return day


def _shared(fact: Fact) -> Fact:
    """Mark a fact that a fact cache shares between transactions (decide keeps findings on such facts)."""
    fact.memo[SHARED] = True
    return fact


def _hit_evidence(hit: ScreeningHit) -> str:
    """What a hit rests on, for a rule's ``because``: an identifier hit's score of 1 is not a name's resemblance."""
    if hit.basis == "identifier":
        name = hit.qualifiers.get("name_score", "")
        return f"it gives identifier {hit.qualifiers['identifier']}, which the entry lists; name score {name}"
    # the name form that scored, when it is not the entry's name as written (an alias, a part of the name)
    against = "" if hit.matched_name == written_name(hit.entry.name) else f' against "{hit.matched_name}"'
    return f"name score {hit.score:.3f}{against}"


def _receiving(party: Party) -> bool:
    return any(r in RECEIVING_ROLES for r in party.roles)


def _list_age(lists: Sequence[ListRef], as_of: dt.date) -> tuple[int | None, ProvNote | None]:
    """How many days old the oldest dated snapshot is on ``as_of``, and the provenance note that says so."""
    dated = [(ref, (as_of - ref.snapshot_date).days) for ref in lists if ref.snapshot_date is not None]
    if not dated:
        return None, None
    oldest, age = max(dated, key=lambda pair: pair[1])
    note: ProvNote = (
        "screening",
        f"{oldest.id} snapshot of {oldest.snapshot_date} is {age} days old on {as_of}",
        oldest.sha256,
        "confirmed",
    )
    return age, note


def _consignee(txn: Transaction) -> str | None:
    """The ultimate consignee (else end user, else purchaser): the LPP's per-consignee key."""
    for role in (Role.ultimate_consignee, Role.end_user, Role.purchaser):
        for p in txn.parties:
            if role in p.roles:
                lei = p.identifiers.get("lei")
                return f"lei:{lei}" if lei else f"{' '.join(p.name.casefold().split())}|{p.country}"
    return None


def _more_restrictive(new: ReviewPolicy | None, old: ReviewPolicy | None) -> bool:
    if old is None:
        return new is not None
    return new is not None and new.restrictiveness > old.restrictiveness


_CLASSIFICATION_KEYS: dict[str, tuple[str, ...]] = {
    "tpp": ("catalogue_id", "tpp"),
    "performance_density": ("catalogue_id", "tpp", "performance_density"),
    "dram_bandwidth_gbs": ("catalogue_id", "dram_bandwidth_gbs"),
    "nac_eligible": ("nac_eligible",),
    "total_tpp": ("tpp", "total_tpp"),
    "eccn_2022": ("catalogue_id", "tpp", "eccn_2022"),
    "eccn": ("catalogue_id", "tpp", "performance_density", "paragraph", "eccn"),
}


def _classification_provenance(c: Classification) -> dict[str, list[ProvNote]]:
    """Give each item field only the classification steps it depends on, so a doubt about one figure
    (say, interconnect for the 2022 test) does not mark unrelated findings unconfirmed."""
    out: dict[str, list[ProvNote]] = {}
    for field_name, keys in _CLASSIFICATION_KEYS.items():
        notes: list[ProvNote] = []
        for p in c.provenance:
            is_2022 = p.detail.startswith("Oct 2022")
            if (
                (field_name == "eccn_2022" and is_2022)
                or any(k in p.data for k in keys)
                or (field_name == "eccn" and not p.data and not is_2022)
            ):
                notes.append(p)
        out[field_name] = notes
    out["computed_eccn"] = out["advanced"] = out["eccn"]
    return out


def fact_index(facts: Sequence[Fact]) -> dict[str, Fact]:
    return {f.key: f for f in facts}
