"""`replay_log`: re-evaluate each recorded input with the recorded ruleset and lists; report differences.

Rulesets and lists come only from the snapshot store, by the hashes the record names. A hash the store
lacks is reported as ``missing`` (with what the file on disk hashes to now, if it still loads) and the
record is not re-evaluated: replaying with whatever file sits on disk today would prove nothing.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from compliance.audit.store import SnapshotStore, StoreError
from compliance.audit.verify import chain_files, iter_lines
from compliance.errors import ComplianceError
from compliance.model import Determination, Transaction
from compliance.rulesets.loader import Ruleset, load_ruleset

if TYPE_CHECKING:
    from compliance.engine import Engine
    from compliance.screening.lists import ListSnapshot

Status = Literal["same", "different", "missing", "masked", "no-input", "input-mismatch", "unreadable"]
EngineFactory = Callable[[Ruleset, Sequence["ListSnapshot"], str], "Engine"]
"""Builds the engine a record is replayed on from (ruleset, list snapshots, backend name)."""


@dataclass(frozen=True)
class ReplayResult:
    record: int
    decision_id: str | None
    transaction_id: str | None
    status: Status
    detail: str = ""


@dataclass
class ReplayReport:
    results: list[ReplayResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def replayed(self) -> int:
        return self.count("same") + self.count("different")

    @property
    def ok(self) -> bool:
        """Every record was replayed and gave the recorded determination."""
        return all(r.status == "same" for r in self.results)

    def problems(self) -> list[ReplayResult]:
        return [r for r in self.results if r.status != "same"]

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("same", "different", "missing", "masked", "no-input")]
        other = len(self.results) - sum(self.count(s) for s in ("same", "different", "missing", "masked", "no-input"))
        if other:
            parts.append(f"{other} unreadable/input-mismatch")
        return f"{len(self.results)} records: " + ", ".join(parts)


def default_engine_factory(ruleset: Ruleset, lists: Sequence[ListSnapshot], backend: str) -> Engine:
    """An engine built the way `Engine.load` builds one: default classifier, screener over ``lists``."""
    from compliance.engine import Engine

    screener: Any = None
    ownership: Any = None
    if lists:
        from compliance.screening.screener import Screener

        screener = Screener(list(lists))
        try:
            from compliance.screening.ownership import resolve_listed_ownership  # type: ignore[import-not-found,unused-ignore]

            ownership = resolve_listed_ownership
        except ImportError:
            ownership = None
    return Engine(ruleset, backend=backend, screener=screener, ownership=ownership)  # type: ignore[arg-type]


def comparable(det: Determination) -> str:
    """What replay compares: the canonical JSON (no decision id, no timestamp)."""
    return det.canonical_json()


def _records(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    for number, (_, _, raw, _) in enumerate(iter_lines(chain_files(path)), start=1):
        try:
            body = b"{" + raw[raw.index(b",") + 1 :]
            record = json.loads(body)
        except ValueError:
            yield number, None
            continue
        yield number, record if isinstance(record, dict) else None


def _on_disk_hash(record: dict[str, Any]) -> str:
    """What the ruleset files the record names hash to today, to make a 'missing' report concrete."""
    files = record.get("ruleset", {}).get("files") or []
    overlays_n = len(record.get("ruleset", {}).get("overlays") or [])
    if not files:
        return "no ruleset files named in the record"
    try:
        overlay_paths: list[str | Path] = list(files[len(files) - overlays_n :]) if overlays_n else []
        today = load_ruleset(files[0], overlay_paths)
    except (ComplianceError, OSError) as exc:
        return f"{files[0]} does not load today ({exc})"
    return f"{files[0]} now hashes to {today.sha256[:12]}… (not used)"


def replay_log(
    path: str | Path,
    *,
    store: str | Path | None = None,
    engine_factory: EngineFactory = default_engine_factory,
) -> ReplayReport:
    """Replay every record of the log at ``path`` (all rotated files) against its store (``path.store``)."""
    snapshots = SnapshotStore(store if store is not None else Path(str(path) + ".store"))
    report = ReplayReport()
    engines: dict[tuple[str, tuple[str, ...], str], Engine | StoreError] = {}
    with tempfile.TemporaryDirectory(prefix="compliance-replay-") as tmp:
        workdir = Path(tmp)
        for number, record in _records(path):
            if record is None:
                report.results.append(ReplayResult(number, None, None, "unreadable", "not a JSON record"))
                continue
            report.results.append(_replay_one(number, record, snapshots, engines, workdir, engine_factory))
    return report


def _replay_one(
    number: int,
    record: dict[str, Any],
    snapshots: SnapshotStore,
    engines: dict[tuple[str, tuple[str, ...], str], Engine | StoreError],
    workdir: Path,
    engine_factory: EngineFactory,
) -> ReplayResult:
    decision_id = record.get("decision_id")
    txn_id = record.get("transaction_id")

    def result(status: Status, detail: str = "") -> ReplayResult:
        return ReplayResult(number, decision_id, txn_id, status, detail)

    try:
        recorded = Determination.model_validate(record["determination"])
    except (KeyError, ValidationError) as exc:
        return result("unreadable", f"recorded determination does not validate: {exc}")
    if record.get("masked"):
        return result("masked", f"input masked at {', '.join(record['masked'])}: cannot be replayed exactly")
    if record.get("input") is None:
        return result(
            "no-input", "no validated input reached the decision hook (the input did not validate, or was a mapping)"
        )
    try:
        txn = Transaction.model_validate(record["input"])
    except ValidationError as exc:
        return result("unreadable", f"stored input no longer validates: {exc.errors()[0]['msg']}")
    from compliance.engine import input_sha256

    if input_sha256(txn) != recorded.input_sha256:
        return result("input-mismatch", "stored input does not hash to the recorded input_sha256")
    ruleset_sha = recorded.ruleset.sha256
    if not snapshots.has_ruleset(ruleset_sha):
        reason = record.get("ruleset", {}).get("reason")
        why = f" (when recorded: {reason})" if reason else ""
        return result("missing", f"ruleset {ruleset_sha} is not in the store{why}; {_on_disk_hash(record)}")
    list_shas = tuple(ref.sha256 for ref in recorded.lists)
    missing_lists = [ref.id + " " + ref.sha256[:12] for ref in recorded.lists if not snapshots.has_list(ref.sha256)]
    if missing_lists:
        return result("missing", f"list snapshot(s) not in the store: {', '.join(missing_lists)}")
    key = (ruleset_sha, list_shas, recorded.engine.backend)
    engine = engines.get(key)
    if engine is None:
        try:
            ruleset = snapshots.load_ruleset(ruleset_sha, workdir / ruleset_sha[:16])
            lists = [snapshots.load_list(sha) for sha in list_shas]
            engine = engine_factory(ruleset, lists, recorded.engine.backend)
        except (StoreError, ComplianceError) as exc:
            engine = StoreError(str(exc))
        engines[key] = engine
    if isinstance(engine, StoreError):
        return result("missing", str(engine))
    again = engine.evaluate(txn, recorded.as_of)
    if comparable(again) == comparable(recorded):
        return result("same")
    return result("different", _difference(recorded, again))


def _difference(recorded: Determination, again: Determination) -> str:
    if recorded.outcome != again.outcome:
        return f"outcome {recorded.outcome.value} → {again.outcome.value}" + (
            f" ({again.error})" if again.error else ""
        )
    before, after = set(recorded.fired_rule_ids()), set(again.fired_rule_ids())
    if before != after:
        return f"findings {sorted(before)} → {sorted(after)}"
    a = json.loads(comparable(recorded))
    b = json.loads(comparable(again))
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"same outcome and rules; differs in {', '.join(keys)}"
