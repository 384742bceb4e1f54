"""`compliance screen`: evaluate transactions from files, write determinations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

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
    load_engine,
    parse_date,
)
from compliance.model import Determination, Outcome
from compliance.records import iter_records

FAIL_ON = {o.value: o for o in Outcome if o is not Outcome.clear} | {"never": None}


@friendly_errors
def screen(
    files: Annotated[list[Path], typer.Argument(help="JSON/JSONL files or directories of transactions.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write JSONL here (default stdout).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (default) or table.")] = "jsonl",
    ruleset: str = RulesetOption,
    overlay: list[str] = OverlayOption,
    as_of: str | None = AsOfOption,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Exit 1 when an outcome at or above this is found (or 'never').")
    ] = "license_required",
    backend: str = BackendOption,
) -> None:
    """Screen transactions and print one determination per input record."""
    if fmt not in ("jsonl", "table"):
        fail(f"--format must be jsonl or table, not {fmt!r}")
    if fail_on not in FAIL_ON:
        fail(f"--fail-on must be one of {', '.join(FAIL_ON)}")
    threshold = FAIL_ON[fail_on]
    day = parse_date(as_of)
    engine = load_engine(ruleset, overlay, backend)
    determinations: list[Determination] = []
    input_errors = 0
    sink: TextIO = output.open("w", encoding="utf-8") if output is not None and fmt == "jsonl" else sys.stdout
    try:
        for record in iter_records(existing(files)):
            if record.error is not None:
                input_errors += 1
                typer.echo(f"error: {record.error}", err=True)
                det = engine.evaluate({"id": record.raw_id or record.location}, day)
                det = det.model_copy(update={"error": str(record.error)})
            else:
                assert record.transaction is not None
                det = engine.evaluate(record.transaction, day)
            determinations.append(det)
            if fmt == "jsonl":
                sink.write(det.model_dump_json() + "\n")
    finally:
        if sink is not sys.stdout:
            sink.close()
    if fmt == "table":
        _table(determinations)
    counts: dict[str, int] = {}
    for det in determinations:
        counts[det.outcome.value] = counts.get(det.outcome.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    typer.echo(f"{len(determinations)} screened: {summary or 'nothing'}; {input_errors} input error(s)", err=True)
    if input_errors:
        raise typer.Exit(EXIT_USAGE)
    if threshold is not None and any(d.outcome.severity >= threshold.severity for d in determinations):
        raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_CLEAR)


_STYLE = {"error": "bold magenta", "prohibited": "bold red", "license_required": "red", "review": "yellow",
          "clear": "green"}


def _table(determinations: list[Determination]) -> None:
    from rich.console import Console
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
        table.add_row(det.transaction_id, f"[{_STYLE[outcome]}]{outcome}[/]", "\n".join(lines) or "—")
    Console(width=160).print(table)
