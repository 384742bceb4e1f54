"""Builders for transactions, parties and items with sensible defaults, for tests that read like rules.

Every builder returns the validated pydantic model, so a test can never build a transaction the engine
would reject as input; keyword arguments are the model's own fields. Defaults describe the most ordinary
case (one purchaser in the destination country, one NVIDIA H100 SXM, a sale from the US on 2025-12-15), so
a test only states what its rule is about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from compliance.model import Item, ItemSpecs, Party, RemoteAccess, Transaction

DEFAULT_DATE = dt.date(2025, 12, 15)
_SPEC_FIELDS = frozenset(ItemSpecs.model_fields)


def make_party(
    id: str = "p1",
    *,
    name: str | None = None,
    roles: Iterable[str] = ("purchaser", "ultimate_consignee", "end_user"),
    country: str = "US",
    **fields: Any,
) -> Party:
    """A party; ``headquarters`` defaults to None (the engine then takes the location, and says so)."""
    return Party.model_validate(
        {"id": id, "name": name or f"Test Party {id}", "roles": list(roles), "country": country, **fields}
    )


def make_item(
    id: str = "i1",
    *,
    model: str | None = "H100 SXM",
    manufacturer: str | None = "NVIDIA",
    quantity: int = 1,
    specs: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Item:
    """An item; spec keywords (``tpp``, ``die_area_mm2``, ``datacenter``...) go into ``specs``."""
    spec_values = dict(specs or {})
    other: dict[str, Any] = {}
    for key, value in fields.items():
        (spec_values if key in _SPEC_FIELDS else other)[key] = value
    return Item.model_validate(
        {"id": id, "model": model, "manufacturer": manufacturer, "quantity": quantity, "specs": spec_values, **other}
    )


def make_lease(lessee: str, lessor: str, *, share: float = 1.0, **fields: Any) -> RemoteAccess:
    """A remote-access grant (IaaS): ``lessee`` uses ``lessor``'s capacity."""
    return RemoteAccess.model_validate({"lessee": lessee, "lessor": lessor, "share": share, **fields})


def _as_dict(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def make_transaction(
    destination: str = "US",
    *,
    id: str = "TXN-TEST",
    date: dt.date | str = DEFAULT_DATE,
    kind: str = "sale",
    export_from: str = "US",
    parties: Iterable[Party | Mapping[str, Any]] | None = None,
    items: Iterable[Item | Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Transaction:
    """A transaction; by default one purchaser located in the destination and one H100 SXM.

    Pass ``parties=[]`` or ``items=[]`` for none. Other keywords (``end_use``, ``remote_access``,
    ``financing``, ``flags``, ``value``) are the Transaction's own fields; models or mappings both work.
    """
    party_list = [make_party(country=destination)] if parties is None else list(parties)
    item_list = [make_item()] if items is None else list(items)
    body: dict[str, Any] = {
        "id": id,
        "date": date,
        "kind": kind,
        "export_from": export_from,
        "destination": destination,
        "parties": [_as_dict(p) for p in party_list],
        "items": [_as_dict(i) for i in item_list],
    }
    for key, value in fields.items():
        body[key] = [_as_dict(v) for v in value] if isinstance(value, list) else _as_dict(value)
    return Transaction.model_validate(body)
