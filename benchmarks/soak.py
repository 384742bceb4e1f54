"""Soak test: one million evaluations in one process, resident memory sampled every 100,000.

Run from the repository root::

    .venv/bin/python benchmarks/soak.py                      # 1,000,000 evaluations (several minutes)
    .venv/bin/python benchmarks/soak.py --evaluations 200000 --sample-every 20000   # a quick look

The engine is built once (reliability test ruleset, embedded test list, default chip classifier) and fed
transactions drawn from a pool of distinct random transactions, each evaluation under a fresh transaction id
so nothing keyed by id can be reused. Resident memory (``VmRSS`` from /proc) is sampled after every
``--sample-every`` evaluations; the first sample is the end of warm-up (caches full, allocator settled),
and growth is the largest later sample relative to it. The run fails (exit 1) if growth reaches 5 %.
Results go to ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "reliability" / "data"
GROWTH_LIMIT = 0.05

DESTINATIONS = ["CN", "HK", "MO", "JP", "DE", "AE", "SG", "IN", "NI", "US", "RU", "BR"]
MODELS = [("H200 SXM", "NVIDIA"), ("H20", "NVIDIA"), ("MI300X", "AMD"), ("Gaudi 3", "Intel"), ("RTX 4090", "NVIDIA")]
NAMES = ["Sinotest Computing Co Ltd", "Acme Cloud", "Northwind GPU Leasing", "Vostok Microsystems", "Kyoto Compute KK"]


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; falls back to peak RSS elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def random_transaction(rng: random.Random, n: int) -> dict[str, Any]:
    parties = []
    for p in range(rng.randint(1, 4)):
        parties.append(
            {
                "id": f"p{p}",
                "name": rng.choice(NAMES) + ("" if rng.random() < 0.5 else f" {rng.randint(1, 999)}"),
                "roles": [rng.choice(["purchaser", "ultimate_consignee", "end_user", "lessor", "lessee"])],
                "country": rng.choice(DESTINATIONS),
                "headquarters": rng.choice(DESTINATIONS),
            }
        )
    items = []
    for i in range(rng.randint(1, 3)):
        model, maker = rng.choice(MODELS)
        item: dict[str, Any] = {"id": f"i{i}", "model": model, "manufacturer": maker, "quantity": rng.randint(1, 5000)}
        if rng.random() < 0.3:
            item = {
                "id": f"i{i}",
                "quantity": rng.randint(1, 5000),
                "specs": {"tpp": rng.choice([1200.0, 4800.0, 15832.0, 2.5e4]), "die_area_mm2": 814.0},
            }
        items.append(item)
    txn: dict[str, Any] = {
        "id": f"T{n}",
        "date": (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 900))).isoformat(),
        "kind": rng.choice(["sale", "lease", "service"]),
        "export_from": "US",
        "destination": rng.choice(DESTINATIONS),
        "parties": parties,
        "items": items,
    }
    if len(parties) >= 2 and rng.random() < 0.3:
        txn["remote_access"] = [{"lessee": "p0", "lessor": "p1"}]
    return txn


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def run_header(benchmark: str) -> dict[str, Any]:
    """What every soak result starts with: the benchmark, when, on which commit and machine."""
    return {
        "benchmark": benchmark,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument("--sample-every", type=int, default=100_000)
    parser.add_argument("--pool", type=int, default=5_000, help="distinct random transactions cycled through")
    parser.add_argument("--no-screening", action="store_true", help="leave party screening out")
    parser.add_argument("--backend", choices=["durable", "python"], default="durable")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)

    from compliance.engine import Engine
    from compliance.model import Outcome, Transaction
    from compliance.rulesets.loader import load_ruleset
    from compliance.screening.lists import load_yaml_list
    from compliance.screening.screener import Screener

    rng = random.Random(args.seed)
    ruleset = load_ruleset(DATA / "ruleset.yaml")
    screener = None if args.no_screening else Screener([load_yaml_list(DATA / "entity_list.yaml")])
    engine = Engine(ruleset, backend=args.backend, screener=screener)
    pool = [Transaction.model_validate(random_transaction(rng, n)) for n in range(args.pool)]

    samples: list[dict[str, Any]] = [{"evaluations": 0, "rss_mb": round(rss_bytes() / 2**20, 2), "seconds": 0.0}]
    outcomes: dict[str, int] = {}
    started = time.perf_counter()
    segment_start = started
    for n in range(1, args.evaluations + 1):
        txn = pool[n % len(pool)].model_copy(update={"id": f"S{n}"})
        det = engine.evaluate(txn)
        outcomes[det.outcome.value] = outcomes.get(det.outcome.value, 0) + 1
        if n % args.sample_every == 0:
            gc.collect()
            now = time.perf_counter()
            samples.append(
                {
                    "evaluations": n,
                    "rss_mb": round(rss_bytes() / 2**20, 2),
                    "seconds": round(now - started, 1),
                    "segment_evals_per_s": round(args.sample_every / (now - segment_start)),
                }
            )
            segment_start = now
            print(json.dumps(samples[-1]), flush=True)
    elapsed = time.perf_counter() - started

    warm = samples[1]["rss_mb"] if len(samples) > 1 else samples[0]["rss_mb"]
    later = [s["rss_mb"] for s in samples[2:]] or [warm]
    growth = (max(later) - warm) / warm
    result = {
        **run_header("soak"),
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "backend": args.backend,
        "screening": not args.no_screening,
        "ruleset": {"id": ruleset.id, "version": ruleset.version, "rules": len(ruleset.rules)},
        "pool": args.pool,
        "evaluations": args.evaluations,
        "seconds": round(elapsed, 1),
        "evaluations_per_s": round(args.evaluations / elapsed),
        "mean_us": round(elapsed / args.evaluations * 1e6, 1),
        "outcomes": dict(sorted(outcomes.items())),
        "warm_up_evaluations": args.sample_every,
        "rss_samples": samples,
        "rss_after_warm_up_mb": warm,
        "rss_max_after_warm_up_mb": max(later),
        "growth_after_warm_up": round(growth, 4),
        "growth_limit": GROWTH_LIMIT,
        "passed": growth < GROWTH_LIMIT and outcomes.get(Outcome.error.value, 0) == 0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{args.evaluations:,} evaluations in {elapsed:.0f} s ({result['evaluations_per_s']:,}/s); RSS after warm-up "
        f"{warm} MB, max later {max(later)} MB: growth {growth:.2%} (limit {GROWTH_LIMIT:.0%}); "
        f"errors {outcomes.get('error', 0)} → {args.out}",
        flush=True,
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
