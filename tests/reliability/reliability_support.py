"""Shared helpers for the reliability and audit tests: the test ruleset, list, engines, transactions."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from typing import Any

from compliance.engine import Engine
from compliance.model import Transaction
from compliance.rulesets.loader import Ruleset, load_ruleset
from compliance.screening.lists import ListSnapshot, load_yaml_list
from compliance.screening.screener import Screener

DATA = Path(__file__).resolve().parent / "data"
RULESET = DATA / "ruleset.yaml"
ENTITY_LIST = DATA / "entity_list.yaml"

DESTINATIONS = ["CN", "HK", "MO", "JP", "DE", "AE", "SG", "NI", "US", "RU"]
MODELS = [("H200 SXM", "NVIDIA"), ("H20", "NVIDIA"), ("MI300X", "AMD"), ("RTX 4090", "NVIDIA")]
NAMES = ["Sinotest Computing Co Ltd", "Acme Cloud", "Northwind GPU Leasing", "Vostok Microsystems", "Kyoto Compute"]


def copy_ruleset(target: Path) -> Path:
    """The test ruleset copied to ``target`` (so a test may edit it); returns the ruleset file."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("ruleset.yaml", "groups.yaml"):
        shutil.copy(DATA / name, target / name)
    return target / "ruleset.yaml"


def snapshot() -> ListSnapshot:
    return load_yaml_list(ENTITY_LIST)


def engine(
    ruleset: Ruleset | Path | None = None,
    *,
    screening: bool = True,
    backend: str = "durable",
    **kwargs: Any,
) -> Engine:
    loaded = ruleset if isinstance(ruleset, Ruleset) else load_ruleset(ruleset or RULESET)
    screener = Screener([snapshot()]) if screening else None
    return Engine(loaded, screener=screener, backend=backend, **kwargs)  # type: ignore[arg-type]


def transaction_data(rng: random.Random, n: int) -> dict[str, Any]:
    """A random but valid transaction exercising items, parties, screening and leases."""
    parties = [
        {
            "id": f"p{p}",
            "name": rng.choice(NAMES),
            "roles": [rng.choice(["purchaser", "ultimate_consignee", "end_user", "lessor", "lessee"])],
            "country": rng.choice(DESTINATIONS),
            "headquarters": rng.choice(DESTINATIONS),
            "address": f"{rng.randint(1, 99)} Test Road",
        }
        for p in range(rng.randint(1, 3))
    ]
    items = []
    for i in range(rng.randint(1, 2)):
        model, maker = rng.choice(MODELS)
        items.append({"id": f"i{i}", "model": model, "manufacturer": maker, "quantity": rng.randint(1, 4096)})
    data: dict[str, Any] = {
        "id": f"T{n:05d}",
        "date": (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 800))).isoformat(),
        "kind": rng.choice(["sale", "lease"]),
        "export_from": "US",
        "destination": rng.choice(DESTINATIONS),
        "parties": parties,
        "items": items,
    }
    if len(parties) >= 2 and rng.random() < 0.4:
        data["remote_access"] = [{"lessee": "p0", "lessor": "p1"}]
    return data


def transactions(count: int, seed: int = 7) -> list[Transaction]:
    rng = random.Random(seed)
    return [Transaction.model_validate(transaction_data(rng, n)) for n in range(count)]
