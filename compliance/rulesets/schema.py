"""The ruleset file format, as pydantic models (unknown keys are errors)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from compliance.model import CountryCode, Outcome, ReviewPolicy

Confidence = Literal["confirmed", "unconfirmed"]
RULE_ID = r"^[A-Z0-9][A-Z0-9._:-]*$"
SEMVER = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceSpec(_Spec):
    id: str
    title: str
    citation: str | None = None
    url: str | None = None
    confidence: Confidence = "confirmed"


class ParameterSpec(_Spec):
    value: float
    unit: str | None = None
    title: str | None = None
    source: str = Field(min_length=1)
    confidence: Confidence = "confirmed"
    note: str | None = None


class Period(_Spec):
    start: dt.date | None = Field(default=None, alias="from")
    end: dt.date | None = Field(default=None, alias="to")
    """Inclusive last day."""
    confidence: Confidence = "confirmed"
    """Whether this period's dates are confirmed (e.g. a scheduled return date that may be extended)."""
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        return self

    def contains(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def render(self) -> str:
        return f"{self.start or '…'} → {self.end or '…'}"


class GroupMember(_Spec):
    country: CountryCode
    start: dt.date | None = Field(default=None, alias="from")
    end: dt.date | None = Field(default=None, alias="to")
    source: str = Field(min_length=1)
    confidence: Confidence = "confirmed"
    note: str | None = None

    def in_force(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


class GroupSpec(_Spec):
    title: str
    citation: str | None = None
    note: str | None = None
    members: list[GroupMember] = Field(default_factory=list)


class GroupPatch(_Spec):
    add: list[GroupMember] = Field(default_factory=list)
    remove: list[CountryCode] = Field(default_factory=list)


class ExceptionSpec(_Spec):
    id: str
    when: dict[str, Any] | None = None
    note: str | None = None


class OverrideSpec(_Spec):
    rule: str = Field(pattern=RULE_ID)
    when: dict[str, Any] | None = None
    """Tests on the overridden finding's bound facts: the override applies only where they hold."""


class PolicyFromFact(_Spec):
    from_fact: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[a-z_][a-z0-9_]*$")
    default: ReviewPolicy


class RuleSpec(_Spec):
    id: str = Field(pattern=RULE_ID, max_length=80)
    title: str = Field(min_length=1)
    family: str | None = None
    citations: list[str] = Field(min_length=1)
    effective: Period | list[Period]
    outcome: Literal[Outcome.prohibited, Outcome.license_required, Outcome.review]
    review_policy: ReviewPolicy | PolicyFromFact | None = None
    exceptions: list[str | ExceptionSpec] = Field(default_factory=list)
    when: dict[str, Any]
    overrides: list[str | OverrideSpec] = Field(default_factory=list)
    because: str = Field(min_length=1)
    confidence: Confidence = "confirmed"
    note: str | None = None

    @field_validator("citations")
    @classmethod
    def _non_blank(cls, values: list[str]) -> list[str]:
        if any(not v.strip() for v in values):
            raise ValueError("citations must not be blank")
        return values

    @model_validator(mode="after")
    def _policy_fits_outcome(self) -> RuleSpec:
        if self.outcome is not Outcome.license_required and self.review_policy is not None:
            raise ValueError("review_policy applies only to license_required rules")
        return self

    def periods(self) -> list[Period]:
        return self.effective if isinstance(self.effective, list) else [self.effective]


class ScreeningSettings(_Spec):
    match_threshold: float = Field(ge=0, le=1)
    review_threshold: float = Field(ge=0, le=1)
    source: str

    @model_validator(mode="after")
    def _ordered(self) -> ScreeningSettings:
        if self.review_threshold > self.match_threshold:
            raise ValueError("review_threshold must not exceed match_threshold")
        return self


Status = Literal["in_force", "draft", "proposed", "rescinded", "pending-bill", "scenario"]


class RulesetFile(_Spec):
    """A baseline ruleset (no ``extends``) or an overlay (``extends: BASE``)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str = Field(pattern=SEMVER)
    title: str
    description: str | None = None
    jurisdiction: str = "US"
    status: Status
    sources: list[SourceSpec] = Field(min_length=1)
    extends: str | None = None
    max_list_age_days: int | None = Field(default=None, ge=1)
    screening: ScreeningSettings | None = None
    include: list[str] = Field(default_factory=list)
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    replace_parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    groups: dict[str, GroupSpec] = Field(default_factory=dict)
    patch_groups: dict[str, GroupPatch] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    replace_rules: list[RuleSpec] = Field(default_factory=list)
    remove_rules: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> RulesetFile:
        overlay_only = (self.replace_parameters, self.patch_groups, self.replace_rules, self.remove_rules)
        if self.extends is None and any(overlay_only):
            raise ValueError("replace_*/patch_groups/remove_rules are for overlays (files with `extends:`)")
        if self.extends is None and (self.max_list_age_days is None or self.screening is None):
            raise ValueError("a baseline ruleset must set max_list_age_days and screening thresholds")
        return self


class IncludeFile(_Spec):
    """A file a ruleset lists under ``include:``: more parameters, groups and rules."""

    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    groups: dict[str, GroupSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
