"""`compliance rulesets`: list, show and validate rulesets and overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compliance.cli.common import OverlayOption, friendly_errors, parse_date

rulesets_app = typer.Typer(help="List, show and validate rulesets.", no_args_is_help=True)


@rulesets_app.command("list")
@friendly_errors
def list_rulesets() -> None:
    """Every ruleset and overlay found, with version and status."""
    from compliance.rulesets.loader import available_rulesets
    from compliance.rulesets.schema import RulesetFile
    from compliance.rulesets.yaml_source import load_yaml_file

    for path in available_rulesets():
        raw = load_yaml_file(path)
        spec = RulesetFile.model_validate(raw)
        base = f" (overlay on {spec.extends})" if spec.extends else ""
        typer.echo(f"{spec.id:32} {spec.version:8} {spec.status:12} {spec.title}{base}  [{path}]")


@rulesets_app.command("show")
@friendly_errors
def show(
    ruleset: Annotated[str, typer.Argument(help="Ruleset name or path.")],
    overlay: list[str] = OverlayOption,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Only rules in force on this date.")] = None,
) -> None:
    """The rules of a ruleset (in force on a date, if given) with their citations."""
    from compliance.rulesets.loader import load_ruleset

    loaded = load_ruleset(ruleset, overlay)
    day = parse_date(as_of)
    typer.echo(f"{loaded.label} {loaded.version} ({loaded.status}) sha256 {loaded.sha256}")
    for o in loaded.overlays:
        typer.echo(f"  overlay {o.id} {o.version} ({o.status}): {o.title}")
    rules = loaded.rules_in_force(day) if day else list(loaded.rules)
    typer.echo(f"{len(rules)} rule(s){' in force on ' + str(day) if day else ''}:")
    for rule in rules:
        spec = rule.spec
        policy = f" · {spec.review_policy.value}" if hasattr(spec.review_policy, "value") else (
            " · from " + spec.review_policy.from_fact if spec.review_policy is not None else "")
        flag = " · UNCONFIRMED" if spec.confidence == "unconfirmed" else ""
        periods = ", ".join(p.render() for p in spec.periods())
        typer.echo(f"  {spec.id:24} {spec.outcome.value}{policy}{flag}  [{periods}]  ({rule.defined_in})")
        typer.echo(f"    {spec.title}")
        typer.echo(f"    cites: {'; '.join(spec.citations)}")


@rulesets_app.command("validate")
@friendly_errors
def validate(
    ruleset: Annotated[Path, typer.Argument(help="Ruleset file or directory.")],
    overlay: list[str] = OverlayOption,
) -> None:
    """Load a ruleset strictly (and compile it for durable_rules); exit 2 with file:line on any error."""
    from compliance.engine.backends import compile_rules
    from compliance.rulesets.loader import load_ruleset

    loaded = load_ruleset(ruleset, overlay)
    shards = compile_rules(loaded.rules)
    typer.echo(f"ok: {loaded.label} {loaded.version}, {len(loaded.rules)} rules, {len(loaded.groups)} groups, "
               f"{len(loaded.parameters)} parameters, {len(shards)} durable shard(s), sha256 {loaded.sha256}")
