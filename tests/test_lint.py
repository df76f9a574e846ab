"""ruff and mypy stay clean on src/ (part of the suite so CI enforces it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tool", [["ruff", "check", "src", "tests", "benchmarks"], ["mypy"]], ids=["ruff", "mypy"])
def test_static_checks(tool: list[str]) -> None:
    if shutil.which(tool[0]) is None and tool[0] != "mypy":
        pytest.skip(f"{tool[0]} not installed (pip install -e '.[test]')")
    cmd = [sys.executable, "-m", *tool]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
