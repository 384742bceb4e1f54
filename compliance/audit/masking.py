"""Masking recorded inputs with JSON pointers (RFC 6901), as OPA's decision-log ``mask`` does.

A pointer names a member to mask, e.g. ``/parties/0/address``. One extension: a segment ``*`` matches every
member of an object or every element of an array, so ``/parties/*/address`` masks every party's address.
A masked value is replaced by `MASK`; the record lists the concrete pointers that were masked, so an auditor
sees what is missing and replay knows the stored input is not the one evaluated.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from compliance.errors import ComplianceError

MASK = "**masked**"


class PointerError(ComplianceError, ValueError):
    """A mask pointer that is not a JSON pointer."""


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """The unescaped segments of a JSON pointer (``""`` is the whole document, which cannot be masked)."""
    if not pointer.startswith("/"):
        raise PointerError(f"{pointer!r} is not a JSON pointer (it must start with '/')")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def mask_document(document: Any, pointers: Sequence[str]) -> tuple[Any, list[str]]:
    """A masked deep copy of ``document`` and the sorted concrete pointers that were masked.

    Pointers that match nothing are ignored (a field absent from this input is not an error).
    """
    parsed = [parse_pointer(p) for p in pointers]
    if not parsed:
        return document, []
    out = copy.deepcopy(document)
    masked: set[str] = set()
    for segments in parsed:
        _mask(out, segments, "", masked)
    return out, sorted(masked)


def _mask(node: Any, segments: tuple[str, ...], here: str, masked: set[str]) -> None:
    if not segments:
        return
    head, rest = segments[0], segments[1:]
    keys: list[Any]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else ([head] if head in node else [])
    elif isinstance(node, list):
        if head == "*":
            keys = list(range(len(node)))
        elif head.isdigit() and (head == "0" or not head.startswith("0")) and int(head) < len(node):
            keys = [int(head)]
        else:
            keys = []
    else:
        return
    for key in keys:
        where = f"{here}/{_escape(str(key))}"
        if rest:
            _mask(node[key], rest, where, masked)
        elif node[key] is not None:
            node[key] = MASK
            masked.add(where)
