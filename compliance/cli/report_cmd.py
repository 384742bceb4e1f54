"""`compliance report`: an auditor's HTML report (and a Markdown summary) from determinations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compliance.cli.common import existing, fail, friendly_errors


@friendly_errors
def report(
    determinations: Annotated[Path, typer.Argument(help="Determinations JSONL (as `compliance screen` writes).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="HTML report to write.")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write a Markdown summary here ('-' for stdout).")
    ] = None,
    index: Annotated[
        Path | None, typer.Option("--index", help="The run's index file (default: <stem>.index.jsonl beside it).")
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
    max_details: Annotated[
        int, typer.Option("--max-details", help="Transactions whose full rationale is shown.")
    ] = 500,
) -> None:
    """Write a self-contained HTML report: totals and charts, what needs action, each rationale."""
    from compliance.report import build, render_html, render_markdown

    existing([determinations])
    if output is None and markdown is None:
        fail("give --output report.html and/or --markdown summary.md")
    data = build(determinations, index, title)
    if output is not None:
        output.write_text(render_html(data, max_details=max_details), encoding="utf-8")
    if markdown is not None:
        text = render_markdown(data)
        if str(markdown) == "-":
            typer.echo(text, nl=False)
        else:
            markdown.write_text(text, encoding="utf-8")
    typer.echo(f"{data.total} determinations, {len(data.action)} needing action", err=True)
