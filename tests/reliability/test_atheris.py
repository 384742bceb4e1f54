"""Short coverage-guided fuzzing runs (atheris) of each reader; skipped where atheris does not install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris", reason="atheris is not installed (it needs a clang/libFuzzer build for this Python)")

HARNESS = Path(__file__).resolve().parent / "atheris_fuzz.py"
RUNS = os.environ.get("COMPLIANCE_ATHERIS_RUNS", "2000")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["records", "yaml", "csl"])
def test_atheris_finds_no_crash(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(HARNESS), target, f"-runs={RUNS}", "-max_len=4096", f"-artifact_prefix={tmp_path}/"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr
