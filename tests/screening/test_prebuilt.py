"""Screeners kept on disk (compliance.screening.prebuilt): the same answers, rebuilt whenever in doubt."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from compliance.screening import prebuilt
from compliance.screening.lists import ListSnapshot
from compliance.screening.prebuilt import PrebuiltWarning, screener_for, screener_key
from compliance.screening.screener import Screener, load_default_snapshot


@pytest.fixture(scope="module")
def snapshot() -> ListSnapshot:
    return load_default_snapshot()


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the screeners built (not loaded) from now on."""
    built: list[int] = []
    real = Screener.__init__

    def counting(self: Screener, *args: object, **kwargs: object) -> None:
        built.append(1)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Screener, "__init__", counting)
    return built


def test_the_second_screener_for_the_same_lists_is_read_back_and_answers_the_same(
    tmp_path: Path, snapshot: ListSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _builds(monkeypatch)
    first = screener_for([snapshot], tmp_path)
    second = screener_for([snapshot], tmp_path)
    assert len(built) == 1
    kept = list((tmp_path / "screeners").glob("*.pickle"))
    assert [p.name for p in kept] == [f"{screener_key([snapshot])}.pickle"]
    assert (tmp_path / "screeners").stat().st_mode & 0o777 == 0o700
    for name in ("Huawei Technologies Co., Ltd.", "HUAWEI TECHNOLOGIES", "Inspur Group", "Acme Widgets GmbH"):
        a, b = first.match_name(name), second.match_name(name)
        assert [(m.entry.entry_id, m.score, m.matched_name) for m in a] == [
            (m.entry.entry_id, m.score, m.matched_name) for m in b
        ]
    assert second.list_refs() == first.list_refs()
    assert first.match_name("Huawei Technologies Co., Ltd.")  # the comparison above is not of two empty lists


def test_other_list_content_is_another_key(snapshot: ListSnapshot) -> None:
    fewer = ListSnapshot(
        list_id=snapshot.list_id,
        source=snapshot.source,
        snapshot_date=snapshot.snapshot_date,
        entries=snapshot.entries[:-1],
    )
    assert screener_key([fewer]) != screener_key([snapshot])
    assert screener_key([snapshot, fewer]) != screener_key([fewer, snapshot])


def test_a_file_others_may_write_or_a_broken_file_is_ignored_and_rebuilt(
    tmp_path: Path, snapshot: ListSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    screener_for([snapshot], tmp_path)
    path = tmp_path / "screeners" / f"{screener_key([snapshot])}.pickle"
    built = _builds(monkeypatch)
    path.chmod(0o666)
    with pytest.warns(PrebuiltWarning, match="writable by others"):
        screener_for([snapshot], tmp_path)
    assert len(built) == 1
    path.chmod(0o600)
    path.write_bytes(pickle.dumps({"not": "a screener"})[:10])
    with pytest.warns(PrebuiltWarning, match="could not be read"):
        again = screener_for([snapshot], tmp_path)
    assert len(built) == 2 and again.match_name("Inspur Group")
    assert isinstance(pickle.loads(path.read_bytes()), Screener)  # the broken file was replaced


def test_the_cache_can_be_turned_off_and_pruned(
    tmp_path: Path, snapshot: ListSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(prebuilt.CACHE_ENV, "off")
    assert prebuilt.cache_dir() is None
    screener_for([snapshot])
    monkeypatch.setenv(prebuilt.CACHE_ENV, str(tmp_path))
    assert prebuilt.cache_dir() == tmp_path
    folder = tmp_path / "screeners"
    folder.mkdir(mode=0o700)
    for i in range(prebuilt.KEEP + 2):
        old = folder / f"{i:064x}.pickle"
        old.write_bytes(b"")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    screener_for([snapshot])
    left = sorted(p.name for p in folder.glob("*.pickle"))
    assert len(left) == prebuilt.KEEP
    assert f"{screener_key([snapshot])}.pickle" in left
    assert f"{0:064x}.pickle" not in left and f"{1:064x}.pickle" not in left


def test_compliance_lists_cache_shows_and_clears_the_kept_screeners(
    tmp_path: Path, snapshot: ListSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from compliance.cli.lists_cmd import lists_app

    monkeypatch.setenv(prebuilt.CACHE_ENV, str(tmp_path))
    screener_for([snapshot])
    shown = json.loads(CliRunner().invoke(lists_app, ["cache"]).output)
    assert shown["directory"] == str(tmp_path / "screeners") and shown["enabled"] is True
    assert [Path(f["file"]).name for f in shown["files"]] == [f"{screener_key([snapshot])}.pickle"]
    assert shown["bytes"] == shown["files"][0]["bytes"] > 0
    cleared = json.loads(CliRunner().invoke(lists_app, ["cache", "--clear"]).output)
    assert cleared["removed"] == 1 and cleared["files"] == [] and cleared["bytes"] == 0
    assert not list((tmp_path / "screeners").iterdir())
