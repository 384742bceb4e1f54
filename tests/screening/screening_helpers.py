"""Helpers shared by the screening tests. Real files are read in place from ../shared/data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from compliance.model import Party, Transaction

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AS_OF = dt.date(2026, 11, 23)


def shared(rel: str) -> Path:
    """Path to a shared data file; skips the test with a clear reason when it is absent."""
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"../shared/data/{rel} is not available (shared data absent)")
    return path


def party(name: str, *, pid: str = "p1", country: str = "US", aliases: list[str] | None = None, **kw: object) -> Party:
    return Party.model_validate(
        {"id": pid, "name": name, "aliases": aliases or [], "roles": ["purchaser"], "country": country, **kw}
    )


def l40s_sale(buyer: Party, *, txn_id: str, day: str = "2026-11-23", destination: str = "SG") -> Transaction:
    """Eight L40S cards sold from the US to ``buyer`` (the purchaser): the engine tests' screening probe."""
    return Transaction.model_validate(
        {
            "id": txn_id,
            "date": day,
            "kind": "sale",
            "export_from": "US",
            "destination": destination,
            "parties": [buyer.model_dump(exclude_defaults=True)],
            "items": [{"id": "i1", "model": "L40S", "quantity": 8}],
        }
    )


def example_listing(title: str, entry_id: str, extra: str = "") -> str:
    """Our YAML list format holding one Entity List entry (an invented company listed from 2025-01-01, its
    line 7), with ``extra`` lines appended to the entry."""
    return f"""
id: entity_list
title: {title}
snapshot_date: 2026-01-01
sources: [test]
entries:
- id: {entry_id}
  name: Example Compute Leasing Co., Ltd.
  country: CN
  federal_register: [90 FR 1]
  start_date: 2025-01-01
  review_policy: presumption_of_denial
{extra}"""
