"""Helpers shared by the screening tests. Real files are read in place from ../shared/data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from compliance.model import Party

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
