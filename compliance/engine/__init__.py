"""The engine: load a ruleset once, evaluate many transactions, fail closed.

`Engine` lives in `compliance.engine.evaluation`, a plain module, so that the compiled build
(`compliance.native`) can compile it: package ``__init__`` modules are not compiled.
"""

from compliance.engine.evaluation import (
    KEPT_BACKENDS,
    BackendName,
    DecisionHook,
    Engine,
    Ledger,
    input_sha256,
    new_decision_id,
)

__all__ = ["KEPT_BACKENDS", "BackendName", "DecisionHook", "Engine", "Ledger", "input_sha256", "new_decision_id"]
