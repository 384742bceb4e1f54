"""What every subcommand shares: exit codes, error printing, loading an engine."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from compliance.errors import ComplianceError

EXIT_CLEAR = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def friendly_errors(func: F) -> F:
    """Turn the library's errors into one `file:line: message` line and exit code 2, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ComplianceError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}")
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def parse_date(value: str | None, option: str = "--as-of") -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date (YYYY-MM-DD)")


def load_engine(ruleset: str, overlays: Sequence[str], backend: str = "durable") -> Any:
    from compliance.engine import Engine

    if backend not in ("durable", "python"):
        fail(f"--backend must be durable or python, not {backend!r}")
    return Engine.load(ruleset, overlays, backend=backend)  # type: ignore[arg-type]


RulesetOption = typer.Option("us-ear", "--ruleset", "-r", help="Ruleset name or path.")
OverlayOption = typer.Option([], "--overlay", "-O", help="Overlay name or path (repeatable, applied in order).")
AsOfOption = typer.Option(None, "--as-of", help="Evaluate as of this date (default: each transaction's date).")
BackendOption = typer.Option("durable", "--backend", help="durable (default) or python (reference).")


def existing(paths: Sequence[Path]) -> list[Path]:
    for p in paths:
        if not p.exists():
            fail(f"{p}: no such file or directory")
    return list(paths)
