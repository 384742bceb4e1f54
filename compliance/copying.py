"""Copies of pydantic models with some fields changed, for the engine's hot paths.

``replaced(model, changes)`` is ``model.model_copy(update=changes)`` (a shallow copy, the new values not
validated, the changed fields counted as set) written out: pydantic's goes through ``copy.copy`` and costs
about twice as much. The decision step calls it twice for most findings (a finding kept from an earlier
transaction, re-addressed to this one: the transaction's bound fact and the finding itself), and the chip
classifier for an item seen before under another id. This module is in the compiled build
(``compliance/native.py``), which a function on `model.py`'s pydantic models could not be.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__


def replaced(model: _M, changes: dict[str, Any]) -> _M:
    """A copy of ``model`` with ``changes`` applied (see the module docstring); ``model`` is left as it is."""
    cls = type(model)
    new: _M = _new(cls)
    values: dict[str, Any] = vars(model).copy()
    values.update(changes)
    _set(new, "__dict__", values)
    fields_set: set[str] = model.__pydantic_fields_set__
    if not changes.keys() <= fields_set or not cls.model_config.get("frozen"):
        # A model that allows assignment adds to its own set: it gets a copy. A frozen one never changes
        # it (pydantic's own model_copy copies the set before updating it), so the copy shares it.
        fields_set = fields_set | changes.keys()
    _set(new, "__pydantic_fields_set__", fields_set)
    _set(new, "__pydantic_extra__", model.__pydantic_extra__)
    _set(new, "__pydantic_private__", model.__pydantic_private__)
    return new
