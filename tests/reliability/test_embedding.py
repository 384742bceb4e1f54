"""Embedding: one Engine shared by threads, engines in forked and spawned processes, atomic reload().

Thread counts: the issue asks for 8 threads × 10,000 evaluations. At the ~0.5–1.5 ms an evaluation of the
test transactions takes on the CI VM that is 1–2 minutes of CPU, so the full count runs as the ``slow``
variant (still run in CI, per pyproject) and a 8 × 500 variant runs everywhere. Set
``COMPLIANCE_THREAD_EVALS`` to change the slow variant's per-thread count.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import reliability_support as rs

from compliance.engine import Engine
from compliance.model import Outcome, Transaction
from compliance.rulesets.loader import load_ruleset

POOL = rs.transactions(400, seed=11)


def _sequential(engine: Engine, txns: Sequence[Transaction]) -> dict[str, str]:
    return {t.id: engine.evaluate(t).canonical_json() for t in txns}


def _hammer(engine: Engine, expected: dict[str, str], threads: int, per_thread: int) -> list[str]:
    """Evaluate ``per_thread`` transactions in each thread; return every mismatch."""
    mismatches: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(offset: int) -> None:
        barrier.wait()
        local: list[str] = []
        for n in range(per_thread):
            txn = POOL[(offset * 37 + n) % len(POOL)]
            got = engine.evaluate(txn).canonical_json()
            if got != expected[txn.id]:
                local.append(txn.id)
        with lock:
            mismatches.extend(local)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return mismatches


@pytest.fixture(scope="module")
def shared() -> tuple[Engine, dict[str, str]]:
    engine = rs.engine()
    expected = _sequential(engine, POOL)
    assert len({v for v in expected.values()}) > 10
    assert not any('"outcome":"error"' in v for v in expected.values())
    return engine, expected


def test_threads_sharing_an_engine_match_sequential_results(shared: tuple[Engine, dict[str, str]]) -> None:
    engine, expected = shared
    assert _hammer(engine, expected, threads=8, per_thread=500) == []


@pytest.mark.slow
def test_eight_threads_times_ten_thousand_match_sequential_results(shared: tuple[Engine, dict[str, str]]) -> None:
    engine, expected = shared
    per_thread = int(os.environ.get("COMPLIANCE_THREAD_EVALS", "10000"))
    assert _hammer(engine, expected, threads=8, per_thread=per_thread) == []


# -- processes ------------------------------------------------------------------------------------

_WORKER: dict[str, Engine] = {}
"""The engine of this (worker) process: rebuilt by the spawn initializer, inherited by a fork."""


def _init_worker(ruleset_path: str) -> None:
    """Spawned workers rebuild the compiled ruleset: durable handles are process-local ints."""
    _WORKER["engine"] = rs.engine(Path(ruleset_path))


def _evaluate_chunk(chunk: list[dict[str, object]]) -> list[tuple[str, str, int]]:
    engine = _WORKER["engine"]
    return [
        (t.id, engine.evaluate(t).canonical_json(), os.getpid()) for t in (Transaction.model_validate(d) for d in chunk)
    ]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_engines_in_worker_processes_match_the_parent(shared: tuple[Engine, dict[str, str]], method: str) -> None:
    _, expected = shared
    chunks = [[t.model_dump(mode="json") for t in POOL[i : i + 50]] for i in range(0, len(POOL), 50)]
    ctx = multiprocessing.get_context(method)
    if method == "fork":
        # A fork child inherits the parent's compiled ruleset (built before the fork, as the notes require).
        _WORKER["engine"] = rs.engine()
        try:
            with ctx.Pool(2) as pool:
                results = [r for chunk in pool.map(_evaluate_chunk, chunks) for r in chunk]
        finally:
            del _WORKER["engine"]
    else:
        with ctx.Pool(2, initializer=_init_worker, initargs=(str(rs.RULESET),)) as pool:
            results = [r for chunk in pool.map(_evaluate_chunk, chunks) for r in chunk]
    assert len(results) == len(POOL)
    assert len({pid for _, _, pid in results}) >= 1
    assert {i: c for i, c, _ in results} == expected


# -- reload ---------------------------------------------------------------------------------------


def test_reload_swaps_rulesets_atomically_while_evaluations_run(tmp_path: Path) -> None:
    v1_file = rs.copy_ruleset(tmp_path / "v1")
    v2_dir = tmp_path / "v2"
    shutil.copytree(v1_file.parent, v2_dir)
    v2_file = v2_dir / "ruleset.yaml"
    text = v2_file.read_text().replace("version: 1.0.0", "version: 2.0.0", 1)
    text = text.replace(
        "outcome: license_required\n    review_policy: presumption_of_denial\n    exceptions",
        "outcome: review\n    exceptions",
        1,
    )
    v2_file.write_text(text)
    v1, v2 = load_ruleset(v1_file), load_ruleset(v2_file)
    assert v1.sha256 != v2.sha256

    txns = POOL[:120]
    expected = {
        v1.sha256: _sequential(rs.engine(v1), txns),
        v2.sha256: _sequential(rs.engine(v2), txns),
    }
    assert expected[v1.sha256] != expected[v2.sha256]

    engine = rs.engine(v1)
    stop = threading.Event()
    problems: list[str] = []
    seen: set[str] = set()

    def evaluate_forever() -> None:
        n = 0
        while not stop.is_set():
            txn = txns[n % len(txns)]
            det = engine.evaluate(txn)
            seen.add(det.ruleset.sha256)
            # Each determination must be wholly v1 or wholly v2: findings from the ruleset it names.
            if det.outcome is Outcome.error or det.canonical_json() != expected[det.ruleset.sha256][txn.id]:
                problems.append(f"{txn.id} under {det.ruleset.version}: {det.error}")
            n += 1

    workers = [threading.Thread(target=evaluate_forever) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        for i in range(20):
            engine.reload(v2 if i % 2 == 0 else v1)
        engine.reload(v2_file)  # by path, too
        engine.reload()  # re-read the current files
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert problems == []
    assert seen == {v1.sha256, v2.sha256}
    assert engine.ruleset.sha256 == v2.sha256


def test_reload_reuses_the_compilation_of_content_it_has_compiled_before(tmp_path: Path) -> None:
    """durable_rules' C rulesets are never deleted (docs/engine.md), so a service that reloads unchanged files
    on a timer must not compile them again: the engine keeps its compilations by ruleset content hash."""
    v1_file = rs.copy_ruleset(tmp_path / "v1")
    v1 = load_ruleset(v1_file)
    v2 = load_ruleset("us-ear", ["iaas-kyc-2024"])
    engine = rs.engine(v1)
    first = engine._loaded.backend
    handles = list(getattr(first, "handles", []))
    txns = POOL[:40]
    expected = _sequential(engine, txns)
    for _ in range(5):
        engine.reload()  # the same files, read again: a new Ruleset object, the same content
        assert engine._loaded.backend is first
        assert getattr(engine._loaded.backend, "handles", []) == handles
    assert _sequential(engine, txns) == expected
    engine.reload(v2)
    second = engine._loaded.backend
    assert second is not first
    engine.reload(v1_file)  # back to the first version: its compilation again
    assert engine._loaded.backend is first
    assert _sequential(engine, txns) == expected
    engine.reload(v2)
    assert engine._loaded.backend is second
