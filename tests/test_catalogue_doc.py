"""docs/rulesets.md is generated from the YAML; it must not drift from it."""

from __future__ import annotations

from pathlib import Path

from compliance.rulesets.catalogue import SHIPPED_OVERLAYS, render_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "rulesets.md"


def test_docs_rulesets_md_is_current() -> None:
    expected = render_markdown("us-ear", SHIPPED_OVERLAYS)
    assert DOC.read_text(encoding="utf-8") == expected, "run: compliance rulesets doc -o docs/rulesets.md"


def test_every_rule_appears_with_its_citations() -> None:
    from compliance import load_ruleset

    text = render_markdown("us-ear", SHIPPED_OVERLAYS)
    for rule in load_ruleset("us-ear").rules:
        line = next(line for line in text.splitlines() if line.startswith(f"| {rule.id} |"))
        assert all(c.replace("|", "\\|") in line for c in rule.spec.citations), rule.id
    assert "2026-11-10 → … (unconfirmed" in text  # the Affiliates Rule's scheduled return
