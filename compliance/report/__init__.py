"""Batch reports for auditors: a self-contained HTML file and a Markdown summary.

    from compliance.report import write_report
    write_report(Path("determinations.jsonl"), Path("report.html"), markdown=Path("report.md"))

Reads a determinations JSONL file (as ``compliance screen`` writes it) and, when present, the run's
``<stem>.index.jsonl`` for each record's input location, date and destination.
"""

from __future__ import annotations

from pathlib import Path

from compliance.report.html import render_html
from compliance.report.markdown import render_markdown
from compliance.report.summary import ReportData, build

__all__ = ["ReportData", "build", "render_html", "render_markdown", "write_report"]


def write_report(
    determinations: Path,
    html: Path | None,
    *,
    markdown: Path | None = None,
    index: Path | None = None,
    title: str | None = None,
    max_details: int = 500,
) -> ReportData:
    data = build(determinations, index, title)
    if html is not None:
        html.write_text(render_html(data, max_details=max_details), encoding="utf-8")
    if markdown is not None:
        markdown.write_text(render_markdown(data), encoding="utf-8")
    return data
