"""`compliance native`: the compiled build of the engine's and the screener's modules (compliance.native)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from compliance import native

native_app = typer.Typer(help="The compiled build (mypyc): build, status, clean.", no_args_is_help=True)


@native_app.command("build")
def build(
    force: Annotated[bool, typer.Option("--force", help="build even when every extension is current")] = False,
) -> None:
    """Compile the modules of compliance.native.COMPILED in place (needs mypy and a C compiler)."""
    started = time.perf_counter()
    try:
        built = native.build(force=force)
    except RuntimeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    count = len(native.COMPILED)
    if built:
        typer.echo(f"compiled {count} modules in {time.perf_counter() - started:.0f} s")
    else:
        typer.echo(f"compiled build is current ({count} modules)")


@native_app.command("status")
def status() -> None:
    """Which modules run compiled; exit 1 when the build is older than a module it was made from."""
    done, old = native.compiled(), native.stale()
    typer.echo(f"{len(done)} of {len(native.COMPILED)} modules compiled")
    for module in native.COMPILED:
        typer.echo(f"  {'compiled' if module in done else 'source':8} {module}")
    if old:
        typer.echo(f"stale: changed since the build: {', '.join(old)}; run `compliance native build`")
        raise typer.Exit(1)


@native_app.command("clean")
def clean() -> None:
    """Remove the compiled extensions: the pure-Python modules run again."""
    removed = native.clean()
    typer.echo(f"removed {len(removed)} compiled file(s); the pure-Python modules are in use")
