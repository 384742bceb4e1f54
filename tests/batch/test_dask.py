"""Dask: the same partitions screened on a LocalCluster with two worker processes equal the local run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from batch_support import RULESET, canonical, transactions, write_jsonl

from compliance.batch import BatchOptions, EngineSpec, screen_batch

pytest.importorskip("distributed", reason="the dask extra (dask[dataframe], distributed) is not installed")
pytest.importorskip("dask.dataframe", reason="the dask extra (dask[dataframe]) is not installed")


def test_dask_files_and_dataframe_equal_the_local_run(tmp_path: Path) -> None:
    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    from compliance.batch.dask import screen_dask

    txns = transactions(160)
    first = write_jsonl(tmp_path / "a.jsonl", txns[:90], broken=(7,))
    second = write_jsonl(tmp_path / "b.jsonl", txns[90:])
    spec = EngineSpec(ruleset=RULESET, screening="none")
    local = screen_batch([first, second], tmp_path / "local.jsonl", spec, BatchOptions(workers=0))
    rows = [
        {
            "transaction_id": t["id"],
            "date": t["date"],
            "kind": t["kind"],
            "export_from": t["export_from"],
            "destination": t["destination"],
            "end_use": t["end_use"],
            "item_model": t["items"][0]["model"],
            "item_quantity": t["items"][0]["quantity"],
            "purchaser_name": t["parties"][0]["name"],
            "purchaser_country": t["parties"][0]["country"],
        }
        for t in txns
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "flat.csv", index=False)
    local_flat = screen_batch([tmp_path / "flat.csv"], tmp_path / "local-flat.jsonl", spec, BatchOptions(workers=0))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        remote = screen_dask([first, second], tmp_path / "dask.jsonl", spec, scheduler=client)
        df = dd.from_pandas(frame, npartitions=3)
        remote_df = screen_dask(df, tmp_path / "dask-df.jsonl", spec, scheduler=client)
    assert remote.ledger_pass and remote.records_in == local.records_in == 160
    assert (remote.outcomes, remote.errors) == (local.outcomes, local.errors)
    assert canonical(tmp_path / "dask.jsonl") == canonical(tmp_path / "local.jsonl")
    assert (tmp_path / "dask.index.jsonl").read_text() == (tmp_path / "local.index.jsonl").read_text()
    # a DataFrame's rows are located by partition ("partition-0:7"), a file's by file and line
    assert remote_df.records_in == local_flat.records_in == 160
    assert _unlocated(canonical(tmp_path / "dask-df.jsonl")) == _unlocated(canonical(tmp_path / "local-flat.jsonl"))


def _unlocated(dets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d | {"error": d["error"].split(": ", 1)[1]} if d["error"] else d for d in dets]
