"""The auditor's report: structure and counts checked on every run; a screenshot where Chromium exists."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from batch_support import RULESET, canonical, transactions, write_jsonl

from compliance.batch import BatchOptions, EngineSpec, screen_batch
from compliance.report import build, render_html, render_markdown, write_report


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.tags: list[str] = []
        self.external: list[str] = []
        self.cards: dict[str, str] = {}
        self.action_rows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids[str(a["id"])] = a
        for key in ("src", "href"):
            value = a.get(key)
            if value and not value.startswith("#"):
                self.external.append(value)
        if tag == "div" and a.get("class") == "card":
            self.cards[str(a["data-outcome"])] = str(a["data-count"])
        if tag == "tr" and a.get("data-outcome"):
            self.action_rows += 1


@pytest.fixture(scope="module")
def determinations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    source = write_jsonl(tmp / "in.jsonl", transactions(80), broken=(4,))
    spec = EngineSpec(ruleset=RULESET, screening="none")
    screen_batch([source], tmp / "determinations.jsonl", spec, BatchOptions(workers=0))
    return tmp / "determinations.jsonl"


def test_html_report_has_every_section_and_the_counts_of_the_run(determinations: Path) -> None:
    data = build(determinations)
    page = render_html(data)
    parsed = _Structure()
    parsed.feed(page)
    dets = canonical(determinations)
    for section in ("summary", "by-outcome", "by-rule", "by-destination", "by-month", "action", "rationale"):
        assert section in parsed.ids, section
    assert parsed.ids["summary"]["data-total"] == str(len(dets)) == "80"
    for outcome in ("error", "prohibited", "license_required", "review", "clear"):
        assert parsed.cards[outcome] == str(sum(d["outcome"] == outcome for d in dets))
    needing = sum(d["outcome"] != "clear" for d in dets)
    assert parsed.ids["action"]["data-count"] == str(needing) == str(parsed.action_rows)
    assert parsed.tags.count("svg") == 4 and "script" not in parsed.tags
    assert parsed.external == []  # self-contained: no network
    assert "15 CFR 742.6(a)(6)(iii)" in page  # citations in the rationale
    assert "TPP earlier in 2025 to consignee" in page  # provenance of a bound fact
    assert "in.jsonl:5" in page  # an error record names its input row


def test_markdown_summary(determinations: Path) -> None:
    text = render_markdown(build(determinations))
    assert "| error | 3 |" in text  # one broken line, two bad country codes
    assert "## Needing action" in text and "`T-MIL`" in text


def test_report_renders_in_headless_chromium(determinations: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): screenshot check skipped")
    html = tmp_path / "report.html"
    write_report(determinations, html)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one
