"""Item classification: TPP, performance density and the ECCN of an AI compute item.

An item names a catalogue model (``"H200 SXM"``, ``"GB200 NVL72"``, ``"Ascend 910B"``) or gives raw specs, or
both (explicit specs override catalogue values). The classifier computes

- TPP = 2 x MacTOPS x bit length = dense datasheet TOPS x bit length, the maximum over the precisions given;
- performance density (PD) = TPP / applicable die area;
- ECCN 3A090.a/.b under 88 FR 73458 (with Note 2), 4A090.a/.b for systems containing such ICs, the
  October 2022 definition (TPP and interconnect), License Exception NAC/ACA item eligibility, total TPP
  (what counts against a cumulative cap) and, for model weights, ECCN 4E091.

Every step is written into the classification's provenance with its numbers, formula, source and confidence,
so an auditor can follow it. A classification the data cannot settle is never silently "not controlled": it
says so in its provenance, has confidence ``unconfirmed`` and :func:`is_determinate` returns False for it.
The method and its boundary semantics are described in docs/classification.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from compliance.copying import replaced
from compliance.errors import ComplianceError
from compliance.evidence import Classification
from compliance.model import Item, ItemSpecs, Provenance

__all__ = [
    "BIT_LENGTHS",
    "Catalogue",
    "CatalogueDocument",
    "CatalogueError",
    "ChipClassifier",
    "ChipEntry",
    "Contents",
    "Figure",
    "Flag",
    "Source",
    "declared_eccn_conflict",
    "is_determinate",
]

Confidence = Literal["confirmed", "unconfirmed"]
Precision = Literal["fp4", "int4", "fp8", "int8", "fp16", "bf16", "tf32", "fp32", "fp64"]
Definition = Literal["current", "2022"]

BIT_LENGTHS: Final[Mapping[str, int]] = {
    "fp4": 4,
    "int4": 4,
    "fp8": 8,
    "int8": 8,
    "fp16": 16,
    "bf16": 16,
    # TF32 is stored in 32 bits but carries 19; 32 is the conservative (higher-TPP) reading [U].
    "tf32": 32,
    "fp32": 32,
    "fp64": 64,
}
"""Bit length per precision used in TPP = TOPS x bit length."""

# Thresholds of 3A090 as amended by 88 FR 73458 (effective 2023-11-17), regulatory-facts §1.2.
TPP_A1: Final = 4800.0
TPP_A2: Final = 1600.0
PD_A2: Final = 5.92
TPP_B1: Final = 2400.0
PD_B1: Final = 1.6
PD_B2: Final = 3.2
INTERCONNECT_2022_GBS: Final = 600.0
TRAINING_OPS_4E091: Final = 1e26

CITE_3A090: Final = "ECCN 3A090 as amended by 88 FR 73458 (effective 2023-11-17)"
CITE_NOTE2: Final = "Note 2 to 3A090, 88 FR 73458"
CITE_TPP: Final = (
    "Technical Notes to 3A090, 88 FR 73458: TPP = 2 x MacTOPS x bit length, dense; "
    "the maximum over precisions is tracker practice, no verbatim BIS note [U]"
)
CITE_PD: Final = "Technical Notes to 3A090, 88 FR 73458: PD = TPP / applicable die area (non-planar logic dies)"
CITE_4A090: Final = "ECCN 4A090 (computers and assemblies containing 3A090.a/.b ICs), 88 FR 73458 [S]"
CITE_2022: Final = "ECCN 3A090/4A090 as created by 87 FR 62186 (2022-10-07 to 2023-11-16)"
CITE_NAC: Final = "§740.8 NAC/ACA item eligibility (88 FR 73458; split into NAC and ACA by 89 FR 23876)"
CITE_4E091: Final = (
    "ECCN 4E091, 90 FR 4544 (Framework for AI Diffusion, 2025-01-15; BIS announced non-enforcement 2025-05-13)"
)

# Tie-break between precisions giving the same TPP: BIS's own worked example uses 8-bit operations.
_PRECISION_ORDER: Final = ("fp8", "int8", "fp16", "bf16", "fp4", "int4", "tf32", "fp32", "fp64")
_SUB_PD_BASED: Final = frozenset({"a.2", "b.1", "b.2"})
_ADVANCED: Final = frozenset({"3A090.a", "3A090.b", "4A090.a", "4A090.b"})


class CatalogueError(ComplianceError, ValueError):
    """The chip catalogue cannot be loaded: a YAML, schema or consistency error, with the file it came from."""


# ----------------------------------------------------------------------------------------------
# Catalogue schema (compliance/data/chips.yaml)


class _CatalogueModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Sourced(_CatalogueModel):
    """Where a catalogue value comes from: ``source`` is a key of the catalogue's ``sources``, ``cites`` the
    original document; every value carries its own confidence."""

    source: str
    cites: str | None = None
    confidence: Confidence = "confirmed"
    note: str | None = None


class Figure(_Sourced):
    """One number with its source."""

    value: float = Field(ge=0, allow_inf_nan=False)


class Flag(_Sourced):
    """A yes/no fact (designed or marketed for datacenters) with its source."""

    value: bool


class Contents(_Sourced):
    """What a catalogue system contains: ``count`` ICs of catalogue entry ``ic``."""

    ic: str
    count: int = Field(ge=1)


class Source(_CatalogueModel):
    title: str
    url: str | None = None
    note: str | None = None


class ChipEntry(_CatalogueModel):
    """One accelerator IC or system in the catalogue."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    names: list[str] = Field(min_length=1)
    """Names and aliases users may type; matching ignores case, spaces, punctuation and manufacturer prefixes."""
    manufacturer: str
    family: str
    """Product family for rules naming products (``H20``, ``Ascend 910B``)."""
    kind: Literal["ic", "system"]
    epoch_name: str | None = None
    """The same part's row in Epoch's ml_hardware.csv (cross-checks only)."""
    datacenter: Flag | None = None
    dense_tops: dict[Precision, Figure] = Field(default_factory=dict)
    tpp: Figure | None = None
    """TPP as a source states it: used when no dense figures are given, otherwise a cross-check."""
    die_area_mm2: Figure | None = None
    interconnect_gbs: Figure | None = None
    dram_bandwidth_gbs: Figure | None = None
    contains: Contents | None = None
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kind_consistent(self) -> ChipEntry:
        if self.kind == "system":
            if self.contains is None:
                raise ValueError(f"{self.id}: a system needs `contains`")
            own = ("datacenter", "dense_tops", "tpp", "die_area_mm2", "interconnect_gbs", "dram_bandwidth_gbs")
            given = [f for f in own if getattr(self, f)]
            if given:
                raise ValueError(f"{self.id}: a system takes its figures from its IC; remove {given}")
        elif self.contains is not None:
            raise ValueError(f"{self.id}: only a system has `contains`")
        if self.die_area_mm2 is not None and self.die_area_mm2.value <= 0:
            raise ValueError(f"{self.id}: die area must be positive")
        return self

    def figures(self) -> Iterator[Figure | Flag | Contents]:
        """Every sourced value of the entry."""
        yield from self.dense_tops.values()
        for f in (
            self.datacenter,
            self.tpp,
            self.die_area_mm2,
            self.interconnect_gbs,
            self.dram_bandwidth_gbs,
            self.contains,
        ):
            if f is not None:
                yield f


class CatalogueDocument(_CatalogueModel):
    """The whole YAML document, validated strictly: unknown keys and loose types are errors."""

    catalogue_version: str
    compiled: dt.date
    manufacturers: dict[str, list[str]]
    """Canonical manufacturer -> the forms users may prefix a model name with."""
    sources: dict[str, Source]
    chips: list[ChipEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> CatalogueDocument:
        ids = [c.id for c in self.chips]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate chip id(s): {dupes}")
        by_id = {c.id: c for c in self.chips}
        for chip in self.chips:
            if chip.manufacturer not in self.manufacturers:
                raise ValueError(f"{chip.id}: manufacturer {chip.manufacturer!r} is not under `manufacturers`")
            for fig in chip.figures():
                if fig.source not in self.sources:
                    raise ValueError(f"{chip.id}: source {fig.source!r} is not under `sources`")
            if chip.contains is not None:
                inner = by_id.get(chip.contains.ic)
                if inner is None or inner.kind != "ic":
                    raise ValueError(f"{chip.id}: contains {chip.contains.ic!r}, which is not an IC of the catalogue")
        return self


# ----------------------------------------------------------------------------------------------
# Name matching

_NOISE_TOKENS: Final = frozenset({"gpu", "tensor", "core", "accelerator", "npu", "module", "card"})
_TOKEN = re.compile(r"[0-9a-z]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def _name_keys(text: str) -> tuple[str, str]:
    """The name with case, spaces and punctuation removed; and the same without noise words like "GPU"."""
    tokens = _tokens(text)
    return "".join(tokens), "".join(t for t in tokens if t not in _NOISE_TOKENS)


class Catalogue:
    """The chip catalogue: entries by id and by every name users may type."""

    def __init__(self, document: CatalogueDocument, *, origin: str = "<memory>") -> None:
        self.document = document
        self.origin = origin
        self._by_id: dict[str, ChipEntry] = {c.id: c for c in document.chips}
        self._by_name: dict[str, ChipEntry] = {}
        for chip in document.chips:
            prefixes = ["", *document.manufacturers[chip.manufacturer]]
            for name in [chip.id, *chip.names]:
                for prefix in prefixes:
                    for key in _name_keys(f"{prefix} {name}"):
                        if not key:
                            continue
                        other = self._by_name.setdefault(key, chip)
                        if other.id != chip.id:
                            raise CatalogueError(
                                f"{origin}: name {name!r} of {chip.id} is ambiguous with {other.id} (key {key!r})"
                            )

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalogue:
        """Load and validate a catalogue file; without a path, the packaged ``compliance/data/chips.yaml``."""
        if path is None:
            resource = importlib.resources.files("compliance").joinpath("data/chips.yaml")
            origin, text = "compliance/data/chips.yaml", resource.read_text(encoding="utf-8")
        else:
            origin = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise CatalogueError(f"{origin}: cannot read: {exc}") from exc
        try:
            raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{origin}: not valid YAML: {exc}") from exc
        try:
            document = CatalogueDocument.model_validate(raw)
        except ValidationError as exc:
            raise CatalogueError(f"{origin}: {exc}") from exc
        return cls(document, origin=origin)

    @classmethod
    def default(cls) -> Catalogue:
        """The packaged catalogue, loaded once per process."""
        return _default_catalogue()

    @property
    def version(self) -> str:
        return self.document.catalogue_version

    @property
    def sources(self) -> Mapping[str, Source]:
        return self.document.sources

    def __iter__(self) -> Iterator[ChipEntry]:
        return iter(self.document.chips)

    def __len__(self) -> int:
        return len(self.document.chips)

    def get(self, chip_id: str) -> ChipEntry:
        """The entry with this id; KeyError if there is none."""
        return self._by_id[chip_id]

    def lookup(self, name: str, manufacturer: str | None = None) -> ChipEntry | None:
        """The entry a user-typed model name means, or None.

        Case, spaces and punctuation are ignored, as are a manufacturer prefix ("NVIDIA H200") and noise words
        ("Tensor Core GPU"). ``manufacturer`` (the item's) is tried as a prefix when the name alone is unknown.
        """
        for text in (name, f"{manufacturer} {name}" if manufacturer else None):
            if text is None:
                continue
            for key in _name_keys(text):
                hit = self._by_name.get(key)
                if hit is not None:
                    return hit
        return None

    def label(self, fig: Figure | Flag | Contents) -> str:
        """A figure's citation for provenance, e.g. ``NVIDIA H200 datasheet via TRACKER``."""
        if fig.cites is None:
            text = fig.source
        elif fig.cites.startswith("§"):
            text = f"{fig.source} {fig.cites}"
        else:
            text = f"{fig.cites} via {fig.source}"
        return text + (" [unconfirmed]" if fig.confidence == "unconfirmed" else "")


@functools.cache
def _default_catalogue() -> Catalogue:
    return Catalogue.load()


# ----------------------------------------------------------------------------------------------
# Formatting for provenance


def _num(x: float) -> str:
    """15832.0 -> '15,832'; 1670.5 -> '1,670.5'; never rounds a value onto a threshold it does not meet."""
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    if float(text.replace(",", "")) != x and float(text.replace(",", "")) in (TPP_A1, TPP_A2, TPP_B1):
        text = f"{x:,.6f}".rstrip("0").rstrip(".")
    return text


def _pd(x: float) -> str:
    text = f"{x:.2f}"
    if float(text) != x and float(text) in (PD_A2, PD_B1, PD_B2):
        text = f"{x:.6f}".rstrip("0")
    return text


def _ops(x: float) -> str:
    return f"{x:.3g}".replace("e+", "e")


# ----------------------------------------------------------------------------------------------
# The ECCN tests (pure functions of the numbers)


def _paragraphs(tpp: float, pd: float | None) -> list[str]:
    """3A090 sub-paragraphs met, ``a.*`` taking precedence over ``b.*`` (regulatory-facts §1.2)."""
    a: list[str] = []
    if tpp >= TPP_A1:
        a.append("a.1")
    if pd is not None and tpp >= TPP_A2 and pd >= PD_A2:
        a.append("a.2")
    if a:
        return a
    b: list[str] = []
    if pd is not None and TPP_B1 <= tpp < TPP_A1 and PD_B1 <= pd < PD_A2:
        b.append("b.1")
    if pd is not None and tpp >= TPP_A2 and PD_B2 <= pd < PD_A2:
        b.append("b.2")
    return b


def _paragraph_text(sub: str, tpp: float, pd: float | None) -> str:
    t, p = _num(tpp), _pd(pd) if pd is not None else "?"
    return {
        "a.1": f"3A090.a.1: TPP {t} ≥ 4,800",
        "a.2": f"3A090.a.2: TPP {t} ≥ 1,600 and PD {p} ≥ 5.92",
        "b.1": f"3A090.b.1: 2,400 ≤ TPP {t} < 4,800 and 1.6 ≤ PD {p} < 5.92",
        "b.2": f"3A090.b.2: TPP {t} ≥ 1,600 and 3.2 ≤ PD {p} < 5.92",
    }[sub]


def _misses(tpp: float, pd: float | None) -> str:
    """Why no 3A090 paragraph is met."""
    t = _num(tpp)
    if pd is None:
        return f"TPP {t} < 4,800 and no performance density"
    p = _pd(pd)
    return f"TPP {t} < 4,800; PD {p} < 5.92 (a.2); not 2,400 ≤ TPP < 4,800 with PD ≥ 1.6 (b.1); PD {p} < 3.2 (b.2)"


# ----------------------------------------------------------------------------------------------
# The classifier


@dataclass
class _Value:
    """A value used in the classification, with where it came from."""

    value: float
    label: str
    confidence: Confidence
    note: str | None = None


@dataclass
class _Work:
    """What one classification accumulates before it becomes a :class:`Classification`."""

    item: Item
    prov: list[Provenance] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    """Why the classification is unconfirmed (empty: confirmed)."""

    def add(
        self,
        detail: str,
        *,
        source: str = "classification",
        reference: str | None = None,
        confidence: Confidence = "confirmed",
        **data: Any,
    ) -> None:
        self.prov.append(
            Provenance(source=source, detail=detail, reference=reference, confidence=confidence, data=data)
        )


class ChipClassifier:
    """Classifies items from the chip catalogue and their specs; implements ``ItemClassifier``.

    Results are memoised per (model, manufacturer, kind, quantity, specs), so the engine can call
    :meth:`classify` for every item of every evaluation cheaply.
    """

    def __init__(self, catalogue: Catalogue | None = None, *, cache_size: int = 65_536) -> None:
        self.catalogue = catalogue if catalogue is not None else Catalogue.default()
        self._cache: dict[tuple[Any, ...], Classification] = {}
        self._copies: dict[tuple[Any, ...], Classification] = {}
        self._cache_size = cache_size
        self._reference = f"chips.yaml {self.catalogue.version}"

    @classmethod
    def default(cls) -> ChipClassifier:
        """A shared classifier over the packaged catalogue."""
        return _default_classifier()

    def classify(self, item: Item) -> Classification:
        key = item_key(item)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._classify(item)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[key] = hit
        if hit.item_id == item.id:
            return hit
        # The same item under another id (line ids repeat across orders: i1, i2...): its copy is kept too.
        copies = self._copies
        copy = copies.get((item.id, key))
        if copy is None:
            copy = replaced(hit, {"item_id": item.id})
            if len(copies) >= self._cache_size:
                copies.clear()
            copies[(item.id, key)] = copy
        return copy

    # -- the steps ------------------------------------------------------------------------------

    def _classify(self, item: Item) -> Classification:
        w = _Work(item)
        if item.kind == "model_weights":
            return self._model_weights(w)
        if item.kind in ("software", "technology"):
            w.add(
                f"Not assessed: {item.kind} items are not classified from specs here (3A090/4A090 cover hardware, "
                "4E091 model weights); the declared ECCN must be relied on or reviewed."
            )
            w.doubts.append(f"{item.kind} item not assessed")
            return self._finish(w, eccn=None, eccn_2022=None, determinate=False, determinate_2022=False)

        entry = self._identify(w)
        ic = self.catalogue.get(entry.contains.ic) if entry is not None and entry.contains is not None else entry
        specs = item.specs

        # System or IC, and how many ICs a unit holds.
        ics: _Value | None
        is_system = item.kind == "system" or (entry is not None and entry.kind == "system")
        if specs.ics_per_unit is not None:
            is_system = is_system or specs.ics_per_unit > 1
            ics = _Value(float(specs.ics_per_unit), "input specs", "confirmed")
            if entry is not None and entry.contains is not None:
                self._override(
                    w,
                    "ics_per_unit",
                    given=specs.ics_per_unit,
                    catalogue_value=entry.contains.count,
                    fig=entry.contains,
                    unit="ICs",
                )
        elif entry is not None and entry.contains is not None:
            c = entry.contains
            ics = _Value(float(c.count), self.catalogue.label(c), c.confidence, c.note)
        else:
            ics = None if is_system else _Value(1.0, "a single IC", "confirmed")

        tpp, tpp_low = self._tpp(w, ic, specs)
        die = self._figure(w, "die_area_mm2", specs.die_area_mm2, ic.die_area_mm2 if ic else None, "mm²")
        interconnect = self._figure(
            w, "interconnect_gbs", specs.interconnect_gbs, ic.interconnect_gbs if ic else None, "GB/s"
        )
        dram = self._figure(
            w, "dram_bandwidth_gbs", specs.dram_bandwidth_gbs, ic.dram_bandwidth_gbs if ic else None, "GB/s"
        )
        datacenter = self._datacenter(w, specs, ic)

        if dram is not None:
            w.add(
                f"DRAM bandwidth {_num(dram.value)} GB/s [{dram.label}]" + (" per IC" if is_system else ""),
                reference=self._ref(dram),
                confidence=dram.confidence,
                dram_bandwidth_gbs=dram.value,
            )
            if dram.confidence == "unconfirmed":
                w.doubts.append("DRAM bandwidth unconfirmed")

        if tpp is None:
            what = "model " + repr(item.model) if item.model else "the item"
            w.add(
                f"Undetermined: no TPP is known for {what} (no catalogue performance figures and no specs.tpp or "
                "specs.dense_tops), so 3A090/4A090 cannot be tested. Not to be read as 'not controlled'.",
                determinate=False,
            )
            w.doubts.append("no TPP known")
            return self._finish(
                w,
                eccn=None,
                eccn_2022=None,
                determinate=False,
                determinate_2022=False,
                entry=entry,
                datacenter=datacenter,
                dram=dram,
            )

        pd: float | None = None
        if die is not None:
            pd = tpp.value / die.value
            w.add(
                f"PD = {_num(tpp.value)} / {_num(die.value)} mm² = {_pd(pd)} [die area: {die.label}]",
                reference=CITE_PD,
                confidence=die.confidence,
                performance_density=pd,
            )

        # Current definition (88 FR 73458).
        letter, subs, determinate = self._current(w, tpp.value, pd, die, datacenter)
        if tpp_low is not None and tpp_low < tpp.value:
            low_letter, _, low_reason = _decide(tpp_low, tpp_low / die.value if die else None, datacenter)
            if low_letter != letter:
                low_text = "an undetermined result (PD unknown)" if low_reason == "pd_unknown" else "not 3A090"
                if low_letter is not None:
                    low_text = f"{'4A090' if is_system else '3A090'}.{low_letter}"
                w.add(
                    f"The classification depends on taking the maximum over precisions [U]: the lowest-precision "
                    f"reading (TPP {_num(tpp_low)}) would give {low_text}.",
                    reference=CITE_TPP,
                    confidence="unconfirmed",
                )
                w.doubts.append("depends on the max-over-precisions TPP method")
        if tpp.confidence == "unconfirmed":
            w.doubts.append("TPP figure unconfirmed")
        eccn = None
        if letter is not None:
            eccn = f"{'4A090' if is_system else '3A090'}.{letter}"
            if is_system:
                n = _num(ics.value) if ics else "an unknown number of"
                w.add(
                    f"{eccn}: a system containing {n} ICs that meet 3A090.{letter}",
                    reference=CITE_4A090,
                    confidence=ics.confidence if ics else "unconfirmed",
                )

        nac = self._nac(w, eccn, letter, tpp.value, datacenter)

        # October 2022 definition (87 FR 62186).
        eccn_2022, determinate_2022 = self._eccn_2022(w, tpp.value, interconnect, is_system)

        # Total TPP: what counts against cumulative limits.
        total: float | None = None
        if ics is None:
            w.add(
                "Total TPP unknown: the item is a system but its number of ICs per unit is not known "
                "(give specs.ics_per_unit).",
                confidence="unconfirmed",
            )
            w.doubts.append("ICs per unit unknown")
        else:
            total = tpp.value * ics.value * item.quantity
            w.add(
                f"Total TPP = {_num(tpp.value)} × {_num(ics.value)} IC(s) per unit × {item.quantity:,} unit(s) "
                f"= {_num(total)} [ICs per unit: {ics.label}]",
                confidence=ics.confidence,
                total_tpp=total,
            )
            if ics.confidence == "unconfirmed":
                w.doubts.append("ICs per unit unconfirmed")

        return self._finish(
            w,
            eccn=eccn,
            eccn_2022=eccn_2022,
            determinate=determinate,
            determinate_2022=determinate_2022,
            entry=entry,
            tpp=tpp.value,
            pd=pd,
            dram=dram,
            datacenter=datacenter,
            nac=nac,
            total=total,
            subs=subs,
        )

    def _identify(self, w: _Work) -> ChipEntry | None:
        item = w.item
        if item.model is None:
            w.add("No model name: classified on the item's specs alone.", source="input")
            return None
        entry = self.catalogue.lookup(item.model, item.manufacturer)
        if entry is None:
            w.add(
                f"Model {item.model!r} is not in the chip catalogue ({self._reference}); "
                "classified on the item's specs alone.",
                source="catalogue",
                reference=self._reference,
            )
            return None
        detail = f"Catalogue entry {entry.id} ({entry.manufacturer} {entry.names[0]}, family {entry.family})"
        detail += f" matched model {item.model!r}"
        if entry.kind == "system" and entry.contains is not None:
            detail += f"; a system of {entry.contains.count} × {entry.contains.ic}"
        if item.manufacturer and _name_keys(item.manufacturer)[0] not in {
            _name_keys(m)[0] for m in self.catalogue.document.manufacturers[entry.manufacturer]
        }:
            detail += (
                f" (item manufacturer {item.manufacturer!r}, e.g. an OEM; the catalogue's is {entry.manufacturer})"
            )
        w.add(detail, source="catalogue", reference=self._reference, catalogue_id=entry.id)
        return entry

    def _override(self, w: _Work, name: str, *, given: float, catalogue_value: float, fig: Any, unit: str) -> None:
        same = " (the same value)" if given == catalogue_value else ""
        w.add(
            f"specs.{name} = {_num(given)} {unit} overrides the catalogue's {_num(catalogue_value)} {unit}"
            f" [{self.catalogue.label(fig)}]{same}",
            source="input",
        )

    def _figure(self, w: _Work, name: str, given: float | None, fig: Figure | None, unit: str) -> _Value | None:
        if given is not None:
            if fig is not None:
                self._override(w, name, given=given, catalogue_value=fig.value, fig=fig, unit=unit)
            return _Value(given, "input specs", "confirmed")
        if fig is not None:
            return _Value(fig.value, self.catalogue.label(fig), fig.confidence, fig.note)
        return None

    def _datacenter(self, w: _Work, specs: ItemSpecs, ic: ChipEntry | None) -> _Value | None:
        fig = ic.datacenter if ic else None
        if specs.datacenter is not None:
            if fig is not None and fig.value != specs.datacenter:
                w.add(
                    f"specs.datacenter = {specs.datacenter} overrides the catalogue's {fig.value} "
                    f"[{self.catalogue.label(fig)}]",
                    source="input",
                )
            return _Value(float(specs.datacenter), "input specs", "confirmed")
        if fig is not None:
            return _Value(float(fig.value), self.catalogue.label(fig), fig.confidence, fig.note)
        return None

    def _tpp(self, w: _Work, ic: ChipEntry | None, specs: ItemSpecs) -> tuple[_Value | None, float | None]:
        """TPP with provenance, and the lowest single-precision reading (to test the max method's influence)."""
        if specs.tpp is not None:
            note = ""
            if ic is not None and (ic.dense_tops or ic.tpp):
                note = " (overrides the catalogue's figures)"
            w.add(f"TPP = {_num(specs.tpp)} as given in specs.tpp{note}", source="input", tpp=specs.tpp)
            return _Value(specs.tpp, "input specs", "confirmed"), None
        figures: dict[str, tuple[float, str, Confidence]]
        if specs.dense_tops:
            figures = {p: (v, "input specs", "confirmed") for p, v in specs.dense_tops.items()}
            if ic is not None and (ic.dense_tops or ic.tpp):
                w.add("specs.dense_tops override the catalogue's performance figures", source="input")
        elif ic is not None and ic.dense_tops:
            figures = {p: (f.value, self.catalogue.label(f), f.confidence) for p, f in ic.dense_tops.items()}
        elif ic is not None and ic.tpp is not None:
            fig = ic.tpp
            w.add(
                f"TPP = {_num(fig.value)} as stated by the source (no per-precision figures) "
                f"[{self.catalogue.label(fig)}]",
                reference=CITE_TPP,
                confidence=fig.confidence,
                tpp=fig.value,
            )
            return _Value(fig.value, self.catalogue.label(fig), fig.confidence, fig.note), None
        else:
            return None, None

        readings = sorted(
            ((v * BIT_LENGTHS[p], p, v, label, conf) for p, (v, label, conf) in figures.items()),
            key=lambda r: (-r[0], _PRECISION_ORDER.index(r[1])),
        )
        best, precision, value, label, conf = readings[0]
        bits = BIT_LENGTHS[precision]
        detail = f"TPP = {_num(value)} TOPS ({precision.upper()}, dense) × {bits} bit = {_num(best)} [{label}]"
        if len(readings) > 1:
            others = "; ".join(
                f"{p.upper()} {_num(v)} × {BIT_LENGTHS[p]} = {_num(t)}" for t, p, v, _, _ in readings[1:]
            )
            detail += f"; other precisions: {others}; the maximum is taken (method [U])"
        w.add(
            detail,
            reference=CITE_TPP,
            confidence=conf,
            tpp=best,
            precision=precision,
            bit_length=BIT_LENGTHS[precision],
            dense_tops=value,
        )
        return _Value(best, label, conf), readings[-1][0]

    def _current(
        self, w: _Work, tpp: float, pd: float | None, die: _Value | None, datacenter: _Value | None
    ) -> tuple[str | None, list[str], bool]:
        letter, subs, reason = _decide(tpp, pd, datacenter)
        dc_conf: Confidence = datacenter.confidence if datacenter else "unconfirmed"
        if reason == "note2":
            assert datacenter is not None
            w.add(
                f"Not 3A090 (Note 2): not designed or marketed for datacenters [{datacenter.label}] and "
                f"TPP {_num(tpp)} < 4,800",
                reference=CITE_NOTE2,
                confidence=dc_conf,
            )
            if dc_conf == "unconfirmed":
                w.doubts.append("datacenter flag unconfirmed (Note 2)")
            return None, [], True
        if reason == "pd_unknown":
            w.add(
                f"Undetermined: TPP {_num(tpp)} is in the band where performance density decides "
                "(3A090.a.2, .b.1, .b.2 need TPP ≥ 1,600 and a PD), but the die area is unknown, so no PD test can "
                "pass. Classified on TPP alone: not 3A090.a.1 (TPP < 4,800). Give specs.die_area_mm2 to settle it.",
                reference=CITE_3A090,
                confidence="unconfirmed",
            )
            w.doubts.append("die area unknown in the PD band")
            return None, [], False
        if letter is None:
            w.add(f"Not 3A090: {_misses(tpp, pd)}", reference=CITE_3A090)
            if pd is not None and tpp >= TPP_A2 and die is not None and die.confidence == "unconfirmed":
                w.doubts.append("die area unconfirmed (PD decided)")
            return None, [], True
        for sub in subs:
            conf: Confidence = die.confidence if die is not None and sub in _SUB_PD_BASED else "confirmed"
            w.add(_paragraph_text(sub, tpp, pd), reference=CITE_3A090, confidence=conf, paragraph=f"3A090.{sub}")
        if pd is None and tpp >= TPP_A1:
            w.add("Die area unknown: PD tests (3A090.a.2) not applied; 3A090.a.1 holds on TPP alone.")
        if "a.1" not in subs and die is not None and die.confidence == "unconfirmed":
            w.doubts.append("die area unconfirmed (PD decided)")
        determinate = True
        if tpp < TPP_A1:
            if datacenter is None:
                w.add(
                    "Datacenter design/marketing unknown: Note 2 (not designed or marketed for datacenters and TPP "
                    "< 4,800) would take the item out of 3A090; classified as if it were a datacenter item.",
                    reference=CITE_NOTE2,
                    confidence="unconfirmed",
                )
                w.doubts.append("datacenter flag unknown (Note 2)")
                determinate = False
            elif dc_conf == "unconfirmed":
                w.doubts.append("datacenter flag unconfirmed (Note 2)")
        return letter, subs, determinate

    def _nac(self, w: _Work, eccn: str | None, letter: str | None, tpp: float, datacenter: _Value | None) -> bool:
        if letter is None or eccn is None:
            return False
        dc = None if datacenter is None else bool(datacenter.value)
        dc_label = f" [{datacenter.label}]" if datacenter else ""
        conf: Confidence = datacenter.confidence if datacenter else "unconfirmed"
        if letter == "a":
            eligible = dc is False and tpp >= TPP_A1
            if dc is None:
                why = "datacenter design/marketing unknown, so eligibility (not designed for datacenters) is not shown"
            elif dc:
                why = "designed or marketed for datacenters"
            else:
                why = f"not designed or marketed for datacenters and TPP {_num(tpp)} ≥ 4,800"
        else:
            eligible = dc is True
            if dc is None:
                why = "datacenter design/marketing unknown, so eligibility (designed for datacenters) is not shown"
            else:
                why = "designed or marketed for datacenters" if dc else "not designed or marketed for datacenters"
        verdict = "eligible" if eligible else "not eligible"
        w.add(
            f"NAC/ACA: {eccn} {why}{dc_label} → {verdict}", reference=CITE_NAC, confidence=conf, nac_eligible=eligible
        )
        if conf == "unconfirmed":
            w.doubts.append("datacenter flag unconfirmed or unknown (NAC eligibility)")
        return eligible

    def _eccn_2022(self, w: _Work, tpp: float, interconnect: _Value | None, is_system: bool) -> tuple[str | None, bool]:
        target = "4A090" if is_system else "3A090"
        if tpp < TPP_A1:
            w.add(f"Oct 2022 definition: TPP {_num(tpp)} < 4,800 → not {target}", reference=CITE_2022)
            return None, True
        if interconnect is None:
            w.add(
                f"Oct 2022 definition undetermined: TPP {_num(tpp)} ≥ 4,800 but the aggregate bidirectional "
                "interconnect is unknown (give specs.interconnect_gbs)",
                reference=CITE_2022,
                confidence="unconfirmed",
            )
            return None, False
        bw, label = interconnect.value, interconnect.label
        if bw >= INTERCONNECT_2022_GBS:
            w.add(
                f"Oct 2022 definition: TPP {_num(tpp)} ≥ 4,800 and interconnect {_num(bw)} GB/s ≥ 600 GB/s "
                f"[{label}] → {target}",
                reference=CITE_2022,
                confidence=interconnect.confidence,
            )
            return target, True
        w.add(
            f"Oct 2022 definition: TPP {_num(tpp)} ≥ 4,800 but interconnect {_num(bw)} GB/s < 600 GB/s [{label}] "
            f"→ not {target}",
            reference=CITE_2022,
            confidence=interconnect.confidence,
        )
        return None, True

    def _model_weights(self, w: _Work) -> Classification:
        specs = w.item.specs
        ops = specs.training_ops
        if ops is None:
            w.add("Undetermined: model weights without specs.training_ops; the 4E091 test cannot be applied.")
            w.doubts.append("training operations unknown")
            return self._finish(w, eccn=None, eccn_2022=None, determinate=False, determinate_2022=True)
        if ops < TRAINING_OPS_4E091:
            w.add(f"Not 4E091: trained with {_ops(ops)} operations < 1e26", reference=CITE_4E091)
            return self._finish(w, eccn=None, eccn_2022=None, determinate=True, determinate_2022=True)
        if specs.open_weights:
            w.add(
                f"Not 4E091: trained with {_ops(ops)} ≥ 1e26 operations, but the weights are published (§734.7)",
                reference=CITE_4E091,
            )
            return self._finish(w, eccn=None, eccn_2022=None, determinate=True, determinate_2022=True)
        determinate = specs.open_weights is not None
        detail = f"4E091: trained with {_ops(ops)} ≥ 1e26 operations and weights not published"
        if not determinate:
            detail += " (open_weights unknown: treated as not published)"
            w.doubts.append("open_weights unknown")
        detail += (
            "; the exclusion for models trained with less compute than the most capable published model "
            "is not evaluated"
        )
        w.add(detail, reference=CITE_4E091, confidence="confirmed" if determinate else "unconfirmed")
        return self._finish(w, eccn="4E091", eccn_2022=None, determinate=determinate, determinate_2022=True)

    def _finish(
        self,
        w: _Work,
        *,
        eccn: str | None,
        eccn_2022: str | None,
        determinate: bool,
        determinate_2022: bool,
        entry: ChipEntry | None = None,
        tpp: float | None = None,
        pd: float | None = None,
        dram: _Value | None = None,
        datacenter: _Value | None = None,
        nac: bool = False,
        total: float | None = None,
        subs: list[str] | None = None,
    ) -> Classification:
        paragraphs = [f"3A090.{s}" for s in (subs or [])] if eccn else []
        if not determinate and "undetermined" not in w.doubts:
            w.doubts.append("undetermined")
        doubts = list(dict.fromkeys(w.doubts))
        confidence: Confidence = "unconfirmed" if doubts else "confirmed"
        if eccn is not None:
            summary = f"Computed ECCN {eccn}" + (f" ({', '.join(paragraphs)})" if paragraphs else "")
        elif determinate:
            summary = "Computed: no ECCN from these tests (not 3A090/4A090/4E091)"
        else:
            summary = "Computed: undetermined (see above); not to be read as 'not controlled'"
        summary += f"; Oct 2022 definition: {eccn_2022 or ('not 3A090/4A090' if determinate_2022 else 'undetermined')}"
        if doubts:
            summary += f"; unconfirmed because: {', '.join(doubts)}"
        w.add(
            summary,
            reference=self._reference,
            confidence=confidence,
            summary=True,
            eccn=eccn,
            paragraphs=paragraphs,
            determinate=determinate,
            eccn_2022=eccn_2022,
            determinate_2022=determinate_2022,
            catalogue_version=self.catalogue.version,
            unconfirmed_because=doubts,
        )
        return Classification(
            item_id=w.item.id,
            eccn=eccn,
            eccn_2022=eccn_2022,
            advanced=eccn in _ADVANCED,
            tpp=tpp,
            performance_density=pd,
            dram_bandwidth_gbs=dram.value if dram else None,
            datacenter=None if datacenter is None else bool(datacenter.value),
            nac_eligible=nac,
            catalogue_id=entry.id if entry else None,
            family=entry.family if entry else None,
            total_tpp=total,
            confidence=confidence,
            provenance=w.prov,
        )

    def _ref(self, v: _Value) -> str | None:
        return None if v.label == "input specs" else self._reference


def _decide(tpp: float, pd: float | None, datacenter: _Value | None) -> tuple[str | None, list[str], str]:
    """(letter, sub-paragraphs, reason) under the current definition; reason is one of
    ``note2``, ``pd_unknown``, ``none`` or ``met``."""
    if datacenter is not None and not datacenter.value and tpp < TPP_A1:
        return None, [], "note2"
    subs = _paragraphs(tpp, pd)
    if subs:
        return subs[0][0], subs, "met"
    if pd is None and TPP_A2 <= tpp < TPP_A1:
        return None, [], "pd_unknown"
    return None, [], "none"


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


def item_key(item: Item) -> tuple[Any, ...]:
    """What a classification reads from an item (all but its id and declared ECCN), as a hashable key.

    Item is frozen but not hashable (ItemSpecs.dense_tops is a dict), so the key is built from its parts.
    """
    specs = item.specs
    specs_key = tuple(_hashable(v) for v in vars(specs).values()) if specs.model_fields_set else ()
    return (item.model, item.manufacturer, item.kind, item.quantity, specs_key)


@functools.cache
def _default_classifier() -> ChipClassifier:
    return ChipClassifier(Catalogue.default())


# ----------------------------------------------------------------------------------------------
# Reading a classification back


def _summary(c: Classification) -> Mapping[str, Any] | None:
    for p in reversed(c.provenance):
        if p.data.get("summary"):
            return p.data
    return None


def is_determinate(c: Classification, definition: Definition = "current") -> bool:
    """False when the data could not settle the classification under ``definition`` (current or Oct 2022).

    An undetermined classification (unknown model without specs, die area unknown where PD decides, datacenter
    status unknown where Note 2 decides, interconnect unknown for the 2022 test...) must be reviewed, never
    treated as "not controlled".
    """
    summary = _summary(c)
    if summary is None:
        return (c.eccn if definition == "current" else c.eccn_2022) is not None
    return bool(summary["determinate" if definition == "current" else "determinate_2022"])


def _basis(c: Classification, definition: Definition) -> str:
    """The decisive provenance lines under ``definition``, for conflict messages."""
    prefixes = ("Oct 2022",) if definition == "2022" else ("3A090.", "4A090.", "4E091", "Not 3A090", "Not 4E091")
    lines = [p.detail for p in c.provenance if p.detail.startswith(prefixes)]
    return "; ".join(lines) if lines else "see the classification's provenance"


def declared_eccn_conflict(
    declared: str | None, computed: Classification, *, definition: Definition = "current"
) -> str | None:
    """Explain how a declared ECCN contradicts the computed classification, or None if it does not.

    Compatible: a bare ``3A090``/``4A090`` with either paragraph; 3A090 declared for a 4A090 computation and
    the reverse with the same letter (an assembly holding the IC); a ``.z`` paragraph (e.g. ``5A992.z``) for an
    advanced computing item; any ECCN when the computation is undetermined (see :func:`is_determinate`), and any
    ECCN other than 3A090/4A090/4E091 when the computed one is none (this module does not compute 3A991,
    4A994, 5A992...). Contradictions: a control status or paragraph letter that differs, or a declared
    sub-paragraph (``3A090.a.1``) that the numbers show is not met.
    """
    if declared is None:
        return None
    d = declared.strip()
    if not is_determinate(computed, definition):
        return None
    comp = computed.eccn if definition == "current" else computed.eccn_2022
    comp_advanced = comp is not None and comp[:5] in ("3A090", "4A090")
    base, _, rest = d.partition(".")
    parts = rest.split(".") if rest else []
    what = f"declared {d}"
    computed_text = comp if comp is not None else "no 3A090/4A090/4E091 classification"
    if definition == "2022":
        computed_text += " under the Oct 2022 definition"
    basis = _basis(computed, definition)

    if "z" in parts:
        if comp_advanced:
            return None
        return (
            f"{what} (a .z paragraph, for items meeting the 3A090/4A090 parameters) "
            f"but computed {computed_text}: {basis}"
        )
    if base in ("3A090", "4A090"):
        if parts[:1] == ["c"]:
            # 3A090.c is HBM, which this module does not assess.
            if comp_advanced:
                return f"{what} (high-bandwidth memory) but the specs meet {comp}: {basis}"
            return None
        if comp is None or not comp_advanced:
            return f"{what} but computed {computed_text}: {basis}"
        if definition == "2022" or not parts:
            return None
        letter = parts[0]
        if letter != comp[-1]:
            return f"{what} but computed {comp}: {basis}"
        if len(parts) > 1:
            sub = f"{letter}.{parts[1]}"
            summary = _summary(computed) or {}
            met = {p.split(".", 1)[1] for p in summary.get("paragraphs", [])}
            pd_unknown = computed.performance_density is None
            if sub not in met and not (sub in _SUB_PD_BASED and pd_unknown):
                return f"{what} but the numbers meet {', '.join(sorted(summary.get('paragraphs', [])))}: {basis}"
        return None
    if base == "4E091":
        if comp == "4E091":
            return None
        return f"{what} but computed {computed_text}: {basis}"
    # EAR99 or another ECCN this module does not compute.
    if comp is not None:
        return f"{what} but computed {comp}, which takes precedence: {basis}"
    return None
