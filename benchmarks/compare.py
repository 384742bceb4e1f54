"""Engine latency (or name-screening throughput) of two code revisions, measured side by side in one run.

Machines here differ by up to 2x from one day to the next, and a shared VM drifts within an hour, so a
change is judged by running the old and the new code alternately, in fresh processes, on the same
transactions (the 50-rule ruleset and transaction generator of ``benchmarks/engine.py``):

    python benchmarks/compare.py --base 7cb67f4            # base revision vs the working tree
    python benchmarks/compare.py --base v1 --head v2 --runs 6

Each run evaluates ``--n`` transactions after a 500-transaction warm-up and reports its median and mean
``Engine.evaluate`` latency; the summary is the median over runs and the ratio head/base. With ``--screening``
each run instead makes ``benchmarks/screening.py``'s cold name-screening pass (its 2,000 queries against the 2022
CSL and the 2026 Entity List, the whole-query memo off, the token cache empty) with the revision's library and
this checkout's benchmark code, and reports CPU µs per query (``--n`` unused). The base (and a
head given as a revision) is checked out in a temporary git worktree and imported from there, with this
environment's packages; a checkout runs its pure-Python modules unless ``--compiled`` builds it
(docs/engine.md, "The compiled build"), and each revision's label says whether it ran compiled. Writes
benchmarks/results/compare-engine.json (compare-screening.json) and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def measure(root: Path, n: int) -> dict[str, float]:
    """One run, in this process, of the code under ``root`` (called in a child process)."""
    import gc
    import time

    sys.path[:0] = [str(root), str(root / "benchmarks")]
    import engine as bench  # the revision's own benchmarks/engine.py

    from compliance import Engine, load_ruleset

    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "bench.yaml"
        bench.benchmark_overlay(overlay)
        ruleset = load_ruleset("us-ear", [*bench.OVERLAYS, overlay])
    txns = bench.make_transactions(n)
    engine = Engine(ruleset, backend="durable", **bench._screening())
    for t in txns[:500]:
        engine.evaluate(t)
    gc.collect()
    lat: list[int] = []
    for t in txns:
        start = time.perf_counter_ns()
        engine.evaluate(t)
        lat.append(time.perf_counter_ns() - start)
    return {"median_us": statistics.median(lat) / 1000, "mean_us": statistics.fmean(lat) / 1000}


def measure_screening(root: Path) -> dict[str, float]:
    """``benchmarks/screening.py``'s cold pass, in this process, with the code under ``root``."""
    import gc
    import importlib
    import random
    import time

    sys.path[:0] = [str(root), str(ROOT / "benchmarks")]
    # the revision's library, this checkout's benchmark (both revisions get the same queries by construction):
    # the library is imported first, so the benchmark's own ``sys.path`` entry for this checkout comes too late
    compliance = importlib.import_module("compliance")
    bench = importlib.import_module("screening")
    from compliance.screening import Screener, import_csl, import_restricted_parties_json

    assert Path(str(compliance.__file__)).resolve().is_relative_to(root.resolve()), compliance.__file__

    screener = Screener(
        [
            import_csl(bench.SHARED / "csl/consolidated.csv.gz", lists=None),
            import_restricted_parties_json(bench.SHARED / "bis_entity_list/restricted_parties.json"),
        ]
    )
    queries = bench.query_mix(screener, random.Random(bench.SEED)).queries
    screener.memo_size = 0
    gc.collect()
    start = time.process_time()
    hits = sum(len(screener.match_name(q, threshold=bench.REVIEW_THRESHOLD)) for q in queries)
    cpu = time.process_time() - start
    return {"median_us": cpu / len(queries) * 1e6, "mean_us": cpu / len(queries) * 1e6, "hits": hits}


def _checkout(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(into), rev],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return into


def _child(root: Path, n: int, screening: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(root), "--n", str(n), *(["--screening"] if screening else [])],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if out.returncode:
        sys.exit(f"the run of {root} failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _revision(root: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"], check=False, capture_output=True, text=True
    )
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _compiled(root: Path) -> bool:
    """Whether the tree under ``root`` holds a compiled build (compliance.native's runtime library)."""
    return any((root / "compliance").glob("_native__mypyc*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="HEAD", help="git revision of the old code (default HEAD)")
    parser.add_argument("--head", default=None, help="git revision of the new code (default: the working tree)")
    parser.add_argument("--runs", type=int, default=4, help="runs of each, alternating")
    parser.add_argument("--n", type=int, default=4000, help="measured evaluations per run")
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="compile the checked-out revisions too (compliance/native.py build; the working tree is measured as "
        "it is): without it they run their pure-Python modules",
    )
    parser.add_argument(
        "--screening", action="store_true", help="compare cold name-screening CPU per query instead of the engine"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure_screening(args.child) if args.screening else measure(args.child, args.n)))
        return 0
    what = "screening" if args.screening else "engine"
    output: Path = args.output or ROOT / "benchmarks" / "results" / f"compare-{what}.json"
    worktrees: list[Path] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = _checkout(args.base, Path(tmp) / "base")
            worktrees.append(base)
            head = ROOT
            if args.head is not None:
                head = _checkout(args.head, Path(tmp) / "head")
                worktrees.append(head)
            roots = {"base": base, "head": head}
            if args.compiled:
                for tree in worktrees:
                    if (tree / "compliance" / "native.py").exists():
                        subprocess.run([sys.executable, str(tree / "compliance" / "native.py"), "build"], check=True)
            labels = {name: _revision(root) + (" compiled" if _compiled(root) else "") for name, root in roots.items()}
            runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
            for i in range(args.runs):
                for name in ("base", "head") if i % 2 == 0 else ("head", "base"):
                    runs[name].append(_child(roots[name], args.n, args.screening))
                    unit = "CPU µs per query" if args.screening else "µs median"
                    print(f"run {i + 1} {name}: {runs[name][-1]['median_us']:.1f} {unit}", file=sys.stderr)
    finally:
        for path in worktrees:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                check=False,
                stdout=subprocess.DEVNULL,
            )
    summary: dict[str, Any] = {
        "benchmark": f"{what}, two revisions side by side",
        "date": dt.date.today().isoformat(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "runs_each": args.runs,
    }
    if args.screening:
        summary["measure"] = (
            "CPU µs per query over benchmarks/screening.py's cold pass (2,000 queries, memo off, empty token cache); "
            "median_us and mean_us are the same figure"
        )
    else:
        summary["evaluations_per_run"] = args.n
    for name in ("base", "head"):
        medians = [r["median_us"] for r in runs[name]]
        summary[name] = {
            "revision": labels[name],
            "median_us_per_run": [round(m, 1) for m in medians],
            "median_us": round(statistics.median(medians), 1),
            "mean_us": round(statistics.median(r["mean_us"] for r in runs[name]), 1),
        }
        if args.screening:
            summary[name]["hits"] = sorted({int(r["hits"]) for r in runs[name]})
            summary[name]["queries_per_second"] = round(1e6 / summary[name]["median_us"], 1)
    summary["head_vs_base_median"] = round(summary["head"]["median_us"] / summary["base"]["median_us"], 3)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
