"""Batch screening: whole exports through parallel workers, in order, resumable, nothing lost.

The public surface::

    from compliance.batch import EngineSpec, BatchOptions, screen_batch
    summary = screen_batch([Path("export.csv")], Path("determinations.jsonl"),
                           EngineSpec(ruleset="us-ear", mapping=ColumnMapping.load("erp.yaml")),
                           BatchOptions(workers=2, resume=True))
    print(summary.line())

Readers and the flat CSV layout live in `compliance.batch.layout` and `compliance.batch.readers`, the
cross-transaction ledger in `compliance.batch.ledger`, the Dask backend in `compliance.batch.dask`
(optional extra ``dask``). The core (`compliance.engine`) never imports this package.
"""

from __future__ import annotations

from compliance.batch.layout import ColumnMapping, MappingError
from compliance.batch.ledger import OpeningBalances, PriorLedger
from compliance.batch.pool import BatchError
from compliance.batch.readers import RawRecord, read_inputs
from compliance.batch.runner import BatchOptions, BatchSummary, screen_batch
from compliance.batch.worker import FINDING_COLUMNS, EngineSpec, ResultBlock, ResultRow
from compliance.engine.enrich import uses_ledger

__all__ = [
    "FINDING_COLUMNS",
    "BatchError",
    "BatchOptions",
    "BatchSummary",
    "ColumnMapping",
    "EngineSpec",
    "MappingError",
    "OpeningBalances",
    "PriorLedger",
    "RawRecord",
    "ResultBlock",
    "ResultRow",
    "read_inputs",
    "screen_batch",
    "uses_ledger",
]
