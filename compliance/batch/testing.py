"""Worker hooks for testing the batch runner's crash handling (``EngineSpec.hook`` or the
``COMPLIANCE_BATCH_WORKER_HOOK`` environment variable, as ``compliance.batch.testing:NAME``).

They run inside a worker before each record is evaluated. Nothing calls them unless a test names them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from compliance.batch.readers import RawRecord

ABORT_MARKER = b"ABORT-WORKER"
"""A record whose raw text contains this kills its worker with ``os.abort()`` every time."""
ABORT_ONCE_MARKER = b"ABORT-ONCE"
"""A record whose raw text contains this kills its worker the first time only (needs ``CRASH_DIR_ENV``)."""
CRASH_DIR_ENV = "COMPLIANCE_TEST_CRASH_DIR"
SLOW_ENV = "COMPLIANCE_TEST_SLOW_S"


def _text(raw: RawRecord) -> bytes:
    payload = raw.payload
    if isinstance(payload, bytes):
        return payload
    return repr(payload).encode("utf-8", "replace")


def abort_if_marked(raw: RawRecord) -> None:
    """``os.abort()`` (SIGABRT, a C-level crash: no Python cleanup) on marked records."""
    text = _text(raw)
    if ABORT_MARKER in text:
        os.abort()
    if ABORT_ONCE_MARKER in text:
        flag = Path(os.environ[CRASH_DIR_ENV]) / f"crashed-{raw.index}"
        if not flag.exists():
            flag.write_text("1")
            os.abort()


def slow(raw: RawRecord) -> None:
    """Sleep ``COMPLIANCE_TEST_SLOW_S`` seconds per record: gives a kill-and-resume test time to kill."""
    time.sleep(float(os.environ.get(SLOW_ENV, "0.01")))
