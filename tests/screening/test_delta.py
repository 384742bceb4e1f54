"""List diffs, delta re-screening and the thin CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from screening_helpers import AS_OF, party
from typer.testing import CliRunner

from compliance.cli.lists_cmd import lists_app
from compliance.screening import ListSnapshot, diff_snapshots, dump_yaml_list, make_entry, rescreen

E1 = make_entry(list_id="entity_list", entry_id="e1", name="Orion Compute Systems Co., Ltd.", country="CN")
E2 = make_entry(list_id="entity_list", entry_id="e2", name="Blue Harbor Trading LLC", country="AE")
E3 = make_entry(list_id="entity_list", entry_id="e3", name="Kestrel Microelectronics Ltd.", country="HK")
E2b = make_entry(**{**E2.model_dump(exclude={"content_sha256"}), "aliases": ["Nimbus Freight Forwarding"]})
OLD = ListSnapshot(list_id="entity_list", entries=(E1, E2), snapshot_date=dt.date(2026, 1, 1))
NEW = ListSnapshot(list_id="entity_list", entries=(E2b, E3), snapshot_date=dt.date(2026, 6, 1))


def test_diff() -> None:
    d = diff_snapshots(OLD, NEW)
    assert [e.entry_id for e in d.added] == ["e3"]
    assert [e.entry_id for e in d.removed] == ["e1"]
    assert [(o.entry_id, n.entry_id) for o, n in d.changed] == [("e2", "e2")]
    assert d.summary()["changed"] == [{"entry": "entity_list/e2", "fields": ["aliases"]}]
    assert diff_snapshots(OLD, OLD).empty


def test_rescreen_lists_only_affected_parties() -> None:
    parties = [
        ("T1", party("Orion Compute Systems Company Limited", pid="a", country="CN")),  # e1 removed
        ("T1", party("Nimbus Freight Forwarding", pid="b", country="AE")),  # e2 alias added
        ("T2", party("Kestrel Microelectronics Limited", pid="c", country="HK")),  # e3 added
        ("T2", party("Blue Harbor Trading LLC", pid="d", country="AE")),  # e2 hit unchanged (same score)
        ("T3", party("Acme Widgets Inc.", pid="e")),
    ]
    results = rescreen(parties, diff_snapshots(OLD, NEW), as_of=AS_OF)
    assert [(r.transaction_id, r.party_id) for r in results] == [("T1", "a"), ("T1", "b"), ("T2", "c")]
    a, b, c = results
    assert a.changes[0].entry == "entity_list/e1" and a.changes[0].band_after == "none"
    assert b.changes[0].band_before == "none" and b.changes[0].band_after == "match"
    assert c.changes[0].before is None and c.changes[0].after == 1.0


def _write(tmp_path: Path, snap: ListSnapshot, name: str) -> Path:
    p = tmp_path / name
    p.write_text(dump_yaml_list(snap), encoding="utf-8")
    return p


def test_cli_show_diff_import(tmp_path: Path) -> None:
    runner = CliRunner()
    old, new = _write(tmp_path, OLD, "old.yaml"), _write(tmp_path, NEW, "new.yaml")
    shown = runner.invoke(lists_app, ["show"])
    assert shown.exit_code == 0, shown.output
    summary = json.loads(shown.output)
    assert summary["id"] == "entity_list" and summary["entries"] >= 80 and len(summary["sha256"]) == 64
    diff = runner.invoke(lists_app, ["diff", str(old), str(new)])
    assert diff.exit_code == 0
    assert json.loads(diff.output)["added"] == ["entity_list/e3"]
    out = tmp_path / "copy.yaml"
    imported = runner.invoke(lists_app, ["import", str(new), "-o", str(out)])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["sha256"] == NEW.sha256
    assert out.exists()


def test_cli_bad_input_exits_2_with_file_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nentries:\n  - id: e1\n    name: A\n    colour: red\n", encoding="utf-8")
    result = CliRunner().invoke(lists_app, ["show", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == f"{bad}:3: unknown entry key(s): colour"


def test_cli_rescreen(tmp_path: Path) -> None:
    import typer

    from compliance.cli.lists_cmd import rescreen as rescreen_cmd

    app = typer.Typer()
    app.command("rescreen")(rescreen_cmd)
    app.command("noop")(lambda: None)
    old, new = _write(tmp_path, OLD, "old.yaml"), _write(tmp_path, NEW, "new.yaml")
    stored = tmp_path / "parties.jsonl"
    stored.write_text(
        json.dumps({"id": "c", "name": "Kestrel Microelectronics Limited", "roles": ["purchaser"], "country": "HK"})
        + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["rescreen", "--since", str(old), "--lists", str(new), "--parties", str(stored), "--as-of", "2026-11-23"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [a["party_id"] for a in data["affected"]] == ["c"]
