"""The `compliance` command-line interface."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from compliance.cli import audit_cmd, explain_cmd, lists_cmd, native_cmd, report_cmd, rulesets_cmd, screen_cmd
from compliance.cli.common import fail

app = typer.Typer(
    name="compliance",
    help="Export-control determinations for AI compute hardware, with the reasons an auditor needs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("screen")(screen_cmd.screen)
app.command("explain")(explain_cmd.explain)
app.command("report")(report_cmd.report)
app.add_typer(rulesets_cmd.rulesets_app, name="rulesets")
app.add_typer(audit_cmd.audit_app, name="audit")
app.add_typer(lists_cmd.lists_app, name="lists")
app.add_typer(native_cmd.native_app, name="native")
app.command("rescreen")(lists_cmd.rescreen)


@app.command("schema")
def schema(
    which: Annotated[str, typer.Argument(help="input (Transaction), output (Determination) or both")] = "both",
) -> None:
    """Print the JSON Schema of the input and/or the output."""
    from compliance.model import Determination, Transaction

    schemas = {"input": Transaction.model_json_schema(), "output": Determination.model_json_schema()}
    if which == "both":
        typer.echo(json.dumps(schemas, indent=2))
    elif which in schemas:
        typer.echo(json.dumps(schemas[which], indent=2))
    else:
        fail(f"schema: expected input, output or both, not {which!r}")


@app.command("version")
def version() -> None:
    """Print the library version."""
    from compliance import __version__

    typer.echo(__version__)


def main() -> None:
    app()
