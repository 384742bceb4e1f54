"""Where decision records go: a chained log file (with rotation), a stream, the stdlib logging tree.

Only a `FileSink` holds the chain: it finds the end of the chain in the file itself, under an exclusive
lock, before each append. That makes appends safe from many threads *and* many processes writing to the
same file (each append reads the current tail and extends it), at the price of one ``flock`` per record.
The rule is still **one chain per file**: point independent writers that must not share a chain (say, two
services) at different files. Stream and logging sinks receive copies of the same lines; they are for
shipping records elsewhere, not for verification.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from compliance.audit._chain import GENESIS, Link, read_link

if sys.platform != "win32":
    import fcntl
else:  # pragma: no cover - Windows: threads are serialised, processes must use separate files
    fcntl = None

_TAIL_CHUNK = 64 * 1024


class Sink(Protocol):
    """Receives each finished record line (UTF-8 JSON with a trailing newline)."""

    def write(self, line: bytes) -> None: ...

    def close(self) -> None: ...


class StreamSink:
    """Copies records to a text stream (stdout by default)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    def write(self, line: bytes) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(line.decode("utf-8"))
        stream.flush()

    def close(self) -> None:
        """Streams belong to the caller; nothing to close."""


class LoggingSink:
    """Hands records to the stdlib logging tree (logger ``compliance.audit`` at INFO by default).

    The host application decides handlers and formatting; the message is the record's JSON text.
    """

    def __init__(self, logger: str | logging.Logger = "compliance.audit", level: int = logging.INFO) -> None:
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._level = level

    def write(self, line: bytes) -> None:
        self._logger.log(self._level, "%s", line.decode("utf-8").rstrip("\n"))

    def close(self) -> None:
        """Handlers belong to the host application."""


def rotated_files(path: Path) -> list[Path]:
    """The chain's files in order: ``LOG.1``, ``LOG.2``, … (oldest first), then ``LOG`` itself."""
    pattern = re.compile(re.escape(path.name) + r"\.([0-9]+)$")
    numbered: list[tuple[int, Path]] = []
    if path.parent.is_dir():
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match:
                numbered.append((int(match.group(1)), candidate))
    files = [p for _, p in sorted(numbered)]
    if path.exists():
        files.append(path)
    return files


def last_line(path: Path) -> bytes | None:
    """The last complete line of a file (without newline), reading backwards; None if there is none."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        if end == 0:
            return None
        buffer = b""
        pos = end
        while pos > 0:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            handle.seek(pos)
            buffer = handle.read(step) + buffer
            stripped = buffer.rstrip(b"\n") if buffer.endswith(b"\n") else buffer
            cut = stripped.rfind(b"\n")
            if cut >= 0:
                return stripped[cut + 1 :] if buffer.endswith(b"\n") else None
        if not buffer.endswith(b"\n"):
            return None
        return buffer.rstrip(b"\n")


class FileSink:
    """Appends chained records to ``path``; rotates to ``path.N`` past ``max_bytes``; keeps the chain.

    Rotation renames the current file to the next free number (``LOG.1``, ``LOG.2``…, oldest first) and
    never deletes: archiving is the operator's job, and ``compliance audit verify LOG`` checks every file
    of the chain in order. Each record is written with one ``write`` on an ``O_APPEND`` descriptor while an
    exclusive ``flock`` on ``LOG.lock`` is held; ``fsync=True`` also forces it to disk before returning.
    """

    def __init__(self, path: str | Path, *, max_bytes: int | None = None, fsync: bool = False) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread_lock = threading.Lock()
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._fd: int | None = None
        self._ino: int | None = None
        self._cache: tuple[int, int, Link] | None = None
        """(inode, size, link) after this process's last append: valid while the file is unchanged."""
        self._pid = os.getpid()

    # -- locking ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[Link]:
        """Hold the chain exclusively and yield its current end (re-read from disk if others appended)."""
        with self._thread_lock:
            self._after_fork()
            if fcntl is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield self._tail()
            finally:
                if fcntl is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _after_fork(self) -> None:
        # A forked child inherits descriptors whose flock is shared with the parent: open its own.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            self._fd = None
            self._cache = None

    def _open(self) -> int:
        fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        self._ino = os.fstat(fd).st_ino
        return fd

    def _current(self) -> tuple[int, int]:
        """An fd on the file now at ``path`` (another process may have rotated it) and its size."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        if self._fd is None or stat is None or stat.st_ino != self._ino:
            fd = self._open()
            return fd, os.fstat(fd).st_size
        return self._fd, stat.st_size

    def _tail(self) -> Link:
        fd, size = self._current()
        if self._cache is not None and self._cache[0] == self._ino and self._cache[1] == size:
            return self._cache[2]
        if size > 0:
            with self.path.open("rb") as probe:
                probe.seek(size - 1)
                if probe.read(1) != b"\n":
                    # An interrupted append left half a record: end it so the next record starts on its own
                    # line; verify reports the damaged record instead of one merged with the next.
                    os.write(fd, b"\n")
        for candidate in reversed(rotated_files(self.path)):
            line = last_line(candidate)
            if line is None:
                continue
            link = read_link(line)
            if link is None:
                # The newest record is damaged: chain on to the hash of its bytes so later records stay
                # linked; verify reports the damaged record itself.
                seq = re.search(rb'"seq":([0-9]{1,19})', line)
                return Link(int(seq.group(1)) if seq else 0, hashlib.sha256(line).hexdigest())
            return link
        return GENESIS

    # -- writing ---------------------------------------------------------------------------------

    def write(self, line: bytes) -> None:
        """Append one record; call only inside `locked()` (AuditLog does)."""
        fd, size = self._current()
        if self.max_bytes is not None and size > 0 and size + len(line) > self.max_bytes:
            fd, size = self._rotate()
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if self.fsync:
            os.fsync(fd)
        link = read_link(line)
        if link is not None:
            self._cache = (os.fstat(fd).st_ino, size + len(line), link)

    def _rotate(self) -> tuple[int, int]:
        existing = [int(p.name.rsplit(".", 1)[1]) for p in rotated_files(self.path) if p != self.path]
        target = self.path.with_name(f"{self.path.name}.{max(existing, default=0) + 1}")
        os.rename(self.path, target)
        if self.fsync:
            dir_fd = os.open(str(self.path.parent), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        fd = self._open()
        return fd, 0

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
