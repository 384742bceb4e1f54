"""Fixtures for the screening tests."""

from __future__ import annotations

import pytest

from compliance.screening import Screener


@pytest.fixture(scope="session")
def default_screener() -> Screener:
    return Screener.default()
