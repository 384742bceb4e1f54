"""compliance: export-control determinations for AI compute hardware, explained.

The public surface::

    from compliance import Engine, Transaction
    engine = Engine.load("us-ear", overlays=["remote-access-security-act"])
    determination = engine.evaluate(Transaction.model_validate(data))
"""

from __future__ import annotations

# ruff: noqa: E402  (the compiled build is checked before anything compiled is imported)

__version__ = "0.1.0"

from compliance import native as _native

_native.check()  # before anything compiled is imported (docs/engine.md, "The compiled build")

from compliance.engine import Engine
from compliance.errors import ComplianceError, EngineError, InputError, RulesetError
from compliance.model import (
    Determination,
    Finding,
    Item,
    Outcome,
    Party,
    ReviewPolicy,
    Role,
    Transaction,
)
from compliance.rulesets.loader import Ruleset, load_ruleset

__all__ = [
    "ComplianceError",
    "Determination",
    "Engine",
    "EngineError",
    "Finding",
    "InputError",
    "Item",
    "Outcome",
    "Party",
    "ReviewPolicy",
    "Role",
    "Ruleset",
    "RulesetError",
    "Transaction",
    "__version__",
    "load_ruleset",
]
