"""Helpers for the batch tests: a stable test ruleset, generated JSONL exports, canonical output."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

RULESET = str(Path(__file__).parent / "rulesets" / "batch-test.yaml")
CHIPS = ["H100 SXM", "H20", "RTX 4090", "L40S", "A100 SXM"]


def transactions(count: int, seed: int = 7, markers: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Transactions across a year, repeat consignees (so the ledger matters), some bad ones."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        dest = rng.choice(["CN", "DE", "JP", "MO", "AE"])
        txn: dict[str, Any] = {
            "id": f"T{i:05d}",
            "date": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "kind": "sale",
            "export_from": "US",
            "destination": dest,
            "end_use": rng.choice(["commercial", "commercial", "military", "ai_training"]),
            "parties": [
                {
                    "id": "p1",
                    "name": f"Buyer {rng.randint(1, 6)}",
                    "roles": ["purchaser", "ultimate_consignee"],
                    "country": dest,
                }
            ],
            "items": [{"id": "i1", "model": rng.choice(CHIPS), "quantity": rng.randint(1, 40)}],
        }
        if i % 41 == 5:
            txn["destination"] = "XX"
        if markers and i in markers:
            txn["notes"] = markers[i]
        out.append(txn)
    return out


def write_jsonl(path: Path, txns: list[dict[str, Any]], broken: tuple[int, ...] = ()) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i, txn in enumerate(txns):
            handle.write(('{"id": "broken' if i in broken else json.dumps(txn)) + "\n")
    return path


def canonical(path: Path) -> list[dict[str, Any]]:
    """Determinations without decision_id and timestamp (what must be identical between runs)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        det = json.loads(line)
        det.pop("decision_id")
        det.pop("timestamp")
        out.append(det)
    return out
