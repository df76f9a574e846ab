"""A simulated market pinned at one moment, logging its requests, for the end-to-end tests that recompute what dtrack
printed from what the sim served (the logged requests, asked again of the pinned market, answer the same)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from conftest import SimThread
from dtrack.config import Settings
from dtrack.records import Instrument
from dtrack.sim.model import MarketModel, SimFuture, SimPerp
from dtrack.sim.server import settings_document
from dtrack.venues.base import Adapter
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.pool import open_pool

A = TypeVar("A", bound=Adapter)
T = TypeVar("T")

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


class VenueSim(Generic[A]):
    """One venue's end-to-end test helpers against a sim pinned at ``now`` (its REST answers, its adapter on a clock
    stopped there, a listed contract, the sim's own contract, the logged requests of a path)."""

    def __init__(self, venue: str, adapter: type[A], now: datetime) -> None:
        self.venue, self.adapter, self.now, self.now_ms = venue, adapter, now, utc_to_ms(now)

    def body(self, sim: SimThread, path_qs: str) -> Any:
        """The sim's JSON answer to ``path_qs`` on the venue's REST host."""
        with urllib.request.urlopen(sim.venue_urls()[self.venue]["rest"] + path_qs, timeout=10) as resp:
            return json.loads(resp.read())

    def run(self, settings: Settings, fn: Callable[[A], Awaitable[T]]) -> T:
        """``fn(adapter)`` in a fresh loop, the adapters' clock stopped at ``now``."""

        async def main() -> T:
            async with open_pool(settings, now=lambda: self.now) as pool:
                adapter = pool.adapter(self.venue)
                assert isinstance(adapter, self.adapter)
                return await fn(adapter)

        return asyncio.run(main())

    async def one(self, adapter: A, symbol: str) -> Instrument:
        """The venue's listed contract ``symbol`` (of BTC, ETH, SOL or PEPE)."""
        (inst,) = [i for i in await adapter.contracts(["BTC", "ETH", "SOL", "PEPE"]) if i.symbol == symbol]
        return inst

    def contract(self, model: MarketModel, symbol: str) -> SimPerp | SimFuture:
        """The sim's perpetual or dated future ``symbol`` of the venue, listed at ``now``."""
        found = model.perp(self.venue, symbol) or model.future(self.venue, symbol, self.now_ms)
        assert found is not None
        return found

    def logged(self, tmp_path: Path, path: str) -> list[dict[str, list[str]]]:
        """The query parameters of every logged request of the venue to ``path`` (the log in ``tmp_path``)."""
        rows = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()]
        return [parse_qs(urlsplit(r["path"]).query) for r in rows
                if r["venue"] == self.venue and urlsplit(r["path"]).path == path]
