"""Fixtures for the authoring toolkit's own tests: pytester, and the small rulesets under data/."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# data/ holds purpose-built rulesets and case files, some failing on purpose: run only through pytester.
collect_ignore_glob = ["data/*"]

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data() -> Path:
    return DATA
