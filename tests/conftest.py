"""Shared fixtures: real payloads from ../shared, the simulated venues on a real socket, settings."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dtrack.config import Settings
from dtrack.sim.model import MarketModel
from dtrack.sim.server import SimServer, start_sim
from dtrack.venues.pool import VenuePool, open_pool

T = TypeVar("T")

PAYLOADS = Path(os.environ.get("DTRACK_PAYLOADS", Path(__file__).resolve().parents[2] / "shared" /
                               "exchange-payloads"))


def load_payload(name: str) -> dict[str, Any]:
    """One captured payload file from ../shared/exchange-payloads (skips the test if absent)."""
    path = PAYLOADS / name
    if not path.is_file():
        pytest.skip(f"real payload {name} not found in {PAYLOADS} (set DTRACK_PAYLOADS)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def payload() -> Callable[[str], dict[str, Any]]:
    return load_payload


class SimThread:
    """The simulated venues served from a background thread's event loop."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: SimServer = asyncio.run_coroutine_threadsafe(start_sim(**kwargs), self.loop).result(10)

    @property
    def model(self) -> MarketModel:
        return self.server.model

    def venue_urls(self) -> dict[str, dict[str, str]]:
        return self.server.venue_urls()

    def settings(self, tmp: Path, **http: Any) -> Settings:
        """Settings pointing every venue at this server, with private cache/state dirs."""
        base = Settings(cache_dir=tmp / "cache", state_dir=tmp / "state")
        if http:
            base = replace(base, http=replace(base.http, **http))
        return base.with_venue_urls(self.venue_urls())

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(_cancel_others(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


async def _cancel_others() -> None:
    """Cancel handlers still running (e.g. a 'timeout' fault sleeping) so the loop stops cleanly."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


@pytest.fixture(scope="session")
def sim() -> Iterator[SimThread]:
    """The simulated venues on a loopback port, no faults, for the whole session."""
    server = SimThread(seed=7)
    yield server
    server.close()


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimThread]]:
    """Start extra sim servers (with faults, latency, request logs); all closed after the test."""
    started: list[SimThread] = []

    def make(**kwargs: Any) -> SimThread:
        server = SimThread(**kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()


def run_with_pool(settings: Settings, fn: Callable[[VenuePool], Awaitable[T]]) -> T:
    """Run ``fn(pool)`` in a fresh event loop against ``settings``."""

    async def main() -> T:
        async with open_pool(settings) as pool:
            return await fn(pool)

    return asyncio.run(main())
