"""The real payloads in tests/payloads: each listed in PROVENANCE.md with its hash, each read by some test."""

from __future__ import annotations

import hashlib
import re

from conftest import PAYLOADS

TESTS = PAYLOADS.parent


def provenance() -> dict[str, list[str]]:
    """PROVENANCE.md's table rows by file name: [capture, venue, endpoint, source, licence, date, sha256]."""
    rows: dict[str, list[str]] = {}
    for line in (PAYLOADS / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and cells[0].endswith(".json"):
            assert cells[0] not in rows, f"{cells[0]} listed twice"
            rows[cells[0]] = cells[1:]
    return rows


def test_every_payload_is_listed_with_its_source_and_hash() -> None:
    rows = provenance()
    files = {p.name for p in PAYLOADS.glob("*.json")}
    assert set(rows) == files
    for name, (capture, _venue, _endpoint, source, licence, date, sha256) in rows.items():
        assert capture in ("real", "doc example"), name
        assert source and licence and date, name
        assert hashlib.sha256((PAYLOADS / name).read_bytes()).hexdigest() == sha256, f"{name} changed"


def test_every_payload_is_read_by_a_test() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.glob("*.py") if p.name != "test_payloads.py")
    unused = sorted(p.name for p in PAYLOADS.glob("*.json") if f'"{p.name}"' not in sources)
    assert unused == []
