"""Screening on a Dask ``distributed`` cluster, partition by partition (optional extra ``dask``).

The same per-partition work as the local pool (`compliance.batch.worker.WorkerState`) runs on the
cluster's workers; each worker process builds its engine once from the picklable `EngineSpec` and keeps
it for later partitions (durable_rules handles never travel). The run has the local run's two phases,
so the result is identical to ``screen_batch`` whatever the partitioning:

1. when the ruleset uses the cumulative TPP fields, every partition reports its `LedgerEntry`s; the
   client sums them in date order (`compliance.batch.ledger.prior_ledgers`);
2. every partition is evaluated with its records' prior totals; the client writes the results in input
   order with the same writers as a local run.

Inputs: a list of files (each file is a partition, read on the worker: the files must be visible to the
workers at the same path) or a Dask DataFrame in the flat CSV layout. A transaction's rows must be in one
partition (``df.shuffle("transaction_id")`` guarantees it); a transaction id found in two partitions is an
error. ``--resume`` is not supported here: a Dask run is restarted as a whole.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compliance.batch.layout import ColumnMapping, GroupedTransaction
from compliance.batch.ledger import LedgerEntry, OpeningBalances, PriorLedger, prior_ledgers
from compliance.batch.pool import BatchError
from compliance.batch.readers import RawRecord, frame_rows, read_inputs
from compliance.batch.runner import BatchOptions, BatchSummary, record_block
from compliance.batch.worker import EngineSpec, ResultBlock, ResultRow, WorkerState
from compliance.batch.writers import FileSink, MemorySink, ParquetSink, Sink, StreamSink
from compliance.engine.enrich import uses_ledger
from compliance.rulesets.loader import load_ruleset

_STATES: dict[str, WorkerState] = {}


def _state(spec: EngineSpec) -> WorkerState:
    """This worker process's engine for ``spec``, built on first use."""
    key = hashlib.sha256(pickle.dumps(spec)).hexdigest()
    state = _STATES.get(key)
    if state is None:
        state = WorkerState(spec)
        _STATES[key] = state
    return state


# ------------------------------------------------------------------------------------------------
# Partitions: what a task reads


def _file_records(path: str, mapping: ColumnMapping) -> list[RawRecord]:
    return read_inputs([Path(path)], mapping).records


def _frame_records(frame: Any, source: str, mapping: ColumnMapping) -> list[RawRecord]:
    names = [str(c) for c in frame.columns]
    rows = frame.itertuples(index=False, name=None)
    return frame_rows(rows, names, source, mapping)


def _partition_records(partition: Any, number: int, spec: EngineSpec) -> list[RawRecord]:
    if isinstance(partition, str):
        return _file_records(partition, spec.mapping)
    return _frame_records(partition, f"partition-{number}", spec.mapping)


def _ledger_task(partition: Any, number: int, spec: EngineSpec) -> tuple[int, list[str], list[LedgerEntry | None]]:
    records = _partition_records(partition, number, spec)
    ids = [r.payload.transaction_id for r in records if isinstance(r.payload, GroupedTransaction)]
    return len(records), ids, _state(spec).ledger_entries(records)


def _evaluate_task(
    partition: Any, number: int, offset: int, spec: EngineSpec, priors: dict[int, PriorLedger]
) -> ResultBlock:
    records = _partition_records(partition, number, spec)
    rebased = [RawRecord(r.index + offset, r.source, r.line, r.payload, r.lines) for r in records]
    return _state(spec).evaluate(rebased, priors)


# ------------------------------------------------------------------------------------------------
# The client side


def screen_dask(
    source: Sequence[Path] | Any,
    output: Path | None,
    spec: EngineSpec,
    *,
    scheduler: str | Any | None = None,
    options: BatchOptions | None = None,
    sink: Sink | None = None,
) -> BatchSummary:
    """Screen files or a Dask DataFrame on a cluster; ``scheduler`` is an address or a ``Client``."""
    try:
        from distributed import Client
    except ImportError:
        raise BatchError("Dask screening needs the dask extra: pip install 'compliance-engine[dask]'") from None
    options = options or BatchOptions()
    started = time.perf_counter()
    own_client = not isinstance(scheduler, Client)
    client: Any = Client(scheduler) if own_client else scheduler  # type: ignore[no-untyped-call]
    try:
        partitions = _partitions(source, client)
        ruleset = load_ruleset(spec.ruleset, spec.overlays)
        summary = BatchSummary(output=str(output) if output is not None else None)
        summary.ledger_pass = uses_ledger(ruleset)
        summary.workers = len(client.scheduler_info().get("workers", {}))
        spec_future = client.scatter(spec, broadcast=True)
        first = client.map(
            _ledger_task, partitions, list(range(len(partitions))), [spec_future] * len(partitions), pure=False
        )
        counts: list[int] = []
        entries: list[LedgerEntry] = []
        seen: dict[str, int] = {}
        offset = 0
        offsets: list[int] = []
        for number, (count, ids, found) in enumerate(client.gather(first)):
            for tid in ids:
                if seen.setdefault(tid, number) != number:
                    raise BatchError(
                        f"transaction {tid!r} has rows in partitions {seen[tid]} and {number}; "
                        "partition by transaction id (df.shuffle('transaction_id'))"
                    )
            offsets.append(offset)
            for e in found:
                if e is not None:
                    entries.append(LedgerEntry(e.index + offset, e.day, e.year, e.consignee, e.country, e.tpp))
            counts.append(count)
            offset += count
        summary.records_in = offset
        summary.rows_read = offset
        priors: dict[int, PriorLedger] = {}
        if summary.ledger_pass:
            opening = OpeningBalances.load(options.ledger) if options.ledger is not None else None
            priors = prior_ledgers(entries, opening)
        second = [
            client.submit(
                _evaluate_task,
                partitions[n],
                n,
                offsets[n],
                spec_future,
                {i: p for i, p in priors.items() if offsets[n] <= i < offsets[n] + counts[n]},
                pure=False,
            )
            for n in range(len(partitions))
        ]
        sink = sink or _sink(output, spec)
        sink.open(None)
        try:
            _write_in_order(second, sink, summary, options.on_error, client)
            sink.finish()
        finally:
            sink.close()
        summary.evaluate_s = time.perf_counter() - started
    finally:
        if own_client:
            client.close()
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _partitions(source: Sequence[Path] | Any, client: Any) -> list[Any]:
    if hasattr(source, "to_delayed"):  # a Dask DataFrame: its partitions, computed where they live
        return list(client.compute(list(source.to_delayed())))
    from compliance.batch.readers import input_files

    return [str(p) for p in input_files([Path(p) for p in source])]


def _sink(output: Path | None, spec: EngineSpec) -> Sink:
    if spec.output == "table":
        return MemorySink()
    if output is None:
        return StreamSink()
    if spec.output == "parquet":
        return ParquetSink(output)
    return FileSink(output, spec.output)


def _write_in_order(
    futures: list[Any],
    sink: Sink,
    summary: BatchSummary,
    on_error: Callable[[ResultRow], None] | None,
    client: Any,
) -> None:
    for future in futures:  # in partition order; later partitions keep computing meanwhile
        block: ResultBlock = client.gather(future)
        if len(block):
            record_block(block, sink, summary, on_error)
        sink.commit()
