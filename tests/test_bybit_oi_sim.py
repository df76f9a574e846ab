"""Simulated Bybit open interest, OI history, klines, account ratio, spot and dated futures against the real
captures (shapes), and the real Bybit adapter against the sim over sockets (values equal the model's).

Tolerances: the sim writes the model's floats at full precision, so values read back are compared at
rel=1e-12; inverse open interest is whole 1-USD contracts, so its coin amount is within 1 / mark of the
model's (abs tolerance stated per test); account-ratio shares are four decimals (abs 5e-5).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import SimThread, load_payload
from dtrack.config import Settings
from dtrack.errors import DtrackError, UnsupportedError, VenueError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimFuture, SimPerp
from dtrack.sim.server import SimHttpError, SimRequest
from dtrack.sim.venues import bybit as bybit_sim
from dtrack.venues.bybit.adapter import BybitAdapter
from dtrack.venues.fields import ms_to_utc, page_windows, utc_to_ms
from dtrack.venues.pool import VenuePool, open_pool
from shapes import shape_differences

T = TypeVar("T")
NOW_MS = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC, the pinned market clock
NOW = ms_to_utc(NOW_MS)
CCXT_LOOSE = frozenset({"retCode", "time"})  # ccxt re-serialised these as strings (INDEX.md)


def sim_body(sim: SimThread, path_qs: str) -> Any:
    with urllib.request.urlopen(sim.venue_urls()["bybit"]["rest"] + path_qs, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def real(name: str, index: int = 0) -> Any:
    return load_payload(name)["cases"][index]["raw"]


@pytest.fixture
def pinned(sim_factory: Callable[..., SimThread], tmp_path: Path) -> SimThread:
    """A sim with a fixed market clock and a request log."""
    return sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(tmp_path / "requests.jsonl"))


def run(settings: Settings, fn: Callable[[BybitAdapter], Awaitable[T]]) -> T:
    """``fn(adapter)`` in a fresh loop, the adapter's clock pinned to the sim's."""

    async def main() -> T:
        async with open_pool(settings, now=lambda: NOW) as pool:
            return await fn(bybit(pool))

    return asyncio.run(main())


def bybit(pool: VenuePool) -> BybitAdapter:
    adapter = pool.adapter("bybit")
    assert isinstance(adapter, BybitAdapter)
    return adapter


def logged(tmp_path: Path, path_prefix: str) -> list[str]:
    rows = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["path"] for r in rows if r["venue"] == "bybit" and r["path"].startswith(path_prefix)]


def contract(model: MarketModel, symbol: str) -> SimPerp | SimFuture:
    found = model.perp("bybit", symbol) or model.future("bybit", symbol, NOW_MS)
    assert found is not None
    return found


async def one(adapter: BybitAdapter, symbol: str) -> Instrument:
    (inst,) = [i for i in await adapter.contracts(["BTC", "ETH", "SOL", "PEPE"]) if i.symbol == symbol]
    return inst


# --- (a) conformance with the real captures -----------------------------------------------------


@pytest.mark.parametrize(("path_qs", "name", "index", "loose"), [
    ("/v5/market/open-interest?category=inverse&symbol=BTCUSD&intervalTime=1d&limit=5",
     "bybit__rest_open_interest__docs.json", 0, frozenset()),
    ("/v5/market/open-interest?category=inverse&symbol=BTCUSD&intervalTime=1h&limit=1",
     "bybit__ccxt_fetchOpenInterest.json", 1, frozenset()),
    ("/v5/market/open-interest?category=linear&symbol=BTCUSDT-26JUN26&intervalTime=4h&limit=1",
     "bybit__ccxt_fetchOpenInterest.json", 0, frozenset()),
    ("/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=1h&limit=2",
     "bybit__rest_account_ratio__docs.json", 0, frozenset()),
    ("/v5/market/kline?category=linear&symbol=BTCUSDT&interval=60&start=1779990191000&limit=3",
     "bybit__ccxt_fetchOHLCV.json", 0, CCXT_LOOSE),
    ("/v5/market/kline?category=inverse&symbol=BTCUSDM26&interval=D&limit=3", "bybit__ccxt_fetchOHLCV.json", 0,
     CCXT_LOOSE),
    ("/v5/market/tickers?category=spot", "bybit__rest_tickers__docs.json", 2, frozenset()),
    ("/v5/market/tickers?category=spot&symbol=PEPEUSDT", "bybit__rest_tickers__docs.json", 2, frozenset()),
])
def test_sim_matches_real_shapes(pinned: SimThread, path_qs: str, name: str, index: int,
                                 loose: frozenset[str]) -> None:
    body = sim_body(pinned, path_qs)
    assert body["result"]["list"], "the sim served no rows to compare"
    assert shape_differences(body, real(name, index), loose_types=loose) == []


def test_sim_future_ticker_matches_the_real_futures_ticker(pinned: SimThread) -> None:
    """Every futures row of the REST tickers has the fields of Bybit's real futures ticker example (a
    websocket snapshot: ``tickDirection`` is websocket-only) and of a real REST ticker row."""
    rows = sim_body(pinned, "/v5/market/tickers?category=linear")["result"]["list"]
    futures = [r for r in rows if r["deliveryTime"] != "0"]
    assert len(futures) == 10
    ws_future = real("bybit__ws_tickers__docs.json", 1)["data"]
    rest_row = real("bybit__ccxt_fetchFundingRates.json")["result"]["list"][0]
    for row in futures:
        assert shape_differences(row, ws_future, optional=frozenset({"tickDirection"})) == []
        assert shape_differences(row, rest_row, optional=frozenset({"timestamp"})) == []
        assert row["fundingRate"] == row["nextFundingTime"] == ""
        mark, index = float(row["markPrice"]), float(row["indexPrice"])
        assert float(row["basisRate"]) == pytest.approx(mark / index - 1, abs=5e-9)
        assert float(row["basis"]) == pytest.approx(float(row["lastPrice"]) - index, rel=1e-9)
        days = (int(row["deliveryTime"]) - NOW_MS) / DAY_MS
        assert float(row["basisRateYear"]) == pytest.approx((mark / index - 1) * 365 / days, abs=5e-9)


def test_sim_lists_futures_with_real_naming(pinned: SimThread) -> None:
    linear = sim_body(pinned, "/v5/market/instruments-info?category=linear")["result"]["list"]
    inverse = sim_body(pinned, "/v5/market/instruments-info?category=inverse")["result"]["list"]
    futures = {r["symbol"]: r for r in linear + inverse if r["contractType"].endswith("Futures")}
    assert sorted(futures) == sorted([
        "BTCUSDT-29MAY26", "BTCUSDT-5JUN26", "BTCUSDT-26JUN26", "BTCUSDT-25SEP26", "BTC-26JUN26", "BTC-25SEP26",
        "ETHUSDT-29MAY26", "ETHUSDT-5JUN26", "ETHUSDT-26JUN26", "ETHUSDT-25SEP26",
        "BTCUSDM26", "BTCUSDU26", "ETHUSDM26", "ETHUSDU26"])
    usdc = futures["BTC-26JUN26"]
    assert (usdc["contractType"], usdc["quoteCoin"], usdc["settleCoin"]) == ("LinearFutures", "USDC", "USDC")
    assert usdc["deliveryTime"] == "1782460800000"  # 2026-06-26 08:00 UTC, the last Friday of June
    inv = futures["BTCUSDU26"]
    assert (inv["contractType"], inv["quoteCoin"], inv["settleCoin"]) == ("InverseFutures", "USD", "BTC")
    # a weekly is listed two weeks before its expiry, when the one before it expires
    weekly = futures["BTCUSDT-5JUN26"]
    assert ms_to_utc(int(weekly["launchTime"])) == datetime.fromisoformat("2026-05-22T08:00:00+00:00")


@pytest.mark.parametrize(("path_qs", "message"), [
    ("/v5/market/open-interest?category=linear&symbol=NOPEUSDT&intervalTime=1h", "params error: symbol invalid"),
    ("/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=2h", "params error: intervalTime invalid"),
    ("/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=1h&limit=201",
     "params error: limit out of range"),
    ("/v5/market/open-interest?category=spot&symbol=BTCUSDT&intervalTime=1h", "Illegal category"),
    ("/v5/market/kline?category=inverse&symbol=BTCUSDT&interval=60", "params error: symbol invalid"),
    ("/v5/market/kline?category=linear&symbol=BTCUSDT&interval=61", "params error: interval invalid"),
    ("/v5/market/kline?category=linear&symbol=BTCUSDT&interval=60&limit=1001", "params error: limit out of range"),
    ("/v5/market/account-ratio?category=linear&symbol=BTCPERP&period=5min", "params error: symbol invalid"),
    ("/v5/market/account-ratio?category=linear&symbol=BTCUSDT-5JUN26&period=5min", "params error: symbol invalid"),
    ("/v5/market/account-ratio?category=linear&symbol=BTCUSDT&period=2h", "params error: period invalid"),
    ("/v5/market/tickers?category=spot&symbol=NOPEUSDT", "params error: symbol invalid"),
])
def test_sim_bad_requests_are_retcode_10001(pinned: SimThread, path_qs: str, message: str) -> None:
    body = sim_body(pinned, path_qs)
    assert (body["retCode"], body["retMsg"]) == (10001, message)


def test_sim_history_paging_rules(pinned: SimThread) -> None:
    base = "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=1h"
    first = sim_body(pinned, base)["result"]
    times = [int(r["timestamp"]) for r in first["list"]]
    assert len(times) == 50 and times == sorted(times, reverse=True)  # default limit, newest first
    assert times[0] == NOW_MS // HOUR_MS * HOUR_MS
    after = sim_body(pinned, base + "&cursor=" + first["nextPageCursor"])["result"]["list"]
    assert int(after[0]["timestamp"]) == times[-1] - HOUR_MS  # the cursor continues before the last row
    klines = sim_body(pinned, "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=240&end=1779984000000"
                              "&limit=2")["result"]["list"]
    assert [int(k[0]) for k in klines] == [1779984000000, 1779969600000]  # the last two up to ``end``


# --- (b) the real adapter over real sockets ------------------------------------------------------


def test_listing_holds_futures_with_expiry(pinned: SimThread, tmp_path: Path) -> None:
    got = run(pinned.settings(tmp_path), lambda a: a.contracts(["BTC", "ETH"]))
    model = pinned.model
    futures = {i.symbol: i for i in got if i.kind is Kind.FUTURE}
    sim_futures = {f.symbol: f for f in model.futures("bybit", NOW_MS) if f.asset in ("BTC", "ETH")}
    assert sorted(futures) == sorted(sim_futures)
    for symbol, inst in futures.items():
        f = sim_futures[symbol]
        assert (inst.asset, inst.quote, inst.margin.value, inst.market) == (f.asset, f.quote, f.margin, f.margin)
        assert inst.expiry == ms_to_utc(f.expiry_ms)
        assert inst.settle == (f.asset if f.margin == "inverse" else f.quote)
        assert (inst.contract_size, inst.contract_unit) == (1.0, Unit.USD if f.margin == "inverse" else Unit.BASE)
    assert futures["BTCUSDM26"].normalized_id == "BTC-USD-20260626"
    perps = [i.symbol for i in got if i.kind is Kind.PERP]
    assert sorted(perps) == sorted(p.symbol for p in model.perps("bybit") if p.asset in ("BTC", "ETH"))


def test_open_interest_equals_model(pinned: SimThread, tmp_path: Path) -> None:
    model = pinned.model

    async def oi(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_open_interest(await adapter.contracts(["BTC", "ETH", "SOL", "PEPE"]))

    answer = run(pinned.settings(tmp_path), oi)
    assert answer.errors == []
    assert len(answer.items) == len(model.perps("bybit")) + len(model.futures("bybit", NOW_MS))
    for item in answer.items:
        c, inst = contract(model, item.instrument.symbol), item.instrument
        mark = model.contract_mark(c, NOW_MS)
        base = model.open_interest_base(c, NOW_MS) * c.multiplier  # units of the asset, one side
        assert item.price_used == pytest.approx(mark / c.multiplier, rel=1e-12)
        assert (item.price_source, item.time) == ("mark", NOW)
        if inst.margin is Margin.INVERSE:
            assert item.unit is Unit.USD and item.amount == round(base * mark)  # whole 1-USD contracts
            assert item.usd == item.amount
            assert item.base == pytest.approx(base, abs=1 / mark)
        else:
            assert item.unit is Unit.BASE
            assert item.amount == pytest.approx(base / c.multiplier, rel=1e-12)  # in the venue's base (1000PEPE)
            assert item.base == pytest.approx(base, rel=1e-12)
            assert item.usd == pytest.approx(base * mark / c.multiplier, rel=1e-12)
        if item.instrument.symbol == "ETHUSD":  # the older ticker shape: openInterest is one side
            assert item.note.startswith("openInterest (USD contracts of 1 USD): no singleOpenInterest")
        else:
            assert item.note.startswith("singleOpenInterest (") and "both sides since 2026-06-11" in item.note
    assert len(logged(tmp_path, "/v5/market/tickers")) == 2  # linear + inverse, one round


def test_quotes_and_spot_equal_model(pinned: SimThread, tmp_path: Path) -> None:
    model = pinned.model

    async def prices(adapter: BybitAdapter) -> Any:
        quotes = await adapter.fetch_quotes(await adapter.contracts(["BTC", "PEPE"]))
        return quotes, await adapter.fetch_spot(["BTC", "ETH", "SOL", "PEPE", "NOPE"])

    quotes, spot = run(pinned.settings(tmp_path), prices)
    assert quotes.errors == [] and len(quotes.items) == 12  # 3 BTC perps + 1000PEPEUSDT + 8 BTC futures
    for q in quotes.items:
        c = contract(model, q.instrument.symbol)
        mark = model.contract_mark(c, NOW_MS) / c.multiplier
        assert q.mark_price == pytest.approx(mark, rel=1e-12) and q.last_price == pytest.approx(mark, rel=1e-12)
        assert q.index_price == pytest.approx(model.index_price(c.asset, NOW_MS), rel=1e-12)
    assert spot.errors == []
    assert sorted((s.asset, s.symbol, s.quote) for s in spot.items) == [
        ("BTC", "BTCUSDT", "USDT"), ("ETH", "ETHUSDT", "USDT"), ("PEPE", "PEPEUSDT", "USDT"),
        ("SOL", "SOLUSDT", "USDT")]
    for s in spot.items:
        assert s.price == pytest.approx(model.spot_price("bybit", s.asset, NOW_MS), rel=1e-12)
    assert logged(tmp_path, "/v5/market/tickers?category=spot") == ["/v5/market/tickers?category=spot"]


def test_long_short_equals_model(pinned: SimThread, tmp_path: Path) -> None:
    async def ratios(adapter: BybitAdapter) -> Any:
        perps = await adapter.perpetuals(["BTC", "PEPE"])
        return await adapter.fetch_long_short("BTC", perps), await adapter.fetch_long_short("PEPE", perps)

    btc, pepe = run(pinned.settings(tmp_path), ratios)
    ((b,), (p,)) = btc.items, pepe.items  # BTCPERP (USDC) and BTCUSD publish none asked for here
    at = NOW_MS // (5 * 60_000) * (5 * 60_000)
    for got, symbol in ((b, "BTCUSDT"), (p, "1000PEPEUSDT")):
        share = pinned.model.long_share("bybit", symbol, "accounts", at)
        assert (got.symbol, got.time, got.period) == (symbol, ms_to_utc(at), "5min")
        assert got.long_share == pytest.approx(share, abs=5e-5)
        assert got.ratio == pytest.approx(share / (1 - share), rel=5e-4)
        assert got.definition == f"accounts net long / net short (USDT perpetual {symbol})"
    calls = logged(tmp_path, "/v5/market/account-ratio")
    assert sorted(calls) == sorted(f"/v5/market/account-ratio?category=linear&symbol={s}&period=5min&limit=1"
                                   for s in ("BTCUSDT", "1000PEPEUSDT"))


def test_price_history_equals_model(pinned: SimThread, tmp_path: Path) -> None:
    start = NOW - timedelta(days=7)

    async def history(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_price_history(await one(adapter, "1000PEPEUSDT"), start, NOW, 1)

    points = run(pinned.settings(tmp_path), history)
    c = contract(pinned.model, "1000PEPEUSDT")
    closes = [ms_to_utc(t) for t in range(utc_to_ms(start) // HOUR_MS * HOUR_MS + HOUR_MS, NOW_MS, HOUR_MS)]
    assert [p.time for p in points] == [*closes, NOW]  # 168 closed candles, then the open one at ``now``
    for p in points:
        expected = pinned.model.contract_mark(c, min(utc_to_ms(p.time), NOW_MS)) / 1000  # per PEPE
        assert p.price == pytest.approx(expected, rel=1e-12)
    (call,) = logged(tmp_path, "/v5/market/kline")
    assert "interval=60" in call and "limit=1000" in call


@pytest.mark.parametrize(("symbol", "period", "days"), [("BTCUSDT", 1, 7), ("BTCUSD", 4, 30), ("ETHUSD", 24, 60),
                                                        ("1000PEPEUSDT", 1, 2)])
def test_oi_history_equals_model(pinned: SimThread, tmp_path: Path, symbol: str, period: int, days: int) -> None:
    model, start = pinned.model, NOW - timedelta(days=days)

    async def history(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_oi_history(await one(adapter, symbol), start, NOW, period)

    hist = run(pinned.settings(tmp_path), history)
    step = period * HOUR_MS
    c = contract(model, symbol)
    times = list(range(-(-utc_to_ms(start) // step) * step, NOW_MS + 1, step))
    assert len(times) == days * 24 // period  # the window is complete
    assert [p.time for p in hist.points] == [ms_to_utc(t) for t in times]
    assert (hist.venue, hist.symbol, hist.period_hours) == ("bybit", symbol, float(period))
    for p, t in zip(hist.points, times, strict=True):
        mark = model.contract_mark(c, t)
        base = model.open_interest_base(c, t) * c.multiplier
        if c.margin == "inverse":
            assert p.usd == round(base * mark)
            assert p.base == pytest.approx(base, abs=1 / mark)
        else:
            assert p.base == pytest.approx(base, rel=1e-12)
            assert p.usd == pytest.approx(base * mark / c.multiplier, rel=1e-12)
    if symbol == "ETHUSD":  # the older shape: openInterest alone, one side
        assert hist.note.startswith("openInterest: no singleOpenInterest in this answer")
    else:
        assert hist.note.startswith("singleOpenInterest: one side; openInterest counts both sides")
    assert len(logged(tmp_path, "/v5/market/open-interest")) == -(-len(times) // 200)


def test_oi_history_pages_are_requested_concurrently(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """60 days of hourly points: 8 open-interest pages and 2 kline pages, all in one round (requests all in
    flight before any is answered) after the listing's. The sim holds each round's answers until its requests
    have arrived, so the rounds are what the adapter sent together however slow the machine."""
    sim = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2, 10), log_requests=str(tmp_path / "requests.jsonl"))
    start = NOW - timedelta(days=60)

    async def history(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_oi_history(await one(adapter, "BTCUSDT"), start, NOW, 1)

    hist = run(sim.settings(tmp_path), history)
    assert len(hist.points) == 60 * 24 and hist.note.startswith("singleOpenInterest")
    assert all(p.usd is not None for p in hist.points)
    oi_calls = [parse_qs(urlsplit(c).query) for c in logged(tmp_path, "/v5/market/open-interest")]
    windows = sorted((int(q["startTime"][0]), int(q["endTime"][0])) for q in oi_calls)
    assert windows == page_windows(utc_to_ms(start), NOW_MS, HOUR_MS, 200) and len(windows) == 8
    assert all("cursor" not in q for q in oi_calls)
    assert len(logged(tmp_path, "/v5/market/kline")) == 2
    _listing, pages = sim.rounds()  # one round of 10 requests (sequential paging would be 10 rounds)
    assert [urlsplit(p).path for p in pages] == ["/v5/market/kline"] * 2 + ["/v5/market/open-interest"] * 8
    assert sim.flight.timed_out == 0


def test_oi_history_of_a_future_says_when_it_launched(pinned: SimThread, tmp_path: Path) -> None:
    start = NOW - timedelta(days=7)

    async def history(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_oi_history(await one(adapter, "BTCUSDT-5JUN26"), start, NOW, 4)

    hist = run(pinned.settings(tmp_path), history)
    launch = datetime.fromisoformat("2026-05-22T08:00:00+00:00")
    assert hist.points[0].time == launch and len(hist.points) == (NOW_MS // (4 * HOUR_MS) * 4 * HOUR_MS
                                                                  - utc_to_ms(launch)) // (4 * HOUR_MS) + 1
    c = contract(pinned.model, "BTCUSDT-5JUN26")
    for p in hist.points:  # each converted with the open of the candle starting then (the launch too)
        t = utc_to_ms(p.time)
        assert p.base == pytest.approx(pinned.model.open_interest_base(c, t), rel=1e-12)
        assert p.usd == pytest.approx(p.base * pinned.model.contract_mark(c, t), rel=1e-12)
    assert "only from 2026-05-22 08:00 UTC (its launch)" in hist.note
    assert f"asked from {start:%Y-%m-%d %H:%M} UTC" in hist.note


def test_unsupported_period(pinned: SimThread, tmp_path: Path) -> None:
    async def history(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_oi_history(await one(adapter, "BTCUSDT"), NOW - timedelta(days=1), NOW, 2)

    with pytest.raises(UnsupportedError, match="periods: 1 h, 4 h, 24 h"):
        run(pinned.settings(tmp_path), history)


# --- faults -------------------------------------------------------------------------------------


def fail_with_500(req: SimRequest) -> Any:
    raise SimHttpError(500, {"retCode": 10000, "retMsg": "Server Timeout"})


def test_history_endpoint_500_fails_the_call_not_the_venue(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.endpoints[("bybit", "/v5/market/open-interest")] = 500

    async def calls(adapter: BybitAdapter) -> Any:
        btc = await one(adapter, "BTCUSDT")
        done = await asyncio.gather(adapter.fetch_oi_history(btc, NOW - timedelta(days=1), NOW, 1),
                                    adapter.fetch_open_interest([btc]), return_exceptions=True)
        return done

    history, current = run(pinned.settings(tmp_path, retries=0), calls)
    assert isinstance(history, VenueError) and history.venue == "bybit" and history.status == 500
    assert "/v5/market/open-interest" in str(history)
    assert current.errors == [] and [i.instrument.symbol for i in current.items] == ["BTCUSDT"]


def test_kline_500_keeps_linear_coin_history_and_fails_inverse(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.endpoints[("bybit", "/v5/market/kline")] = 500

    async def calls(adapter: BybitAdapter) -> Any:
        start = NOW - timedelta(days=1)
        linear, inverse = await one(adapter, "BTCUSDT"), await one(adapter, "BTCUSD")
        return await asyncio.gather(adapter.fetch_oi_history(linear, start, NOW, 1),
                                    adapter.fetch_oi_history(inverse, start, NOW, 1), return_exceptions=True)

    linear, inverse = run(pinned.settings(tmp_path, retries=0), calls)
    assert not isinstance(linear, BaseException)
    assert len(linear.points) == 24 and all(p.usd is None for p in linear.points)
    assert "no USD values: klines failed" in linear.note
    assert isinstance(inverse, DtrackError) and "/v5/market/kline" in str(inverse)


def test_a_category_that_fails_is_an_error_of_its_own(pinned: SimThread, tmp_path: Path) -> None:
    tickers = partial(bybit_sim.tickers, pinned.model)

    def inverse_fails(req: SimRequest) -> Any:
        if req.query.get("category") == "inverse":
            fail_with_500(req)
        return tickers(req)

    async def prices(adapter: BybitAdapter) -> Any:
        contracts = await adapter.contracts(["ETH"])
        pinned.server.routes.add("bybit", "rest", "GET", "/v5/market/tickers", inverse_fails)
        inverse = [i for i in contracts if i.margin is Margin.INVERSE]
        return await asyncio.gather(adapter.fetch_quotes(contracts), adapter.fetch_open_interest(inverse),
                                    return_exceptions=True)

    quotes, inverse_only = run(pinned.settings(tmp_path, retries=0), prices)
    assert sorted(q.instrument.symbol for q in quotes.items) == sorted(
        ["ETHUSDT", "ETHPERP", "ETHUSDT-29MAY26", "ETHUSDT-5JUN26", "ETHUSDT-26JUN26", "ETHUSDT-25SEP26"])
    (err,) = quotes.errors  # one error for the category, not one per inverse contract
    assert isinstance(err, VenueError) and err.status == 500 and "/v5/market/tickers" in str(err)
    assert isinstance(inverse_only, VenueError)  # nothing answered: the call fails


def test_missing_and_broken_rows_are_per_contract_errors(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.odd_rows[("bybit", "/v5/market/tickers", "BTCUSDT-26JUN26")] = {"markPrice": ""}
    ghost = Instrument(venue="bybit", symbol="BTCUSDT-25DEC26", asset="BTC", quote="USDT", settle="USDT",
                       kind=Kind.FUTURE, margin=Margin.LINEAR,
                       expiry=datetime.fromisoformat("2026-12-25T08:00:00+00:00"), market="linear")
    # a weekly that expired after the instrument list was cached: gone, not an error
    expired = Instrument(venue="bybit", symbol="BTCUSDT-22MAY26", asset="BTC", quote="USDT", settle="USDT",
                         kind=Kind.FUTURE, margin=Margin.LINEAR,
                         expiry=datetime.fromisoformat("2026-05-22T08:00:00+00:00"), market="linear")

    async def oi(adapter: BybitAdapter) -> Any:
        return await adapter.fetch_open_interest([*await adapter.contracts(["BTC"]), ghost, expired])

    answer = run(pinned.settings(tmp_path), oi)
    assert "BTCUSDT-26JUN26" not in {i.instrument.symbol for i in answer.items}
    assert len(answer.items) == 3 + 7  # the BTC perps and the other BTC futures
    broken, missing = answer.errors
    assert broken.endpoint == "/v5/market/tickers" and "BTCUSDT-26JUN26: " in str(broken) and "markPrice" in str(broken)
    assert isinstance(missing, VenueError) and "no ticker for BTCUSDT-25DEC26" in str(missing)


def test_page_windows() -> None:
    h = HOUR_MS
    assert page_windows(5, 3 * h, h, 2) == [(h, 2 * h), (3 * h, 3 * h)]
    assert page_windows(h, h, h, 200) == [(h, h)]
    assert page_windows(h + 1, 2 * h - 1, h, 200) == []


def test_funding_ignores_futures(pinned: SimThread, tmp_path: Path) -> None:
    """Dated futures share the tickers with the perpetuals: funding reads the perpetuals only."""
    result = run(pinned.settings(tmp_path), lambda a: a.fetch_funding(["BTC"]))
    assert result.errors == []
    assert sorted(r.instrument.symbol for r in result.rates) == ["BTCPERP", "BTCUSD", "BTCUSDT"]

