"""Testing tools for policy authors: case files, builders, assertions, rule coverage.

Use it from your own tests::

    from compliance.testing import assert_fires, make_party, make_transaction

    def test_hq_rule(evaluate):          # `evaluate` and `engine` are pytest fixtures of this plugin
        txn = make_transaction("SG", parties=[make_party(country="SG", headquarters="CN")])
        finding = assert_fires(evaluate(txn), "AC-HQ", review_policy="presumption_of_denial")
        assert "CN" in finding.because

or write ``*.cases.yaml`` files, which pytest collects with this package installed (see
docs/policy-authoring.md). The fixtures and the case-file collector live in ``compliance.testing.plugin``,
registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

from compliance.testing._assertions import (
    assert_cites,
    assert_fires,
    assert_not_fires,
    assert_outcome,
    assert_overridden,
)
from compliance.testing._builders import make_item, make_lease, make_party, make_transaction
from compliance.testing._cases import (
    Case,
    CaseFile,
    CaseFileError,
    CaseResult,
    find_case_files,
    load_case_file,
    run_case,
    run_case_files,
)
from compliance.testing._coverage import CoverageReport, RuleCoverage
from compliance.testing._expect import Expect, Mismatch, compare
from compliance.testing._rulesets import (
    Combination,
    EngineCache,
    InlineDraft,
    build_engine,
    combination,
    parse_combination,
)

__all__ = [
    "Case",
    "CaseFile",
    "CaseFileError",
    "CaseResult",
    "Combination",
    "CoverageReport",
    "EngineCache",
    "Expect",
    "InlineDraft",
    "Mismatch",
    "RuleCoverage",
    "assert_cites",
    "assert_fires",
    "assert_not_fires",
    "assert_outcome",
    "assert_overridden",
    "build_engine",
    "combination",
    "compare",
    "find_case_files",
    "load_case_file",
    "make_item",
    "make_lease",
    "make_party",
    "make_transaction",
    "parse_combination",
    "run_case",
    "run_case_files",
]
