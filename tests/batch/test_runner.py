"""The batch runner: nothing lost, input order, same result for any worker count, crashes, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_support import RULESET, canonical, transactions, write_jsonl

from compliance.batch import BatchError, BatchOptions, EngineSpec, screen_batch
from compliance.batch.testing import ABORT_MARKER, ABORT_ONCE_MARKER, CRASH_DIR_ENV, SLOW_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_counts_in_equal_out_plus_errors_in_input_order(tmp_path: Path, spec: EngineSpec) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", transactions(120), broken=(3, 77))
    summary = screen_batch([source], tmp_path / "out.jsonl", spec, BatchOptions(workers=0, chunk_size=25))
    out = canonical(tmp_path / "out.jsonl")
    assert summary.records_in == len(out) == 120
    assert summary.records_in == summary.determinations + summary.error_count
    assert summary.errors == {"input": 2 + 3}  # two broken lines, three bad country codes (i % 41 == 5)
    assert out[3]["outcome"] == "error" and "invalid JSON" in out[3]["error"] and "in.jsonl:4" in out[3]["error"]
    assert [d["transaction_id"] for d in out if d["outcome"] != "error"] == [
        t["id"] for i, t in enumerate(transactions(120)) if i not in (3, 77) and t["destination"] != "XX"
    ]
    index = [json.loads(line) for line in (tmp_path / "out.index.jsonl").read_text().splitlines()]
    assert [e["record"] for e in index] == list(range(1, 121))
    assert index[3]["error"] == "input" and index[3]["source"].endswith("in.jsonl:4")
    assert not (tmp_path / "out.checkpoint.json").exists()


def test_the_ledger_sees_the_batch_in_date_order_whatever_the_worker_count(tmp_path: Path, spec: EngineSpec) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", transactions(300))
    inline = screen_batch([source], tmp_path / "w0.jsonl", spec, BatchOptions(workers=0, chunk_size=40))
    two = screen_batch([source], tmp_path / "w2.jsonl", spec, BatchOptions(workers=2, chunk_size=40))
    assert inline.ledger_pass and two.workers == 2
    assert canonical(tmp_path / "w0.jsonl") == canonical(tmp_path / "w2.jsonl")
    # the cumulative allowance fires only once a consignee's earlier (by date) shipments add up
    fired = [d for d in canonical(tmp_path / "w0.jsonl") if any(f["rule_id"] == "T-LPP" for f in d["findings"])]
    assert 0 < len(fired) < 300
    note = next(
        p["detail"]
        for f in fired[0]["findings"]
        if f["rule_id"] == "T-LPP"
        for fact in f["facts"]
        for p in fact["provenance"]
        if p["source"] == "ledger"
    )
    assert "TPP earlier in 2025 to consignee" in note


def test_opening_balances_from_a_ledger_file_count(tmp_path: Path, spec: EngineSpec) -> None:
    txn = transactions(1)[0] | {"destination": "DE", "items": [{"id": "i1", "model": "L40S", "quantity": 1}]}
    txn["parties"][0]["country"] = "DE"
    source = write_jsonl(tmp_path / "in.jsonl", [txn])
    key = f"{txn['parties'][0]['name'].casefold()}|DE"
    (tmp_path / "ledger.yaml").write_text(f'consignee:\n  2025: {{"{key}": 5000000}}\n', encoding="utf-8")
    without = screen_batch([source], tmp_path / "a.jsonl", spec, BatchOptions(workers=0))
    with_ledger = screen_batch(
        [source], tmp_path / "b.jsonl", spec, BatchOptions(workers=0, ledger=tmp_path / "ledger.yaml")
    )
    assert without.records_in == with_ledger.records_in == 1
    rules = [{f["rule_id"] for f in canonical(tmp_path / name)[0]["findings"]} for name in ("a.jsonl", "b.jsonl")]
    assert "T-LPP" not in rules[0] and "T-LPP" in rules[1]


def test_a_worker_crash_is_retried_and_a_row_that_crashes_again_is_an_error_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marked = {10: ABORT_ONCE_MARKER.decode(), 33: ABORT_MARKER.decode()}
    source = write_jsonl(tmp_path / "in.jsonl", transactions(60, markers=marked))
    monkeypatch.setenv(CRASH_DIR_ENV, str(tmp_path))
    spec = EngineSpec(ruleset=RULESET, screening="none", hook="compliance.batch.testing:abort_if_marked")
    summary = screen_batch([source], tmp_path / "out.jsonl", spec, BatchOptions(workers=2, chunk_size=8))
    out = canonical(tmp_path / "out.jsonl")
    assert len(out) == summary.records_in == 60
    assert summary.errors.get("crash") == 1
    assert summary.worker_restarts >= 3  # once for T00010, at least twice for T00033
    crashed = out[33]
    assert crashed["outcome"] == "error" and crashed["transaction_id"] == "T00033"
    assert "SIGABRT" in crashed["error"] and "in.jsonl:34" in crashed["error"]
    assert out[10]["outcome"] != "error"  # crashed once, succeeded on retry
    reference = screen_batch(
        [source], tmp_path / "ref.jsonl", EngineSpec(ruleset=RULESET, screening="none"), BatchOptions(workers=0)
    )
    assert reference.error_count == summary.error_count - 1
    assert [d for i, d in enumerate(out) if i != 33] == [
        d for i, d in enumerate(canonical(tmp_path / "ref.jsonl")) if i != 33
    ]


_RUN = """
import sys
from pathlib import Path
from compliance.batch import BatchOptions, EngineSpec, screen_batch
if __name__ == "__main__":
    if sys.argv[4:] == ["stream"]:
        from compliance.batch import runner

        runner.EARLY_LAUNCH_BYTES = 1  # the streamed path: workers take chunks while the input is read
    spec = EngineSpec(ruleset=sys.argv[1], screening="none", hook="compliance.batch.testing:slow")
    screen_batch([Path(sys.argv[2])], Path(sys.argv[3]), spec, BatchOptions(workers=1, chunk_size=20, progress=False))
"""


@pytest.mark.parametrize(
    ("ruleset", "mode"),
    [(RULESET, "whole"), ("us-ear", "stream")],
    ids=["read-then-screen (a ledger ruleset)", "screened-while-read"],
)
def test_a_killed_run_resumes_without_duplicates_or_gaps(tmp_path: Path, ruleset: str, mode: str) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", transactions(240), broken=(50,))
    out = tmp_path / "out.jsonl"
    script = tmp_path / "run.py"
    script.write_text(_RUN, encoding="utf-8")
    env = {**os.environ, SLOW_ENV: "0.01", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), ruleset, str(source), str(out), mode], env=env, start_new_session=True
    )
    checkpoint = tmp_path / "out.checkpoint.json"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if checkpoint.exists() and json.loads(checkpoint.read_text()).get("chunks_done", 0) >= 3:
                break
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within 60 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker, as a power cut would
        proc.wait()
    done = json.loads(checkpoint.read_text())["records_done"]
    assert 0 < done < 240
    with out.open("ab") as handle:  # a chunk half-written after the last checkpoint
        handle.write(b'{"transaction_id": "torn')
    spec = EngineSpec(ruleset=ruleset, screening="none")
    resumed = screen_batch([source], out, spec, BatchOptions(workers=1, chunk_size=20, resume=True))
    assert resumed.resumed_at == done
    assert resumed.records_in == resumed.determinations + resumed.error_count == 240
    reference = screen_batch([source], tmp_path / "ref.jsonl", spec, BatchOptions(workers=0, chunk_size=20))
    assert canonical(out) == canonical(tmp_path / "ref.jsonl")
    assert (resumed.outcomes, resumed.errors) == (reference.outcomes, reference.errors)
    assert (tmp_path / "out.index.jsonl").read_text() == (tmp_path / "ref.index.jsonl").read_text()


def test_resume_refuses_a_changed_input(tmp_path: Path, spec: EngineSpec) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", transactions(30))
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / "out.checkpoint.json"
    checkpoint.write_text(json.dumps({"version": 1, "fingerprint": "other"}), encoding="utf-8")
    with pytest.raises(BatchError, match="changed since this checkpoint"):
        screen_batch([source], out, spec, BatchOptions(workers=0, resume=True))


def test_csv_and_parquet_outputs_have_one_row_per_finding(tmp_path: Path) -> None:
    import csv

    source = write_jsonl(tmp_path / "in.jsonl", transactions(40))
    spec = EngineSpec(ruleset=RULESET, screening="none", output="csv")
    screen_batch([source], tmp_path / "out.csv", spec, BatchOptions(workers=0, chunk_size=15))
    jsonl = screen_batch(
        [source], tmp_path / "out.jsonl", EngineSpec(ruleset=RULESET, screening="none"), BatchOptions(workers=0)
    )
    dets = canonical(tmp_path / "out.jsonl")
    with (tmp_path / "out.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == sum(max(1, len(d["findings"])) for d in dets)
    assert {r["record"] for r in rows} == {str(i) for i in range(1, jsonl.records_in + 1)}
    first = next(r for r in rows if r["finding_rule_id"])
    assert first["finding_citations"] and first["finding_because"]
    pytest.importorskip("pyarrow", reason="the parquet extra (pyarrow) is not installed")
    import pyarrow.parquet as pq

    spec = EngineSpec(ruleset=RULESET, screening="none", output="parquet")
    screen_batch([source], tmp_path / "out.parquet", spec, BatchOptions(workers=0, chunk_size=15))
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == len(rows)
    assert table.column("finding_rule_id").to_pylist() == [r["finding_rule_id"] for r in rows]
    assert not (tmp_path / "out.parquet.parts").exists()


def test_a_large_input_launches_its_workers_before_reading_with_the_same_output(
    tmp_path: Path, spec: EngineSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers launched before the input is read (large inputs) give exactly the inline run's output."""
    from compliance.batch import runner

    launched: list[int] = []
    real = runner.WorkerPool.launch

    def spy(pool: runner.WorkerPool) -> None:
        launched.append(pool.size)
        real(pool)

    monkeypatch.setattr(runner.WorkerPool, "launch", spy)
    monkeypatch.setattr(runner, "EARLY_LAUNCH_BYTES", 1)
    source = write_jsonl(tmp_path / "in.jsonl", transactions(90))
    inline = screen_batch([source], tmp_path / "w0.jsonl", spec, BatchOptions(workers=0, chunk_size=30))
    assert not launched
    two = screen_batch([source], tmp_path / "w2.jsonl", spec, BatchOptions(workers=2, chunk_size=30))
    assert launched[0] == 2 and two.workers == 2
    assert canonical(tmp_path / "w0.jsonl") == canonical(tmp_path / "w2.jsonl")
    assert inline.records_in == two.records_in == 90


def test_an_unreadable_input_closes_the_workers_launched_for_it(
    tmp_path: Path, spec: EngineSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compliance.batch import runner

    pools: list[runner.WorkerPool] = []
    real = runner.WorkerPool.launch

    def spy(pool: runner.WorkerPool) -> None:
        pools.append(pool)
        real(pool)

    def unreadable(*_: object, **__: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(runner.WorkerPool, "launch", spy)
    monkeypatch.setattr(runner, "EARLY_LAUNCH_BYTES", 1)
    monkeypatch.setattr(runner, "read_inputs", unreadable)
    monkeypatch.setattr(runner, "stream_inputs", unreadable)
    source = write_jsonl(tmp_path / "in.jsonl", transactions(5))
    with pytest.raises(OSError, match="disk went away"):
        screen_batch([source], tmp_path / "out.jsonl", spec, BatchOptions(workers=2))
    assert pools and not pools[0]._workers  # closed: no worker process left behind


def test_an_empty_list_of_screening_files_is_refused_where_the_spec_is_built() -> None:
    with pytest.raises(ValueError, match=r"'default' .* or 'none'"):
        EngineSpec(screening=())
    assert EngineSpec(screening="none").screening == "none"
