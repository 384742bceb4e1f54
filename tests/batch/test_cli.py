"""`compliance screen` over the batch runner and `compliance report`: options, exit codes, counts printed."""

from __future__ import annotations

from pathlib import Path

from batch_support import RULESET, canonical, transactions, write_jsonl
from typer.testing import CliRunner

from compliance.cli import app

EXPORT = """Order,Date,Country,Model,Qty,Buyer,Buyer Country
A-1,2025-02-01,CN,H100 SXM,4,Acme,CN
A-1,2025-02-01,CN,RTX 4090,1,Acme,CN
A-2,2025-02-03,DE,L40S,1,Bravo GmbH,DE
A-3,2025-02-04,ZZ,L40S,1,Zed,DE
"""
MAPPING = """columns:
  transaction_id: Order
  date: Date
  destination: Country
  item_model: Model
  item_quantity: Qty
  purchaser_name: Buyer
  purchaser_country: Buyer Country
defaults: {export_from: US, kind: sale}
"""


def test_screen_a_csv_export_with_workers_then_report(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
    (tmp_path / "map.yaml").write_text(MAPPING, encoding="utf-8")
    out = tmp_path / "d.jsonl"
    runner = CliRunner()
    args = ["screen", str(tmp_path / "export.csv"), "-m", str(tmp_path / "map.yaml"), "-r", RULESET]
    result = runner.invoke(app, [*args, "-o", str(out), "--workers", "2", "--chunk-size", "1", "--quiet"])
    assert result.exit_code == 2, result.output  # an input error (country ZZ) is a usage error
    assert "3 records in (4 rows read) = 2 determinations + 1 errors (1 input) [ok]" in result.output
    assert "export.csv:5" in result.output and "Country → destination" in result.output
    dets = canonical(out)
    assert [d["transaction_id"] for d in dets] == ["A-1", "A-2", "A-3"]
    assert dets[0]["outcome"] == "license_required"
    html = tmp_path / "r.html"
    report = runner.invoke(app, ["report", str(out), "-o", str(html), "--markdown", str(tmp_path / "r.md")])
    assert report.exit_code == 0, report.output
    assert "3 determinations, 2 needing action" in report.output
    assert html.read_text().startswith("<!DOCTYPE html>") and (tmp_path / "r.md").exists()


def test_screen_keeps_the_table_and_fail_on_behaviour(tmp_path: Path) -> None:
    good = [t for t in transactions(6) if t["destination"] != "XX"]
    source = write_jsonl(tmp_path / "in.jsonl", good)
    runner = CliRunner()
    table = runner.invoke(app, ["screen", str(source), "-r", RULESET, "--format", "table", "--fail-on", "never"])
    assert table.exit_code == 0, table.output
    assert "Determinations" in table.output and good[0]["id"] in table.output
    strict = runner.invoke(app, ["screen", str(source), "-r", RULESET, "--fail-on", "review"])
    assert strict.exit_code == 1
    assert strict.stdout.count('"transaction_id"') == len(good)  # JSONL on stdout
