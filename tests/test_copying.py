"""`compliance.copying.replaced`: pydantic's model_copy(update=...), written out for the hot paths."""

from __future__ import annotations

from pydantic import BaseModel

from compliance.copying import replaced
from compliance.model import BoundFact, Provenance


def _bound() -> BoundFact:
    prov = Provenance(source="input", detail="destination as given")
    fields = {"id": "TX-1", "destination": "JP"}
    return BoundFact(alias="t", type="transaction", id="TX-1", fields=fields, provenance=[prov])


def test_a_copy_has_the_changes_and_the_original_keeps_its_values() -> None:
    original = _bound()
    copy = replaced(original, {"id": "TX-2", "fields": {"id": "TX-2", "destination": "JP"}})
    assert type(copy) is BoundFact
    assert (copy.id, copy.fields["id"], original.id, original.fields["id"]) == ("TX-2", "TX-2", "TX-1", "TX-1")
    assert copy.provenance is original.provenance  # shallow, as model_copy
    assert copy == original.model_copy(update={"id": "TX-2", "fields": {"id": "TX-2", "destination": "JP"}})
    assert copy.model_dump_json() == original.model_dump_json().replace("TX-1", "TX-2")
    assert copy.model_fields_set == original.model_fields_set


def test_fields_changed_count_as_set_and_a_mutable_model_gets_its_own_set() -> None:
    class Draft(BaseModel):
        a: int = 0
        b: int = 0

    draft = Draft(a=1)
    copy = replaced(draft, {"b": 2})
    assert copy.model_fields_set == {"a", "b"} and draft.model_fields_set == {"a"}
    again = replaced(copy, {"a": 3})
    again.b = 5  # assignment adds to the copy's own set, never to the model it was copied from
    assert again.model_fields_set is not copy.model_fields_set
    assert (again.a, again.b, copy.a, copy.b) == (3, 5, 1, 2)


def test_constructed_equals_the_validated_model_and_the_suite_checks_every_one() -> None:
    from compliance.copying import checking, constructed

    assert checking(), "tests/conftest.py turns the check on, so every determination in the suite is validated too"
    prov = Provenance(source="input", detail="destination as given")
    values = {"alias": "t", "type": "transaction", "id": "TX-1", "fields": {"id": "TX-1"}, "provenance": [prov]}
    made = constructed(BoundFact, dict(values))
    assert type(made) is BoundFact and made == BoundFact(**values)
    assert made.model_dump_json() == BoundFact(**values).model_dump_json()
    assert made.model_fields_set == set(values)


def test_constructed_refuses_what_validation_would_change_or_reject() -> None:
    import pytest

    from compliance.copying import constructed
    from compliance.model import Finding

    finding = {
        "rule_id": "R",
        "title": "T",
        "outcome": "review",  # a str where the model holds an Outcome: validation would convert it
        "review_policy": None,
        "exceptions": [],
        "citations": ["15 CFR 744.11"],
        "because": "b",
        "facts": [],
        "confidence": "confirmed",
        "notes": [],
        "ruleset": None,
    }
    with pytest.raises(AssertionError, match=r"Finding\.outcome"):
        constructed(Finding, finding)
    with pytest.raises(AssertionError, match="not every field"):
        constructed(BoundFact, {"alias": "t", "type": "transaction", "id": "TX-1", "fields": {}})
    with pytest.raises(AssertionError, match=r"BoundFact\.id"):  # the model strips whitespace
        constructed(BoundFact, {"alias": "t", "type": "x", "id": " TX-1 ", "fields": {}, "provenance": []})
