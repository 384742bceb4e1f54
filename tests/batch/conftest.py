"""Fixtures for the batch tests."""

from __future__ import annotations

import pytest
from batch_support import RULESET

from compliance.batch import EngineSpec


@pytest.fixture
def spec() -> EngineSpec:
    return EngineSpec(ruleset=RULESET, screening="none")
