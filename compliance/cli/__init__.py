"""The `compliance` command: each subcommand is a thin layer over one public function."""

from compliance.cli.app import app, main

__all__ = ["app", "main"]
