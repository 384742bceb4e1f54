"""`compliance explain`: one transaction's rationale, and why a rule did not fire."""

from __future__ import annotations

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
    why_not: Annotated[list[str], typer.Option("--why-not", help="Explain why RULE did not fire (repeatable).")] = [],  # noqa: B006
    backend: str = BackendOption,
) -> None:
    """Print a readable rationale tree for one transaction."""
    from compliance.explain import rationale_lines
    from compliance.explain import why_not as why_not_report

    records = list(iter_records([file]))
    if len(records) != 1:
        fail(f"{file}: explain takes exactly one transaction, found {len(records)}")
    record = records[0]
    if record.error is not None:
        fail(str(record.error))
    assert record.transaction is not None
    engine = load_engine(ruleset, overlay, backend)
    day = parse_date(as_of)
    det = engine.evaluate(record.transaction, day)
    for line in rationale_lines(det):
        typer.echo(line)
    for rule_id in why_not:
        if not engine.ruleset.has_rule(rule_id):
            fail(f"--why-not: no rule {rule_id!r} in {engine.ruleset.label}")
        typer.echo("")
        for line in why_not_report(engine, record.transaction, rule_id, day).lines():
            typer.echo(line)
