"""Coverage-guided fuzzing (atheris/libFuzzer) of the input readers. Run directly::

    .venv/bin/python tests/reliability/atheris_fuzz.py records -runs=100000
    .venv/bin/python tests/reliability/atheris_fuzz.py yaml -max_total_time=600
    .venv/bin/python tests/reliability/atheris_fuzz.py csl -runs=20000

Each target accepts the library's own located error types and nothing else: any other exception is a
crash libFuzzer reports with the input that caused it. ``KNOWN`` lists exceptions of bugs already reported
(docs/reliability.md); remove an entry when its fix lands so the fuzzer guards the fix.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["compliance"]):
    import yaml

    from compliance.errors import InputError, RulesetError
    from compliance.records import record_from_line
    from compliance.rulesets.yaml_source import load_yaml_text
    from compliance.screening.importers import import_csl
    from compliance.screening.lists import ListFormatError

KNOWN: dict[str, tuple[type[BaseException], ...]] = {
    # yaml_source: ReaderError raised outside load_yaml_text's try; RecursionError from deep flow nesting.
    "yaml": (yaml.reader.ReaderError, RecursionError),
    "csl": (),
    "records": (),
}


def fuzz_records(data: bytes) -> None:
    record = record_from_line(data.replace(b"\n", b" "), "fuzz.jsonl", 1)
    if (record.transaction is None) == (record.error is None):
        raise AssertionError("a record must hold a transaction or an error")
    if record.error is not None and not isinstance(record.error, InputError):
        raise AssertionError(f"unexpected error type {type(record.error)}")


def fuzz_yaml(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    try:
        load_yaml_text(text, "fuzz.yaml")
    except (RulesetError, *KNOWN["yaml"]):
        pass


_CSL_DIR = Path(tempfile.mkdtemp(prefix="compliance-fuzz-"))


def fuzz_csl(data: bytes) -> None:
    path = _CSL_DIR / "csl.csv"
    path.write_bytes(b"source,name,alt_names,start_date,addresses\n" + data)
    try:
        import_csl(path, lists=None)
    except (ListFormatError, *KNOWN["csl"]):
        pass


TARGETS = {"records": fuzz_records, "yaml": fuzz_yaml, "csl": fuzz_csl}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
