"""Rule coverage: which rules the tests made fire, and which never did.

A rule is covered when some evaluation in the run produced it as a finding or as an overridden finding
(an override can only be tested if its target fires). Rules are identified by where they are written
(``file:line`` and id), so a baseline rule counts once however many overlay combinations load it, while a
rule an overlay replaces is a different rule that needs its own case. Rules are reported grouped by the
ruleset or overlay that defines them; the combinations the run loaded are listed too.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.model import Determination
from compliance.rulesets.loader import Rule, Ruleset


@dataclass(frozen=True, order=True)
class RuleRef:
    defined_in: str
    origin: str
    rule_id: str

    @property
    def file(self) -> str:
        return self.origin.rpartition(":")[0]


@dataclass
class CombinationUse:
    label: str
    rules: set[RuleRef] = field(default_factory=set)
    fired: set[RuleRef] = field(default_factory=set)
    evaluations: int = 0


@dataclass(frozen=True)
class SourceCoverage:
    """Coverage of the rules one ruleset or overlay defines."""

    defined_in: str
    file: str
    rules: tuple[RuleRef, ...]
    fired: tuple[RuleRef, ...]

    @property
    def missed(self) -> tuple[RuleRef, ...]:
        return tuple(r for r in self.rules if r not in set(self.fired))

    @property
    def percent(self) -> float:
        return 100.0 * len(self.fired) / len(self.rules) if self.rules else 100.0


@dataclass(frozen=True)
class CoverageReport:
    sources: tuple[SourceCoverage, ...]
    combinations: tuple[tuple[str, int, int, int], ...]
    """(label, evaluations, rules, rules fired in that combination)."""

    @property
    def total(self) -> int:
        return sum(len(s.rules) for s in self.sources)

    @property
    def covered(self) -> int:
        return sum(len(s.fired) for s in self.sources)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0

    def missed(self) -> list[RuleRef]:
        return [r for s in self.sources for r in s.missed]

    def lines(self) -> list[str]:
        """A plain-text table (what ``--compliance-coverage`` prints)."""
        if not self.sources:
            return ["no ruleset was loaded by any case or fixture"]
        name_w = max(len("ruleset/overlay"), *(len(s.defined_in) for s in self.sources))
        file_w = max(len("file"), *(len(s.file) for s in self.sources))
        out = [f"{'ruleset/overlay'.ljust(name_w)}  {'file'.ljust(file_w)}  rules  fired   cover"]
        for s in self.sources:
            out.append(
                f"{s.defined_in.ljust(name_w)}  {s.file.ljust(file_w)}  {len(s.rules):5}  {len(s.fired):5}  "
                f"{s.percent:5.1f}%"
            )
        out.append(
            f"{'TOTAL'.ljust(name_w)}  {''.ljust(file_w)}  {self.total:5}  {self.covered:5}  {self.percent:5.1f}%"
        )
        missed = self.missed()
        if missed:
            out.append("")
            out.append("never fired:")
            out.extend(f"  {r.origin}: {r.rule_id} ({r.defined_in})" for r in missed)
        out.append("")
        out.append("combinations loaded:")
        for label, evaluations, rules, fired in self.combinations:
            out.append(f"  {label}: {evaluations} evaluation(s), {fired}/{rules} rules fired")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "percent": round(self.percent, 2),
            "rules": self.total,
            "fired": self.covered,
            "sources": [
                {
                    "defined_in": s.defined_in,
                    "file": s.file,
                    "rules": len(s.rules),
                    "fired": len(s.fired),
                    "percent": round(s.percent, 2),
                    "missed": [{"rule_id": r.rule_id, "origin": r.origin} for r in s.missed],
                }
                for s in self.sources
            ],
            "combinations": [
                {"label": label, "evaluations": n, "rules": rules, "fired": fired}
                for label, n, rules, fired in self.combinations
            ],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


def display_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies under it (as editors and CI logs link it)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def _ref(rule: Rule) -> RuleRef:
    return RuleRef(rule.defined_in, f"{display_path(rule.file)}:{rule.line}", rule.id)


class RuleCoverage:
    """Collects, across a test session, the rules loaded and the rules that fired. Thread-safe."""

    def __init__(self) -> None:
        self._uses: dict[tuple[object, ...], CombinationUse] = {}
        self._lock = threading.Lock()

    def _use(self, ruleset: Ruleset) -> CombinationUse:
        key = (ruleset.sha256, ruleset.files, tuple(o.path for o in ruleset.overlays))
        use = self._uses.get(key)
        if use is None:
            label = " + ".join([f"{ruleset.id} {ruleset.version}", *(f"{o.id} {o.version}" for o in ruleset.overlays)])
            use = CombinationUse(label, {_ref(r) for r in ruleset.rules})
            self._uses[key] = use
        return use

    def register(self, ruleset: Ruleset) -> None:
        """Count a ruleset's rules even if nothing is evaluated against it."""
        with self._lock:
            self._use(ruleset)

    def record(self, ruleset: Ruleset, det: Determination) -> None:
        """Note which rules fired (as findings or overridden) in one determination."""
        with self._lock:
            use = self._use(ruleset)
            use.evaluations += 1
            for finding in [*det.findings, *det.suppressed]:
                if ruleset.has_rule(finding.rule_id):
                    use.fired.add(_ref(ruleset.rule(finding.rule_id)))

    def report(self) -> CoverageReport:
        with self._lock:
            rules: set[RuleRef] = set()
            fired: set[RuleRef] = set()
            for use in self._uses.values():
                rules |= use.rules
                fired |= use.fired
            by_source: dict[tuple[str, str], list[RuleRef]] = {}
            for ref in sorted(rules, key=lambda r: (r.defined_in, r.file, _line(r.origin), r.rule_id)):
                by_source.setdefault((ref.defined_in, ref.file), []).append(ref)
            sources = tuple(
                SourceCoverage(name, file, tuple(refs), tuple(r for r in refs if r in fired))
                for (name, file), refs in by_source.items()
            )
            combos = tuple(
                (u.label, u.evaluations, len(u.rules), len(u.fired))
                for u in sorted(self._uses.values(), key=lambda u: u.label)
            )
        return CoverageReport(sources, combos)


def _line(origin: str) -> int:
    tail = origin.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0
