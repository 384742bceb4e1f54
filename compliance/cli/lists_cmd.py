"""``compliance lists ...`` and ``compliance rescreen``: thin wrappers over ``compliance.screening``.

Bad input exits with code 2 and one line ``file:line: message`` on stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer

from compliance.screening import (
    ListFormatError,
    diff_snapshots,
    dump_yaml_list,
    load_default_snapshot,
    load_list,
    read_parties,
    summarize,
)
from compliance.screening import (
    rescreen as rescreen_parties,
)
from compliance.screening.screener import DEFAULT_MATCH_THRESHOLD, DEFAULT_REVIEW_THRESHOLD

lists_app = typer.Typer(help="Import, inspect and compare restricted-party list snapshots.", no_args_is_help=True)

FormatOpt = Annotated[
    Literal["csl", "ofac", "yaml", "json"] | None,
    typer.Option("--format", "-f", help="csl | ofac | yaml | json (default: from the file)"),
]


def _fail(exc: Exception) -> NoReturn:
    typer.echo(str(exc).splitlines()[0], err=True)
    raise typer.Exit(code=2)


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@lists_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSL CSV (.csv/.csv.gz), OFAC sdn.csv, our YAML, or the JSON file")],
    format: FormatOpt = None,
    lists: Annotated[
        list[str] | None, typer.Option("--list", "-l", help="list ids to keep (default: entity_list)")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write our YAML list format here")] = None,
) -> None:
    """Import a list file; print its summary, optionally write it as our YAML list format."""
    try:
        snap = load_list(file, format=format, lists=lists)
    except (ListFormatError, OSError) as exc:
        _fail(exc)
    if output is not None:
        output.write_text(dump_yaml_list(snap), encoding="utf-8")
    _emit(summarize(snap))


@lists_app.command("show")
def show_cmd(
    file: Annotated[Path | None, typer.Argument(help="a list file (default: the embedded curated list)")] = None,
    format: FormatOpt = None,
) -> None:
    """Summary of a list: counts by list and country, snapshot date, sha256."""
    try:
        snap = load_default_snapshot() if file is None else load_list(file, format=format)
    except (ListFormatError, OSError) as exc:
        _fail(exc)
    _emit(summarize(snap))


@lists_app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="older snapshot")],
    new: Annotated[Path, typer.Argument(help="newer snapshot")],
    format: FormatOpt = None,
) -> None:
    """Entries added, removed and changed between two snapshots."""
    try:
        diff = diff_snapshots(load_list(old, format=format), load_list(new, format=format))
    except (ListFormatError, OSError) as exc:
        _fail(exc)
    _emit(diff.summary())


@lists_app.command("cache")
def cache_cmd(
    clear: Annotated[bool, typer.Option("--clear", help="remove every kept screener")] = False,
) -> None:
    """Kept screeners (built once per list content, read by later runs and batch workers): where, which, how big."""
    from compliance.screening import prebuilt

    folder = prebuilt.screeners_dir()
    removed = prebuilt.clear() if clear else None
    files = prebuilt.kept()
    report: dict[str, Any] = {
        "directory": None if folder is None else str(folder),
        "enabled": folder is not None,
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
    }
    if removed is not None:
        report["removed"] = removed
    _emit(report)


def rescreen(
    since: Annotated[Path, typer.Option("--since", help="the list snapshot the parties were last screened against")],
    parties: Annotated[Path, typer.Option("--parties", "-p", help="stored transactions or parties (JSONL or JSON)")],
    lists: Annotated[
        Path | None, typer.Option("--lists", help="the current snapshot (default: the embedded curated list)")
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: today)")] = None,
    review_threshold: Annotated[float, typer.Option(help="review threshold")] = DEFAULT_REVIEW_THRESHOLD,
    match_threshold: Annotated[float, typer.Option(help="match threshold")] = DEFAULT_MATCH_THRESHOLD,
) -> None:
    """Re-screen stored parties against only what changed since OLD; list those whose hits change."""
    try:
        old = load_list(since)
        new = load_default_snapshot() if lists is None else load_list(lists)
        date = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
        diff = diff_snapshots(old, new)
        results = rescreen_parties(
            read_parties(parties),
            diff,
            as_of=date,
            review_threshold=review_threshold,
            match_threshold=match_threshold,
        )
    except (ListFormatError, OSError, ValueError) as exc:
        _fail(exc)
    _emit(
        {
            "diff": {k: len(v) for k, v in diff.summary().items() if isinstance(v, list)},
            "affected": [r.to_dict() for r in results],
        }
    )


def main() -> None:  # pragma: no cover - manual use before the lead wires the main CLI
    app = typer.Typer()
    app.add_typer(lists_app, name="lists")
    app.command("rescreen")(rescreen)
    app(sys.argv[1:])
