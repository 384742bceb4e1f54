"""The engine: load a ruleset once, evaluate many transactions, fail closed (`compliance.engine.Engine`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from compliance import __version__
from compliance.copying import constructed
from compliance.countries import CountryGroups
from compliance.engine.backends import Activation, Backend, DurableBackend, ReferenceBackend, release_retired
from compliance.engine.decide import DecisionCaches, decide
from compliance.engine.enrich import Enricher, Evidence, Ledger, OwnershipResolver, fact_index
from compliance.errors import ComplianceError, EngineError
from compliance.evidence import ItemClassifier, PartyScreener
from compliance.model import (
    Determination,
    EngineRef,
    ListRef,
    Outcome,
    RulesetRef,
    Transaction,
)
from compliance.records import first_validation_error
from compliance.rulesets.loader import Ruleset, load_ruleset

BackendName = Literal["durable", "python"]
DecisionHook = Callable[["Determination", "Transaction | None", "Ruleset"], None]
"""Called with every determination (errors included), the validated input (None if it did not validate)
and the ruleset that decided; the audit log's entry point. If it raises, the determination becomes
``error`` (an unrecorded decision is not a decision)."""

__all__ = ["Engine", "Ledger", "input_sha256"]


def input_sha256(txn: Transaction) -> str:
    """sha256 of the transaction's JSON (``model_dump_json``'s bytes, taken from the serializer directly)."""
    return hashlib.sha256(_TRANSACTION_JSON(txn)).hexdigest()


_TRANSACTION_JSON = Transaction.__pydantic_serializer__.to_json


KEPT_BACKENDS = 8
"""Compiled rulesets an engine keeps for reuse by `Engine.reload` (the oldest is let go past this)."""


def new_decision_id() -> str:
    """A random (version 4, RFC 4122 variant) UUID as ``str(uuid.uuid4())`` writes it, without building a UUID
    object: a third of the time, which counts at one per evaluation."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""The clock-sequence digit with its top two bits set to 10 (the RFC 4122 variant)."""


def _durable_available() -> bool:
    try:
        import durable_rules_engine  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class _Loaded:
    """Everything an evaluation needs, swapped as one reference by `Engine.reload`."""

    ruleset: Ruleset
    backend: Backend
    enricher: Enricher
    ruleset_ref: RulesetRef
    caches: DecisionCaches


class Engine:
    """Evaluate transactions against a ruleset (and overlays).

    Thread-safe: evaluations may run concurrently from many threads (the durable backend serialises on a
    lock per compiled ruleset, as the C core is not thread-safe); `reload()` swaps in a new ruleset
    atomically. For throughput use processes: each builds its own Engine (handles are process-local).
    """

    def __init__(
        self,
        ruleset: Ruleset,
        *,
        backend: BackendName = "durable",
        screener: PartyScreener | Literal["default"] | None = None,
        classifier: ItemClassifier | None = None,
        ownership: OwnershipResolver | None = None,
        on_decision: DecisionHook | None = None,
    ) -> None:
        if backend == "durable" and not _durable_available():
            warnings.warn(
                "durable_rules could not be imported on this Python; using the pure-Python reference backend",
                RuntimeWarning,
                stacklevel=2,
            )
            backend = "python"
        self._backend_name: BackendName = backend
        self._engine_ref = EngineRef(version=__version__, backend=backend)
        self._classifier = classifier if classifier is not None else _default_classifier()
        if screener == "default":
            screener, default_ownership = _default_screening()
            ownership = ownership or default_ownership
        elif screener is not None and ownership is None:
            ownership = _default_ownership()
        self._screener: PartyScreener | None = screener
        self._ownership = ownership
        self._swap_lock = threading.Lock()
        self._on_decision = on_decision
        # Compiled backends by ruleset content hash: a reload of unchanged content, or back to a version loaded
        # before, reuses the C rulesets instead of compiling new ones (compiling is the slow part of a reload;
        # a backend let go here has its C rulesets deleted once nothing holds it, see docs/engine.md).
        self._backends: dict[str, Backend] = {}
        self._backends_lock = threading.Lock()
        self._loaded = self._build(ruleset)

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        ruleset: str | Path = "us-ear",
        overlays: Sequence[str | Path] = (),
        *,
        backend: BackendName = "durable",
        screener: PartyScreener | Literal["default"] | None = "default",
        classifier: ItemClassifier | None = None,
        on_decision: DecisionHook | None = None,
    ) -> Engine:
        """Load a ruleset by name or path with overlays; screen against the embedded list by default."""
        loaded = load_ruleset(ruleset, overlays)
        ownership: OwnershipResolver | None = None
        if screener == "default":
            screener, ownership = _default_screening()
        elif screener is not None:
            ownership = _default_ownership()
        return cls(
            loaded,
            backend=backend,
            screener=screener,
            classifier=classifier,
            ownership=ownership,
            on_decision=on_decision,
        )

    def _build(self, ruleset: Ruleset) -> _Loaded:
        backend = self._backend_for(ruleset)
        enricher = Enricher(ruleset, CountryGroups(ruleset.groups), self._classifier, self._screener, self._ownership)
        ref = RulesetRef(
            id=ruleset.id,
            version=ruleset.version,
            sha256=ruleset.sha256,
            overlays=[f"{o.id}@{o.version}" for o in ruleset.overlays],
        )
        return _Loaded(ruleset, backend, enricher, ref, DecisionCaches())

    def _backend_for(self, ruleset: Ruleset) -> Backend:
        """The compiled backend for the ruleset's content: one this engine built before, or a new one."""
        with self._backends_lock:
            found = self._backends.get(ruleset.sha256)
            if found is not None:
                return found
            backend: Backend
            if self._backend_name == "durable":
                backend = DurableBackend(ruleset.rules, f"{ruleset.id}-{ruleset.sha256[:12]}")
            else:
                backend = ReferenceBackend(ruleset.rules)
            if len(self._backends) >= KEPT_BACKENDS:
                del self._backends[next(iter(self._backends))]
            self._backends[ruleset.sha256] = backend
            return backend

    def reload(self, ruleset: Ruleset | str | Path | None = None, overlays: Sequence[str | Path] = ()) -> None:
        """Swap in a new ruleset atomically; evaluations in flight finish on the old one.

        A ruleset whose content this engine compiled before (the same sha256: a reload of unchanged files, or
        back to an earlier version) reuses that compilation; the enrichment caches start afresh."""
        if ruleset is None:
            current = self._loaded.ruleset
            ruleset = load_ruleset(current.files[0], [o.path for o in current.overlays])
        elif not isinstance(ruleset, Ruleset):
            ruleset = load_ruleset(ruleset, overlays)
        loaded = self._build(ruleset)
        with self._swap_lock:
            self._loaded = loaded
        # A backend let go by this reload is garbage now unless evaluations are still in flight on it: delete
        # its C rulesets now (or, if not yet, at the next reload or backend construction).
        release_retired()

    # -- properties ------------------------------------------------------------------------------

    @property
    def ruleset(self) -> Ruleset:
        return self._loaded.ruleset

    @property
    def backend(self) -> BackendName:
        return self._backend_name

    @property
    def engine_ref(self) -> EngineRef:
        return self._engine_ref

    @property
    def screener(self) -> PartyScreener | None:
        """The party screener (None when screening is off): what the audit store snapshots."""
        return self._screener

    def list_refs(self) -> list[ListRef]:
        return list(self._screener.list_refs()) if self._screener is not None else []

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(
        self,
        txn: Transaction | Mapping[str, Any],
        as_of: dt.date | None = None,
        *,
        ledger: Ledger | None = None,
        deadline: float | None = None,
    ) -> Determination:
        """Evaluate one transaction. Never raises for bad data: failures give outcome ``error``.

        ``deadline`` is a ``time.monotonic()`` value: past it, the evaluation stops at the next step boundary
        (after enrichment, after inference) with outcome ``error``. The C core holds the GIL during a call, so
        a hard time limit belongs to a worker process that can be killed (``compliance screen`` does that).
        """
        loaded = self._loaded
        validated: Transaction | None
        if isinstance(txn, Transaction):
            validated = txn
            det = self._evaluate(loaded, txn, as_of, ledger, deadline)
        else:
            try:
                validated = Transaction.model_validate(txn)
            except ValidationError as exc:
                validated = None
                det = self._error(loaded, _raw_id(txn), as_of, "", f"invalid transaction: {_first_error(exc)}")
            else:
                det = self._evaluate(loaded, validated, as_of, ledger, deadline)
        if self._on_decision is not None:
            try:
                self._on_decision(det, validated, loaded.ruleset)
            except Exception as exc:
                return det.model_copy(update={"outcome": Outcome.error, "error": f"decision hook failed: {exc}"})
        return det

    def _evaluate(
        self,
        loaded: _Loaded,
        txn: Transaction,
        as_of: dt.date | None,
        ledger: Ledger | None,
        deadline: float | None = None,
    ) -> Determination:
        day = as_of or txn.date
        digest = input_sha256(txn)
        try:
            evidence = loaded.enricher.enrich(txn, day, ledger)
            _check_deadline(deadline, "enrichment")
            facts = fact_index(evidence.facts)
            activations = loaded.backend.fire(evidence.facts)
            _check_deadline(deadline, "inference")
            decision = decide(loaded.ruleset, activations, facts, day, loaded.caches)
        except ComplianceError as exc:
            return self._error(loaded, txn.id, day, digest, str(exc))
        except Exception as exc:  # fail closed on anything unexpected, naming it
            return self._error(loaded, txn.id, day, digest, f"{type(exc).__name__}: {exc}")
        outcome = max((f.outcome for f in decision.findings), key=lambda o: o.severity, default=Outcome.clear)
        return constructed(
            Determination,
            {
                "transaction_id": txn.id,
                "outcome": outcome,
                "findings": decision.findings,
                "suppressed": decision.suppressed,
                "accepted_matches": [_accepted_note(h) for h in evidence.suppressed_hits],
                "as_of": day,
                "ruleset": loaded.ruleset_ref,
                "lists": list(evidence.lists),  # its own list: a frozen model's lists can still be appended to
                "engine": self.engine_ref,
                "input_sha256": digest,
                "decision_id": new_decision_id(),
                "timestamp": dt.datetime.now(dt.UTC),
                "error": None,
            },
        )

    def error_determination(self, transaction_id: str, reason: str, as_of: dt.date | None = None) -> Determination:
        """An ``error`` determination for a record that never reached evaluation (e.g. a worker crash).

        Not passed to the decision hook: the caller decides whether and how it is recorded.
        """
        return self._error(self._loaded, transaction_id, as_of, "", reason)

    def fire(self, txn: Transaction, as_of: dt.date | None = None) -> tuple[Evidence, list[Activation]]:
        """Enrich and fire without deciding: for explanations and differential tests."""
        loaded = self._loaded
        evidence = loaded.enricher.enrich(txn, as_of or txn.date)
        return evidence, loaded.backend.fire(evidence.facts)

    def _error(self, loaded: _Loaded, txn_id: str, as_of: dt.date | None, digest: str, reason: str) -> Determination:
        return Determination(
            transaction_id=txn_id,
            outcome=Outcome.error,
            findings=[],
            as_of=as_of or dt.date.today(),
            ruleset=loaded.ruleset_ref,
            lists=self.list_refs(),
            engine=self.engine_ref,
            input_sha256=digest,
            decision_id=new_decision_id(),
            timestamp=dt.datetime.now(dt.UTC),
            error=reason,
        )


def _check_deadline(deadline: float | None, step: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise EngineError(f"evaluation deadline exceeded after {step}")


def _accepted_note(hit: Any) -> str:
    return (
        f"{hit.party_id} ~ {hit.entry.list_id}:{hit.entry.entry_id} ({hit.entry.name}, score {hit.score:.3f}) "
        f"suppressed by accepted match {hit.suppressed_by}"
    )


def _raw_id(raw: Any) -> str:
    if isinstance(raw, Mapping):
        value = raw.get("id")
        if isinstance(value, str) and value:
            return value[:200]
    return "(unknown)"


def _first_error(exc: ValidationError) -> str:
    where, message = first_validation_error(exc)
    loc = ".".join(str(p) for p in where)
    return f"{loc}: {message}" if loc else message


def _default_classifier() -> ItemClassifier:
    from compliance.classify import ChipClassifier

    return ChipClassifier.default()


def _default_screening() -> tuple[PartyScreener, OwnershipResolver]:
    from compliance.screening import Screener

    return Screener.default(), _default_ownership()


def _default_ownership() -> OwnershipResolver:
    from compliance.screening.ownership import resolve_listed_ownership

    return resolve_listed_ownership
