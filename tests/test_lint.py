"""ruff and mypy stay clean on src/ (part of the suite so CI enforces it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tool", [["ruff", "check", "src", "tests", "benchmarks"], ["mypy"]], ids=["ruff", "mypy"])
def test_static_checks(tool: list[str]) -> None:
    # Both run through this interpreter (``python -m``), so what counts is whether it can import them,
    # not whether a ``ruff`` script happens to be on PATH.
    if tool[0] == "ruff":
        probe = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True,
                               timeout=120)
        if probe.returncode != 0:
            pytest.skip(f"python -m ruff does not run here (pip install -e '.[test]'): {probe.stderr.strip()[-200:]}")
    cmd = [sys.executable, "-m", *tool]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
