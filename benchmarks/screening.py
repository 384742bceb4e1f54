"""Screening benchmark: accuracy, recall/false positives, throughput. Writes benchmarks/results/screening.json.

Run from the project root: ``.venv/bin/python benchmarks/screening.py``. Reads ../shared/data in place.
The thresholds come from the us-ear ruleset (``compliance.load_ruleset("us-ear").screening``), never tuned here.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pickle
import random
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compliance import load_ruleset  # noqa: E402
from compliance.screening import (  # noqa: E402
    Screener,
    import_csl,
    import_restricted_parties_json,
    score_names,
)
from compliance.screening.normalize import analyze, phonetic_key  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "screening.json"
ORG = {"Company", "Organization", "LegalEntity"}
SEED = 20261123
_SCREENING = load_ruleset("us-ear").screening
MATCH_THRESHOLD: float = _SCREENING.match_threshold
REVIEW_THRESHOLD: float = _SCREENING.review_threshold
BRUTE_SAMPLE = (40, 20)
"""Brute force takes seconds per query: 40 perturbed list names and 20 clean names are checked against it."""
SCAN_QUERIES = 30
"""Queries of the reference rapidfuzz scan, before and after the index's cold pass each."""
STEADY_WARMUP = 4000
"""Perturbed list names (besides the negatives left out of the mix) a fresh screener answers before the steady pass."""
TARGET_QPS, TARGET_RECALL = 10_000.0, 0.995
COLD_REPEATS = 3
"""Cold passes per kind of bound (each on a screener built afresh); the judged figure is their median."""


def prf(pred: list[bool], truth: list[bool]) -> dict[str, float | int]:
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    fp = sum(p and not t for p, t in zip(pred, truth, strict=True))
    fn = sum(t and not p for p, t in zip(pred, truth, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(pred), "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def accuracy() -> dict[str, Any]:
    rows = list(csv.DictReader((SHARED / "name_matching/nomenklatura/logicv2-frozen.csv").open(encoding="utf-8")))
    truth = [r["is_match"] == "true" for r in rows]
    ours = [score_names(r["name1"], r["name2"]) for r in rows]
    wr = [fuzz.WRatio(r["name1"], r["name2"]) / 100.0 for r in rows]
    lv2 = [r["predicted_match"] == "true" for r in rows]
    subsets = {
        "all": list(range(len(rows))),
        "organisations": [i for i, r in enumerate(rows) if r["schema"] in ORG],
        "persons": [i for i, r in enumerate(rows) if r["schema"] == "Person"],
    }
    out: dict[str, Any] = {"pairs": len(rows), "threshold": MATCH_THRESHOLD}
    for name, idx in subsets.items():
        t = [truth[i] for i in idx]
        best = max(
            ((th / 100, prf([wr[i] >= th / 100 for i in idx], t)) for th in range(30, 101)),
            key=lambda x: x[1]["f1"],
        )
        out[name] = {
            "ours": prf([ours[i] >= MATCH_THRESHOLD for i in idx], t),
            "logic_v2": prf([lv2[i] for i in idx], t),
            "wratio_best": {**best[1], "threshold_picked_after_the_fact": best[0]},
        }
    return out


def cross_script() -> dict[str, Any]:
    rows = []
    for line in (SHARED / "name_matching/watchman/cross_script_pairs.csv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        query, expected, _, desc = next(csv.reader([line]))
        rows.append((query, expected, desc, score_names(query, expected)))
    hits = [s >= MATCH_THRESHOLD for *_, s in rows]
    review = [s >= REVIEW_THRESHOLD for *_, s in rows]
    return {
        "pairs": len(rows),
        "recall_at_match_threshold": round(sum(hits) / len(rows), 4),
        "recall_at_review_threshold": round(sum(review) / len(rows), 4),
        "scores": [{"query": q, "expected": e, "script": d, "score": s} for q, e, d, s in rows],
    }


def _names(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [r["full_name"] for r in csv.DictReader(fh) if r["full_name"].strip()]


def yente(screener: Screener) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, rel in [
        ("positives_un_untreated", "positives_un_untreated.csv"),
        ("positives_un_treated", "positives_un_treated.csv"),
    ]:
        names = _names(SHARED / "name_matching/yente" / rel)
        best = [max((m.score for m in screener.match_name(n, threshold=REVIEW_THRESHOLD)), default=0.0) for n in names]
        out[label] = {
            "queries": len(names),
            "recall_at_match_threshold": round(sum(b >= MATCH_THRESHOLD for b in best) / len(names), 4),
            "recall_at_review_threshold": round(sum(b >= REVIEW_THRESHOLD for b in best) / len(names), 4),
            "note": "UN-listed persons screened against the 2022 CSL (all sources) + 2026 Entity List; "
            "some UN persons are not on those US lists, so recall here is a lower bound",
        }
    for label, rel in [("negatives_us", "negatives_us.csv"), ("negatives_global", "negatives_global.csv")]:
        names = _names(SHARED / "name_matching/yente" / rel)
        best = [max((m.score for m in screener.match_name(n, threshold=REVIEW_THRESHOLD)), default=0.0) for n in names]
        out[label] = {
            "queries": len(names),
            "false_positive_rate_at_match_threshold": round(sum(b >= MATCH_THRESHOLD for b in best) / len(names), 4),
            "flag_rate_at_review_threshold": round(sum(b >= REVIEW_THRESHOLD for b in best) / len(names), 4),
        }
    out["positives_us_congress_untreated"] = "not run: members of Congress are PEPs, on none of the lists indexed here"
    return out


def _perturb(name: str, rng: random.Random) -> str:
    kind = rng.choice(["typo", "case", "drop_form", "swap", "same"])
    words = name.split()
    if kind == "typo":
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 4:
            k = rng.randrange(1, len(w) - 1)
            words[i] = w[:k] + rng.choice("aeiourstn") + w[k + 1 :]
    elif kind == "case":
        return name.upper()
    elif kind == "drop_form" and len(words) > 2:
        words = words[:-1]
    elif kind == "swap" and len(words) > 1:
        words[0], words[1] = words[1], words[0]
    return " ".join(words)


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class QueryMix:
    """The throughput passes' queries: perturbed list names and clean names, shuffled together."""

    queries: list[str]
    listed: list[str]
    """1,000 list names, each with one random perturbation."""
    clean: list[str]
    """1,000 person names from the yente negatives."""
    negatives: list[str]
    """Every yente negative (US and global), the ones not drawn included."""


def query_mix(screener: Screener, rng: random.Random) -> QueryMix:
    """The query mix of the cold pass, drawn from ``rng`` (``benchmarks/compare.py --screening`` uses it too)."""
    variants = rng.sample(list(screener.index.variants), 1000)
    listed = [_perturb(v.name, rng) for v in variants]
    negatives = _names(SHARED / "name_matching/yente/negatives_us.csv") + _names(
        SHARED / "name_matching/yente/negatives_global.csv"
    )
    clean = rng.sample(negatives, 1000)
    queries = listed + clean
    rng.shuffle(queries)
    return QueryMix(queries, listed, clean, negatives)


def throughput(screener: Screener, build_s: float, rss_before: float, rss_built: float) -> dict[str, Any]:
    from compliance.model import Party

    rng = random.Random(SEED)
    mix = query_mix(screener, rng)
    queries, listed, clean, negatives = mix.queries, mix.listed, mix.clean, mix.negatives
    # cold: the whole-query memo is off, and each query is new to the per-token lookup cache only as
    # far as its words are new (the mix shares words, as real counterparty files do)
    # Plain rapidfuzz scans over every name (the issue's brute force) run just before and just after the
    # index's cold pass: the machine's speed at the time of that pass (see `yardsticks`).
    rf_names = [v.name for v in screener.index.variants]
    scan_queries = rng.sample(queries, 2 * SCAN_QUERIES)
    scan_before = _reference_scan(scan_queries[:SCAN_QUERIES], rf_names)
    memo_size = screener.memo_size
    screener.memo_size = 0
    t0, c0 = time.perf_counter(), time.process_time()
    n_hits = 0
    for q in queries:
        n_hits += len(screener.match_name(q, threshold=REVIEW_THRESHOLD))
    first_s, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    scan_after = _reference_scan(scan_queries[SCAN_QUERIES:], rf_names)
    # the same queries again: every word is now in the token cache (still no whole-query memo)
    warm_s, warm_cpu = _timed_pass(screener, queries)
    screener.memo_size = memo_size
    _timed_pass(screener, queries)
    memo_s, memo_cpu = _timed_pass(screener, queries)
    parties = [
        Party(id=f"p{i}", name=q[:1000], roles=["purchaser"], country="US") for i, q in enumerate(queries[:1000])
    ]
    as_of = dt.date(2026, 11, 23)
    screener.memo_size = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for p in parties:
        screener.screen(p, as_of=as_of, review_threshold=REVIEW_THRESHOLD)
    screen_s, screen_cpu = time.perf_counter() - t0, time.process_time() - c0
    screener.memo_size = memo_size
    sample = rng.sample(listed, BRUTE_SAMPLE[0]) + rng.sample(clean, BRUTE_SAMPLE[1])
    t0, c0 = time.perf_counter(), time.process_time()
    brute = [
        {(m.entry.list_id, m.entry.entry_id) for m in screener.brute_force(q, threshold=REVIEW_THRESHOLD)}
        for q in sample
    ]
    brute_s, brute_cpu = time.perf_counter() - t0, time.process_time() - c0
    indexed = [
        {(m.entry.list_id, m.entry.entry_id) for m in screener.match_name(q, threshold=REVIEW_THRESHOLD)}
        for q in sample
    ]
    total = sum(len(b) for b in brute)
    found = sum(len(b & i) for b, i in zip(brute, indexed, strict=True))
    missed = [
        {"query": q, "missed": sorted(f"{a}:{b}" for a, b in br - ix)}
        for q, br, ix in zip(sample, brute, indexed, strict=True)
        if br - ix
    ]
    rss_after = rss_mb()  # before the steady-state pass, whose copy of the screener would count in the peak
    steady = _steady_state(screener, queries, negatives)
    cold = _cold_passes(screener, queries, (first_s, first_cpu))
    judged = cold["c_bounds"] if "c_bounds" in cold else cold["python_bounds"]
    index_s, index_cpu = judged["median_wall_seconds"], judged["median_cpu_seconds"]
    index_qps = len(queries) / index_s
    scan_qps = 2 * SCAN_QUERIES / (scan_before + scan_after)
    ratio_qps = SCAN_QUERIES / _reference_scan(scan_queries[:SCAN_QUERIES], rf_names, fuzz.ratio)
    return {
        "index": screener.index.stats(),
        "build_seconds": round(build_s, 2),
        "resident_memory_mb": {
            "before_build": rss_before,
            "after_build": rss_built,
            "after_all_queries": rss_after,
            "note": "after_all_queries includes the token cache, the whole-query memo and the analyze caches",
        },
        "query_mix": "1000 list names with one random perturbation (typo, case, dropped last word, swapped words) "
        "+ 1000 person names from yente negatives (US + global), shuffled",
        "queries": len(queries),
        "index_queries_per_second": round(len(queries) / index_s, 1),
        "index_cpu_us_per_query": round(index_cpu / len(queries) * 1e6, 1),
        "index_figure": f"the median of {COLD_REPEATS} cold passes, each on a screener built afresh "
        f"({judged['bounds']}); see cold_passes",
        "index_hits_returned": n_hits,
        "cold_passes": cold,
        "repeat_pass_token_cache_warm": {
            "queries_per_second": round(len(queries) / warm_s, 1),
            "cpu_us_per_query": round(warm_cpu / len(queries) * 1e6, 1),
        },
        "repeat_pass_whole_query_memo": {
            "queries_per_second": round(len(queries) / memo_s, 1),
            "cpu_us_per_query": round(memo_cpu / len(queries) * 1e6, 1),
        },
        "steady_state_other_queries_first": steady,
        "screen_party_queries_per_second": round(len(parties) / screen_s, 1),
        "screen_party_cpu_us_per_query": round(screen_cpu / len(parties) * 1e6, 1),
        "brute_force_queries": len(sample),
        "brute_force_queries_per_second": round(len(sample) / brute_s, 2),
        "brute_force_cpu_us_per_query": round(brute_cpu / len(sample) * 1e6, 1),
        "index_recall_vs_brute_force": round(found / total, 4) if total else None,
        "brute_force_hits": total,
        "index_missed_vs_brute_force": missed,
        "rapidfuzz_wratio_scan_queries_per_second": round(scan_qps, 1),
        "threshold": REVIEW_THRESHOLD,
        "cores": 1,
        "yardsticks": {
            "what": f"plain rapidfuzz scans (process.extract, limit None) over all {len(rf_names):,} names and "
            f"aliases, {SCAN_QUERIES} queries just before the index's cold pass and {SCAN_QUERIES} just after",
            "wratio_cutoff_85_queries_per_second": round(scan_qps, 1),
            "wratio_before_and_after": [round(SCAN_QUERIES / scan_before, 1), round(SCAN_QUERIES / scan_after, 1)],
            "ratio_queries_per_second": round(ratio_qps, 1),
            "index_vs_wratio_scan": round(index_qps / scan_qps, 1),
            "index_vs_ratio_scan": round(index_qps / ratio_qps, 1),
            "note": "The issue puts a brute-force rapidfuzz scan at about 50 queries/s on its machine without "
            "naming the scorer. fuzz.ratio runs near that here and WRatio at a fifth of it, so the scan does not "
            "tell whether this machine is slower than the issue's: the target is judged as measured.",
        },
        "targets_met": {
            "queries_per_second_as_measured_here": index_qps >= TARGET_QPS,
            "recall_vs_brute_force": total > 0 and found / total >= TARGET_RECALL,
        },
    }


def _timed_pass(screener: Screener, queries: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``match_name`` over ``queries`` at the review threshold."""
    t0, c0 = time.perf_counter(), time.process_time()
    for q in queries:
        screener.match_name(q, threshold=REVIEW_THRESHOLD)
    return time.perf_counter() - t0, time.process_time() - c0


def _cold_passes(screener: Screener, queries: list[str], first: tuple[float, float]) -> dict[str, Any]:
    """``COLD_REPEATS`` cold passes with the C kernel and as many with the Python code (``kernel = None``),
    alternating.

    Each pass runs on a screener built afresh from the same snapshots, after clearing the name-analysis
    caches (the state the first cold pass saw), so machine noise falls on both kinds alike: the medians and
    their ratio are measured side by side. The first pass of ``throughput`` counts as the first C pass.
    Without the compiled build there are only Python passes.
    """
    import gc

    has_kernel = screener.index.kernel is not None
    runs: dict[str, list[tuple[float, float]]] = {"c_bounds": [first]} if has_kernel else {"python_bounds": [first]}
    plan = ["python_bounds", "c_bounds"] * COLD_REPEATS if has_kernel else ["python_bounds"] * (COLD_REPEATS - 1)
    for kind in plan:
        if len(runs.setdefault(kind, [])) >= COLD_REPEATS:
            continue
        gc.collect()
        # the name-analysis caches as a fresh process has them once the screener is built: list names only
        analyze.cache_clear()
        phonetic_key.cache_clear()
        fresh = Screener(screener.snapshots)
        if kind == "python_bounds":
            fresh.index.kernel = None
        fresh.memo_size = 0
        runs[kind].append(_timed_pass(fresh, queries))
        del fresh
    gc.collect()
    out: dict[str, Any] = {}
    for kind, passes in runs.items():
        wall = sorted(w for w, _ in passes)[len(passes) // 2]
        cpu = sorted(c for _, c in passes)[len(passes) // 2]
        out[kind] = {
            "bounds": (
                "the C kernel, compliance/screening/_kernel.c"
                if kind == "c_bounds"
                else "the Python code (kernel = None): bounds and word similarities"
            ),
            "passes": len(passes),
            "queries_per_second": [round(len(queries) / w, 1) for w, _ in passes],
            "median_queries_per_second": round(len(queries) / wall, 1),
            "median_cpu_us_per_query": round(cpu / len(queries) * 1e6, 1),
            "median_wall_seconds": wall,
            "median_cpu_seconds": cpu,
        }
    if has_kernel:
        out["python_over_c_cpu"] = round(
            out["python_bounds"]["median_cpu_seconds"] / out["c_bounds"]["median_cpu_seconds"], 2
        )
    return out


def _steady_state(screener: Screener, queries: list[str], negatives: list[str]) -> dict[str, Any]:
    """The cold pass's queries on a screener that has answered thousands of other distinct queries first.

    A copy of the screener (its caches start empty) with the name-analysis caches cleared answers
    ``STEADY_WARMUP`` perturbed list names and the negatives not in the mix, then the mix itself: what a
    screening service that has been running for a while sees. New queries bring new words, so the token
    cache helps them little, and the cold pass stays the figure judged against the target.
    """
    fresh: Screener = pickle.loads(pickle.dumps(screener))
    fresh.memo_size = 0
    analyze.cache_clear()
    phonetic_key.cache_clear()
    rng = random.Random(SEED + 1)
    mix = set(queries)
    others = [_perturb(v.name, rng) for v in rng.sample(list(fresh.index.variants), STEADY_WARMUP)]
    warm_up = [q for q in others + negatives if q not in mix]
    rng.shuffle(warm_up)
    _timed_pass(fresh, warm_up)
    wall, cpu = _timed_pass(fresh, queries)
    return {
        "warm_up_queries": len(warm_up),
        "queries_per_second": round(len(queries) / wall, 1),
        "cpu_us_per_query": round(cpu / len(queries) * 1e6, 1),
        "note": "the same 2,000 queries after other distinct queries (no memo): new queries bring new words",
    }


def _reference_scan(queries: list[str], names: list[str], scorer: Any = None) -> float:
    """Seconds for a plain rapidfuzz scan of ``queries`` over ``names``: WRatio with a cutoff of 85 unless
    another scorer is given (then without a cutoff)."""
    from rapidfuzz import process

    options: dict[str, Any] = {"scorer": fuzz.WRatio, "score_cutoff": 85} if scorer is None else {"scorer": scorer}
    t0 = time.perf_counter()
    for q in queries:
        process.extract(q, names, limit=None, **options)
    return time.perf_counter() - t0


def main() -> None:
    if not SHARED.exists():
        sys.exit("../shared/data is not available; the benchmark reads it in place")
    started = time.perf_counter()
    result: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "thresholds": {"match": MATCH_THRESHOLD, "review": REVIEW_THRESHOLD},
    }
    result["nomenklatura_cases"] = accuracy()
    result["watchman_cross_script"] = cross_script()
    rss_before = rss_mb()
    csl = import_csl(SHARED / "csl/consolidated.csv.gz", lists=None)
    el2026 = import_restricted_parties_json(SHARED / "bis_entity_list/restricted_parties.json")
    t0 = time.perf_counter()
    screener = Screener([csl, el2026])
    build_s = time.perf_counter() - t0
    result["throughput"] = throughput(screener, build_s, rss_before, rss_mb())
    result["yente"] = yente(screener)
    result["runtime_seconds"] = round(time.perf_counter() - started, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    acc = result["nomenklatura_cases"]
    for subset in ("all", "organisations", "persons"):
        row = acc[subset]
        ours = row["ours"]
        print(
            f"{subset:14} ours F1 {ours['f1']:.3f} (P {ours['precision']:.3f} R {ours['recall']:.3f})"
            f" | logic-v2 F1 {row['logic_v2']['f1']:.3f} | WRatio best F1 {row['wratio_best']['f1']:.3f}"
        )
    tp = result["throughput"]
    cold = tp["cold_passes"]
    print(
        "cold passes (q/s): "
        + "; ".join(
            f"{k} {v['queries_per_second']} median {v['median_queries_per_second']}"
            for k, v in cold.items()
            if isinstance(v, dict)
        )
        + (f"; Python/C CPU {cold['python_over_c_cpu']}" if "python_over_c_cpu" in cold else "")
    )
    print(
        f"index {tp['index_queries_per_second']} q/s ({tp['index_cpu_us_per_query']} CPU us/query), "
        f"screen() {tp['screen_party_queries_per_second']} q/s, "
        f"brute force {tp['brute_force_queries_per_second']} q/s, recall vs brute {tp['index_recall_vs_brute_force']}, "
        f"build {tp['build_seconds']} s, RSS {tp['resident_memory_mb']}"
    )
    steady = tp["steady_state_other_queries_first"]
    print(
        f"steady state (after {steady['warm_up_queries']} other queries): {steady['queries_per_second']} q/s "
        f"({steady['cpu_us_per_query']} CPU us/query)"
    )
    yard = tp["yardsticks"]
    print(
        f"rapidfuzz scans: WRatio {yard['wratio_cutoff_85_queries_per_second']} q/s, ratio "
        f"{yard['ratio_queries_per_second']} q/s; index {yard['index_vs_wratio_scan']}x the WRatio scan"
    )
    y = result["yente"]
    print(
        "yente:",
        {k: v for k, v in y.items() if isinstance(v, dict)},
    )
    cs = result["watchman_cross_script"]
    print(f"cross-script recall @match {cs['recall_at_match_threshold']} @review {cs['recall_at_review_threshold']}")
    print(f"wrote {OUT.relative_to(ROOT)} in {result['runtime_seconds']} s")


if __name__ == "__main__":
    main()
