"""The suite tests the code as it is: it refuses to run on a compiled build older than its sources."""

from __future__ import annotations

import pytest

from compliance import native


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = native.stale()
    if stale:
        pytest.exit(
            f"the compiled build is older than {', '.join(stale)}: run `make` or "
            "`compliance native build` (or `compliance native clean` to test the pure-Python modules)",
            returncode=4,
        )
