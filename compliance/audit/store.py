"""A content-addressed store of the rulesets and list snapshots that decided, kept beside the log.

Layout (``LOG.store/`` by default)::

    files/<sha256>                  the exact bytes of each ruleset, include and overlay file
    rulesets/<ruleset sha256>.json  manifest: which files make the ruleset, with their roles and names
    lists/<list sha256>.yaml        each list snapshot, in the YAML list format

A ruleset is stored only after the stored files were loaded back and produced the ruleset's own hash, so
the store never holds a ruleset that differs from the one that decided (say, because its file was edited
on disk after the engine loaded it). Replay loads rulesets and lists from here by the recorded hash; a hash
that is not here is reported as missing, never replaced by whatever file is on disk now.
Entries are written atomically (temporary file + rename) and never change, so writers in several processes
may share a store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from compliance.errors import ComplianceError
from compliance.rulesets.loader import Ruleset, load_ruleset
from compliance.rulesets.yaml_source import load_yaml_file

if TYPE_CHECKING:
    from compliance.screening.lists import ListSnapshot

MANIFEST_SCHEMA = 1


class StoreError(ComplianceError):
    """A snapshot could not be stored or retrieved; the message says which and why."""


@dataclass(frozen=True)
class Stored:
    """Whether a snapshot is in the store, and if not, why."""

    stored: bool
    reason: str | None = None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class SnapshotStore:
    """Rulesets (by ruleset sha256) and list snapshots (by list sha256) under one directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- rulesets ---------------------------------------------------------------------------------

    def _manifest_path(self, sha256: str) -> Path:
        return self.root / "rulesets" / f"{sha256}.json"

    def has_ruleset(self, sha256: str) -> bool:
        return self._manifest_path(sha256).is_file()

    def put_ruleset(self, ruleset: Ruleset) -> Stored:
        """Store the files behind ``ruleset`` if they still produce its hash; say why not otherwise."""
        if self.has_ruleset(ruleset.sha256):
            return Stored(True)
        try:
            manifest, blobs = _ruleset_manifest(ruleset)
        except (OSError, StoreError, ComplianceError) as exc:
            return Stored(False, f"ruleset files cannot be read back: {exc}")
        with tempfile.TemporaryDirectory(prefix="compliance-store-") as tmp:
            try:
                rebuilt = _materialise(manifest, blobs, Path(tmp))
            except ComplianceError as exc:
                return Stored(False, f"ruleset files on disk no longer load: {exc}")
            if rebuilt.sha256 != ruleset.sha256:
                return Stored(
                    False,
                    f"ruleset files on disk changed after the ruleset was loaded (they now hash to "
                    f"{rebuilt.sha256[:12]}, not {ruleset.sha256[:12]}); not stored",
                )
        for digest, data in blobs.items():
            blob = self.root / "files" / digest
            if not blob.is_file():
                _atomic_write(blob, data)
        _atomic_write(self._manifest_path(ruleset.sha256), json.dumps(manifest, indent=1).encode("utf-8"))
        return Stored(True)

    def load_ruleset(self, sha256: str, workdir: Path) -> Ruleset:
        """Rebuild the ruleset with this hash from stored files (materialised under ``workdir``)."""
        path = self._manifest_path(sha256)
        if not path.is_file():
            raise StoreError(f"ruleset {sha256} is not in the store {self.root}")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        blobs: dict[str, bytes] = {}
        for entry in _manifest_files(manifest):
            blob = self.root / "files" / entry["sha256"]
            if not blob.is_file():
                raise StoreError(f"ruleset {sha256[:12]}: stored file {entry['name']} ({entry['sha256']}) is missing")
            data = blob.read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise StoreError(f"ruleset {sha256[:12]}: stored file {entry['name']} does not match its hash")
            blobs[entry["sha256"]] = data
        ruleset = _materialise(manifest, blobs, workdir)
        if ruleset.sha256 != sha256:
            raise StoreError(f"stored ruleset {sha256[:12]} loads to {ruleset.sha256[:12]}: the store is damaged")
        return ruleset

    # -- lists ------------------------------------------------------------------------------------

    def _list_path(self, sha256: str) -> Path:
        return self.root / "lists" / f"{sha256}.yaml"

    def has_list(self, sha256: str) -> bool:
        return self._list_path(sha256).is_file()

    def put_list(self, snapshot: ListSnapshot) -> Stored:
        if self.has_list(snapshot.sha256):
            return Stored(True)
        from compliance.screening.lists import dump_yaml_list, parse_yaml_list

        text = dump_yaml_list(snapshot)
        if parse_yaml_list(text, "<store>").sha256 != snapshot.sha256:
            return Stored(False, f"list {snapshot.list_id} does not round-trip through the YAML list format")
        _atomic_write(self._list_path(snapshot.sha256), text.encode("utf-8"))
        return Stored(True)

    def load_list(self, sha256: str) -> ListSnapshot:
        from compliance.screening.lists import parse_yaml_list

        path = self._list_path(sha256)
        if not path.is_file():
            raise StoreError(f"list snapshot {sha256} is not in the store {self.root}")
        snapshot = parse_yaml_list(path.read_text(encoding="utf-8"), str(path))
        if snapshot.sha256 != sha256:
            raise StoreError(f"stored list {sha256[:12]} loads to {snapshot.sha256[:12]}: the store is damaged")
        return snapshot


# ------------------------------------------------------------------------------------------------
# Manifests


def _manifest_files(manifest: dict[str, Any]) -> list[dict[str, str]]:
    return [manifest["base"], *manifest["includes"], *manifest["overlays"]]


def _ruleset_manifest(ruleset: Ruleset) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and file bytes of a loaded ruleset, read from the paths it was loaded from."""
    overlay_paths = [Path(o.path) for o in ruleset.overlays]
    files = [Path(f) for f in ruleset.files]
    base = files[0]
    raw = load_yaml_file(base)
    names: Sequence[Any] = raw.get("include", []) if isinstance(raw, dict) else []
    includes = files[1 : len(files) - len(overlay_paths)]
    if len(includes) != len(names):
        raise StoreError(f"{base}: {len(names)} includes named but {len(includes)} loaded")
    blobs: dict[str, bytes] = {}

    def entry(path: Path, name: str) -> dict[str, str]:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"name": name, "path": str(path), "sha256": digest}

    for name in names:
        pure = PurePosixPath(str(name))
        if pure.is_absolute():
            raise StoreError(f"{base}: absolute include {name!r} cannot be stored")
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "id": ruleset.id,
        "version": ruleset.version,
        "sha256": ruleset.sha256,
        "base": entry(base, base.name),
        "includes": [entry(path, str(name)) for path, name in zip(includes, names, strict=True)],
        "overlays": [entry(path, path.name) for path in overlay_paths],
    }
    return manifest, blobs


def _materialise(manifest: dict[str, Any], blobs: dict[str, bytes], workdir: Path) -> Ruleset:
    """Write the manifest's files under ``workdir`` (includes at their relative names) and load them."""
    depth = 0
    for inc in manifest["includes"]:
        parts = PurePosixPath(inc["name"]).parts
        depth = max(depth, sum(1 for p in parts if p == ".."))
    base_dir = workdir.joinpath("base", *[f"d{i}" for i in range(depth)])
    base_dir.mkdir(parents=True, exist_ok=True)
    base_path = base_dir / manifest["base"]["name"]
    base_path.write_bytes(blobs[manifest["base"]["sha256"]])
    for inc in manifest["includes"]:
        target = (base_dir / inc["name"]).resolve()
        if workdir.resolve() not in target.parents:
            raise StoreError(f"include {inc['name']!r} escapes the store's work directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs[inc["sha256"]])
    overlay_paths: list[str | Path] = []
    for i, overlay in enumerate(manifest["overlays"]):
        target = workdir / "overlays" / f"{i:02d}" / overlay["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs[overlay["sha256"]])
        overlay_paths.append(target)
    return load_ruleset(base_path, overlay_paths)
