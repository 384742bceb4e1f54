"""Screeners kept on disk once built, so that a process loading the same lists skips the index build.

Building a `Screener` over the full Consolidated Screening List and the Entity List takes a few seconds
(most of it the name index); every batch worker, every ``compliance screen`` run and every Dask worker
builds the same one. `screener_for` builds it once per content and keeps it as a pickle, named by a key
over what the screener depends on:

- the content hash of each list snapshot (``ListSnapshot.sha256``: the entries as imported, so a changed
  side file of an OFAC import changes it too), in order;
- the source of the screening package and of ``evidence.py`` (the code that builds the index), and the
  versions of Python and of the libraries the analysis uses (numpy, rapidfuzz, anyascii, pypinyin).

A pickle runs code when it is loaded, so only files this user wrote are read: the directory is created
private (``0700``), and a file owned by someone else, or writable by group or others, is ignored and
rebuilt. A file that cannot be read is rebuilt as well; a cache that cannot be written is skipped. Nothing
about the screener's answers depends on whether it came from disk. At most `KEEP` files are kept (about
20 MB each for the full lists), the least recently used removed first.

The directory is ``$COMPLIANCE_CACHE_DIR`` when set (``off`` turns the cache off), else
``$XDG_CACHE_HOME/compliance`` or ``~/.cache/compliance``; ``screeners/`` inside it holds the files.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import os
import pickle
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compliance.screening.lists import ListSnapshot
from compliance.screening.screener import Screener

CACHE_ENV = "COMPLIANCE_CACHE_DIR"
"""Environment variable naming the cache directory; ``off`` (or ``0``, ``no``, ``false``) turns it off."""
KEEP = 4
"""Screener files kept; older ones (by last use) are removed when a new one is written."""
FORMAT = "1"
"""Part of every key: raised when the file layout changes."""
_LIBRARIES = ("numpy", "rapidfuzz", "anyascii", "pypinyin", "pydantic")
_OFF = frozenset({"off", "0", "no", "false"})


class PrebuiltWarning(UserWarning):
    """A kept screener could not be read or written; the screener was built (or used) without it."""


def cache_dir() -> Path | None:
    """Where screeners are kept, or None when the cache is off (see the module docstring)."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF or not value.strip() else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "compliance"


def screener_for(snapshots: Sequence[ListSnapshot], directory: Path | None = None) -> Screener:
    """A screener over ``snapshots``: the kept one when there is one for this content, else built (and kept).

    ``directory`` defaults to `cache_dir()`; with the cache off the screener is simply built.
    """
    folder = screeners_dir(directory)
    if folder is None:
        return Screener(list(snapshots))
    path = folder / f"{screener_key(snapshots)}.pickle"
    reused = _read(path)
    if reused is not None:
        return reused
    screener = Screener(list(snapshots))
    _write(path, screener)
    return screener


def screeners_dir(directory: Path | None = None) -> Path | None:
    """The folder the screeners are kept in (``screeners/`` under ``directory``, default `cache_dir()`), or None
    when the cache is off. It may not exist yet."""
    where = directory if directory is not None else cache_dir()
    return None if where is None else where / "screeners"


def screener_key(snapshots: Sequence[ListSnapshot]) -> str:
    """The key of a screener over ``snapshots`` built by this code (hex sha256)."""
    h = hashlib.sha256()
    h.update(f"format {FORMAT}\n{_code_fingerprint()}\n".encode())
    for snap in snapshots:
        h.update(f"list {snap.sha256}\n".encode())
    return h.hexdigest()


@functools.cache
def _code_fingerprint() -> str:
    """The code a kept screener depends on: the screening package's source, evidence.py, library versions."""
    import compliance.evidence
    import compliance.screening

    h = hashlib.sha256(sys.version.encode())
    for name in _LIBRARIES:
        try:
            h.update(f"{name} {importlib.metadata.version(name)}\n".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{name} -\n".encode())
    package = Path(compliance.screening.__file__).parent
    for source in [*sorted(package.glob("*.py")), Path(compliance.evidence.__file__)]:
        h.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return h.hexdigest()


def _trusted(path: Path) -> bool:
    """Only files (in a directory) of this user that nobody else may write are unpickled."""
    if not hasattr(os, "getuid"):  # pragma: no cover - no ownership to check (Windows): trust the user's profile
        return True
    uid = os.getuid()
    for item in (path, path.parent):
        st = item.stat()
        if st.st_uid != uid or st.st_mode & 0o022:
            return False
    return True


def _read(path: Path) -> Screener | None:
    try:
        if not path.is_file():
            return None
        if not _trusted(path):
            warnings.warn(
                f"{path}: not owned by this user or writable by others; ignored (the screener is built instead)",
                PrebuiltWarning,
                stacklevel=3,
            )
            return None
        with path.open("rb") as fh:
            kept = pickle.load(fh)
        os.utime(path)  # last use, for pruning
    except Exception as exc:  # a truncated or stale file: build instead, never fail the caller
        message = f"{path}: could not be read ({exc}); the screener is built instead"
        warnings.warn(message, PrebuiltWarning, stacklevel=3)
        return None
    return kept if isinstance(kept, Screener) else None


def _write(path: Path, screener: Screener) -> None:
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _trusted(folder):
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".screener-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(screener, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # atomic: two workers writing the same key leave one whole file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(folder)
    except OSError as exc:
        warnings.warn(f"{folder}: the screener could not be kept ({exc})", PrebuiltWarning, stacklevel=3)


def kept(directory: Path | None = None) -> list[dict[str, Any]]:
    """The kept screeners, most recently used first: file, size in bytes and last use (ISO time, UTC)."""
    out: list[dict[str, Any]] = []
    for path in _by_last_use(_folder(directory)):
        st = path.stat()
        used = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).isoformat(timespec="seconds")
        out.append({"file": str(path), "bytes": st.st_size, "last_used": used})
    return out


def clear(directory: Path | None = None) -> int:
    """Remove every kept screener (and any write left half done); returns how many files were removed."""
    folder = _folder(directory)
    if folder is None:
        return 0
    files = [*folder.glob("*.pickle"), *folder.glob(".screener-*.tmp")]
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)


def _folder(directory: Path | None) -> Path | None:
    """`screeners_dir`, when it exists."""
    folder = screeners_dir(directory)
    return folder if folder is not None and folder.is_dir() else None


def _by_last_use(folder: Path | None) -> list[Path]:
    if folder is None:
        return []
    return sorted(folder.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)


def _prune(folder: Path) -> None:
    for old in _by_last_use(folder)[KEEP:]:
        old.unlink(missing_ok=True)


__all__ = [
    "CACHE_ENV",
    "KEEP",
    "PrebuiltWarning",
    "cache_dir",
    "clear",
    "kept",
    "screener_for",
    "screener_key",
    "screeners_dir",
]
