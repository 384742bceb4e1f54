"""Same input + same ruleset + same lists ⇒ byte-identical determinations (apart from id and timestamp)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from compliance import Engine
from compliance.engine import new_decision_id
from compliance.records import iter_records

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "transactions"

SCRIPT = """
import sys
from pathlib import Path
from compliance import Engine
from compliance.records import iter_records
engine = Engine.load("us-ear", backend=sys.argv[2])
for record in iter_records([Path(sys.argv[1])]):
    print(engine.evaluate(record.transaction).canonical_json())
"""


def _run(backend: str, seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(FIXTURES), backend],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return out.stdout.splitlines()


@pytest.mark.parametrize("backend", ["durable", "python"])
def test_two_processes_give_byte_identical_determinations(backend: str) -> None:
    first, second = _run(backend, "1"), _run(backend, "4242")
    assert len(first) >= 30
    assert first == second


def test_backends_agree_on_every_fixture() -> None:
    durable, python = Engine.load("us-ear"), Engine.load("us-ear", backend="python")
    for record in iter_records([FIXTURES]):
        assert record.transaction is not None, record.error
        a = json.loads(durable.evaluate(record.transaction).canonical_json())
        b = json.loads(python.evaluate(record.transaction).canonical_json())
        a.pop("engine"), b.pop("engine")
        assert a == b, record.location


def test_evaluating_twice_in_one_process_is_identical() -> None:
    engine = Engine.load("us-ear")
    record = next(iter(iter_records([FIXTURES / "news"])))
    assert record.transaction is not None
    first, second = engine.evaluate(record.transaction), engine.evaluate(record.transaction)
    assert first.decision_id != second.decision_id
    assert first.canonical_json() == second.canonical_json()


def test_decision_ids_are_random_uuids_written_as_uuid4_writes_them() -> None:
    ids = [new_decision_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
    # every variant digit turns up (the two bits under the variant bits are random too)
    assert {text[19] for text in ids} == set("89ab")
