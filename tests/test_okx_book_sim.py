"""The real OKX adapter's order books, candles and position tiers against the simulated venue over sockets, and the
simulated books / position-tiers answers against the real payloads (shapes).

Expected values come from the market model (``MarketModel.book``, ``MarketModel.candle``) with OKX's wire rounding
done here: book sizes in whole contracts (at least 1), prices on the contract's tick (compared to a thousandth of a
tick), candle figures at full precision (rel=1e-12).
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import SimThread, load_payload
from dtrack.errors import RateLimited, UnsupportedError, VenueError
from dtrack.records import Unit
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues import okx as okx_sim
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.okx import api
from dtrack.venues.okx.adapter import OkxAdapter
from pinned_sim import VenueSim
from shapes import shape_differences

NOW = datetime(2026, 11, 20, 13, 37, 11, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12


@pytest.fixture
def pinned(sim_factory: Callable[..., SimThread], tmp_path: Path) -> SimThread:
    return sim_factory(model=MarketModel(seed=7, now_ms=NOW_MS), log_requests=str(tmp_path / "requests.jsonl"))


_SIM = VenueSim("okx", OkxAdapter, NOW)
sim_body, run, one, contract, logged = _SIM.body, _SIM.run, _SIM.one, _SIM.contract, _SIM.logged


def a_future(model: MarketModel) -> str:
    """The nearest BTC-USD dated future listed at NOW."""
    return next(f.symbol for f in model.futures("okx", NOW_MS) if f.symbol.startswith("BTC-USD-"))


# --- the sim against the real payloads -------------------------------------------------------------


def test_sim_books_and_tiers_match_real_shapes(pinned: SimThread) -> None:
    books = sim_body(pinned, "/api/v5/market/books?instId=BTC-USDT-SWAP&sz=2")
    assert shape_differences(books, load_payload("okx__ccxt_fetchOrderBook.json")["cases"][0]["raw"]) == []
    assert [len(level) for level in books["data"][0]["bids"]] == [4, 4]
    tiers = sim_body(pinned, "/api/v5/public/position-tiers?instType=SWAP&tdMode=isolated&instFamily=BTC-USDT")
    assert shape_differences(tiers, load_payload("okx__rest_position_tiers__capture.json")["cases"][0]["raw"]) == []
    first = tiers["data"][0]
    assert (first["tier"], first["minSz"], first["maxSz"], first["mmr"], first["imr"], first["maxLever"]) == \
        ("1", "0", "1000", "0.004", "0.01", "100")  # the research row of BTC-USDT's tier 1
    assert [r["minSz"] for r in tiers["data"][1:3]] == ["1001", "2001"]


def test_sim_position_tiers_bad_requests(pinned: SimThread) -> None:
    base = sim_body(pinned, "/api/v5/public/position-tiers?instType=SWAP&tdMode=cross&instFamily=ETH-USDT,SOL-USDT")
    assert {r["instFamily"] for r in base["data"]} == {"ETH-USDT", "SOL-USDT"}
    for qs, code in (("instType=SWAP&tdMode=isolated&instFamily=DOGE-USDT", "51000"),
                     ("instType=SWAP&tdMode=isolated", "50014"), ("instType=SWAP&instFamily=BTC-USDT", "50014")):
        with pytest.raises(urllib.error.HTTPError) as caught:
            sim_body(pinned, f"/api/v5/public/position-tiers?{qs}")
        assert json.loads(caught.value.read())["code"] == code


# --- order books ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "depth"), [("BTC-USDT-SWAP", 50), ("PEPE-USDT-SWAP", 20),
                                              ("BTC-USD-SWAP", 30), ("future", 10)])
def test_order_book_equals_model(pinned: SimThread, tmp_path: Path, symbol: str, depth: int) -> None:
    symbol = a_future(pinned.model) if symbol == "future" else symbol

    async def book(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_order_book(await one(adapter, symbol), depth)

    got = run(pinned.settings(tmp_path), book)
    c = contract(pinned.model, symbol)
    tick = okx_sim.tick_size(c)
    bids, asks = pinned.model.book(c, NOW_MS, depth, tick)
    usd = c.contract_unit == "usd"

    def coins(price: float, size: float) -> float:  # OKX's wire: whole contracts of ctVal coins or USD
        contracts = max(1, round((size * price if usd else size) / c.contract_size))
        return contracts * c.contract_size / price if usd else contracts * c.contract_size

    for side, want in ((got.bids, bids), (got.asks, asks)):
        assert len(side) == len(want) == depth
        for (p, s), (wp, ws) in zip(side, want, strict=True):
            assert p == pytest.approx(wp, abs=tick / 1000)
            assert s == pytest.approx(coins(p, ws), rel=EXACT)
    assert got.unit is Unit.CONTRACTS and got.limit == depth and got.time == NOW
    assert got.best_bid is not None and got.best_ask is not None and got.best_bid < got.best_ask
    (asked,) = logged(tmp_path, api.BOOKS)
    assert asked == {"instId": [symbol], "sz": [str(depth)]}


def test_order_book_depth_is_capped_at_400(pinned: SimThread, tmp_path: Path) -> None:
    async def book(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_order_book(await one(adapter, "ETH-USDT-SWAP"), 1000)

    got = run(pinned.settings(tmp_path), book)
    assert got.limit == 400 and len(got.bids) == 400
    assert logged(tmp_path, api.BOOKS)[0]["sz"] == ["400"]


def test_order_book_rate_limited(pinned: SimThread, tmp_path: Path) -> None:
    """A 429 fault on books is OKX's HTTP 429 with code 50011: RateLimited, naming OKX."""
    pinned.server.faults.endpoints[("okx", api.BOOKS)] = 429

    async def book(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_order_book(await one(adapter, "BTC-USDT-SWAP"), 10)

    with pytest.raises(RateLimited) as caught:
        run(pinned.settings(tmp_path, retries=0), book)
    assert caught.value.venue == "okx"


# --- candles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "period", "days"), [("BTC-USDT-SWAP", 3600, 3), ("BTC-USD-SWAP", 86400, 10),
                                                        ("PEPE-USDT-SWAP", 3600, 1), ("future", 3600, 2)])
def test_candles_equal_model(pinned: SimThread, tmp_path: Path, symbol: str, period: int, days: int) -> None:
    symbol = a_future(pinned.model) if symbol == "future" else symbol
    start = NOW - timedelta(days=days)

    async def candles(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_candles(await one(adapter, symbol), start, NOW, period)

    got = run(pinned.settings(tmp_path), candles)
    c = contract(pinned.model, symbol)
    step = period * 1000
    assert [utc_to_ms(k.time) for k in got] == list(range(-(-utc_to_ms(start) // step) * step, NOW_MS + 1, step))
    for k in got:
        t = utc_to_ms(k.time)
        o, h, low, close = pinned.model.candle(c, t, step)
        assert (k.open, k.high, k.low, k.close) == (pytest.approx(o, rel=EXACT), pytest.approx(h, rel=EXACT),
                                                    pytest.approx(low, rel=EXACT), pytest.approx(close, rel=EXACT))
        coins = 0.02 * pinned.model.open_interest_base(c, t) * step / HOUR_MS  # the sim's volume (volCcy)
        assert k.volume_base == pytest.approx(coins, rel=EXACT)
        assert k.volume_usd == pytest.approx(coins * close, rel=EXACT)  # volCcyQuote
        assert k.closed is (t + step <= NOW_MS)
    assert got[-1].closed is False


def test_old_candles_come_from_history_candles_at_once(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """90 days of hours: the latest 1,440 from candles, the rest from history-candles, 300 a page, one round."""
    sim = sim_factory(model=MarketModel(seed=7, now_ms=NOW_MS), hold=(2, 8),
                      log_requests=str(tmp_path / "requests.jsonl"))
    start = NOW - timedelta(days=90)

    async def candles(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_candles(await one(adapter, "ETH-USDT-SWAP"), start, NOW, 3600)

    got = run(sim.settings(tmp_path), candles)
    assert len(got) == 90 * 24 and all(b.time - a.time == timedelta(hours=1) for a, b in itertools.pairwise(got))
    assert len(logged(tmp_path, api.CANDLES)) + len(logged(tmp_path, api.HISTORY_CANDLES)) == 8
    assert logged(tmp_path, api.CANDLES) and logged(tmp_path, api.HISTORY_CANDLES)
    _listing, pages = sim.rounds()
    assert len(pages) == 8 and sim.flight.timed_out == 0


def test_candles_unsupported_period(pinned: SimThread, tmp_path: Path) -> None:
    async def candles(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_candles(await one(adapter, "BTC-USDT-SWAP"), NOW - timedelta(days=1), NOW, 7)

    with pytest.raises(UnsupportedError, match="no 7 s candles"):
        run(pinned.settings(tmp_path), candles)


# --- position tiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "family", "inst_type"), [("BTC-USDT-SWAP", "BTC-USDT", "SWAP"),
                                                             ("PEPE-USDT-SWAP", "PEPE-USDT", "SWAP"),
                                                             ("ETH-USD-SWAP", "ETH-USD", "SWAP"),
                                                             ("future", "BTC-USD", "FUTURES")])
def test_margin_tiers_equal_what_the_sim_serves(pinned: SimThread, tmp_path: Path, symbol: str, family: str,
                                                inst_type: str) -> None:
    symbol = a_future(pinned.model) if symbol == "future" else symbol

    async def tiers(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_margin_tiers(await one(adapter, symbol))

    got = run(pinned.settings(tmp_path), tiers)
    rows = okx_sim.tier_rows(family)
    assert [t.tier for t in got] == [int(r["tier"]) for r in rows]
    floors = [0.0] + [float(r["maxSz"]) for r in rows[:-1]]
    for tier, row, floor in zip(got, rows, floors, strict=True):
        assert (tier.floor, tier.cap, tier.unit) == (floor, float(row["maxSz"]), Unit.CONTRACTS)
        assert (tier.mmr, tier.imr, tier.max_leverage, tier.deduction) == \
            (float(row["mmr"]), float(row["imr"]), float(row["maxLever"]), 0.0)
        assert float(row["minSz"]) in (floor, floor + 1)  # OKX's minSz: the previous maxSz + 1
        assert tier.symbol == symbol and tier.source == api.POSITION_TIERS
    (asked,) = logged(tmp_path, api.POSITION_TIERS)
    assert asked == {"instType": [inst_type], "tdMode": ["isolated"], "instFamily": [family]}


def test_margin_tiers_server_error(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.endpoints[("okx", api.POSITION_TIERS)] = 500

    async def tiers(adapter: OkxAdapter) -> Any:
        return await adapter.fetch_margin_tiers(await one(adapter, "BTC-USDT-SWAP"))

    with pytest.raises(VenueError) as caught:
        run(pinned.settings(tmp_path, retries=0), tiers)
    assert caught.value.venue == "okx" and caught.value.status == 500 and api.POSITION_TIERS in str(caught.value)
