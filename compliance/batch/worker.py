"""What a batch worker does with a chunk: parse, evaluate, serialise. Shared by the process pool and Dask.

A worker builds its own `Engine` from an `EngineSpec` (plain, picklable data: ruleset name, overlays,
list files) because durable_rules handles are process-local and must never be shipped to another process
(durable-rules-notes §6). Results leave the worker as strings, so the parent only writes.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any, Literal

from compliance.batch.layout import ColumnMapping
from compliance.batch.ledger import LedgerEntry, PriorLedger, ledger_entry
from compliance.batch.readers import RawRecord, parse
from compliance.engine import Engine
from compliance.evidence import ItemClassifier
from compliance.model import Determination, Outcome
from compliance.native import by_constructor

HOOK_ENV = "COMPLIANCE_BATCH_WORKER_HOOK"
"""``module:function`` called with each RawRecord before it is evaluated (test hook; see batch.testing)."""

OutputFormat = Literal["jsonl", "csv", "parquet", "table"]
ErrorKind = Literal["input", "engine", "crash"]

FINDING_COLUMNS: tuple[str, ...] = (
    "record",
    "source",
    "transaction_id",
    "outcome",
    "error",
    "as_of",
    "ruleset",
    "ruleset_version",
    "ruleset_sha256",
    "overlays",
    "lists",
    "finding_rule_id",
    "finding_title",
    "finding_outcome",
    "finding_review_policy",
    "finding_exceptions",
    "finding_citations",
    "finding_because",
    "finding_confidence",
    "finding_ruleset",
    "input_sha256",
    "decision_id",
)


@dataclass(frozen=True)
class EngineSpec:
    """How each worker builds its engine and reads its records; picklable for spawn and Dask."""

    ruleset: str = "us-ear"
    overlays: tuple[str, ...] = ()
    backend: Literal["durable", "python"] = "durable"
    screening: Literal["default", "none"] | tuple[str, ...] = "default"
    """``default`` (the embedded list), ``none``, or list files for a `compliance.screening.Screener`."""
    as_of: dt.date | None = None
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    output: OutputFormat = "jsonl"
    hook: str | None = None
    """``module:function`` called with each RawRecord before evaluation (tests inject crashes here)."""
    audit_log: str | None = None
    """Decision-log path; every worker appends to it (the log serialises appends with a file lock)."""
    audit_mask: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked here, in the process that builds the spec, rather than as a traceback from every worker.
        if isinstance(self.screening, tuple) and not self.screening:
            raise ValueError("EngineSpec.screening: give list files, 'default' (the embedded list) or 'none'")

    def build_engine(self) -> Engine:
        from compliance.audit import open_audit_log

        audit = open_audit_log(self.audit_log, mask=self.audit_mask)
        screener: Any = "default"
        if self.screening == "none":
            screener = None
        elif self.screening != "default":
            from compliance.screening.importers import load_list
            from compliance.screening.prebuilt import screener_for

            # every worker loads the same lists: the first to build the screener keeps it on disk
            screener = screener_for([load_list(p) for p in self.screening])
        engine = Engine.load(self.ruleset, self.overlays, backend=self.backend, screener=screener, on_decision=audit)
        if audit is not None:
            audit.attach(engine)
        return engine

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return by_constructor(self)  # compiled, a frozen dataclass unpickles only through its constructor


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One output record: the determination as JSON, its index line, and CSV rows when asked for."""

    index: int
    outcome: str
    error_kind: ErrorKind | None
    determination: str
    context: str
    rows: tuple[tuple[str, ...], ...] = ()
    message: str | None = None

    def __reduce__(self) -> tuple[type[ResultRow], tuple[Any, ...]]:
        # Results travel back to the parent pickled: a constructor call is the cheapest form both ways.
        return (
            ResultRow,
            (self.index, self.outcome, self.error_kind, self.determination, self.context, self.rows, self.message),
        )


class WorkerState:
    """A worker's engine, classifier and hook, built once per process."""

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.engine = spec.build_engine()
        hook_name = spec.hook or os.environ.get(HOOK_ENV) or None
        self.hook: Callable[[RawRecord], None] | None = load_hook(hook_name) if hook_name else None
        self._classifier: ItemClassifier | None = None
        template = self.engine.error_determination("(template)", "(template)", spec.as_of or dt.date.today())
        self.template: dict[str, Any] = template.model_dump(mode="json")

    @property
    def classifier(self) -> ItemClassifier:
        if self._classifier is None:
            from compliance.classify import ChipClassifier

            self._classifier = ChipClassifier.default()
        return self._classifier

    def ledger_entries(self, records: Sequence[RawRecord]) -> list[LedgerEntry | None]:
        out: list[LedgerEntry | None] = []
        for raw in records:
            if self.hook is not None:
                self.hook(raw)
            record = parse(raw, self.spec.mapping)
            txn = record.transaction
            out.append(None if txn is None else ledger_entry(raw.index, txn, self.spec.as_of, self.classifier))
        return out

    def evaluate(self, records: Sequence[RawRecord], priors: Mapping[int, PriorLedger]) -> ResultBlock:
        """Parse and evaluate consecutive records into one block of output records."""
        engine, spec = self.engine, self.spec
        findings = spec.output in ("csv", "parquet")
        outcomes: list[str] = []
        errors: list[tuple[int, ErrorKind, str]] = []
        determinations: list[bytes] = []
        contexts: list[str] = []
        rows: list[tuple[tuple[str, ...], ...]] = []
        for offset, raw in enumerate(records):
            if self.hook is not None:
                self.hook(raw)
            record = parse(raw, spec.mapping)
            kind: ErrorKind | None = None
            message = ""
            if record.transaction is None:
                assert record.error is not None
                message = str(record.error)
                det = engine.evaluate({"id": record.raw_id or raw.location}, spec.as_of or dt.date.today())
                det = det.model_copy(update={"error": message})
                kind = "input"
                date = destination = None
            else:
                txn = record.transaction
                det = engine.evaluate(txn, spec.as_of, ledger=priors.get(raw.index))
                if det.outcome is Outcome.error:
                    kind, message = "engine", det.error or ""
                date, destination = txn.date.isoformat(), txn.destination
            outcome = det.outcome.value
            outcomes.append(outcome)
            if kind is not None:
                errors.append((offset, kind, message))
            determinations.append(_DETERMINATION_JSON(det))
            contexts.append(_context(raw, det.transaction_id, outcome, kind, date, destination))
            if findings:
                rows.append(finding_rows(raw, det))
        first = records[0].index if records else 0
        output = _lines(determinations)
        return ResultBlock(first, tuple(outcomes), tuple(errors), output, _text_lines(contexts), tuple(rows))


_DETERMINATION_JSON = Determination.__pydantic_serializer__.to_json
"""``model_dump_json``'s bytes, before it decodes them: the output file wants bytes again."""


def _lines(parts: Sequence[bytes]) -> bytes:
    return b"\n".join(parts) + b"\n" if parts else b""


def _text_lines(parts: Sequence[str]) -> bytes:
    return ("\n".join(parts) + "\n").encode("utf-8") if parts else b""


@dataclass(frozen=True, slots=True)
class ResultBlock:
    """The output records of consecutive input records, as a worker sends them back: the determinations and
    index lines already joined as the output file's bytes, and per record only what the run counts.

    One block per chunk crosses the pipe instead of one object per record: the parent writes the bytes
    as they are, and unpacks the records (`result_rows`) only to report error records.
    """

    first: int
    """The index of the first record."""
    outcomes: tuple[str, ...]
    errors: tuple[tuple[int, ErrorKind, str], ...] = ()
    """(offset in the block, kind, message) of each error record."""
    determinations: bytes = b""
    """One JSON determination per record, each ending in a newline."""
    index: bytes = b""
    """One index line per record (`result_row`'s ``context``), each ending in a newline."""
    rows: tuple[tuple[tuple[str, ...], ...], ...] = ()
    """Per record, its rows of FINDING_COLUMNS (CSV and Parquet output only)."""

    def __len__(self) -> int:
        return len(self.outcomes)

    @classmethod
    def of(cls, rows: Sequence[ResultRow]) -> ResultBlock:
        """A block of consecutive result rows."""
        return cls(
            rows[0].index if rows else 0,
            tuple(r.outcome for r in rows),
            tuple((n, r.error_kind, r.message or "") for n, r in enumerate(rows) if r.error_kind is not None),
            _lines([r.determination.encode("utf-8") for r in rows]),
            _text_lines([r.context for r in rows]),
            tuple(r.rows for r in rows) if any(r.rows for r in rows) else (),
        )

    def result_rows(self) -> list[ResultRow]:
        """The block's records one by one."""
        determinations = self.determinations.decode("utf-8").split("\n")
        contexts = self.index.decode("utf-8").split("\n")
        errors = {n: (kind, message) for n, kind, message in self.errors}
        out: list[ResultRow] = []
        for n, outcome in enumerate(self.outcomes):
            kind, message = errors.get(n, (None, None))
            rows = self.rows[n] if self.rows else ()
            out.append(ResultRow(self.first + n, outcome, kind, determinations[n], contexts[n], rows, message))
        return out

    def finding_rows(self) -> list[tuple[str, ...]]:
        return [line for rows in self.rows for line in rows]

    def __reduce__(self) -> tuple[type[ResultBlock], tuple[Any, ...]]:
        return (ResultBlock, (self.first, self.outcomes, self.errors, self.determinations, self.index, self.rows))


def result_row(
    raw: RawRecord,
    det: Determination,
    kind: ErrorKind | None,
    message: str | None,
    date: str | None,
    destination: str | None,
    output: OutputFormat,
) -> ResultRow:
    context = _context(raw, det.transaction_id, det.outcome.value, kind, date, destination)
    rows = finding_rows(raw, det) if output in ("csv", "parquet") else ()
    return ResultRow(raw.index, det.outcome.value, kind, det.model_dump_json(), context, rows, message)


def _context(
    raw: RawRecord, transaction_id: str, outcome: str, kind: str | None, date: str | None, destination: str | None
) -> str:
    # The index line, formatted directly: byte for byte json.dumps(..., separators=(",", ":")) of these keys,
    # at a fraction of the cost (json.dumps builds an encoder per call).
    return (
        f'{{"record":{raw.index + 1:d},"source":{_json_str(raw.location)},'
        f'"transaction_id":{_json_str(transaction_id)},"outcome":{_json_str(outcome)},'
        f'"error":{_json_str(kind)},"date":{_json_str(date)},"destination":{_json_str(destination)}}}'
    )


def _json_str(value: str | None) -> str:
    """A JSON string (ASCII-escaped, as json.dumps writes it) or null."""
    return "null" if value is None else encode_basestring_ascii(value)


def finding_rows(raw: RawRecord, det: Determination) -> tuple[tuple[str, ...], ...]:
    """One row per finding (one row with blank finding columns when there is none): FINDING_COLUMNS."""
    overlays = "; ".join(det.ruleset.overlays)
    lists = "; ".join(f"{r.id}@{r.snapshot_date or '?'}" for r in det.lists)
    head = (
        str(raw.index + 1),
        raw.location,
        det.transaction_id,
        det.outcome.value,
        det.error or "",
        det.as_of.isoformat(),
        det.ruleset.id,
        det.ruleset.version,
        det.ruleset.sha256,
        overlays,
        lists,
    )
    tail = (det.input_sha256, det.decision_id)
    if not det.findings:
        return ((*head, "", "", "", "", "", "", "", "", "", *tail),)
    return tuple(
        (
            *head,
            f.rule_id,
            f.title,
            f.outcome.value,
            f.review_policy.value if f.review_policy else "",
            "; ".join(f.exceptions),
            "; ".join(f.citations),
            f.because,
            f.confidence,
            f.ruleset or "",
            *tail,
        )
        for f in det.findings
    )


def crash_row(raw: RawRecord, template: Mapping[str, Any], reason: str, output: OutputFormat) -> ResultRow:
    """The error record for a record whose evaluation killed its worker twice."""
    det = Determination.model_validate(template)
    txn_id = _raw_id(raw) or raw.location
    det = det.model_copy(
        update={
            "transaction_id": txn_id,
            "error": f"{raw.location}: {reason}",
            "decision_id": _uuid(),
            "timestamp": dt.datetime.now(dt.UTC),
        }
    )
    return result_row(raw, det, "crash", det.error, None, None, output)


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _raw_id(raw: RawRecord) -> str | None:
    from compliance.batch.layout import GroupedTransaction

    payload = raw.payload
    if isinstance(payload, GroupedTransaction):
        return payload.transaction_id
    if isinstance(payload, bytes):
        try:
            value = json.loads(payload)
        except ValueError:
            return None
        found = value.get("id") if isinstance(value, dict) else None
        return found if isinstance(found, str) and found else None
    return None


def load_hook(name: str) -> Callable[[RawRecord], None]:
    module, _, attr = name.partition(":")
    if not module or not attr:
        raise ValueError(f"worker hook {name!r}: expected module:function")
    func = getattr(importlib.import_module(module), attr)
    if not callable(func):
        raise ValueError(f"worker hook {name!r} is not callable")
    return func  # type: ignore[no-any-return]
