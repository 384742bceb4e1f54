"""The pytest plugin (entry point ``pytest11: compliance``): case files, fixtures, rule coverage.

- Collects every ``*.cases.yaml`` pytest looks at; each case is a test item named after the case
  (``-k paleblue`` selects it). A failure prints what was expected against what fired, the rationale and,
  for an expected rule that did not fire, which of its conditions failed and with what value.
- Fixtures ``engine`` and ``evaluate`` for Python tests; the ruleset comes from the
  ``compliance_ruleset`` marker or the ``compliance_ruleset``/``compliance_overlays`` ini options.
- ``--compliance-coverage`` prints which rules fired in the run; ``--compliance-coverage-fail-under N``
  fails the run below N percent (like ``opa test --coverage --threshold``).

Engines are built once per (ruleset, overlays, inline draft) per session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from compliance.engine import BackendName, Engine
from compliance.errors import RulesetError
from compliance.model import Determination, Transaction
from compliance.testing._cases import CASES_SUFFIX, Case, CaseFileError, load_case_file, run_case
from compliance.testing._coverage import RuleCoverage
from compliance.testing._rulesets import EngineCache, Screening, combination

Evaluate = Callable[..., Determination]


class _SessionState:
    def __init__(self, config: pytest.Config) -> None:
        backend = str(config.getini("compliance_backend") or "durable")
        screening = str(config.getoption("compliance_screening") or config.getini("compliance_screening") or "default")
        if backend not in ("durable", "python"):
            raise pytest.UsageError(f"compliance_backend must be durable or python, not {backend!r}")
        if screening not in ("default", "none"):
            raise pytest.UsageError(f"compliance screening must be default or none, not {screening!r}")
        self.engines = EngineCache(cast(BackendName, backend), cast(Screening, screening))
        self.coverage = RuleCoverage()

    def record(self, engine: Engine, det: Determination) -> None:
        self.coverage.record(engine.ruleset, det)


_STATE = pytest.StashKey[_SessionState]()


def _state(config: pytest.Config) -> _SessionState:
    return config.stash[_STATE]


# ------------------------------------------------------------------------------------------------
# Options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compliance", "compliance rulesets: case files and rule coverage")
    group.addoption(
        "--compliance-coverage",
        action="store_true",
        default=False,
        help="Print which ruleset rules fired during the run and which never did.",
    )
    group.addoption(
        "--compliance-coverage-fail-under",
        type=float,
        default=None,
        metavar="PERCENT",
        help="Fail the run when rule coverage is below PERCENT (implies --compliance-coverage).",
    )
    group.addoption(
        "--compliance-coverage-json",
        default=None,
        metavar="PATH",
        help="Write the rule coverage report as JSON to PATH.",
    )
    group.addoption(
        "--compliance-screening",
        default=None,
        choices=("default", "none"),
        help="Screen parties against the embedded lists (default) or not at all (none).",
    )
    parser.addini("compliance_ruleset", "Ruleset for the engine/evaluate fixtures (name or path).", default="us-ear")
    parser.addini("compliance_overlays", "Overlays for the engine/evaluate fixtures.", type="linelist", default=[])
    parser.addini("compliance_backend", "durable (default) or python.", default="durable")
    parser.addini("compliance_screening", "default (embedded lists) or none.", default="default")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = _SessionState(config)
    config.addinivalue_line(
        "markers",
        "compliance_ruleset(ruleset, overlays=[]): the ruleset (name, or path relative to the test file) "
        "that the engine and evaluate fixtures load for this test",
    )


# ------------------------------------------------------------------------------------------------
# Case files


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(CASES_SUFFIX):
        return CaseFileNode.from_parent(parent, path=file_path)
    return None


class CaseFailure(Exception):  # noqa: N818 (a test outcome, not an error)
    """A case whose determination does not meet its expectations; carries the readable report."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


class CaseFileNode(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        casefile = load_case_file(self.path)
        for case in casefile.cases:
            yield CaseItem.from_parent(self, name=case.name, case=case)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, RulesetError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        state = _state(self.config)
        state.coverage.register(state.engines.get(self.case.file.combination, self.case.file.lists).ruleset)
        result = run_case(self.case, state.engines, state.record)
        if not result.passed:
            raise CaseFailure(result.report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        exc = excinfo.value
        if isinstance(exc, CaseFailure):
            return exc.report
        if isinstance(exc, CaseFileError):
            return str(exc)
        if isinstance(exc, RulesetError):
            combo = self.case.file.combination.describe()
            return f"{self.case.location}: case {self.name}: cannot load {combo}:\n  {exc}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.case.line - 1, f"case {self.name}"


# ------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Engine:
    """An engine on the test's ruleset (the ``compliance_ruleset`` marker, else the ini options).

    Built once per ruleset combination per session; evaluations through ``evaluate`` count for coverage.
    """
    config = request.config
    marker = request.node.get_closest_marker("compliance_ruleset")
    if marker is not None:
        ruleset = marker.args[0] if marker.args else marker.kwargs["ruleset"]
        overlays = list(marker.kwargs.get("overlays", marker.args[1] if len(marker.args) > 1 else ()))
        relative_to = request.path.parent
    else:
        ruleset = str(config.getini("compliance_ruleset"))
        overlays = list(config.getini("compliance_overlays"))
        relative_to = config.rootpath
    state = _state(config)
    built = state.engines.get(combination(ruleset, overlays, relative_to=relative_to))
    state.coverage.register(built.ruleset)
    return built


@pytest.fixture
def evaluate(engine: Engine, request: pytest.FixtureRequest) -> Evaluate:
    """``evaluate(txn, as_of=None) -> Determination`` on the ``engine`` fixture; counts for rule coverage."""
    state = _state(request.config)

    def run(txn: Transaction | Mapping[str, Any], as_of: dt.date | str | None = None) -> Determination:
        day = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        det = engine.evaluate(txn, day)
        state.record(engine, det)
        return det

    return run


# ------------------------------------------------------------------------------------------------
# Coverage


def _fail_under(config: pytest.Config) -> float | None:
    value = config.getoption("compliance_coverage_fail_under")
    return float(value) if value is not None else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    yield
    config = session.config
    threshold = _fail_under(config)
    if threshold is None or config.option.collectonly:
        return
    report = _state(config).coverage.report()
    if report.total == 0 or report.percent < threshold:
        session.testsfailed += 1  # the run's exit status becomes "tests failed"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    threshold = _fail_under(config)
    json_path = config.getoption("compliance_coverage_json")
    if not (config.getoption("compliance_coverage") or threshold is not None or json_path):
        return
    if config.option.collectonly:
        return
    report = _state(config).coverage.report()
    if json_path:
        Path(json_path).write_text(report.dumps() + "\n", encoding="utf-8")
    if not (config.getoption("compliance_coverage") or threshold is not None):
        return
    terminalreporter.write_sep("-", "compliance rule coverage")
    for line in report.lines():
        terminalreporter.write_line(line)
    if threshold is not None:
        if report.total == 0:
            terminalreporter.write_line(
                f"FAIL Required compliance rule coverage of {threshold:g}% cannot be measured: no ruleset was loaded",
                red=True,
                bold=True,
            )
        elif report.percent < threshold:
            terminalreporter.write_line(
                f"FAIL Required compliance rule coverage of {threshold:g}% not reached. "
                f"Total coverage: {report.percent:.2f}%",
                red=True,
                bold=True,
            )
        else:
            terminalreporter.write_line(
                f"Required compliance rule coverage of {threshold:g}% reached. Total coverage: {report.percent:.2f}%",
                green=True,
            )
