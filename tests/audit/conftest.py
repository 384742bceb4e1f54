from __future__ import annotations

import sys
from pathlib import Path

# The audit tests share the reliability tests' ruleset, list and transaction generator.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reliability"))
