"""`screen_batch`: a whole export through parallel workers, in input order, checkpointed, nothing lost.

The run, step by step:

1. frame the input into raw records (`compliance.batch.readers`), cut into chunks of ``chunk_size``;
2. if a rule tests the cumulative TPP fields, a first pass computes each transaction's prior totals in
   date order (`compliance.batch.ledger`), so the outcome does not depend on the worker count;
3. chunks go to worker processes (`compliance.batch.pool`); a chunk whose worker died is retried once,
   then record by record, and a record that kills a worker again becomes an ``error`` record;
4. finished chunks are written in input order; at most once a second (``checkpoint_every``) the output is
   fsynced and the checkpoint (``<stem>.checkpoint.json``) records how far it is valid, so ``resume=True``
   continues a killed run without duplicates or gaps. The checkpoint is removed when the run completes.

Every input record yields one output record: records in = determinations + errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.batch.ledger import LedgerEntry, OpeningBalances, PriorLedger, prior_ledgers
from compliance.batch.pool import BatchError, Crashed, Done, InlinePool, Task, TaskKind, WorkerPool
from compliance.batch.readers import RawRecord, read_inputs, stream_inputs
from compliance.batch.worker import EngineSpec, ResultBlock, ResultRow, crash_row
from compliance.batch.writers import FileSink, MemorySink, ParquetSink, Sink, StreamSink, checkpoint_path
from compliance.engine.enrich import uses_ledger
from compliance.rulesets.loader import load_ruleset

CHECKPOINT_VERSION = 1
DEFAULT_CHUNK_SIZE = 250
CHECKPOINT_EVERY_S = 1.0
"""Three fsyncs per checkpoint: after every 250-record chunk they held the parent up long enough for workers
to wait on their next task (measured here: 2,400 fsyncs of about 1 ms in a 200,000-transaction run)."""


@dataclass
class BatchOptions:
    workers: int | None = None
    """Worker processes; None: the core count, or in-process when the input fits in one chunk. 0: in-process."""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    resume: bool = False
    progress: bool | None = None
    """Show a progress bar; None: only when stderr is a terminal."""
    ledger: Path | None = None
    """Opening balances for the cumulative TPP facts (`OpeningBalances` file)."""
    on_error: Callable[[ResultRow], None] | None = None
    """Called (in input order) with every error record as it is written."""
    max_in_flight: int | None = None
    checkpoint_every: float = CHECKPOINT_EVERY_S
    """Seconds between checkpoints of a file output (0: after every chunk). Every chunk is written in order
    as it completes; a checkpoint fsyncs the outputs and records how far they are valid, and a resumed run
    recomputes the chunks after the last one."""


@dataclass
class BatchSummary:
    records_in: int = 0
    rows_read: int = 0
    determinations: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    worker_restarts: int = 0
    ledger_pass: bool = False
    resumed_at: int = 0
    elapsed_s: float = 0.0
    evaluate_s: float = 0.0
    output: str | None = None
    ignored_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def balanced(self) -> bool:
        return self.records_in == self.determinations + self.error_count

    def add_block(self, block: ResultBlock) -> None:
        outcomes = self.outcomes
        for outcome in block.outcomes:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for _, kind, _ in block.errors:
            self.errors[kind] = self.errors.get(kind, 0) + 1
        self.determinations += len(block) - len(block.errors)

    def line(self) -> str:
        outcomes = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items())) or "nothing"
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.errors.items()))
        check = "ok" if self.balanced else "MISMATCH"
        rate = self.records_in / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"{self.records_in} records in ({self.rows_read} rows read) = {self.determinations} determinations + "
            f"{self.error_count} errors{f' ({kinds})' if kinds else ''} [{check}]; outcomes: {outcomes}; "
            f"{self.elapsed_s:.1f} s, {rate:,.0f} records/s on {self.workers or 'in-process'} worker(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "rows_read": self.rows_read,
            "determinations": self.determinations,
            "errors": dict(self.errors),
            "outcomes": dict(self.outcomes),
            "workers": self.workers,
            "worker_restarts": self.worker_restarts,
            "ledger_pass": self.ledger_pass,
            "resumed_at": self.resumed_at,
            "elapsed_s": round(self.elapsed_s, 3),
            "output": self.output,
        }


def record_block(
    block: ResultBlock, sink: Sink, summary: BatchSummary, on_error: Callable[[ResultRow], None] | None
) -> None:
    """Write a block of output records, count them, and report its error records (local pool and Dask)."""
    sink.write(block)
    summary.add_block(block)
    if block.errors and on_error is not None:
        rows = block.result_rows()
        for offset, _, _ in block.errors:
            on_error(rows[offset])


def screen_batch(
    inputs: Sequence[Path],
    output: Path | None,
    spec: EngineSpec,
    options: BatchOptions | None = None,
    *,
    sink: Sink | None = None,
) -> BatchSummary:
    """Screen every record of the input files into ``output`` (stdout JSONL when None)."""
    options = options or BatchOptions()
    started = time.perf_counter()
    inputs = [Path(p) for p in inputs]
    # A large input will need the worker processes: launch them first, so they build their engines (list
    # import and screening index included) while this process reads and frames the input.
    early = _early_pool(inputs, spec, options)
    try:
        return _screen_batch(inputs, output, spec, options, sink, early, started)
    except BaseException:
        if early is not None:
            early.close()  # a no-op when the run closed it already
        raise


def _screen_batch(
    inputs: Sequence[Path],
    output: Path | None,
    spec: EngineSpec,
    options: BatchOptions,
    sink: Sink | None,
    early: WorkerPool | None,
    started: float,
) -> BatchSummary:
    ruleset = load_ruleset(spec.ruleset, spec.overlays)
    ledger_pass = uses_ledger(ruleset)
    if sink is None:
        sink = _sink_for(output, spec)
    checkpoint = checkpoint_path(output) if output is not None and isinstance(sink, FileSink | ParquetSink) else None
    resuming = options.resume and checkpoint is not None and checkpoint.exists()
    if early is not None and not ledger_pass and not resuming:
        streamed = _screen_streamed(inputs, output, spec, options, sink, checkpoint, early, started)
        if streamed is not None:
            return streamed
        # A transaction's rows were scattered over its file: read it again, grouping whole files.

    input_set = read_inputs(inputs, spec.mapping)
    records = input_set.records
    summary = BatchSummary(records_in=len(records), rows_read=input_set.rows_read)
    summary.output = str(output) if output is not None else None
    summary.ignored_columns = input_set.ignored_columns
    summary.ledger_pass = ledger_pass
    size = max(1, options.chunk_size)
    chunks = [records[i : i + size] for i in range(0, len(records), size)]

    fingerprint = _fingerprint(input_set.files, spec, options)
    state: dict[str, Any] | None = None
    if resuming and checkpoint is not None:
        state = _load_checkpoint(checkpoint, fingerprint)
        summary.resumed_at = int(state["records_done"])
        summary.determinations = int(state["determinations"])
        summary.errors = dict(state["errors"])
        summary.outcomes = dict(state["outcomes"])
    first_chunk = int(state["chunks_done"]) if state is not None else 0

    pool = early or _pool_for(spec, options, len(chunks) - first_chunk, len(records))
    summary.workers = pool.size if isinstance(pool, WorkerPool) else 0
    sink.open(state["sink"] if state is not None else None)
    progress = _Progress(len(records), summary.resumed_at, options.progress)
    try:
        pool.start()
        priors: dict[int, PriorLedger] = {}
        if summary.ledger_pass and first_chunk < len(chunks):
            opening = OpeningBalances.load(options.ledger) if options.ledger is not None else None
            entries: list[LedgerEntry] = []

            def collect(_chunk: int, results: list[Any]) -> None:
                entries.extend(e for e in results if e is not None)

            _drive(pool, "ledger", enumerate(chunks), {}, collect, options, None)
            priors = prior_ledgers(entries, opening)
        if state is None and checkpoint is not None:
            _save_checkpoint(checkpoint, fingerprint, 0, 0, summary, sink.commit())

        done = sum(len(c) for c in chunks[:first_chunk])
        writer = _Output(sink, summary, options, progress, checkpoint, fingerprint, done)
        eval_start = time.perf_counter()
        todo = ((n, chunks[n]) for n in range(first_chunk, len(chunks)))
        _drive(pool, "evaluate", todo, priors, writer.emit, options, spec)
        _finish(summary, pool, sink, checkpoint, eval_start)
    finally:
        progress.close()
        pool.close()
        sink.close()
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _screen_streamed(
    inputs: Sequence[Path],
    output: Path | None,
    spec: EngineSpec,
    options: BatchOptions,
    sink: Sink,
    checkpoint: Path | None,
    pool: WorkerPool,
    started: float,
) -> BatchSummary | None:
    """The run for a large input whose workers were launched before reading: chunks go to the workers while
    the input is still being read, instead of after, so the workers start as soon as their engines are built.

    Nothing is written until the input is read to its end: only then is it known whether each CSV
    transaction's rows were contiguous (`readers.InputStream`). If they were not, the results are dropped
    and None is returned: the caller reads the input again as a whole, with the same workers.
    """
    stream, records = stream_inputs(inputs, spec.mapping)
    fingerprint = _fingerprint(stream.files, spec, options)
    summary = BatchSummary(workers=pool.size, output=str(output) if output is not None else None)
    opened: list[_Output] = []
    progress: list[_Progress] = []

    def hold() -> bool:
        """True while the input is still being read; then the output is opened, once."""
        if opened:
            return False
        if not stream.finished:
            return True
        if stream.scattered:
            raise _ScatteredError
        summary.records_in, summary.rows_read = stream.count, stream.rows_read
        summary.ignored_columns = dict(stream.ignored_columns)
        sink.open(None)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, fingerprint, 0, 0, summary, sink.commit())
        progress.append(_Progress(stream.count, 0, options.progress))
        opened.append(_Output(sink, summary, options, progress[0], checkpoint, fingerprint, 0))
        return False

    def emit(chunk: int, results: list[Any]) -> None:
        opened[0].emit(chunk, results)

    try:
        eval_start = time.perf_counter()
        try:
            _drive(pool, "evaluate", _chunked(records, options.chunk_size), {}, emit, options, spec, hold=hold)
            hold()  # an empty input: nothing was emitted, the output is still opened and finished
        except _ScatteredError:
            pool.drain()
            return None
        _finish(summary, pool, sink, checkpoint, eval_start)
        pool.close()
    finally:
        for bar in progress:
            bar.close()
        if opened:
            sink.close()
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _finish(
    summary: BatchSummary, pool: WorkerPool | InlinePool, sink: Sink, checkpoint: Path | None, eval_start: float
) -> None:
    """The run completed: its times, the output's last bytes, and no checkpoint left behind."""
    summary.evaluate_s = time.perf_counter() - eval_start
    summary.worker_restarts = pool.restarts
    sink.finish()
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)


class _ScatteredError(Exception):
    """A streamed CSV input turned out to have a transaction's rows apart from each other."""


def _chunked(records: Iterator[RawRecord], size: int) -> Iterator[tuple[int, list[RawRecord]]]:
    chunk: list[RawRecord] = []
    number = 0
    for raw in records:
        chunk.append(raw)
        if len(chunk) >= max(1, size):
            yield number, chunk
            number, chunk = number + 1, []
    if chunk:
        yield number, chunk


class _Output:
    """Finished chunks to the sink in input order: counted, reported, checkpointed at most every
    ``checkpoint_every`` seconds (each checkpoint fsyncs the output)."""

    def __init__(
        self,
        sink: Sink,
        summary: BatchSummary,
        options: BatchOptions,
        progress: _Progress,
        checkpoint: Path | None,
        fingerprint: str,
        done: int,
    ) -> None:
        self.sink, self.summary, self.options, self.progress = sink, summary, options, progress
        self.checkpoint, self.fingerprint = checkpoint, fingerprint
        self.done = done
        self.saved = time.monotonic()

    def emit(self, chunk: int, results: list[Any]) -> None:
        blocks: list[ResultBlock] = results
        for block in blocks:
            record_block(block, self.sink, self.summary, self.options.on_error)
            self.done += len(block)
        if self.checkpoint is None:
            self.sink.commit()
        elif time.monotonic() - self.saved >= self.options.checkpoint_every:
            commit = self.sink.commit()
            _save_checkpoint(self.checkpoint, self.fingerprint, chunk + 1, self.done, self.summary, commit)
            self.saved = time.monotonic()
        self.progress.advance(sum(len(b) for b in blocks))


def _sink_for(output: Path | None, spec: EngineSpec) -> Sink:
    if spec.output == "table":
        return MemorySink()
    if output is None:
        if spec.output != "jsonl":
            raise BatchError(f"{spec.output} output needs a file (--output)")
        return StreamSink()
    if spec.output == "parquet":
        return ParquetSink(output)
    return FileSink(output, spec.output)


EARLY_LAUNCH_BYTES = 8 << 20
"""Inputs at least this large (about 30,000 rows of the flat CSV layout) launch their workers before reading."""


def _early_pool(inputs: Sequence[Path], spec: EngineSpec, options: BatchOptions) -> WorkerPool | None:
    if options.workers == 0:
        return None
    try:
        size = sum(p.stat().st_size for p in inputs)
    except OSError:
        return None  # read_inputs reports the missing file
    if size < EARLY_LAUNCH_BYTES:
        return None
    pool = WorkerPool(spec, _worker_count(options))
    pool.launch()
    return pool


def _worker_count(options: BatchOptions) -> int:
    """``--workers``, or the core count when not given."""
    return options.workers if options.workers is not None else os.cpu_count() or 1


def _pool_for(spec: EngineSpec, options: BatchOptions, chunks: int, records: int) -> WorkerPool | InlinePool:
    if options.workers == 0 or (options.workers is None and chunks <= 1):
        return InlinePool(spec)
    return WorkerPool(spec, max(1, min(_worker_count(options), chunks)))


# ------------------------------------------------------------------------------------------------
# Scheduling: chunks to tasks, crashes to retries, results back in input order


@dataclass
class _ChunkState:
    records: list[RawRecord]
    results: list[Any]
    """Per record (ledger entries); an evaluation's results come as blocks instead."""
    missing: int
    blocks: list[ResultBlock] = field(default_factory=list)

    def take(self, result: Any, records: Sequence[RawRecord]) -> None:
        if isinstance(result, ResultBlock):
            self.blocks.append(result)
            self.missing -= len(result)
            return
        base = self.records[0].index
        for raw, value in zip(records, result, strict=True):
            self.results[raw.index - base] = value
            self.missing -= 1

    def output(self) -> list[Any]:
        """What the chunk gave: its blocks in record order, or its per-record results."""
        if self.blocks:
            return sorted(self.blocks, key=lambda b: b.first)
        return self.results


def _drive(
    pool: WorkerPool | InlinePool,
    kind: TaskKind,
    chunks: Iterable[tuple[int, list[RawRecord]]],
    priors: Mapping[int, PriorLedger],
    emit: Callable[[int, list[Any]], None],
    options: BatchOptions,
    spec: EngineSpec | None,
    *,
    hold: Callable[[], bool] | None = None,
) -> None:
    """Chunks (numbered consecutively) to tasks, results back to ``emit`` in chunk order.

    With ``hold`` (a streamed input), every chunk is handed out as soon as it is read, one per turn between
    looks at the workers, and nothing is emitted while ``hold()`` is true."""
    limit = options.max_in_flight or max(2, pool.size * 3)
    queue = iter(chunks)
    open_chunks: dict[int, _ChunkState] = {}
    next_chunk: int | None = None
    task_ids = iter(range(1, 1 << 62))
    exhausted = False

    def task_for(chunk: int, recs: list[RawRecord], attempt: int) -> Task:
        chunk_priors = {r.index: priors[r.index] for r in recs if r.index in priors} if kind == "evaluate" else {}
        return Task(next(task_ids), kind, chunk, recs, chunk_priors, attempt)

    while True:
        while not exhausted and (hold is not None or len(open_chunks) < limit):
            try:
                chunk, recs = next(queue)
            except StopIteration:
                exhausted = True
                break
            if next_chunk is None:
                next_chunk = chunk
            open_chunks[chunk] = _ChunkState(recs, [None] * len(recs), len(recs))
            pool.submit(task_for(chunk, recs, 0))
            if hold is not None:
                break  # read on after a look at the workers
        if not open_chunks and exhausted:
            return
        for event in pool.poll(0.0 if hold is not None and not exhausted else 0.5):
            task = event.task
            st = open_chunks[task.chunk]
            if isinstance(event, Done):
                st.take(event.result, task.records)
            elif isinstance(event, Crashed):
                _on_crash(pool, task, event, st, kind, spec, task_for)
        if hold is not None and hold():
            continue
        while next_chunk in open_chunks and open_chunks[next_chunk].missing == 0:
            emit(next_chunk, open_chunks.pop(next_chunk).output())
            next_chunk += 1


def _on_crash(
    pool: WorkerPool | InlinePool,
    task: Task,
    event: Crashed,
    st: _ChunkState,
    kind: TaskKind,
    spec: EngineSpec | None,
    task_for: Callable[[int, list[RawRecord], int], Task],
) -> None:
    if task.attempt == 0:
        pool.submit(task_for(task.chunk, task.records, 1))
        return
    if len(task.records) > 1:
        for raw in task.records:
            pool.submit(task_for(task.chunk, [raw], task.attempt + 1))
        return
    raw = task.records[0]
    if kind == "evaluate":
        assert spec is not None and pool.template is not None
        reason = f"{event.reason} while evaluating this record, on every retry; the rest of the batch completed"
        st.take(ResultBlock.of([crash_row(raw, pool.template, reason, spec.output)]), [raw])
    else:
        st.take([None], [raw])


# ------------------------------------------------------------------------------------------------
# Checkpoints


def _fingerprint(files: Sequence[Path], spec: EngineSpec, options: BatchOptions) -> str:
    def stat(p: Path) -> list[Any]:
        s = p.stat()
        return [str(p.resolve()), s.st_size, s.st_mtime_ns]

    extra = [stat(p) for p in spec.mapping.side_files.values()]
    if spec.mapping.source:
        extra.append(stat(Path(spec.mapping.source)))
    if options.ledger is not None:
        extra.append(stat(options.ledger))
    screening = spec.screening if isinstance(spec.screening, str) else [stat(Path(p)) for p in spec.screening]
    material = {
        "inputs": [stat(p) for p in files],
        "extra": extra,
        "ruleset": spec.ruleset,
        "overlays": list(spec.overlays),
        "backend": spec.backend,
        "screening": screening,
        "as_of": spec.as_of.isoformat() if spec.as_of else None,
        "output": spec.output,
        "chunk_size": options.chunk_size,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _save_checkpoint(
    path: Path, fingerprint: str, chunks_done: int, records_done: int, summary: BatchSummary, sink: dict[str, Any]
) -> None:
    data = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "chunks_done": chunks_done,
        "records_done": records_done,
        "determinations": summary.determinations,
        "errors": summary.errors,
        "outcomes": summary.outcomes,
        "sink": sink,
    }
    temp = path.with_name(f"{path.name}.tmp")
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BatchError(f"{path}: unreadable checkpoint ({exc}); delete it to start over") from None
    if data.get("version") != CHECKPOINT_VERSION:
        raise BatchError(f"{path}: checkpoint version {data.get('version')!r} is not {CHECKPOINT_VERSION}")
    if data.get("fingerprint") != fingerprint:
        raise BatchError(
            f"{path}: the input files or options changed since this checkpoint was written; "
            "run again without --resume (or restore the original input)"
        )
    return data


# ------------------------------------------------------------------------------------------------
# Progress


class _Progress:
    """A rich progress bar with rate and ETA on a terminal; silent otherwise."""

    def __init__(self, total: int, done: int, enabled: bool | None) -> None:
        show = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        if not show or total == 0:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Task as RichTask,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: RichTask) -> Text:
                speed = task.speed
                return Text(f"{speed:,.0f} tx/s" if speed else "… tx/s", style="progress.data.speed")

        self._bar = Progress(
            TextColumn("screening"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task("screen", total=total, completed=done)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
