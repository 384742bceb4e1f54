"""`compliance explain`: one transaction's rationale, and why a rule did not fire."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated

import typer

from compliance.cli.common import (
    AsOfOption,
    BackendOption,
    OverlayOption,
    RulesetOption,
    fail,
    friendly_errors,
    load_engine,
    parse_date,
)
from compliance.records import iter_records


@friendly_errors
def explain(
    file: Annotated[Path, typer.Argument(help="A JSON file holding one transaction.")],
    ruleset: str = RulesetOption,
    overlay: list[str] = OverlayOption,
    as_of: str | None = AsOfOption,
    why_not: Annotated[
        list[str],
        typer.Option(
            "--why-not",
            help="Explain why RULE did (not) fire: failing tests with values, dates, overrides (repeatable).",
        ),
    ] = [],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", help="text (default) or json.")] = "text",
    backend: str = BackendOption,
    screening: Annotated[
        str, typer.Option("--screening", help="default (embedded lists) or none (skip party screening).")
    ] = "default",
) -> None:
    """Print a readable rationale tree for one transaction: findings, bound facts and their provenance."""
    from compliance.explain import rationale_lines
    from compliance.explain import why_not as why_not_report

    if fmt not in ("text", "json"):
        fail(f"--format must be text or json, not {fmt!r}")
    if not file.exists():
        fail(f"{file}: no such file")
    records = list(iter_records([file]))
    if len(records) != 1:
        fail(f"{file}: explain takes exactly one transaction, found {len(records)}")
    record = records[0]
    if record.error is not None:
        fail(str(record.error))
    assert record.transaction is not None
    if screening not in ("default", "none"):
        fail(f"--screening must be default or none, not {screening!r}")
    if screening == "default":
        engine = load_engine(ruleset, overlay, backend)
    else:
        from compliance.testing import build_engine, combination

        if backend not in ("durable", "python"):
            fail(f"--backend must be durable or python, not {backend!r}")
        loaded = combination(ruleset, overlay).load()
        engine = build_engine(loaded, backend=backend, screening="none")  # type: ignore[arg-type]
    known = [r.id for r in engine.ruleset.rules]
    for rule_id in why_not:
        if not engine.ruleset.has_rule(rule_id):
            close = difflib.get_close_matches(rule_id, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            fail(f"--why-not: no rule {rule_id!r} in {engine.ruleset.label}{hint}")
    day = parse_date(as_of)
    det = engine.evaluate(record.transaction, day)
    reports = [why_not_report(engine, record.transaction, rule_id, day) for rule_id in why_not]
    if fmt == "json":
        body = {"determination": det.model_dump(mode="json"), "why_not": [r.to_json() for r in reports]}
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    for line in rationale_lines(det):
        typer.echo(line)
    for report in reports:
        typer.echo("")
        for line in report.lines():
            typer.echo(line)
