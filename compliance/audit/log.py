"""`AuditLog`: one hash-chained JSON decision record per determination, emitted through structlog.

Use it as the engine's decision hook::

    audit = AuditLog("decisions.jsonl", mask=["/parties/*/address"])
    engine = Engine.load("us-ear", on_decision=audit)
    audit.attach(engine)          # store the list snapshots the engine screens against (for replay)

Every determination the engine returns, errors included, is first written here; if writing fails the engine
turns the determination into ``error`` (an unrecorded decision is not a decision).

structlog is used through a private logger built with ``structlog.wrap_logger`` and explicit processors:
this module never calls ``structlog.configure``, so a host application's structlog setup neither changes
these records nor is changed by them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from compliance import __version__
from compliance.audit._chain import GENESIS, RECORD_SCHEMA, Link, encode_record
from compliance.audit.masking import mask_document, parse_pointer
from compliance.audit.sinks import FileSink, Sink
from compliance.audit.store import SnapshotStore, Stored
from compliance.model import Determination, Transaction
from compliance.rulesets.loader import Ruleset

if TYPE_CHECKING:
    from compliance.engine import Engine
    from compliance.screening.lists import ListSnapshot

EVENT = "compliance.decision"


def _matcher() -> dict[str, Any] | None:
    try:
        from compliance.screening.scorer import SCORER_NAME, SCORER_VERSION, matcher_config
    except ImportError:
        return None
    return {"name": SCORER_NAME, "version": SCORER_VERSION, "config": dict(matcher_config())}


class _Emitter:
    """The wrapped logger at the end of the structlog pipeline: hands the rendered line to the sinks."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self._sinks = sinks

    def msg(self, line: bytes) -> None:
        for sink in self._sinks:
            sink.write(line)

    info = msg


class AuditLog:
    """Decision records, hash-chained, with their rulesets and lists kept in a content-addressed store.

    ``path``: the chained log file (rotated past ``max_bytes`` into ``path.1``, ``path.2``…). ``sinks``:
    further destinations (`StreamSink`, `LoggingSink`) that receive copies of each record. Without a path the
    chain lives in memory only (from `GENESIS_HASH`, per process). ``mask``: JSON pointers of input fields to
    mask (``*`` matches every element). ``store``: the snapshot directory (default ``path.store``; ``False``
    for none, which makes the log unreplayable). ``lists``: list snapshots to store for replay (`attach`
    adds the engine's). Thread-safe; process-safe for one file (see `FileSink`).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        sinks: Sequence[Sink] = (),
        mask: Sequence[str] = (),
        store: str | Path | bool = True,
        max_bytes: int | None = None,
        fsync: bool = False,
        lists: Iterable[ListSnapshot] = (),
    ) -> None:
        for pointer in mask:
            parse_pointer(pointer)  # reject a bad pointer now, not at the first decision
        self._mask = tuple(mask)
        self._file = FileSink(path, max_bytes=max_bytes, fsync=fsync) if path is not None else None
        self.path = Path(path) if path is not None else None
        all_sinks: list[Sink] = ([self._file] if self._file is not None else []) + list(sinks)
        if not all_sinks:
            raise ValueError("an AuditLog needs a path or at least one sink")
        self._sinks = tuple(all_sinks)
        if store is True:
            self.store = SnapshotStore(Path(str(path) + ".store")) if path is not None else None
        elif store is False:
            self.store = None
        else:
            self.store = SnapshotStore(store)
        self._lock = threading.Lock()
        self._memory_link = GENESIS
        self._rulesets: dict[str, Stored] = {}
        self._lists: dict[str, ListSnapshot] = {}
        self._lists_stored: dict[str, Stored] = {}
        self._matcher = _matcher()
        self._pending: Link = GENESIS
        self._logger = structlog.wrap_logger(
            _Emitter(self._sinks),
            processors=[self._mask_input, self._chain],
            wrapper_class=structlog.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=False,
        )
        for snapshot in lists:
            self.add_list(snapshot)

    # -- configuration -------------------------------------------------------------------------------

    def add_list(self, snapshot: ListSnapshot) -> None:
        """Make a list snapshot available to the store (records name lists by hash only)."""
        self._lists[snapshot.sha256] = snapshot

    def attach(self, engine: Engine) -> None:
        """Store the engine's ruleset and list snapshots now, before the first decision.

        Storing early closes the window in which a ruleset file edited on disk after loading could no
        longer be stored (the record would then say so and replay would report the hash missing).
        """
        screener = engine.screener
        for snapshot in getattr(screener, "snapshots", ()) or ():
            self.add_list(snapshot)
        self._stored_ruleset(engine.ruleset)
        for snapshot in list(self._lists.values()):
            self._stored_list(snapshot.sha256)

    # -- the decision hook ---------------------------------------------------------------------------

    def __call__(self, determination: Determination, transaction: Transaction | None, ruleset: Ruleset) -> None:
        """Record one determination (the `Engine` decision hook). Raises if the record cannot be written."""
        self.record(determination, transaction, ruleset)

    def record(self, determination: Determination, transaction: Transaction | None, ruleset: Ruleset) -> None:
        fields = self._fields(determination, transaction, ruleset)
        if self._file is not None:
            with self._file.locked() as tail:
                self._pending = tail
                self._logger.info(EVENT, **fields)
        else:
            with self._lock:
                self._pending = self._memory_link
                self._logger.info(EVENT, **fields)

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- record content ------------------------------------------------------------------------------

    def _stored_ruleset(self, ruleset: Ruleset) -> Stored:
        if self.store is None:
            return Stored(False, "no snapshot store configured")
        with self._lock:
            known = self._rulesets.get(ruleset.sha256)
            if known is None:
                known = self.store.put_ruleset(ruleset)
                self._rulesets[ruleset.sha256] = known
            return known

    def _stored_list(self, sha256: str) -> Stored:
        if self.store is None:
            return Stored(False, "no snapshot store configured")
        with self._lock:
            known = self._lists_stored.get(sha256)
            if known is None or not known.stored:
                snapshot = self._lists.get(sha256)
                if snapshot is not None:
                    known = self.store.put_list(snapshot)
                elif self.store.has_list(sha256):
                    known = Stored(True)
                else:
                    known = Stored(False, "snapshot not given to the audit log (use AuditLog.attach(engine))")
                self._lists_stored[sha256] = known
            return known

    def _fields(self, det: Determination, txn: Transaction | None, ruleset: Ruleset) -> dict[str, Any]:
        stored = self._stored_ruleset(ruleset)
        lists = []
        for ref in det.lists:
            list_stored = self._stored_list(ref.sha256)
            lists.append({**ref.model_dump(mode="json"), "stored": list_stored.stored, "reason": list_stored.reason})
        return {
            "schema": RECORD_SCHEMA,
            "decision_id": det.decision_id,
            "timestamp": det.timestamp.isoformat(),
            "transaction_id": det.transaction_id,
            "as_of": det.as_of.isoformat(),
            "outcome": det.outcome.value,
            "error": det.error,
            "input_sha256": det.input_sha256,
            "input": txn.model_dump(mode="json") if txn is not None else None,
            "ruleset": {
                **det.ruleset.model_dump(mode="json"),
                "files": list(ruleset.files),
                "stored": stored.stored,
                "reason": stored.reason,
            },
            "lists": lists,
            "matcher": self._matcher,
            "engine": {**det.engine.model_dump(mode="json"), "library": __version__},
            "determination": det.model_dump(mode="json"),
        }

    # -- structlog processors ------------------------------------------------------------------------

    def _mask_input(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        masked: list[str] = []
        if self._mask and event.get("input") is not None:
            event["input"], masked = mask_document(event["input"], self._mask)
        event["masked"] = masked
        return event

    def _chain(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> bytes:
        # Runs with the chain locked (see `record`): reads the current end and extends it.
        line, link = encode_record(dict(event), self._pending)
        if self._file is None:
            self._memory_link = link
        return line


def open_audit_log(
    path: str | Path | None, *, mask: Sequence[str] = (), max_bytes: int | None = None
) -> AuditLog | None:
    """The audit log for ``compliance screen --audit-log PATH`` (None when no path was given)."""
    if path is None:
        return None
    return AuditLog(path, mask=mask, max_bytes=max_bytes)
