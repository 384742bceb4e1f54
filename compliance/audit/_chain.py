"""The record line format and its hash chain.

A record is one line of UTF-8 JSON::

    {"hash":"<sha256 of the body>","prev":"<hash of the previous record>","seq":<n>, ...}\\n

The *body* is the line with the ``"hash":"…",`` member cut out, i.e. ``{`` followed by everything after
the first comma. The hash covers the body's exact bytes (not a re-serialisation), so changing any byte of a
record, even whitespace or key order, breaks its hash; changing or deleting a whole record breaks the
``prev`` link of the record after it. The first record of a chain carries ``prev`` = `GENESIS_HASH`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64
"""``prev`` of the first record of a chain (64 zeros: no record hashes to it)."""
RECORD_SCHEMA = 1
"""Version of the record layout; bumped on incompatible changes."""

_LINK = re.compile(rb'^\{"hash":"([0-9a-f]{64})","prev":"([0-9a-f]{64})","seq":([0-9]{1,19}),')
_DECISION_ID = re.compile(rb'"decision_id":"([^"\\]{1,100})"')
HEAD_LENGTH = len('{"hash":"') + 64 + len('",')


@dataclass(frozen=True)
class Link:
    """Where a chain ends: the last record's sequence number and hash."""

    seq: int
    hash: str


GENESIS = Link(0, GENESIS_HASH)


def encode_record(fields: dict[str, Any], link: Link) -> tuple[bytes, Link]:
    """The record line (with newline) following ``link``, and the new end of the chain."""
    seq = link.seq + 1
    body_fields = {"prev": link.hash, "seq": seq, **fields}
    body = json.dumps(body_fields, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    line = b'{"hash":"' + digest.encode("ascii") + b'",' + body[1:] + b"\n"
    return line, Link(seq, digest)


def split_record(line: bytes) -> tuple[str, bytes] | None:
    """(stated hash, body bytes) of a record line without its newline, or None if it is not shaped like one."""
    if not line.startswith(b'{"hash":"') or len(line) < HEAD_LENGTH + 1:
        return None
    stated = line[9:73]
    if line[73:75] != b'",' or not re.fullmatch(rb"[0-9a-f]{64}", stated):
        return None
    return stated.decode("ascii"), b"{" + line[HEAD_LENGTH:]


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def read_link(line: bytes) -> Link | None:
    """The (seq, hash) a well-formed record line states, without parsing the whole record."""
    match = _LINK.match(line)
    if match is None:
        return None
    return Link(int(match.group(3)), match.group(1).decode("ascii"))


def decision_id_of(line: bytes) -> str | None:
    """Best-effort decision id of a (possibly damaged) record line, for error messages."""
    match = _DECISION_ID.search(line)
    return match.group(1).decode("utf-8", "replace") if match else None
