"""Ownership look-through under the Affiliates Rule (and OFAC's 50 % practice).

An entity owned 50 % or more, directly or indirectly, individually or in the aggregate, by listed
parties is treated as listed, and so are entities owned by entities caught that way (90 FR 47201).

Algorithm (a fixpoint over the transaction's ownership graph, cycles handled):

1. ``status`` starts as the listed parties the engine passes (with their most restrictive policy).
2. For every other party, walk its owners upwards along simple paths (a node is never visited twice on
   one path, so cycles end). A walk stops at the first owner in ``status``: the path contributes the
   product of the shares below that owner. Paths through unlisted owners multiply their shares
   (indirect ownership), and contributions of all paths are summed (aggregation), capped at 1.
3. A party whose aggregate reaches 50 % joins ``status`` (inheriting the most restrictive policy of
   the owners that caught it) and the walk repeats until nothing changes.

A path with a hop of unknown size (``Owner.share is None``) contributes nothing to the share but sets
``unknown_share`` (a fact of its own: a listed owner holds an unknown stake). Whether the rule applies
on a date (it was suspended from 2025-11-10 to 2026-11-09) is for the ruleset to decide, not this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from compliance.evidence import ListedOwnership, OwnershipLink, OwnershipPath
from compliance.model import ReviewPolicy, Transaction

AFFILIATE_THRESHOLD: Final = 0.5
"""Aggregate listed ownership at which an entity is caught (>= 50 %)."""
MAX_PATHS: Final = 10_000
"""Guard against combinatorial path explosion in hostile input; beyond it the walk stops and flags unknown."""

_Chain = tuple[tuple[str, str, float | None], ...]
"""(owner, owned, share) links from the listed-or-caught owner down to the party."""


def _most_restrictive(policies: list[ReviewPolicy | None]) -> ReviewPolicy | None:
    known = [p for p in policies if p is not None]
    return max(known, key=lambda p: p.restrictiveness) if known else None


def _walk(
    party: str,
    owners_of: Mapping[str, list[tuple[str, float | None]]],
    status: Mapping[str, ReviewPolicy | None],
) -> tuple[list[tuple[str, _Chain, float | None]], bool]:
    """Every simple path from ``party`` up to the first owner in ``status``: (owner, chain, product)."""
    out: list[tuple[str, _Chain, float | None]] = []
    truncated = False
    stack: list[tuple[str, _Chain, float | None, frozenset[str]]] = [(party, (), 1.0, frozenset({party}))]
    while stack:
        node, chain, product, visited = stack.pop()
        for owner, share in owners_of.get(node, []):
            if owner in visited:
                continue  # a cycle: this path ends here
            link = (owner, node, share)
            new_chain = (link, *chain)
            new_product = None if product is None or share is None else product * share
            if owner in status:
                out.append((owner, new_chain, new_product))
                if len(out) >= MAX_PATHS:
                    return out, True
            else:
                stack.append((owner, new_chain, new_product, visited | {owner}))
        if len(stack) > MAX_PATHS:
            truncated = True
            break
    return out, truncated


def resolve_listed_ownership(txn: Transaction, listed: Mapping[str, ReviewPolicy | None]) -> dict[str, ListedOwnership]:
    """Listed ownership of every party of ``txn`` that listed parties own (wholly, partly or unknown).

    ``listed`` maps the ids of parties that are themselves listed (the engine passes parties with a
    match-band hit) to their most restrictive entry policy. Returns, per party with ``listed_share > 0``
    or ``unknown_share``, the aggregate share, the listed (or caught) owners, the most restrictive policy
    among them and every path with its percentages. A listed party appears too if listed parties own it.
    """
    owners_of: dict[str, list[tuple[str, float | None]]] = {
        p.id: [(o.party, o.share) for o in p.owners] for p in txn.parties
    }
    status: dict[str, ReviewPolicy | None] = {pid: pol for pid, pol in listed.items() if pid in owners_of}
    results: dict[str, tuple[list[tuple[str, _Chain, float | None]], bool]] = {}
    changed = True
    rounds = 0
    while changed and rounds <= len(owners_of) + 1:
        changed = False
        rounds += 1
        for pid in owners_of:
            paths, truncated = _walk(pid, owners_of, status)
            results[pid] = (paths, truncated)
            if pid in status:
                continue
            share = min(1.0, sum(p for _, _, p in paths if p is not None))
            if share >= AFFILIATE_THRESHOLD - 1e-12:
                status[pid] = _most_restrictive([status[o] for o, _, _ in paths])
                changed = True
    out: dict[str, ListedOwnership] = {}
    for pid, (paths, truncated) in results.items():
        share = min(1.0, sum(p for _, _, p in paths if p is not None))
        unknown = truncated or any(p is None for _, _, p in paths)
        if share <= 0.0 and not unknown:
            continue
        owners = sorted({o for o, _, _ in paths})
        out[pid] = ListedOwnership(
            party_id=pid,
            listed_share=round(share, 10),
            unknown_share=unknown,
            listed_owners=owners,
            most_restrictive_policy=_most_restrictive([status[o] for o in owners]),
            paths=[
                OwnershipPath(
                    listed_owner=o,
                    links=[OwnershipLink(owner=a, owned=b, share=s) for a, b, s in chain],
                    effective_share=None if p is None else round(p, 10),
                )
                for o, chain, p in sorted(paths, key=lambda x: (x[0], [lk[0] for lk in x[1]]))
            ],
        )
    return out


def caught_parties(
    txn: Transaction, listed: Mapping[str, ReviewPolicy | None], threshold: float = AFFILIATE_THRESHOLD
) -> dict[str, ReviewPolicy | None]:
    """Parties not themselves listed whose aggregate listed ownership reaches ``threshold``."""
    resolved = resolve_listed_ownership(txn, listed)
    return {
        pid: r.most_restrictive_policy
        for pid, r in resolved.items()
        if pid not in listed and r.listed_share >= threshold - 1e-12
    }
