"""`compliance screen`: evaluate transactions from files, write determinations.

A thin layer over `compliance.batch.screen_batch` (and `compliance.batch.dask.screen_dask` with
``--dask``): JSON, JSONL, flat-layout CSV and Parquet in; JSONL, CSV (one row per finding), Parquet or a
table out; parallel workers, a progress bar on a terminal, ``--resume`` after a kill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compliance.batch import BatchOptions, ColumnMapping, EngineSpec, ResultRow, screen_batch
from compliance.cli.common import (
    EXIT_CLEAR,
    EXIT_FINDINGS,
    EXIT_USAGE,
    AsOfOption,
    BackendOption,
    OverlayOption,
    RulesetOption,
    existing,
    fail,
    friendly_errors,
    parse_date,
)
from compliance.model import Determination, Outcome

FAIL_ON = {o.value: o for o in Outcome if o is not Outcome.clear} | {"never": None}
FORMATS = ("jsonl", "csv", "parquet", "table")
MAX_ERROR_LINES = 20


@friendly_errors
def screen(
    files: Annotated[list[Path], typer.Argument(help="JSON/JSONL/CSV/Parquet files or directories of transactions.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default stdout, JSONL only).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (default), csv, parquet or table.")] = "jsonl",
    ruleset: str = RulesetOption,
    overlay: list[str] = OverlayOption,
    as_of: str | None = AsOfOption,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Exit 1 when an outcome at or above this is found (or 'never').")
    ] = "license_required",
    backend: str = BackendOption,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Worker processes (default: the core count; 0: in this process)."),
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Records per chunk sent to a worker.")] = 250,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a killed run from the checkpoint beside --output.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="CSV/Parquet column mapping file (YAML or JSON).")
    ] = None,
    parties: Annotated[Path | None, typer.Option("--parties", help="Parties side file (CSV).")] = None,
    remote_access: Annotated[
        Path | None, typer.Option("--remote-access", help="Remote-access grants side file (CSV).")
    ] = None,
    financing: Annotated[Path | None, typer.Option("--financing", help="Financing side file (CSV).")] = None,
    ledger: Annotated[
        Path | None,
        typer.Option("--ledger", help="Opening cumulative-TPP balances per consignee/country (YAML/JSON)."),
    ] = None,
    lists: Annotated[
        list[Path] | None,
        typer.Option("--lists", "-l", help="Screen against these list files instead of the embedded list."),
    ] = None,
    dask: Annotated[
        str | None, typer.Option("--dask", help="Run on this Dask scheduler (address) instead of local workers.")
    ] = None,
    audit_log: Annotated[
        Path | None, typer.Option("--audit-log", help="Append a hash-chained decision record per determination.")
    ] = None,
    audit_mask: Annotated[
        list[str] | None,
        typer.Option("--audit-mask", help="JSON pointer of an input field to mask in the audit log (repeatable)."),
    ] = None,
) -> None:
    """Screen transactions and write one determination per input record."""
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fail_on not in FAIL_ON:
        fail(f"--fail-on must be one of {', '.join(FAIL_ON)}")
    if backend not in ("durable", "python"):
        fail(f"--backend must be durable or python, not {backend!r}")
    if resume and output is None:
        fail("--resume needs --output (the checkpoint lives beside it)")
    if fmt in ("csv", "parquet") and output is None:
        fail(f"--format {fmt} needs --output")
    if audit_log is not None and dask is not None:
        fail("--audit-log cannot be used with --dask: the log's file lock is not dependable across machines")
    threshold = FAIL_ON[fail_on]
    day = parse_date(as_of)
    column_mapping = ColumnMapping.load(mapping) if mapping is not None else ColumnMapping()
    side = {k: p for k, p in (("parties", parties), ("remote_access", remote_access), ("financing", financing)) if p}
    if side:
        existing(list(side.values()))
        column_mapping = column_mapping.with_side_files(side)
    spec = EngineSpec(
        ruleset=ruleset,
        overlays=tuple(overlay),
        backend=backend,  # type: ignore[arg-type]
        screening=tuple(str(p) for p in existing(lists)) if lists else "default",
        as_of=day,
        mapping=column_mapping,
        output=fmt,  # type: ignore[arg-type]
        audit_log=str(audit_log) if audit_log is not None else None,
        audit_mask=tuple(audit_mask or ()),
    )
    shown = 0
    input_errors = 0

    def on_error(row: ResultRow) -> None:
        nonlocal shown, input_errors
        if row.error_kind == "input":
            input_errors += 1
        if shown < MAX_ERROR_LINES:
            typer.echo(f"error: {row.message}", err=True)
        elif shown == MAX_ERROR_LINES:
            typer.echo("error: … more errors not shown (each is an error record in the output)", err=True)
        shown += 1

    options = BatchOptions(
        workers=workers,
        chunk_size=chunk_size,
        resume=resume,
        progress=False if quiet else None,
        ledger=ledger,
        on_error=on_error,
    )
    inputs = existing(files)
    table_sink = None
    if dask is not None:
        from compliance.batch.dask import screen_dask

        summary = screen_dask(inputs, output, spec, scheduler=dask, options=options)
    elif fmt == "table":
        from compliance.batch.writers import MemorySink

        table_sink = MemorySink()
        summary = screen_batch(inputs, None, spec, options, sink=table_sink)
    else:
        summary = screen_batch(inputs, output, spec, options)
    if table_sink is not None:
        _table([Determination.model_validate_json(d) for d in table_sink.determinations])
    typer.echo(summary.line(), err=True)
    if input_errors:
        raise typer.Exit(EXIT_USAGE)
    worst = [Outcome(k) for k, n in summary.outcomes.items() if n]
    if threshold is not None and any(o.severity >= threshold.severity for o in worst):
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_CLEAR)


_STYLE = {
    "error": "bold magenta",
    "prohibited": "bold red",
    "license_required": "red",
    "review": "yellow",
    "clear": "green",
}


def _table(determinations: list[Determination]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Determinations", show_lines=True, expand=True)
    table.add_column("transaction", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("findings (rule · policy: because)")
    for det in determinations:
        lines = []
        for f in det.findings:
            policy = f" · {f.review_policy.value}" if f.review_policy else ""
            flag = " [unconfirmed]" if f.confidence == "unconfirmed" else ""
            lines.append(f"{f.rule_id}{policy}{flag}: {f.because}")
        if det.error:
            lines.append(f"ERROR: {det.error}")
        outcome = det.outcome.value
        # Findings quote lists such as "[purchaser, end_user]": escape them or Rich reads them as markup.
        table.add_row(escape(det.transaction_id), f"[{_STYLE[outcome]}]{outcome}[/]", escape("\n".join(lines)) or "—")
    Console(width=160).print(table)
