"""The collector's order-book snapshots: ``collect.snapshots.book`` seconds apart (0: off), ``BookSnapshot`` rows of
every perpetual of the collected assets on the venues with books, through the collector's writer, into SQLite and
PostgreSQL; a collector run against the simulated venues stores several rounds (waited for, never timed)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import dtrack
from conftest import SimThread
from dtrack.client.stored import record_of
from dtrack.collect.plan import make_plan
from dtrack.config import Settings, parse_settings
from dtrack.errors import UsageError
from dtrack.records import BookSnapshot, DataKind
from dtrack.sim.model import MarketModel
from dtrack.store import open_store
from dtrack.venues import VENUES
from storefix import NOW, PINNED_MS, pinned, poll, sim_settings, store_url

__all__ = ["store_url"]  # the fixture, imported: a fresh, private store on each engine

BOOK_VENUES = {"binance", "bybit", "okx", "deribit", "hyperliquid", "dydx"}


def test_the_book_interval_in_settings_and_the_plan() -> None:
    assert Settings().collect.snapshots.book == 60.0
    assert "book" not in Settings().collect.snapshots.intervals()  # its own job, not a snapshot kind
    plan = make_plan(Settings(), assets=["BTC"])
    assert plan.book_interval == 60.0
    pairs = {tuple(p) for p in json.loads(plan.what())["gap_streams"]}
    offering = {v for v in plan.venues if VENUES[v].offers(DataKind.ORDER_BOOK)}
    assert {v for v, s in pairs if s == "snapshot.book"} == offering and "gmx" not in offering
    assert json.loads(plan.what())["book_interval"] == 60.0
    off = make_plan(parse_settings({"collect": {"snapshots": {"book": 0}}}))
    assert off.book_interval == 0 and "snapshot.book" not in off.what()
    only = parse_settings({"collect": {"snapshots": {"funding": 0, "open_interest": 0, "basis": 0, "options": 0,
                                                     "book": 30}, "streams": {"enabled": False}}})
    assert make_plan(only, once=True).book_interval == 30.0  # books alone are something to collect
    nothing = parse_settings({"collect": {"snapshots": {"funding": 0, "open_interest": 0, "basis": 0, "options": 0,
                                                        "book": 0}, "streams": {"enabled": False}}})
    with pytest.raises(UsageError, match="nothing to collect"):
        make_plan(nothing)


@pytest.fixture(scope="module")
def market() -> Any:
    server = SimThread(model=MarketModel(seed=7, now_ms=PINNED_MS))
    yield server
    server.close()


def test_the_book_job_stores_the_snapshots_of_the_query(market: SimThread, tmp_path: Path, store_url: str) -> None:
    """One round through the collector's writer: a row per perpetual and venue with books (GMX, listed in the plan,
    has none: left out, no failure), each equal to the book query's figures at the same moment."""
    from dtrack.collect.books import Books
    from dtrack.collect.runs import RunBook
    from dtrack.collect.status import StatusLine, Tally
    from dtrack.collect.writer import BatchWriter

    settings = sim_settings(market.venue_urls(), tmp_path)
    plan = make_plan(settings, assets=["BTC", "SOL"], store_url=store_url)
    assert "gmx" in plan.venues

    async def go() -> tuple[Any, Any]:
        messages = io.StringIO()
        status = StatusLine(None, messages=messages)
        tally = Tally()
        writer = BatchWriter(lambda: open_store(store_url), RunBook.new("{}", NOW), tally=tally, status=status,
                             clock=pinned(NOW))
        async with dtrack.AsyncClient(config=settings, clock=pinned(NOW), venues=plan.venues) as dt:
            result = await Books(dt, plan, writer, tally, status).round()
            again = await dt.book(["BTC", "SOL"], venues=list(plan.venues))
        assert await writer.close(status="stopped") == 0
        assert messages.getvalue() == "" and tally.rounds == 1
        return result, again

    result, again = asyncio.run(go())
    assert result is not None and result.failures == []
    with open_store(store_url) as st:
        rows = st.read("book_snapshots")
    assert {r["venue"] for r in rows} == BOOK_VENUES
    perps = {(p.venue, p.symbol) for v in BOOK_VENUES for p in MarketModel.perps(v) if p.asset in ("BTC", "SOL")}
    assert {(r["venue"], r["symbol"]) for r in rows} == perps and len(rows) == len(perps)
    stored = sorted((record_of(BookSnapshot, r) for r in rows), key=lambda s: (s.instrument.venue,
                                                                               s.instrument.symbol))
    want = sorted(again.snapshots(), key=lambda s: (s.instrument.venue, s.instrument.symbol))
    assert [s.to_row() for s in stored] == [s.to_row() for s in want]  # the pinned market: the same figures
    doc = {(r["venue"], r["symbol"]): r for r in again.to_dict()["rows"]}
    for r in rows:
        one = next(b for b in doc[(r["venue"], r["symbol"])]["bands"] if b["band"] == 0.01)
        assert r["bid_usd_1pct"] == pytest.approx(one["bid_usd"], rel=1e-12)
        assert r["truncated_1pct"] == (one["bid_truncated"] or one["ask_truncated"])
        assert [b["band_pct"] for b in json.loads(r["bands"])] == [0.1, 0.5, 1.0, 5.0]
    by = {(r["venue"], r["symbol"]): r for r in rows}
    assert by[("hyperliquid", "BTC")]["truncated_1pct"] is True  # 20 levels end inside 1 %
    assert by[("binance", "BTCUSDT")]["truncated_1pct"] is False and by[("binance", "BTCUSDT")]["levels_bid"] == 1000


def test_a_collector_run_stores_book_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector with only order books, every second, against the sim on the real clock: rows of several rounds
    for every venue with books, the run stopped cleanly, no failure said."""
    from dtrack.collect.daemon import Collector
    from dtrack.collect.status import StatusLine

    monkeypatch.setenv("DTRACK_CACHE_DIR", str(tmp_path / "cache"))
    server = SimThread(seed=7)
    store = str(tmp_path / "store.sqlite3")
    settings = parse_settings({"collect": {
        "assets": ["BTC", "ETH"], "heartbeat": 1, "backfill_days": 0, "liquidation_map_interval": 0,
        "snapshots": {"funding": 0, "open_interest": 0, "basis": 0, "options": 0, "book": 1},
        "streams": {"enabled": False}}})
    settings = replace(sim_settings(server.venue_urls(), tmp_path), collect=settings.collect)
    plan = make_plan(settings, store_url=store)
    assert plan.snapshots == {} and plan.book_interval == 1.0
    messages = io.StringIO()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    codes: list[int] = []

    async def main() -> None:
        async with dtrack.AsyncClient(config=settings, venues=plan.venues) as dt:
            collector = Collector(dt, plan, open_store=lambda: open_store(store),
                                  status=StatusLine(None, messages=messages), stop=stop)
            codes.append(await collector.run())

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        def rounds() -> bool:
            with open_store(store) as st:
                rows = st.read("book_snapshots")
            seen: dict[str, set[Any]] = {}
            for r in rows:
                seen.setdefault(r["venue"], set()).add(r["received_at"])
            return set(seen) == BOOK_VENUES and all(len(t) >= 2 for t in seen.values())

        poll(rounds, "two order-book rounds of every venue with books")
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        server.close()
    assert codes == [0], messages.getvalue()
    assert messages.getvalue() == ""
    with open_store(store) as st:
        (run,) = st.read("collector_runs")
        rows = st.read("book_snapshots")
        assert st.read("funding_rates") == []  # books only
    assert run["status"] == "stopped"
    assert {tuple(p) for p in json.loads(run["what"])["gap_streams"]} == {(v, "snapshot.book") for v in BOOK_VENUES}
    keys = [(r["venue"], r["symbol"], r["time"] or r["received_at"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert all(r["mid"] > 0 and r["best_bid"] < r["best_ask"] and r["bid_base_1pct"] > 0 for r in rows)
    assert {r["truncated_1pct"] for r in rows if r["venue"] == "hyperliquid"} == {True}
