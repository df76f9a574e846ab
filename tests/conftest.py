"""Shared fixtures: real payloads from tests/payloads, the simulated venues on a real socket, settings."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import settings as hypothesis_settings

from dtrack.config import Settings
from dtrack.sim.model import MarketModel
from dtrack.sim.server import Flight, SimServer, start_sim
from dtrack.venues.pool import VenuePool, open_pool

T = TypeVar("T")

# No per-example deadline: on a loaded machine one example can stall past hypothesis' default 200 ms, which
# fails the test (or calls it flaky) for nothing the code did.
hypothesis_settings.register_profile("dtrack", deadline=None)
hypothesis_settings.load_profile("dtrack")

PAYLOADS = Path(__file__).resolve().parent / "payloads"  # the real venue payloads, in the repo (PROVENANCE.md)


def load_payload(name: str) -> dict[str, Any]:
    """One captured payload file from tests/payloads; a missing one fails the test (never a skip)."""
    path = PAYLOADS / name
    if not path.is_file():
        pytest.fail(f"real payload {name} missing from {PAYLOADS} (copy it there and list it in PROVENANCE.md)")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def payload() -> Callable[[str], dict[str, Any]]:
    return load_payload


class SimThread:
    """The simulated venues served from a background thread's event loop.

    ``hold=(n1, n2, ...)`` holds the answers of the server's k-th round of requests until n_k have arrived
    (``dtrack.sim.server.Flight``); ``flight`` records the rounds either way.
    """

    def __init__(self, *, hold: tuple[int, ...] = (), **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.flight = Flight(hold=tuple(hold))
        self.server: SimServer = asyncio.run_coroutine_threadsafe(start_sim(flight=self.flight, **kwargs),
                                                                  self.loop).result(10)

    @property
    def model(self) -> MarketModel:
        return self.server.model

    def rounds(self, since: int = 0) -> list[list[str]]:
        """The paths (with query) of each round of requests from the ``since``-th on, each round sorted."""
        return [sorted(a.path for a in r) for r in self.flight.rounds[since:]]

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


@pytest.fixture
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache, state and config dirs private to the test; no $DTRACK_CONFIG from the caller's environment."""
    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DTRACK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DTRACK_CONFIG", raising=False)


#: a file the OS refuses to read even to root (a write-only sysctl: root's DAC override does not apply)
ROOT_UNREADABLE = Path("/proc/sys/vm/compact_memory")


@contextmanager
def unreadable_file(tmp_path: Path) -> Iterator[Path]:
    """A real file this user may not read: chmod 000 for a normal user; for root (CI), a write-only sysctl."""
    if os.geteuid() == 0:
        try:
            ROOT_UNREADABLE.read_bytes()
        except PermissionError:
            yield ROOT_UNREADABLE
            return
        pytest.fail(f"{ROOT_UNREADABLE} is readable here: no file root cannot read to test with")
    path = tmp_path / "settings.yaml"
    path.write_text("http: {timeout: 3}\n")
    path.chmod(0)
    try:
        yield path
    finally:
        path.chmod(0o600)
