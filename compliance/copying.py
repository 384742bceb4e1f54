"""Copies of pydantic models with some fields changed, and models built from trusted values, for the engine's
hot paths.

``replaced(model, changes)`` is ``model.model_copy(update=changes)`` (a shallow copy, the new values not
validated, the changed fields counted as set) written out: pydantic's goes through ``copy.copy`` and costs
about twice as much. The decision step calls it twice for most findings (a finding kept from an earlier
transaction, re-addressed to this one: the transaction's bound fact and the finding itself), and the chip
classifier for an item seen before under another id. This module is in the compiled build
(``compliance/native.py``), which a function on `model.py`'s pydantic models could not be.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__


def replaced(model: _M, changes: dict[str, Any]) -> _M:
    """A copy of ``model`` with ``changes`` applied (see the module docstring); ``model`` is left as it is."""
    cls = type(model)
    values: dict[str, Any] = vars(model).copy()
    values.update(changes)
    fields_set: set[str] = model.__pydantic_fields_set__
    if not changes.keys() <= fields_set or not cls.model_config.get("frozen"):
        # A model that allows assignment adds to its own set: it gets a copy. A frozen one never changes
        # it (pydantic's own model_copy copies the set before updating it), so the copy shares it.
        fields_set = fields_set | changes.keys()
    return _instance(cls, values, fields_set, model.__pydantic_extra__, model.__pydantic_private__)


def _instance(
    cls: type[_M], values: dict[str, Any], fields_set: set[str], extra: Any = None, private: Any = None
) -> _M:
    """An instance of ``cls`` holding ``values``, made without ``__init__`` (what pydantic's own copies do)."""
    new: _M = _new(cls)
    _set(new, "__dict__", values)
    _set(new, "__pydantic_fields_set__", fields_set)
    _set(new, "__pydantic_extra__", extra)
    _set(new, "__pydantic_private__", private)
    return new


CHECK_ENV = "COMPLIANCE_CHECK_CONSTRUCTED"
"""Set (the test suite sets it), `constructed` also validates each instance and requires the two to agree."""

_checking = [os.environ.get(CHECK_ENV, "") not in ("", "0")]


def checking() -> bool:
    """Whether this process checks what `constructed` builds."""
    return _checking[0]


def set_checking(on: bool) -> None:
    """Turn the check on or off in this process (a process started later reads ``COMPLIANCE_CHECK_CONSTRUCTED``)."""
    _checking[0] = on


def constructed(cls: type[_M], values: dict[str, Any]) -> _M:
    """``cls(**values)`` for values the engine's own code made, without validating them again.

    Every field must be given, with its declared type (a Finding's outcome an `Outcome`, its facts
    `BoundFact`s): pydantic's ``model_construct`` does this with defaults and aliases to look up and costs
    more than validating; this costs a quarter of it. A determination, each of its findings and each bound
    fact a rule reports are built this way, once per evaluation or more. With ``COMPLIANCE_CHECK_CONSTRUCTED``
    set, each instance is validated as well and must equal this one, field types included.
    """
    new = _instance(cls, values, set(values))
    if _checking[0]:
        check_constructed(cls, values, new)
    return new


def check_constructed(cls: type[BaseModel], values: dict[str, Any], new: BaseModel) -> None:
    """Raise AssertionError unless ``new`` is what validating ``values`` as ``cls`` gives."""
    names = list(cls.model_fields)
    if list(values) != names:
        raise AssertionError(f"{cls.__name__}: constructed from {list(values)}, not every field in order {names}")
    validated = cls.model_validate(values)
    for name in names:
        mine, theirs = values[name], getattr(validated, name)
        if type(mine) is not type(theirs) or mine != theirs:
            raise AssertionError(f"{cls.__name__}.{name}: constructed {mine!r}, validated {theirs!r}")
        if isinstance(mine, list) and [type(v) for v in mine] != [type(v) for v in theirs]:
            raise AssertionError(f"{cls.__name__}.{name}: element types differ from the validated ones")
    if new.model_dump_json() != validated.model_dump_json():
        raise AssertionError(f"{cls.__name__}: constructed and validated instances serialise differently")
