"""Reload soak: engines built, used, reloaded and dropped, with durable_rules' C rulesets deleted or kept.

Run from the repository root::

    .venv/bin/python benchmarks/reload_soak.py                   # 300 cycles per mode, both modes
    .venv/bin/python benchmarks/reload_soak.py --cycles 60       # a quick look

A cycle builds an ``Engine`` on the baseline ruleset (no screening: the C rulesets are what is measured),
evaluates the fixture transactions, reloads onto one of the scenario overlays (a new compilation), evaluates
them again and drops the engine: what a policy author's test run or a service that reloads drafts does. Two
fresh processes run the same cycles side by side, alternating: one as the engine is (a backend nobody holds
any more has its C rulesets deleted by ``release_retired``) and one with durable_rules' ``delete_ruleset`` made
a no-op (C rulesets kept for the life of the process, as before 2026-12-05). Each samples resident memory (``VmRSS``)
every ``--sample-every`` cycles and checks that every determination equals the first cycle's and none is an
``error``. Results go to ``benchmarks/results/reload-soak.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from soak import rss_bytes, run_header  # noqa: E402

MODES = ("delete", "keep")


def run_mode(mode: str, cycles: int, sample_every: int) -> dict[str, Any]:
    """The cycles in this process; ``keep`` disables the deletion of C rulesets."""
    import durable_rules_engine

    from compliance.engine import Engine
    from compliance.engine.backends import release_retired
    from compliance.model import Outcome, Transaction
    from compliance.rulesets.loader import load_ruleset

    # The C core's own function is replaced (the engine's modules may be compiled, and a compiled module calls
    # its functions directly): counted when deleting, a no-op when keeping.
    deleted = 0
    real_delete = durable_rules_engine.delete_ruleset

    def counted_delete(handle: int) -> Any:
        nonlocal deleted
        deleted += 1
        return real_delete(handle)

    durable_rules_engine.delete_ruleset = counted_delete if mode == "delete" else (lambda handle: None)

    overlays = sorted(p.stem for p in (ROOT / "rulesets" / "scenarios").glob("*.yaml"))
    baseline = load_ruleset("us-ear")
    drafts = [load_ruleset("us-ear", [o]) for o in overlays]
    paths = sorted((ROOT / "fixtures" / "transactions").rglob("*.json"))
    transactions = [Transaction.model_validate_json(p.read_text(encoding="utf-8")) for p in paths]

    expected: dict[str, list[str]] = {}
    mismatches = errors = 0
    samples: list[dict[str, Any]] = []
    started = time.perf_counter()
    for cycle in range(1, cycles + 1):
        engine = Engine(baseline, screener=None)
        for ruleset in (baseline, drafts[cycle % len(drafts)]):
            if ruleset is not baseline:
                engine.reload(ruleset)
            out = [engine.evaluate(t) for t in transactions]
            errors += sum(d.outcome is Outcome.error for d in out)
            texts = [d.canonical_json() for d in out]
            mismatches += expected.setdefault(ruleset.sha256, texts) != texts
        del engine, out
        if cycle % sample_every == 0 or cycle == 1:
            gc.collect()
            samples.append(
                {
                    "cycles": cycle,
                    "rss_mb": round(rss_bytes() / 2**20, 1),
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
    gc.collect()
    release_retired()
    return {
        "mode": mode,
        "cycles": cycles,
        "transactions_per_evaluation_pass": len(transactions),
        "rss_samples": samples,
        "rss_first_cycle_mb": samples[0]["rss_mb"],
        "rss_last_mb": samples[-1]["rss_mb"],
        "seconds": round(time.perf_counter() - started, 1),
        "c_rulesets_deleted": deleted,
        "determinations_differing_from_first_cycle": mismatches,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one mode, in this process
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reload-soak.json")
    args = parser.parse_args(argv)
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.cycles, args.sample_every)), flush=True)
        return 0

    runs: dict[str, dict[str, Any]] = {}
    every = args.sample_every
    for mode in MODES:
        print(f"{mode}: {args.cycles} cycles ...", flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--cycles", str(args.cycles), "--sample-every", str(every)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        runs[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = runs[mode]
        print(
            f"  RSS {r['rss_first_cycle_mb']} → {r['rss_last_mb']} MB in {r['seconds']} s; "
            f"C rulesets deleted {r['c_rulesets_deleted']}; "
            f"differing {r['determinations_differing_from_first_cycle']}, errors {r['errors']}",
            flush=True,
        )
    delete, keep = runs["delete"], runs["keep"]
    result = {
        **run_header("reload-soak"),
        "runs": runs,
        "rss_growth_mb": {mode: round(r["rss_last_mb"] - r["rss_first_cycle_mb"], 1) for mode, r in runs.items()},
        "passed": all(r["errors"] == 0 and r["determinations_differing_from_first_cycle"] == 0 for r in runs.values())
        and delete["rss_last_mb"] < keep["rss_last_mb"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"growth: {result['rss_growth_mb']} → {args.out}", flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
