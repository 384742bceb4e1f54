"""The compiled build (compliance.native): what it compiles, how a stale build is found, and that it is in use."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from compliance import native


def test_every_compiled_module_is_a_plain_module_without_pydantic_models() -> None:
    """mypyc cannot compile pydantic models, and a compiled package ``__init__`` gets a wrong ``__path__``."""
    for module in native.COMPILED:
        source = native.source_of(module)
        assert source.exists() and source.name != "__init__.py", module
        loaded = importlib.import_module(module)
        classes = [c for c in vars(loaded).values() if isinstance(c, type) and c.__module__ == module]
        assert not [c for c in classes if issubclass(c, BaseModel)], module
        text = source.read_text(encoding="utf-8")
        # a compiled class has no __dict__ (compliance.copying sets a pydantic model's by name, which is fine)
        assert not re.search(r"\.__dict__\b", text), module
        # a compiled module's own __file__ may not be where it lives (another module's, e.g. the package's, is)
        assert not re.search(r"(?<![.\w])__file__", text), module


def test_a_build_older_than_one_of_its_inputs_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled module shadows its source, and mypyc reads the types (and may copy the constants) of the
    modules it imports: an edit to any of them, or to the C source of an extension, after the build makes the
    build stale."""
    package = tmp_path / "compliance"
    package.mkdir()
    for name in ("memo", "model"):
        (package / f"{name}.py").write_text("")
    (package / "kernel.c").write_text("")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    ext = package / ("memo" + suffix)
    ext.write_bytes(b"")
    c_ext = package / ("kernel" + suffix)
    c_ext.write_bytes(b"")
    manifest = package / "_native.inputs"
    monkeypatch.setattr(native, "ROOT", tmp_path)
    monkeypatch.setattr(native, "PACKAGE", package)
    monkeypatch.setattr(native, "COMPILED", ("compliance.memo",))
    monkeypatch.setattr(native, "C_EXTENSIONS", {"compliance.kernel": "compliance/kernel.c"})
    monkeypatch.setattr(native, "MANIFEST", manifest)
    # a build without its manifest is not trusted
    assert native.stale() == ["compliance.kernel", "compliance.memo"]
    manifest.write_text("compliance.memo\ncompliance.model\ncompliance.kernel\n")
    for path in (package / "memo.py", package / "model.py", package / "kernel.c"):
        os.utime(path, (1_000, 1_000))
    for path in (ext, c_ext, manifest):
        os.utime(path, (2_000, 2_000))
    assert native.compiled() == ["compliance.memo"]
    assert native.built_c_extensions() == ["compliance.kernel"]
    assert native.stale() == native.leftovers() == []
    os.utime(package / "model.py", (3_000, 3_000))
    assert native.stale() == ["compliance.model"]
    os.utime(package / "kernel.c", (3_000, 3_000))
    assert native.stale() == ["compliance.model", "compliance.kernel"]
    with pytest.warns(native.StaleBuildWarning, match=r"compliance\.model, compliance\.kernel"):
        native.warn_if_stale()
    # an extension an earlier build left for a module no longer compiled would fail on import: refused
    (package / "model.py").touch()
    left = package / ("model" + suffix)
    left.write_bytes(b"")
    assert native.leftovers() == ["compliance.model"]
    assert native.stale() == ["compliance.kernel", "compliance.memo", "compliance.model"]
    with pytest.raises(ImportError, match=r"earlier build \(compliance\.model\)"):
        native.check()
    assert sorted(native.clean()) == sorted([c_ext, ext, left, manifest])
    assert native.compiled() == native.stale() == native.leftovers() == native.built_c_extensions() == []


def test_the_build_inputs_are_the_compiled_modules_and_what_they_import() -> None:
    inputs = native.build_inputs()
    assert set(native.COMPILED) <= set(inputs)
    # imported by compiled modules: their types are read at build time
    assert {"compliance.model", "compliance.evidence", "compliance.rulesets.loader", "compliance"} <= set(inputs)
    assert "compliance.cli.app" not in inputs  # nothing compiled imports the CLI


@pytest.mark.skipif(not native.compiled(), reason="the compiled build is not made here (pure-Python modules)")
def test_the_compiled_build_is_the_code_that_runs() -> None:
    """When the build is made, Python imports every compiled module from its extension, not its source."""
    assert native.compiled() == list(native.COMPILED)
    assert native.built_c_extensions() == list(native.C_EXTENSIONS)
    for module in (*native.COMPILED, *native.C_EXTENSIONS):
        loaded = importlib.import_module(module)
        assert loaded.__spec__ is not None
        assert not str(loaded.__spec__.origin).endswith(".py"), module


def test_the_shipped_rulesets_and_list_are_found_from_any_directory(tmp_path: Path) -> None:
    """Files are located from the package, not the working directory (compiled or not)."""
    script = (
        "from compliance import Engine; from compliance.screening import Screener;"
        "e = Engine.load('us-ear', overlays=['chip-security-act']); s = Screener.default();"
        "print(e.ruleset.id, len(s.snapshots[0].entries) > 80)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["us-ear", "True"]
