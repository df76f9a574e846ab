"""Run the real ``dtrack`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from dtrack.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def dtrack(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """``dtrack ARGV...``: exit code, stdout, stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    captured = capsys.readouterr()
    code = exc.value.code
    return Result(code if isinstance(code, int) else 0, captured.out, captured.err)
