"""A process pool that knows which task each worker holds, so a dead worker loses nothing.

`concurrent.futures.ProcessPoolExecutor` breaks as a whole when one worker dies and cannot say which task
killed it. Here each worker has its own pipe and takes one task at a time: when its process sentinel
fires (a segfault or ``abort()`` in the C core included), the runner gets back exactly the task it held
and decides what to retry. Workers are spawned (never forked from a parent holding durable_rules state)
and build their own engine from an `EngineSpec`.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import signal
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from compliance.batch.ledger import PriorLedger
from compliance.batch.readers import RawRecord
from compliance.batch.worker import EngineSpec, WorkerState
from compliance.errors import ComplianceError

TaskKind = Literal["ledger", "evaluate"]

# durable-rules-notes §10.8: a larger malloc top pad makes the C core 2-3x faster on small rulesets.
_MALLOC_ENV = {"MALLOC_TOP_PAD_": "67108864"}


class BatchError(ComplianceError):
    """The batch cannot run (a worker cannot start, the checkpoint does not match the input...)."""


@dataclass
class Task:
    task_id: int
    kind: TaskKind
    chunk: int
    records: list[RawRecord]
    priors: Mapping[int, PriorLedger] = field(default_factory=dict)
    attempt: int = 0


@dataclass(frozen=True)
class Done:
    task: Task
    result: Any
    """The ledger entries of the task's records, or the `ResultBlock` of its evaluation."""


@dataclass(frozen=True)
class Crashed:
    task: Task
    exitcode: int | None

    @property
    def reason(self) -> str:
        code = self.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the worker process was killed by {name}"
        return f"the worker process exited with code {code}"


Event = Done | Crashed


def _worker_main(conn: Connection, spec: EngineSpec) -> None:
    # Ctrl-C goes to the whole process group; the parent decides, workers just stop when their pipe closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        state = WorkerState(spec)
    except BaseException:
        conn.send(("init_error", traceback.format_exc(limit=8)))
        return
    _settle_collector()
    conn.send(("ready", state.template))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, kind, records, priors = message
        try:
            result: Any = state.ledger_entries(records) if kind == "ledger" else state.evaluate(records, priors)
        except Exception:
            conn.send(("task_error", task_id, traceback.format_exc(limit=8)))
            continue
        conn.send(("done", task_id, result))


WORKER_GC_THRESHOLDS = (10_000, 20, 20)
"""The worker's collector thresholds (CPython's default: 700, 10, 10). Measured here on the benchmark export:
collection time fell from about 17 to 6 µs per transaction, and peak memory stayed within 1 %."""


def _settle_collector() -> None:
    """A worker's screening index and engine tables live as long as it does: move them out of the cyclic
    collector's reach (``gc.freeze``), and collect the young generation less often; evaluations make few
    reference cycles, and the full collections that walked the whole index cost up to 0.2 s each."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: Task | None = None
    ready: bool = False


class WorkerPool:
    """N spawned worker processes, one task each at a time; `poll` returns finished and crashed tasks."""

    def __init__(self, spec: EngineSpec, workers: int) -> None:
        if workers < 1:
            raise ValueError("a WorkerPool needs at least one worker")
        self.spec = spec
        self.size = workers
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []
        self._pending: deque[Task] = deque()
        self.template: dict[str, Any] | None = None
        self.restarts = 0
        self.pids: list[int] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the worker processes without waiting for them: they build their engines (list import and
        index included) while the caller goes on, e.g. reading the input."""
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())

    def start(self) -> None:
        """Launch the workers (unless `launch` did) and wait until each has built its engine."""
        self.launch()
        for worker in self._workers:
            if not worker.ready:
                self._await_ready(worker)

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        saved = {k: os.environ.get(k) for k in _MALLOC_ENV}
        for k, v in _MALLOC_ENV.items():
            os.environ.setdefault(k, v)
        try:
            process = self._ctx.Process(target=_worker_main, args=(child, self.spec), daemon=True)
            process.start()
        finally:
            for k, old in saved.items():
                if old is None:
                    os.environ.pop(k, None)
        child.close()
        if process.pid is not None:
            self.pids.append(process.pid)
        return _Worker(process, parent)

    def _await_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(5)
            code = worker.process.exitcode
            raise BatchError(f"a worker process died while loading the engine (exit code {code})") from None
        if message[0] == "init_error":
            raise BatchError(f"a worker could not build its engine:\n{message[1]}")
        worker.ready = True
        if self.template is None:
            self.template = message[1]

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._workers.clear()

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scheduling -------------------------------------------------------------------------------

    def submit(self, task: Task) -> None:
        self._pending.append(task)

    @property
    def outstanding(self) -> int:
        return len(self._pending) + sum(1 for w in self._workers if w.task is not None)

    def drain(self) -> None:
        """Drop the tasks not yet handed out and wait for the running ones, discarding their results."""
        self._pending.clear()
        while any(w.task is not None for w in self._workers):
            self.poll(0.5)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._pending:
                return
            if worker.task is None and worker.ready:
                task = self._pending.popleft()
                worker.task = task
                worker.conn.send((task.task_id, task.kind, task.records, dict(task.priors)))

    def poll(self, timeout: float | None = 0.5) -> list[Event]:
        """Dispatch pending tasks, wait for results or deaths, and return what happened."""
        self._dispatch()
        if all(w.task is None and w.ready for w in self._workers):
            return []
        waitables: dict[Any, _Worker] = {}
        for worker in self._workers:
            waitables[worker.conn] = worker
            waitables[worker.process.sentinel] = worker
        events: list[Event] = []
        ready = wait(list(waitables), timeout)
        handled: set[int] = set()
        for obj in ready:
            worker = waitables[obj]
            if id(worker) in handled:
                continue
            handled.add(id(worker))
            events.extend(self._service(worker))
        self._dispatch()
        return events

    def _service(self, worker: _Worker) -> list[Event]:
        if not worker.ready:  # launched without `start`: its first message says it has built its engine
            self._await_ready(worker)
            return []
        try:
            if worker.conn.poll():
                message = worker.conn.recv()
                return self._on_message(worker, message)
        except (EOFError, OSError):
            pass
        if worker.process.is_alive():
            return []
        return self._on_death(worker)

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> list[Event]:
        task = worker.task
        worker.task = None
        if task is None or message[1] != task.task_id:  # pragma: no cover - protocol invariant
            raise BatchError(f"worker protocol error: unexpected message {message[0]!r}")
        if message[0] == "task_error":
            raise BatchError(f"a worker failed on chunk {task.chunk}:\n{message[2]}")
        return [Done(task, message[2])]

    def _on_death(self, worker: _Worker) -> list[Event]:
        worker.process.join(timeout=5)
        exitcode = worker.process.exitcode
        task = worker.task
        index = self._workers.index(worker)
        worker.conn.close()
        replacement = self._spawn()
        self._workers[index] = replacement
        self.restarts += 1
        self._await_ready(replacement)
        return [Crashed(task, exitcode)] if task is not None else []


class InlinePool:
    """The same interface, evaluating in this process: for small inputs and `--workers 0` (no isolation)."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.size = 1
        self._state: WorkerState | None = None
        self._pending: deque[Task] = deque()
        self.template: dict[str, Any] | None = None
        self.restarts = 0
        self.pids: list[int] = []

    def start(self) -> None:
        self._state = WorkerState(self.spec)
        self.template = self._state.template

    def close(self) -> None:
        self._state = None

    def __enter__(self) -> InlinePool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, task: Task) -> None:
        self._pending.append(task)

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    def poll(self, timeout: float | None = 0.5) -> list[Event]:
        if not self._pending or self._state is None:
            return []
        task = self._pending.popleft()
        state = self._state
        result: Any = (
            state.ledger_entries(task.records) if task.kind == "ledger" else state.evaluate(task.records, task.priors)
        )
        return [Done(task, result)]
