"""`compliance rulesets`: list, show, validate and lint rulesets; diff a draft against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compliance.cli.common import BackendOption, OverlayOption, existing, fail, friendly_errors, parse_date

rulesets_app = typer.Typer(
    help="List, show, validate and lint rulesets; measure a draft's impact on a corpus.", no_args_is_help=True
)


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
    from compliance.rulesets.schema import PolicyFromFact

    loaded = load_ruleset(ruleset, overlay)
    day = parse_date(as_of)
    typer.echo(f"{loaded.label} {loaded.version} ({loaded.status}) sha256 {loaded.sha256}")
    for o in loaded.overlays:
        typer.echo(f"  overlay {o.id} {o.version} ({o.status}): {o.title}")
    rules = loaded.rules_in_force(day) if day else list(loaded.rules)
    typer.echo(f"{len(rules)} rule(s){' in force on ' + str(day) if day else ''}:")
    for rule in rules:
        spec = rule.spec
        if isinstance(spec.review_policy, PolicyFromFact):
            policy = f" · from {spec.review_policy.from_fact}"
        elif spec.review_policy is not None:
            policy = f" · {spec.review_policy.value}"
        else:
            policy = ""
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
    typer.echo(
        f"ok: {loaded.label} {loaded.version}, {len(loaded.rules)} rules, {len(loaded.groups)} groups, "
        f"{len(loaded.parameters)} parameters, {len(shards)} durable shard(s), sha256 {loaded.sha256}"
    )


@rulesets_app.command("lint")
@friendly_errors
def lint(
    ruleset: Annotated[
        Path, typer.Argument(help="Ruleset file or directory, or an overlay (checked on the ruleset it extends).")
    ],
    overlay: list[str] = OverlayOption,
    cases: Annotated[
        list[Path], typer.Option("--cases", help="Case files or directories: report rules no case fires.")
    ] = [],  # noqa: B006
    fmt: Annotated[str, typer.Option("--format", help="text (default) or json.")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail the run too.")] = False,
    screening: Annotated[
        str, typer.Option("--screening", help="For --cases: default (embedded lists) or none.")
    ] = "default",
) -> None:
    """Static checks: loader errors, dead rules, overrides that never apply, date gaps, untested rules.

    Prints `file:line: CODE: severity: message`; exits 1 on errors (or warnings with --strict), else 0.
    """
    from compliance.rulesets.lint import lint_ruleset

    if fmt not in ("text", "json"):
        fail(f"--format must be text or json, not {fmt!r}")
    if screening not in ("default", "none"):
        fail(f"--screening must be default or none, not {screening!r}")
    report = lint_ruleset(ruleset, overlay, cases=existing(cases), screening=screening)  # type: ignore[arg-type]
    if fmt == "json":
        typer.echo(report.dumps())
    else:
        for line in report.lines():
            typer.echo(line)
    raise typer.Exit(1 if report.failed(strict) else 0)


@rulesets_app.command("diff")
@friendly_errors
def diff(
    base: Annotated[str, typer.Argument(help="Baseline: RULESET[+OVERLAY...] (names or paths).")],
    draft: Annotated[str, typer.Argument(help="Draft: RULESET[+OVERLAY...], or an overlay file applied on BASE.")],
    corpus: Annotated[
        list[Path], typer.Option("--corpus", "-c", help="JSON/JSONL files or directories of transactions.")
    ],
    overlay: Annotated[list[str], typer.Option("--overlay", "-O", help="Overlay applied on both sides.")] = [],  # noqa: B006
    base_overlay: Annotated[list[str], typer.Option("--base-overlay", help="Overlay for BASE only.")] = [],  # noqa: B006
    draft_overlay: Annotated[list[str], typer.Option("--draft-overlay", help="Overlay for DRAFT only.")] = [],  # noqa: B006
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Evaluate as of this date (default: each transaction's date).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="markdown (default) or json.")] = "markdown",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here.")] = None,
    fail_on_change: Annotated[bool, typer.Option("--fail-on-change", help="Exit 1 when any outcome changes.")] = False,
    backend: str = BackendOption,
    screening: Annotated[
        str, typer.Option("--screening", help="default (embedded lists) or none (skip party screening).")
    ] = "default",
) -> None:
    """Evaluate a corpus under BASE and DRAFT; report outcome changes grouped by rule, with rationales."""
    from compliance.rulesets.diff import diff_rulesets

    if fmt not in ("markdown", "json"):
        fail(f"--format must be markdown or json, not {fmt!r}")
    if backend not in ("durable", "python"):
        fail(f"--backend must be durable or python, not {backend!r}")
    if screening not in ("default", "none"):
        fail(f"--screening must be default or none, not {screening!r}")
    report = diff_rulesets(
        base,
        draft,
        existing(corpus),
        base_overlays=[*overlay, *base_overlay],
        draft_overlays=[*overlay, *draft_overlay],
        as_of=parse_date(as_of),
        backend=backend,  # type: ignore[arg-type]
        screening=screening,  # type: ignore[arg-type]
    )
    text = report.dumps() + "\n" if fmt == "json" else report.markdown()
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(
            f"{report.evaluated} transaction(s): {len(report.outcome_changes)} outcome change(s); "
            f"report written to {output}",
            err=True,
        )
    else:
        typer.echo(text, nl=False)
    raise typer.Exit(1 if fail_on_change and report.outcome_changes else 0)


@rulesets_app.command("doc")
@friendly_errors
def doc(
    ruleset: Annotated[str, typer.Argument(help="Baseline ruleset name or path.")] = "us-ear",
    overlay: Annotated[
        list[str] | None, typer.Option("--overlay", "-O", help="Overlays to document (default: the shipped ones).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (default stdout).")] = None,
) -> None:
    """The rules, parameters and overlays as a Markdown catalogue (docs/rulesets.md is this output)."""
    from compliance.rulesets.catalogue import SHIPPED_OVERLAYS, render_markdown

    text = render_markdown(ruleset, overlay if overlay else SHIPPED_OVERLAYS)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
