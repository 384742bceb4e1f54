"""`compliance native`: the compiled build of the engine's and the screener's modules (compliance.native).

The same as ``python compliance/native.py build|status|clean``, which also works when a broken build keeps the
package from importing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from compliance import native

native_app = typer.Typer(help="The compiled build (mypyc): build, status, clean.", no_args_is_help=True)


def _run(*args: str) -> None:
    code = native.main(list(args))
    if code:
        raise typer.Exit(code)


@native_app.command("build")
def build(
    force: Annotated[bool, typer.Option("--force", help="build even when the build is current")] = False,
) -> None:
    """Compile the modules of compliance.native.COMPILED in place (needs mypy and a C compiler)."""
    _run("build", *(["--force"] if force else []))


@native_app.command("status")
def status() -> None:
    """Which modules run compiled; exit 1 when the build is older than a module it was made from."""
    _run("status")


@native_app.command("clean")
def clean() -> None:
    """Remove the compiled extensions: the pure-Python modules run again."""
    _run("clean")
