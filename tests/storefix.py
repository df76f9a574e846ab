"""Shared by the history-store reading tests (backfill, history, store answers): a fresh store on each engine,
the simulated market pinned at one moment, settings pointing at it, and the snapshots a collector would write.

PostgreSQL runs at ``$DTRACK_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``, the server of the
development and CI machines), each test in its own schema dropped afterwards (as in tests/test_store.py); those
tests skip, saying why, only when no server answers there.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import dtrack
from dtrack.config import Settings
from dtrack.sim.model import MarketModel
from dtrack.sim.server import settings_document
from dtrack.store import Store
from dtrack.venues import ACTIVE

PG_URL = os.environ.get("DTRACK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: the sim's market clock and dtrack's, pinned at a settlement hour
NOW = datetime(2026, 12, 4, 8, tzinfo=UTC)
PINNED_MS = int(NOW.timestamp() * 1000)
#: every venue a default query asks (what a default collector keeps)
VENUES = ACTIVE

_pg_problem: list[str] = []


def pg_unreachable() -> str | None:
    """Why the PostgreSQL server at PG_URL cannot be used (None: it can); asked once per session."""
    if not _pg_problem:
        import psycopg

        try:
            psycopg.connect(PG_URL, connect_timeout=5).close()
            _pg_problem.append("")
        except psycopg.Error as exc:
            _pg_problem.append(f"no PostgreSQL server at {PG_URL} ({str(exc).strip().splitlines()[0]}); "
                               f"set DTRACK_TEST_PG to a reachable server to run these tests")
    return _pg_problem[0] or None


def pg_schema_url(schema: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, private store URL on each engine."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.sqlite3")
        return
    problem = pg_unreachable()
    if problem:
        pytest.skip(problem)
    schema = f"dtrack_test_{uuid.uuid4().hex[:12]}"
    try:
        yield pg_schema_url(schema)
    finally:
        drop_schema(schema)


def write_config(path: Path, urls: dict[str, dict[str, str]], extra: dict[str, Any] | None = None) -> Path:
    """A settings.yaml pointing every venue at the sim (``extra`` merged in at the top level)."""
    doc = settings_document(urls)
    doc.update(extra or {})
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def pinned(at: datetime = NOW):
    """A clock stopped at ``at``."""
    return lambda: at


def sim_settings(urls: dict[str, dict[str, str]], tmp: Path) -> Settings:
    return Settings(cache_dir=tmp / "cache", state_dir=tmp / "state").with_venue_urls(urls)


def model(at: datetime = NOW) -> MarketModel:
    return MarketModel(seed=7, now_ms=int(at.timestamp() * 1000))


async def write_snapshots(dt: dtrack.AsyncClient, store: Store, assets: Sequence[str], kinds: Sequence[str],
                          venues: Sequence[str] = VENUES) -> None:
    """What a collector's snapshot round writes: the venues' current records of ``kinds`` (funding, oi, basis),
    each with the rows of its contracts in the instruments table."""
    from dtrack.records import DataKind, Kind
    from dtrack.venues import VENUES as REGISTRY

    pool = await dt.pool()
    for v in venues:
        ad = pool.adapter(v)
        contracts = await ad.contracts(assets)
        perps = [i for i in contracts if i.kind is Kind.PERP]
        records: list[Any] = []
        if "funding" in kinds or "basis" in kinds:
            records += (await ad.fetch_funding_rates(perps)).items
        if "oi" in kinds:
            records += (await ad.fetch_open_interest(contracts)).items
            if REGISTRY[v].offers(DataKind.LONG_SHORT):
                for a in assets:
                    records += (await ad.fetch_long_short(a, [p for p in perps if p.asset == a])).items
        if "basis" in kinds:
            records += (await ad.fetch_quotes(contracts)).items
            if REGISTRY[v].offers(DataKind.SPOT):
                records += (await ad.fetch_spot(assets)).items
        store.write(records)
        store.write_rows("instruments", [i.to_row() | {"seen_at": dt.now()} for i in contracts])


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


#: the longest any wait of a collector test polls (a busy 2-core machine)
WAIT = 90.0


def poll(ready: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """``ready()`` until it is truthy (then its value), or fail naming ``what``; an exception counts as not yet (the
    store is being created by the collector: ask again)."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = ready()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"waited {timeout:g} s for {what}")
        time.sleep(0.2)
