"""Decision records: hash-chained, masked, replayable (OPA's decision log is the floor).

from compliance.audit import AuditLog, verify_log, replay_log

audit = AuditLog("decisions.jsonl", mask=["/parties/*/address"], max_bytes=100_000_000)
engine = Engine.load("us-ear", on_decision=audit)
audit.attach(engine)
...
assert verify_log("decisions.jsonl").ok
print(replay_log("decisions.jsonl").summary())
"""

from __future__ import annotations

from compliance.audit._chain import GENESIS_HASH, RECORD_SCHEMA
from compliance.audit.log import EVENT, AuditLog, open_audit_log
from compliance.audit.masking import MASK, PointerError, mask_document
from compliance.audit.replay import ReplayReport, ReplayResult, default_engine_factory, replay_log
from compliance.audit.sinks import FileSink, LoggingSink, Sink, StreamSink, rotated_files
from compliance.audit.store import SnapshotStore, Stored, StoreError
from compliance.audit.verify import ChainProblem, VerifyReport, chain_files, verify_log

__all__ = [
    "EVENT",
    "GENESIS_HASH",
    "MASK",
    "RECORD_SCHEMA",
    "AuditLog",
    "ChainProblem",
    "FileSink",
    "LoggingSink",
    "PointerError",
    "ReplayReport",
    "ReplayResult",
    "Sink",
    "SnapshotStore",
    "StoreError",
    "Stored",
    "StreamSink",
    "VerifyReport",
    "chain_files",
    "default_engine_factory",
    "mask_document",
    "open_audit_log",
    "replay_log",
    "rotated_files",
    "verify_log",
]
