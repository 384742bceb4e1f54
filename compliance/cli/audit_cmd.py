"""`compliance audit verify|replay LOG`: check a decision log's hash chain; re-run its decisions.

Exit codes: 0 the log is intact / every record replays to the recorded determination; 1 a broken link, a
difference, or a record that could not be replayed (missing snapshot, masked input); 2 usage errors
(no such log).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from compliance.cli.common import EXIT_CLEAR, EXIT_FINDINGS, fail, friendly_errors

audit_app = typer.Typer(help="Verify and replay decision logs (audit trail).", no_args_is_help=True)

LogArgument = typer.Argument(help="The decision log (its rotated files LOG.1, LOG.2… are found beside it).")


@audit_app.command("verify")
@friendly_errors
def verify(
    log: Annotated[Path, LogArgument],
    head: Annotated[
        str | None,
        typer.Option("--head", help="The last record's hash as anchored elsewhere; catches a truncated tail."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check every record's hash and link; report the first broken or missing one."""
    from compliance.audit import verify_log

    if not log.exists():
        fail(f"{log}: no such decision log")
    report = verify_log(log)
    problem = report.problem
    head_ok = head is None or (report.ok and report.last_hash == head)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok and head_ok,
                    "files": list(report.files),
                    "records": report.records,
                    "last_hash": report.last_hash,
                    "problem": None if problem is None else problem.__dict__,
                    "head_matches": None if head is None else head_ok,
                },
                indent=2,
            )
        )
    elif problem is not None:
        typer.echo(f"BROKEN after {report.records} good record(s): {problem}")
    elif not head_ok:
        typer.echo(
            f"BROKEN: the chain is intact for {report.records} record(s) but ends at {report.last_hash}, not at the "
            f"anchored head {head}: records were removed from the end (or appended since anchoring)"
        )
    else:
        typer.echo(f"OK: {report.records} record(s) in {len(report.files)} file(s); last hash {report.last_hash}")
    raise typer.Exit(EXIT_CLEAR if report.ok and head_ok else EXIT_FINDINGS)


@audit_app.command("replay")
@friendly_errors
def replay(
    log: Annotated[Path, LogArgument],
    store: Annotated[Path | None, typer.Option("--store", help="Snapshot store (default LOG.store).")] = None,
    show: Annotated[int, typer.Option("--show", help="Print at most this many non-matching records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print every non-matching record as JSON lines.")] = False,
) -> None:
    """Re-evaluate each record with the ruleset and lists of its recorded hashes; report differences."""
    from compliance.audit import replay_log

    if not log.exists():
        fail(f"{log}: no such decision log")
    report = replay_log(log, store=store)
    problems = report.problems()
    for result in problems[: None if as_json else show]:
        if as_json:
            typer.echo(json.dumps(result.__dict__))
        else:
            who = f" (decision_id {result.decision_id}, transaction {result.transaction_id})"
            typer.echo(f"record {result.record}{who}: {result.status.upper()}: {result.detail}")
    if not as_json and len(problems) > show:
        typer.echo(f"... and {len(problems) - show} more")
    typer.echo(report.summary(), err=as_json)
    raise typer.Exit(EXIT_CLEAR if report.ok and report.results else EXIT_FINDINGS)
