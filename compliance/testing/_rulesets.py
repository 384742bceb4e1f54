"""Ruleset combinations (a baseline, overlays, an optional inline draft) and the engines built on them.

A case file, a diff side or a lint run all name the same thing: a baseline ruleset plus overlays applied in
order, plus possibly a draft overlay written inline in a case file. This module resolves those names the
same way everywhere, loads the combination with the ruleset loader's own checks, and builds engines
(cached, because compiling a ruleset for durable_rules is the slow part of a test run).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compliance.engine import BackendName, Engine
from compliance.errors import ComplianceError, RulesetError
from compliance.rulesets.loader import InlineOverlay, Ruleset, load_ruleset, resolve_ruleset_path
from compliance.rulesets.yaml_source import load_yaml_file

if TYPE_CHECKING:
    from compliance.screening import Screener

Screening = Literal["default", "none"]


@dataclass(frozen=True)
class InlineDraft:
    """A draft overlay written inside another file (a case file's ``draft:``), with that file's lines."""

    raw: Mapping[str, Any]
    source: Path
    """The file holding it: rules loaded from it report ``source:line`` as their origin."""

    @property
    def digest(self) -> str:
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Combination:
    """A baseline ruleset and the overlays (and inline draft) applied on it, resolved to files."""

    ruleset: Path
    overlays: tuple[Path, ...] = ()
    draft: InlineDraft | None = None

    @property
    def key(self) -> tuple[str, tuple[str, ...], str | None]:
        draft = f"{self.draft.source.resolve()}#{self.draft.digest}" if self.draft else None
        return (str(self.ruleset.resolve()), tuple(str(o.resolve()) for o in self.overlays), draft)

    def load(self) -> Ruleset:
        if self.draft is None:
            return load_ruleset(self.ruleset, list(self.overlays))
        return load_with_inline_overlay(self.ruleset, self.overlays, self.draft)

    def describe(self) -> str:
        parts = [str(self.ruleset), *(str(o) for o in self.overlays)]
        if self.draft is not None:
            parts.append(f"draft in {self.draft.source}")
        return " + ".join(parts)


def resolve_name(name: str | Path, relative_to: Path | None = None) -> Path:
    """A ruleset or overlay given as a path (relative to ``relative_to`` first) or as a name."""
    if relative_to is not None:
        candidate = relative_to / name
        if candidate.exists():
            return resolve_ruleset_path(candidate)
    return resolve_ruleset_path(name)


def is_overlay(path: Path) -> str | None:
    """The ``extends`` of a ruleset file, or None for a baseline (or a file that cannot be read)."""
    try:
        raw = load_yaml_file(path)
    except RulesetError:
        return None
    extends = raw.get("extends") if isinstance(raw, Mapping) else None
    return str(extends) if isinstance(extends, str) else None


def combination(
    ruleset: str | Path,
    overlays: Sequence[str | Path] = (),
    *,
    relative_to: Path | None = None,
    draft: InlineDraft | None = None,
) -> Combination:
    """Resolve names; a ruleset argument that is itself an overlay is applied on the baseline it extends."""
    path = resolve_name(ruleset, relative_to)
    resolved = [resolve_name(o, relative_to) for o in overlays]
    base_name = is_overlay(path)
    if base_name is not None:
        resolved.insert(0, path)
        path = _find_base(base_name, path.parent)
    return Combination(path, tuple(resolved), draft)


def _find_base(name: str, near: Path) -> Path:
    """The baseline an overlay ``extends``: by name, else a ``ruleset.yaml`` beside it with that id."""
    try:
        return resolve_name(name, near)
    except RulesetError:
        for candidate in (near / "ruleset.yaml", near.parent / "ruleset.yaml"):
            if candidate.is_file():
                raw = load_yaml_file(candidate)
                if isinstance(raw, Mapping) and raw.get("id") == name and raw.get("extends") is None:
                    return candidate
        raise


def parse_combination(text: str, relative_to: Path | None = None) -> Combination:
    """``NAME_OR_PATH[+OVERLAY...]``; a whole argument that names an existing file is never split."""
    if Path(text).exists() or "+" not in text:
        return combination(text, relative_to=relative_to)
    first, *rest = (part.strip() for part in text.split("+"))
    if not first or any(not r for r in rest):
        raise RulesetError(f"{text!r}: expected RULESET[+OVERLAY...]")
    return combination(first, rest, relative_to=relative_to)


def load_with_inline_overlay(ruleset: Path, overlays: Sequence[Path], draft: InlineDraft) -> Ruleset:
    """`load_ruleset` with one more overlay that is a mapping inside the case file, not a file of its own;
    the draft's rules carry ``case-file:line`` origins and its errors point into the case file."""
    return load_ruleset(ruleset, [*overlays, InlineOverlay(draft.raw, draft.source)])


def build_engine(
    ruleset: Ruleset,
    *,
    backend: BackendName = "durable",
    screening: Screening = "default",
    lists: Sequence[Path] = (),
) -> Engine:
    """An engine on an already loaded ruleset, screening against the embedded lists (or the list files given)
    unless told not to screen."""
    if screening == "none":
        return Engine(ruleset, backend=backend, screener=None)
    if lists:
        return Engine(ruleset, backend=backend, screener=_screener(tuple(lists)))
    return Engine(ruleset, backend=backend, screener="default")


def _screener(lists: tuple[Path, ...]) -> Screener:
    from compliance.screening import Screener

    try:
        return Screener.from_files(lists)
    except (ComplianceError, OSError) as exc:
        raise RulesetError(f"cannot load the case file's lists: {exc}") from None


class EngineCache:
    """One engine per combination (and backend, screening) for the life of a test session."""

    def __init__(self, backend: BackendName = "durable", screening: Screening = "default") -> None:
        self.backend: BackendName = backend
        self.screening: Screening = screening
        self._engines: dict[tuple[Any, ...], Engine | RulesetError] = {}
        self._lock = threading.Lock()

    def get(self, combo: Combination, lists: Sequence[Path] = ()) -> Engine:
        """The cached engine (screening against ``lists`` when given); a combination that failed to load fails
        the same way every time it is asked."""
        key = (combo.key, tuple(lists))
        with self._lock:
            cached = self._engines.get(key)
            if cached is None:
                try:
                    cached = build_engine(
                        combo.load(), backend=self.backend, screening=self.screening, lists=tuple(lists)
                    )
                except RulesetError as exc:
                    cached = exc
                self._engines[key] = cached
        if isinstance(cached, RulesetError):
            raise cached
        return cached

    def engines(self) -> list[Engine]:
        return [e for e in self._engines.values() if isinstance(e, Engine)]
