"""The suite tests the code as it is: it refuses to run on a compiled build older than its sources.

It also keeps kept screeners (compliance.screening.prebuilt) in a directory of its own, removed at the end,
never in the user's cache, and has every model the engine builds from trusted values validated as well
(`compliance.copying.constructed`); spawned batch workers inherit both settings."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from compliance import copying, native
from compliance.screening.prebuilt import CACHE_ENV

_CACHE: list[str] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = native.stale()
    if stale:
        pytest.exit(
            f"the compiled build is older than {', '.join(stale)}: run `make` or "
            "`compliance native build` (or `compliance native clean` to test the pure-Python modules)",
            returncode=4,
        )
    os.environ[copying.CHECK_ENV] = "1"  # spawned workers read it; this process was started already
    copying.set_checking(True)
    _CACHE.append(tempfile.mkdtemp(prefix="compliance-test-cache-"))
    os.environ[CACHE_ENV] = _CACHE[0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for folder in _CACHE:
        shutil.rmtree(folder, ignore_errors=True)
