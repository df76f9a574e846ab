"""A simulated market pinned at one moment, logging its requests, for the end-to-end tests that recompute what dtrack
printed from what the sim served (the logged requests, asked again of the pinned market, answer the same)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import SimThread
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document

PINNED_MS = 1_796_380_800_000  # 2026-12-04T08:00:00Z
PINNED = "2026-12-04T08:00:00Z"


@contextmanager
def pinned_market(tmp: Path) -> Iterator[tuple[SimThread, Path, Path]]:
    """(the sim pinned at PINNED_MS with a request log in ``tmp``, a settings file pointing at it, the log)."""
    log = tmp / "requests.jsonl"
    server = SimThread(model=MarketModel(seed=7, now_ms=PINNED_MS), log_requests=str(log))
    config = tmp / "settings.yaml"
    config.write_text(yaml.safe_dump(settings_document(server.venue_urls())), encoding="utf-8")
    try:
        yield server, config, log
    finally:
        server.close()


def pinned_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Private cache, state and config dirs, and dtrack's clock set to the sim's market clock."""
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)
    monkeypatch.setenv("DTRACK_NOW", PINNED)


def logged(log: Path, start: int = 0) -> list[dict[str, Any]]:
    """The request log's rows from line ``start`` on."""
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()[start:]]


def lines(log: Path) -> int:
    """How many requests the log holds so far."""
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0
