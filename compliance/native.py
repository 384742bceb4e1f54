"""The compiled build: the engine's, the screener's and the batch runner's own modules compiled by mypyc.

The modules in `COMPILED` are plain, fully typed Python (``mypy --strict``); mypyc compiles the same source to
C extension modules that Python imports in their place, and the hot paths (enrichment, the per-fact answers,
decision, the name pipeline and scorer, the batch CSV layout) run faster (docs/engine.md). Nothing else changes:
the same results, byte for byte, and the pure-Python modules remain the fallback wherever the build was not
made (a plain ``pip install``, Python 3.12 in CI). ``make`` builds it in place, beside the sources::

    python compliance/native.py build     # compile (needs mypy, from the dev extra, and a C compiler)
    python compliance/native.py status    # which modules run compiled; exit 1 when the build is stale
    python compliance/native.py clean     # back to pure Python

(``compliance native build|status|clean`` does the same. Run as a script, this module imports nothing else of
the package, so it can repair a build that keeps the package from importing.)

Left out: modules that define pydantic models (mypyc cannot compile them); the screener, which keeps per-instance
state in ``__dict__`` (a compiled class has none); and package ``__init__`` modules
(mypyc places one runtime library for all modules inside the package, and derives a package's ``__path__``
from that library's place as if it were above the package, which breaks the package's imports).

The build also makes the extensions in `C_EXTENSIONS`, written in C for this project where compiled Python
calling numpy on small arrays was the bottleneck (the name index's kernel: score bounds and word similarities,
``compliance/screening/_kernel.c``); the module using one falls back to its Python code where the extension is
not built.

A compiled module shadows its source: an edited source has no effect until the build is made again. Importing
`compliance` warns when a module the build was made from changed after it (`stale`), and refuses to go on
when an earlier build left extensions that the current one does not have (`leftovers`: they would fail on
import); the project's test suite refuses to run on a stale build.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any, Final

PACKAGE: Final = Path(__file__).resolve().parent
ROOT: Final = PACKAGE.parent
SHARED_LIBRARY: Final = "compliance._native"
"""The group name: mypyc's runtime for all compiled modules is one extension, ``compliance/_native__mypyc``."""
BUILD_DIR: Final = ROOT / "build" / "mypyc"

COMPILED: Final[tuple[str, ...]] = (
    "compliance.batch.layout",
    "compliance.batch.readers",
    "compliance.batch.worker",
    "compliance.conditions",
    "compliance.copying",
    "compliance.countries",
    "compliance.engine.alpha",
    "compliance.engine.backends",
    "compliance.engine.decide",
    "compliance.engine.enrich",
    "compliance.engine.evaluation",
    "compliance.facts",
    "compliance.memo",
    "compliance.periods",
    "compliance.rulesets.catalogue",
    "compliance.rulesets.diff",
    "compliance.rulesets.lint",
    "compliance.screening.delta",
    "compliance.screening.identifiers",
    "compliance.screening.importers",
    "compliance.screening.index",
    "compliance.screening.lists",
    "compliance.screening.matching",
    "compliance.screening.normalize",
    "compliance.screening.ownership",
    "compliance.screening.scorer",
)
"""Modules compiled by `build`, by import name."""

C_EXTENSIONS: Final[dict[str, str]] = {"compliance.screening._kernel": "compliance/screening/_kernel.c"}
"""Extensions written in C for this project, built with the compiled modules: import name -> C source (relative
to the project's root). Each has a ``.pyi`` stub beside it and a pure-Python fallback in the module using it."""


MANIFEST: Final = PACKAGE / "_native.inputs"
"""Written by `build`: the build's inputs, one module per line (the compiled modules and every module of the
package they import, directly or not: mypyc reads their types and may copy their ``Final`` constants)."""


def by_constructor(obj: Any) -> tuple[type, tuple[object, ...]]:
    """A dataclass's ``__reduce__``: pickled as a call of its constructor with its ``__init__`` fields.

    Compiled, a frozen dataclass cannot be restored field by field (its ``__setattr__`` refuses) and a class
    cannot be made without its ``__init__`` arguments; a screener, pickled with its snapshots, forms and
    identifier matches, depends on this.
    """
    return (type(obj), tuple(getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init))


class StaleBuildWarning(RuntimeWarning):
    """A module the compiled build was made from changed afterwards: the change is not (wholly) in effect."""


def source_of(module: str) -> Path:
    """The source file of a module of the package (a package's ``__init__.py``)."""
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def extension_of(module: str) -> Path | None:
    """The compiled extension that Python imports for ``module`` instead of its source, if there is one."""
    source = source_of(module)
    stem = source.parent / source.stem
    for suffix in EXTENSION_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.exists():
            return candidate
    return None


def compiled() -> list[str]:
    """The modules of `COMPILED` that have a compiled extension beside their source."""
    return [m for m in COMPILED if extension_of(m) is not None]


def built_c_extensions() -> list[str]:
    """The extensions of `C_EXTENSIONS` that are built."""
    return [m for m in C_EXTENSIONS if extension_of(m) is not None]


def build_inputs() -> list[str]:
    """The compiled modules and every module of the package they import, directly or not, sorted."""
    import ast

    seen: set[str] = set()
    todo = list(COMPILED)
    while todo:
        module = todo.pop()
        if module in seen or not source_of(module).exists():
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a module runs its packages
        for node in ast.walk(ast.parse(source_of(module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "compliance":
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]  # submodules imported by name
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.split(".")[0] == "compliance"]
    return sorted(seen)


def stale() -> list[str]:
    """The build's inputs that changed after the build; all of them when the build's manifest is missing or an
    earlier build left extensions of modules `COMPILED` no longer lists; empty when nothing is compiled."""
    return _stale(leftovers())


def _stale(extra: list[str]) -> list[str]:
    built = [ext for m in (*COMPILED, *C_EXTENSIONS) if (ext := extension_of(m)) is not None]
    if not built and not extra:
        return []
    if not MANIFEST.exists() or extra:
        return sorted({*COMPILED, *C_EXTENSIONS, *extra})
    made = MANIFEST.stat().st_mtime  # set to the time the build read its inputs
    inputs = MANIFEST.read_text(encoding="utf-8").split()
    old = [
        m
        for m in inputs
        if m not in C_EXTENSIONS and (not source_of(m).exists() or source_of(m).stat().st_mtime > made)
    ]
    for module, c_source in C_EXTENSIONS.items():
        path = ROOT / c_source
        if module in inputs and (not path.exists() or path.stat().st_mtime > made):
            old.append(module)
    return old


def check() -> None:
    """At import: refuse a build whose extensions do not belong together, warn when the build is stale."""
    extra = leftovers()
    if extra:
        raise ImportError(
            f"compiled extensions from an earlier build ({', '.join(extra)}) do not belong to the current one; run "
            f"`{sys.executable} {Path(__file__).resolve()} build` (or `make`), or `... clean` for pure Python"
        )
    _warn(_stale(extra))


def warn_if_stale() -> None:
    """Warn (at import) when a module the compiled build was made from changed after the build."""
    _warn(stale())


def _warn(old: list[str]) -> None:
    if old:
        warnings.warn(
            f"the compiled build is older than {', '.join(old)}: changes there are not (wholly) in effect until "
            "`compliance native build` (or `make`) compiles again",
            StaleBuildWarning,
            stacklevel=3,
        )


def artefacts() -> list[Path]:
    """Every file a build put in the package: extensions beside their sources (this build's or an earlier one's,
    whatever `COMPILED` then held), mypyc's runtime library, and the manifest."""
    found = []
    for path in sorted(PACKAGE.rglob("*.so")) + sorted(PACKAGE.rglob("*.pyd")):
        suffix = next((s for s in EXTENSION_SUFFIXES if path.name.endswith(s)), None)
        if suffix is None:
            continue
        stem = path.name[: -len(suffix)]
        c_module = ".".join([*path.parent.relative_to(ROOT).parts, stem])
        if (
            (path.parent / f"{stem}.py").exists()
            or (path.parent == PACKAGE and stem == "_native__mypyc")
            or c_module in C_EXTENSIONS
        ):
            found.append(path)
    return found + ([MANIFEST] if MANIFEST.exists() else [])


def leftovers() -> list[str]:
    """Modules with a compiled extension that `COMPILED` no longer lists (an earlier build's)."""
    listed = {extension_of(m) for m in (*COMPILED, *C_EXTENSIONS)}
    out = []
    for path in artefacts():
        if path.suffix in (".so", ".pyd") and path.name.split(".")[0] != "_native__mypyc" and path not in listed:
            parts = path.relative_to(ROOT).parts
            out.append(".".join([*parts[:-1], path.name.split(".")[0]]))
    return out


def clean() -> list[Path]:
    """Remove the compiled build (the sources run again) and its build directory."""
    import shutil

    removed = artefacts()
    for path in removed:
        path.unlink()
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    return removed


_SETUP: Final = """
import sys
import numpy
from setuptools import Extension, setup
from mypyc.build import mypycify

c_extensions = [
    Extension(name, [source], include_dirs=[numpy.get_include()], extra_compile_args=["-O3"])
    for name, source in {c_extensions!r}.items()
]
setup(
    name="compliance-native",
    packages=[],
    py_modules=[],
    ext_modules=mypycify(sys.argv[1:], group_name={group!r}, target_dir={target!r}, opt_level={opt!r}) + c_extensions,
    # --force: setuptools would otherwise keep an extension it finds newer than its sources in the build
    # directory; whether to build is decided here (`stale`), by the build's inputs, not by file times
    script_args=["build_ext", "--inplace", "--force", "--build-temp", {temp!r}, "--build-lib", {lib!r}],
)
"""


def build(*, force: bool = False, opt_level: str = "3") -> bool:
    """Compile `COMPILED` in place; True when it built, False when every extension was already current.

    Runs mypyc (which type-checks the sources with the project's mypy settings first) and the C compiler in a
    child process, from the project's root, so that nothing compiled is imported here while it is rebuilt.
    """
    import subprocess

    current = len(compiled()) == len(COMPILED) and len(built_c_extensions()) == len(C_EXTENSIONS)
    if not force and current and not stale():  # (stale() covers leftovers)
        return False
    try:
        import mypyc  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the dev extra installs mypy
        raise RuntimeError("the compiled build needs mypy (pip install 'compliance-engine[dev]')") from exc
    started = time.time()
    inputs = build_inputs()  # read before compiling: an edit made during the build makes it stale
    clean()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    script = _SETUP.format(
        group=SHARED_LIBRARY,
        target=str(BUILD_DIR / "c"),
        opt=opt_level,
        temp=str(BUILD_DIR / "temp"),
        lib=str(BUILD_DIR / "lib"),
        c_extensions=dict(C_EXTENSIONS),
    )
    sources = [str(source_of(m).relative_to(ROOT)) for m in COMPILED]
    result = subprocess.run(
        [sys.executable, "-c", script, *sources],
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        clean()  # a partial build would mix compiled and pure modules of different ages
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"the compiled build failed (pure-Python modules are in use):\n{tail}")
    missing = [m for m in (*COMPILED, *C_EXTENSIONS) if extension_of(m) is None]
    if missing:
        clean()
        raise RuntimeError(f"the compiled build made no extension for {', '.join(missing)}")
    MANIFEST.write_text("\n".join([*inputs, *C_EXTENSIONS]) + "\n", encoding="utf-8")
    os.utime(MANIFEST, (started, started))
    return True


def status_lines() -> tuple[list[str], bool]:
    """What `status` prints, and whether the build is current (or absent)."""
    done, old = compiled(), stale()
    lines = [f"{len(done)} of {len(COMPILED)} modules compiled"]
    lines += [f"  {'compiled' if m in done else 'source':8} {m}" for m in COMPILED]
    c_built = built_c_extensions()
    lines += [
        f"  {'built' if m in c_built else 'absent':8} {m} (C; the Python fallback runs without it)"
        for m in C_EXTENSIONS
    ]
    if old:
        lines.append(f"stale: changed since the build: {', '.join(old)}; run the build again")
    return lines, not old


def main(argv: list[str] | None = None) -> int:
    """``python compliance/native.py build|status|clean [--force]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="compliance/native.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "status", "clean"])
    parser.add_argument("--force", action="store_true", help="build even when the build is current")
    args = parser.parse_args(argv)
    if args.command == "clean":
        print(f"removed {len(clean())} compiled file(s); the pure-Python modules are in use")
        return 0
    if args.command == "status":
        lines, current = status_lines()
        print("\n".join(lines))
        return 0 if current else 1
    started = time.perf_counter()
    try:
        built = build(force=args.force)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    took = f"in {time.perf_counter() - started:.0f} s" if built else "(current)"
    print(f"compiled build of {len(COMPILED)} modules {took}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
