"""Error types with messages a compliance officer can act on."""

from __future__ import annotations


class ComplianceError(Exception):
    """Base class of the library's own errors."""


class RulesetError(ComplianceError):
    """A ruleset (or overlay, or list) file that cannot be used, located as ``file:line: message``."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.location_message())

    def location_message(self) -> str:
        if self.file is None:
            return self.message
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class InputError(ComplianceError):
    """A transaction that fails validation; names the file, line (record) and field."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        where = ":".join(str(p) for p in (source, line) if p is not None)
        prefix = f"{where}: " if where else ""
        suffix = f" (field {field})" if field else ""
        super().__init__(f"{prefix}{message}{suffix}")


class EngineError(ComplianceError):
    """The inference core failed; the evaluation fails closed with outcome ``error``."""
