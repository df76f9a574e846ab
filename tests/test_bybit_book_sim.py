"""The real Bybit adapter's order books, candles and risk-limit tiers against the simulated venue over sockets, and
the simulated orderbook / kline / risk-limit answers against the real payloads (shapes).

Expected values come from the market model (``MarketModel.book``, ``MarketModel.candle``) with Bybit's wire
rounding done here: linear book sizes on the 0.001 lot, inverse sizes in whole USD contracts (so coins are within
one contract's worth: compared at rel=1e-12 after the same rounding), prices at full precision (rel=1e-12).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import SimThread, load_payload
from dtrack.errors import RateLimited, UnsupportedError, VenueError
from dtrack.records import Unit
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues import bybit as bybit_sim
from dtrack.venues.bybit.adapter import BybitAdapter
from dtrack.venues.fields import ms_to_utc, page_windows, utc_to_ms
from pinned_sim import VenueSim
from shapes import shape_differences

NOW_MS = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC, the pinned market clock
NOW = ms_to_utc(NOW_MS)
EXACT = 1e-12
#: ccxt re-serialised these as strings (INDEX.md); the sim sends JSON numbers as Bybit does
CCXT_LOOSE = frozenset({"retCode", "time", "ts", "u", "seq"})
RISK_LIMIT = "/v5/market/risk-limit"


@pytest.fixture
def pinned(sim_factory: Callable[..., SimThread], tmp_path: Path) -> SimThread:
    return sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(tmp_path / "requests.jsonl"))


_SIM = VenueSim("bybit", BybitAdapter, NOW)
sim_body, run, one, contract, logged = _SIM.body, _SIM.run, _SIM.one, _SIM.contract, _SIM.logged


# --- the sim against the real payloads -------------------------------------------------------------


@pytest.mark.parametrize(("path_qs", "name", "index", "loose"), [
    ("/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=2", "bybit__ccxt_fetchOrderBook.json", 0, CCXT_LOOSE),
    ("/v5/market/orderbook?category=inverse&symbol=BTCUSD&limit=5", "bybit__ccxt_fetchOrderBook.json", 0, CCXT_LOOSE),
    ("/v5/market/risk-limit?category=inverse&symbol=BTCUSD", "bybit__rest_risk_limit__docs.json", 0, frozenset()),
    ("/v5/market/risk-limit?category=linear&symbol=BTCUSDT", "bybit__rest_risk_limit__testnet.json", 1,
     frozenset()),
])
def test_sim_matches_real_shapes(pinned: SimThread, path_qs: str, name: str, index: int,
                                 loose: frozenset[str]) -> None:
    body = sim_body(pinned, path_qs)
    real = load_payload(name)["cases"][index]["raw"]
    assert shape_differences(body, real, loose_types=loose) == []


def test_sim_risk_limit_is_continuous_and_pages_15_symbols(pinned: SimThread) -> None:
    """Every simulated table: caps rising, fractions, mmDeduction "" then continuous at each cap (checked with
    exact decimals here); a linear page holds at most 15 symbols and names the next one."""
    first = sim_body(pinned, "/v5/market/risk-limit?category=linear")["result"]
    assert len({r["symbol"] for r in first["list"]}) == 15 and first["nextPageCursor"]
    rest = sim_body(pinned, f"/v5/market/risk-limit?category=linear&cursor={first['nextPageCursor']}")["result"]
    assert rest["nextPageCursor"] == "" and not {r["symbol"] for r in rest["list"]} & {r["symbol"]
                                                                                      for r in first["list"]}
    everything = first["list"] + rest["list"] + sim_body(pinned, "/v5/market/risk-limit?category=inverse")[
        "result"]["list"]
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for row in everything:
        by_symbol.setdefault(row["symbol"], []).append(row)
    assert {"BTCUSDT", "1000PEPEUSDT", "BTCPERP", "BTCUSD", "ETHUSD", "SOLUSDT"} <= set(by_symbol)
    for rows in by_symbol.values():
        assert rows[0]["mmDeduction"] == "" and rows[0]["isLowestRisk"] == 1
        for low, high in itertools.pairwise(rows):
            cap = Decimal(low["riskLimitValue"])
            assert Decimal(high["riskLimitValue"]) > cap
            low_d = Decimal(low["mmDeduction"] or "0")
            assert cap * Decimal(low["maintenanceMargin"]) - low_d == \
                cap * Decimal(high["maintenanceMargin"]) - Decimal(high["mmDeduction"])
            assert float(high["initialMargin"]) * float(high["maxLeverage"]) == pytest.approx(1.0, abs=0.01)


# --- order books ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "depth"), [("BTCUSDT", 50), ("1000PEPEUSDT", 20), ("BTCUSD", 30),
                                              ("ETHUSDT-29MAY26", 10)])
def test_order_book_equals_model(pinned: SimThread, tmp_path: Path, symbol: str, depth: int) -> None:
    async def book(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_order_book(await one(adapter, symbol), depth)

    got = run(pinned.settings(tmp_path), book)
    c = contract(pinned.model, symbol)
    bids, asks = pinned.model.book(c, NOW_MS, depth, bybit_sim.tick_size(c))

    def expected(side: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out = []
        for price, size in side:  # Bybit's wire: linear 0.001 lots of the venue's base, inverse whole USD
            if c.margin == "inverse":
                out.append((price, max(1, round(size * price / c.contract_size)) * c.contract_size / price))
            else:
                out.append((price / c.multiplier, max(0.001, round(size, 3)) * c.multiplier))
        return out

    for side, want in ((got.bids, expected(bids)), (got.asks, expected(asks))):
        assert len(side) == len(want) == depth
        for (p, s), (wp, ws) in zip(side, want, strict=True):
            assert p == pytest.approx(wp, rel=EXACT) and s == pytest.approx(ws, rel=EXACT)
    assert got.limit == depth and got.time == NOW and got.best_bid is not None and got.best_ask is not None
    assert got.best_bid < got.best_ask
    assert got.unit is (Unit.USD if c.margin == "inverse" else Unit.BASE)
    assert got.sequence == NOW_MS // 100 % 10_000_000
    (asked,) = logged(tmp_path, "/v5/market/orderbook")
    assert asked["limit"] == [str(depth)] and asked["category"] == [c.margin]


def test_order_book_depth_is_capped_at_500(pinned: SimThread, tmp_path: Path) -> None:
    async def book(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_order_book(await one(adapter, "ETHUSDT"), 800)

    got = run(pinned.settings(tmp_path), book)
    assert got.limit == 500 and len(got.asks) == 500
    assert logged(tmp_path, "/v5/market/orderbook")[0]["limit"] == ["500"]


def test_order_book_rate_limited(pinned: SimThread, tmp_path: Path) -> None:
    """A 429 fault on the orderbook endpoint is Bybit's retCode 10006 in an HTTP 200: RateLimited, naming Bybit."""
    pinned.server.faults.endpoints[("bybit", "/v5/market/orderbook")] = 429

    async def book(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_order_book(await one(adapter, "BTCUSDT"), 10)

    with pytest.raises(RateLimited) as caught:
        run(pinned.settings(tmp_path, retries=0), book)
    assert caught.value.venue == "bybit" and caught.value.code == "10006"


# --- candles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "period", "days"), [("BTCUSDT", 3600, 3), ("1000PEPEUSDT", 3600, 1),
                                                        ("BTCUSD", 86400, 20), ("SOLUSDT", 86400, 5)])
def test_candles_equal_model(pinned: SimThread, tmp_path: Path, symbol: str, period: int, days: int) -> None:
    start = NOW - timedelta(days=days)

    async def candles(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_candles(await one(adapter, symbol), start, NOW, period)

    got = run(pinned.settings(tmp_path), candles)
    c = contract(pinned.model, symbol)
    step = period * 1000
    opens = list(range(-(-utc_to_ms(start) // step) * step, NOW_MS + 1, step))
    assert [utc_to_ms(k.time) for k in got] == opens
    for k in got:
        t = utc_to_ms(k.time)
        o, h, low, close = pinned.model.candle(c, t, step)
        assert (k.open, k.high, k.low, k.close) == (pytest.approx(o / c.multiplier, rel=EXACT),
                                                    pytest.approx(h / c.multiplier, rel=EXACT),
                                                    pytest.approx(low / c.multiplier, rel=EXACT),
                                                    pytest.approx(close / c.multiplier, rel=EXACT))
        coins = 0.01 * pinned.model.open_interest_base(c, t) * step / HOUR_MS  # the sim's volume, venue base
        if c.margin == "inverse":  # volume: whole USD contracts; turnover: coins to 8 decimals
            assert k.volume_usd == round(coins * close / c.contract_size) * c.contract_size
            assert k.volume_base == pytest.approx(round(coins, 8), rel=EXACT)
        else:  # volume: the base coin to 3 decimals; turnover: the quote to 4
            assert k.volume_base == pytest.approx(round(coins, 3) * c.multiplier, rel=EXACT)
            assert k.volume_usd == pytest.approx(round(coins * close, 4), rel=EXACT)
        assert k.closed is (t + step <= NOW_MS) and k.period_seconds == period
    assert got[-1].closed is False  # the bar holding now


def test_candle_pages_are_requested_at_once(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """90 days of hours with 1000-bar pages: 3 kline pages, one round after the listing."""
    sim = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2, 3), log_requests=str(tmp_path / "requests.jsonl"))
    start = NOW - timedelta(days=90)

    async def candles(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_candles(await one(adapter, "ETHUSDT"), start, NOW, 3600)

    got = run(sim.settings(tmp_path), candles)
    assert len(got) == len({k.time for k in got}) == (NOW_MS - (-(-utc_to_ms(start) // HOUR_MS) * HOUR_MS)) \
        // HOUR_MS + 1
    windows = sorted((int(q["start"][0]), int(q["end"][0])) for q in logged(tmp_path, "/v5/market/kline"))
    assert windows == page_windows(utc_to_ms(start), NOW_MS, HOUR_MS, 1000) and len(windows) == 3
    _listing, pages = sim.rounds()
    assert [urlsplit(p).path for p in pages] == ["/v5/market/kline"] * 3
    assert sim.flight.timed_out == 0


def test_candles_unsupported_period(pinned: SimThread, tmp_path: Path) -> None:
    async def candles(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_candles(await one(adapter, "BTCUSDT"), NOW - timedelta(days=1), NOW, 5400)

    with pytest.raises(UnsupportedError, match="no 5400 s klines"):
        run(pinned.settings(tmp_path), candles)


# --- risk-limit tiers ----------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["BTCUSDT", "1000PEPEUSDT", "BTCUSD", "BTCUSDT-29MAY26"])
def test_margin_tiers_equal_what_the_sim_serves(pinned: SimThread, tmp_path: Path, symbol: str) -> None:
    async def tiers(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_margin_tiers(await one(adapter, symbol))

    got = run(pinned.settings(tmp_path), tiers)
    c = contract(pinned.model, symbol)
    rows = bybit_sim.risk_tiers(c)
    assert [t.tier for t in got] == list(range(1, len(rows) + 1))
    floors = [0.0] + [float(r["riskLimitValue"]) for r in rows[:-1]]
    for tier, row, floor in zip(got, rows, floors, strict=True):
        assert (tier.floor, tier.cap) == (floor, float(row["riskLimitValue"]))
        assert (tier.mmr, tier.imr, tier.max_leverage) == (float(row["maintenanceMargin"]),
                                                           float(row["initialMargin"]), float(row["maxLeverage"]))
        assert tier.deduction == float(row["mmDeduction"] or 0)
        assert tier.unit is (Unit.BASE if c.margin == "inverse" else Unit.USD)
        assert tier.time == NOW and tier.source == RISK_LIMIT
    for low, high in itertools.pairwise(got):  # continuity at each cap (maintenance margin in USD / coins)
        assert high.floor * low.mmr - low.deduction == pytest.approx(high.floor * high.mmr - high.deduction,
                                                                     rel=1e-12)
    (asked,) = logged(tmp_path, RISK_LIMIT)
    assert asked == {"category": [c.margin], "symbol": [symbol]}


def test_margin_tiers_follow_the_cursor(pinned: SimThread, tmp_path: Path) -> None:
    """With pages capped at 2 rows, BTCUSDT's 7 tiers come in 4 pages, each asked with the previous cursor."""
    pinned.server.faults.page_caps[("bybit", RISK_LIMIT)] = 2

    async def tiers(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_margin_tiers(await one(adapter, "BTCUSDT"))

    got = run(pinned.settings(tmp_path), tiers)
    rows = bybit_sim.risk_tiers(contract(pinned.model, "BTCUSDT"))
    assert [t.cap for t in got] == [float(r["riskLimitValue"]) for r in rows] and len(got) == 7
    asked = logged(tmp_path, RISK_LIMIT)
    assert len(asked) == 4 and "cursor" not in asked[0]
    assert [q["cursor"] for q in asked[1:]] == [[f"symbol=BTCUSDT&id={n}"] for n in (2, 4, 6)]


def test_margin_tiers_server_error(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.endpoints[("bybit", RISK_LIMIT)] = 500

    async def tiers(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_margin_tiers(await one(adapter, "BTCUSDT"))

    with pytest.raises(VenueError) as caught:
        run(pinned.settings(tmp_path, retries=0), tiers)
    assert caught.value.venue == "bybit" and caught.value.status == 500 and RISK_LIMIT in str(caught.value)
