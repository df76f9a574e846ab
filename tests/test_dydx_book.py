"""dYdX v4 order books, OHLCV candles and margin tiers (the quant toolkit): the parsers on the indexer's real answers
(recorded by ccxt), and the real adapter over real sockets against the simulation (books recomputed from
``MarketModel.book``, candles from ``MarketModel.candle``, tiers from the margin fractions the sim serves), and a
failing endpoint.

Floats: rel=1e-12 where a value is read back from the same decimal string; the sim writes book sizes on the
market's step, so the model's size is met within half a step.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dtrack.config import Settings
from dtrack.errors import Implausible, ParseError, UnsupportedError, UsageError, VenueError, VenueUnavailable
from dtrack.records import Unit
from dtrack.sim.faults import Faults
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.venues import dydx as sim_dydx
from dtrack.venues.base import Adapter
from dtrack.venues.dydx import parse
from dtrack.venues.fields import utc_to_ms
from pinned_sim import VenueSim

Payload = Callable[[str], dict[str, Any]]
#: the market clock and the adapter clock, pinned to the same instant (not on an hour boundary)
NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12
RECEIVED = datetime(2025, 7, 29, 5, 46, 30, tzinfo=UTC)
BTC = parse.instrument("BTC-USD")


def _raw(payload: Payload, name: str) -> Any:
    return copy.deepcopy(payload(name)["cases"][0]["raw"])


# --- parsers ---------------------------------------------------------------------------------------------------


def test_order_book_of_the_real_answer(payload: Payload) -> None:
    book = parse.parse_order_book(_raw(payload, "dydx__ccxt_fetchOrderBook.json"), BTC, RECEIVED)
    assert (book.bids, book.asks) == (((118267.0, 0.3182),), ((118485.0, 0.0001),))
    assert (book.unit, book.limit, book.time, book.sequence, book.received_at) == (
        Unit.BASE, 100, None, None, RECEIVED)  # the indexer sends no time; at most 100 levels a side


def test_order_book_of_a_multiplier_ticker_is_per_coin(payload: Payload) -> None:
    # The real levels read as 1000PEPE-USD's: USD per 1000 PEPE -> per PEPE, thousands of PEPE -> PEPE.
    book = parse.parse_order_book(_raw(payload, "dydx__ccxt_fetchOrderBook.json"), parse.instrument("1000PEPE-USD"),
                                  RECEIVED)
    assert [x for level in book.bids + book.asks for x in level] == pytest.approx([118.267, 318.2, 118.485, 0.1],
                                                                                   rel=EXACT)


def _refusal(body: Any) -> list[ParseError]:
    """What the book and the quote's mid (``parse_book``) each raise on ``body``: they read the levels alike."""
    raised = []
    for read in (lambda: parse.parse_order_book(body, BTC, RECEIVED), lambda: parse.parse_book(body, "BTC-USD")):
        with pytest.raises(ParseError) as err:
            read()
        raised.append(err.value)
    assert [str(e) for e in raised[1:]] == [str(raised[0])]
    return raised


def test_order_book_levels_out_of_order_empty_or_crossed_are_refused(payload: Payload) -> None:
    # The indexer answers its book sorted best first, without empty levels and uncrossed (comlink
    # orderbook-controller.ts asks getOrderBookLevels for sortSides and uncrossBook; zero levels are removed by
    # default: redis orderbook-levels-cache.ts, dydxprotocol/v4-chain): an answer that is not is broken, and is
    # refused, by the book and by the quote's mid alike, not re-sorted or averaged across a crossing.
    real = _raw(payload, "dydx__ccxt_fetchOrderBook.json")  # bid 118267 x 0.3182, ask 118485 x 0.0001
    below = {"price": "118200", "size": "1"}
    out_of_order = {**real, "bids": [below, *real["bids"]]}  # 118200 before 118267
    for err in _refusal(out_of_order):
        assert not isinstance(err, Implausible) and "BTC-USD: bids are not in descending price order" in str(err)
    above = {"price": "118500", "size": "1"}
    for err in _refusal({**real, "asks": [above, *real["asks"]]}):
        assert "BTC-USD: asks are not in ascending price order" in str(err)
    for size in ("0", "-0.0001"):
        empty = {**real, "asks": [{**real["asks"][0], "size": size}]}
        for err in _refusal(empty):
            assert isinstance(err, Implausible) and (err.field, err.value) == ("asks size", float(size))
            assert err.rule == "a resting size must be > 0"
    for ask in ("118267", "118000"):
        crossed = {**real, "asks": [{**real["asks"][0], "price": ask}]}
        for err in _refusal(crossed):
            assert isinstance(err, Implausible) and (err.field, err.value) == ("bids/asks", [118267.0, float(ask)])
            assert err.rule == "a crossed book (best bid >= best ask)"
    # the real answer with a second level a side, in the indexer's order, reads as sent
    book = parse.parse_order_book({"bids": [*real["bids"], below], "asks": [*real["asks"], above]}, BTC, RECEIVED)
    assert (book.bids, book.asks) == (((118267.0, 0.3182), (118200.0, 1.0)), ((118485.0, 0.0001), (118500.0, 1.0)))


def test_quote_mid_of_a_multiplier_ticker_is_per_coin(payload: Payload) -> None:
    # The real book and BTC-USD market read as 1000PEPE-USD's: index = oraclePrice 118700.5426 / 1000 and last = the
    # mid of the best levels per PEPE, (118267 + 118485) / 2 / 1000 = 118.376.
    pepe = parse.instrument("1000PEPE-USD")
    book = parse.parse_book(_raw(payload, "dydx__ccxt_fetchOrderBook.json"), pepe.symbol)
    assert (book.best_bid, book.best_ask) == pytest.approx((118.267, 118.485), rel=EXACT)
    market = _raw(payload, "dydx__ccxt_fetchMarkets.json")["markets"]["BTC-USD"]
    quote = parse.price_quote(pepe, {**market, "ticker": pepe.symbol}, book, RECEIVED)
    assert (quote.last_price, quote.index_price) == pytest.approx((118.376, 118.7005426), rel=EXACT)


def test_candle_bars_of_the_real_answer(payload: Payload) -> None:
    # One 1-minute candle opening 05:46: all four prices 118810, no volume (baseTokenVolume "0", usdVolume "0").
    candles = parse.parse_candles(_raw(payload, "dydx__ccxt_fetchOHLCV.json"), "BTC-USD", "1MIN")
    (bar,) = parse.bars(candles, BTC, 60_000, RECEIVED)
    assert (bar.time, bar.period_seconds) == (datetime(2025, 7, 29, 5, 46, tzinfo=UTC), 60)
    assert (bar.open, bar.high, bar.low, bar.close) == (118810.0, 118810.0, 118810.0, 118810.0)
    assert (bar.volume_base, bar.volume_usd, bar.closed) == (0.0, 0.0, False)  # 05:46:30: still open
    (done,) = parse.bars(candles, BTC, 60_000, datetime(2025, 7, 29, 5, 47, tzinfo=UTC))
    assert done.closed is True
    # 1000PEPE-USD's: prices / 1000 and baseTokenVolume x 1000 (the real one is 0: given 2.5 here), usdVolume as sent
    body = _raw(payload, "dydx__ccxt_fetchOHLCV.json")
    body["candles"][0].update(ticker="1000PEPE-USD", baseTokenVolume="2.5", usdVolume="297.025")
    (pepe,) = parse.bars(parse.parse_candles(body, "1000PEPE-USD", "1MIN"), parse.instrument("1000PEPE-USD"),
                         60_000, RECEIVED)
    assert (pepe.open, pepe.high, pepe.low, pepe.close) == pytest.approx((118.81,) * 4, rel=EXACT)
    assert (pepe.volume_base, pepe.volume_usd) == (2500.0, 297.025)


def test_a_candle_outside_its_range_is_implausible(payload: Payload) -> None:
    # The real candle (all four prices 118810) with its high moved below them, then its low above them.
    for key, value in (("high", "118800"), ("low", "118820")):
        body = _raw(payload, "dydx__ccxt_fetchOHLCV.json")
        body["candles"][0][key] = value
        with pytest.raises(Implausible, match=r"the open 118810\.0 and close 118810\.0 must lie within") as err:
            parse.parse_candles(body, "BTC-USD", "1MIN")
        ohlc = {"open": 118810.0, "high": 118810.0, "low": 118810.0, "close": 118810.0, key: float(value)}
        assert (err.value.field, err.value.value) == ("open/high/low/close", list(ohlc.values()))
    body = _raw(payload, "dydx__ccxt_fetchOHLCV.json")
    body["candles"][0]["close"] = "0"
    with pytest.raises(Implausible, match="a price must be > 0"):
        parse.parse_candles(body, "BTC-USD", "1MIN")


def test_margin_tier_of_the_real_market(payload: Payload) -> None:
    # BTC-USD: IMF 0.02 (50x), MMF 0.012; open-interest caps "0", "0": the IMF does not scale.
    markets = _raw(payload, "dydx__ccxt_fetchMarkets.json")["markets"]
    tier = parse.margin_tier(BTC, markets["BTC-USD"], RECEIVED)
    assert (tier.tier, tier.floor, tier.cap, tier.unit, tier.deduction) == (1, 0.0, None, Unit.USD, 0.0)
    assert (tier.mmr, tier.imr) == (0.012, 0.02)
    assert tier.max_leverage == pytest.approx(50.0, rel=EXACT)
    assert tier.source == "GET /v4/perpetualMarkets" and "does not scale with open interest" in tier.note
    scaled = {**markets["BTC-USD"], "openInterestLowerCap": "20000000", "openInterestUpperCap": "50000000"}
    note = parse.margin_tier(BTC, scaled, RECEIVED).note
    assert "IMF scales linearly from 0.02 at open interest <= 2e+07" in note and "OIMF" in note
    assert "MMF scales too is unconfirmed" in note
    with pytest.raises(Implausible, match="above the initial margin fraction"):
        parse.margin_tier(BTC, {**markets["BTC-USD"], "maintenanceMarginFraction": "0.05"}, RECEIVED)
    with pytest.raises(Implausible, match=r"must lie in \(0, 1\]"):
        parse.margin_tier(BTC, {**markets["BTC-USD"], "initialMarginFraction": "0"}, RECEIVED)


# --- the adapter against the simulation ----------------------------------------------------------------------


_run = VenueSim("dydx", Adapter, NOW).run  # the adapter on a clock stopped at NOW


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Settings]:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS))
    return server, server.settings(tmp_path)


def _perp(model: MarketModel, ticker: str) -> SimPerp:
    perp = model.perp("dydx", ticker)
    assert perp is not None
    return perp


async def _inst(a: Adapter, ticker: str) -> Any:
    return next(i for i in await a.perpetuals(["BTC", "ETH", "SOL", "PEPE"]) if i.symbol == ticker)


@pytest.mark.parametrize("ticker", ["BTC-USD", "PEPE-USD"])
def test_book_equals_the_model(pinned: tuple[Any, Settings], ticker: str) -> None:
    server, settings = pinned

    async def go(a: Adapter) -> Any:
        return await a.fetch_order_book(await _inst(a, ticker), 10)

    book = _run(settings, go)
    _clob, tick, step, *_rest = sim_dydx._SPECS[ticker]
    model_bids, model_asks = server.model.book(_perp(server.model, ticker), NOW_MS, sim_dydx.BOOK_LEVELS, tick)
    assert (book.limit, book.time) == (100, None)  # the indexer's cap, whatever depth was wanted
    for got, want in ((book.bids, model_bids), (book.asks, model_asks)):
        assert len(got) == len(want) == 100
        assert [p for p, _ in got] == pytest.approx([p for p, _ in want], rel=EXACT)
        lot = 10.0 ** -step
        assert all(abs(size - model) <= lot / 2 * (1 + 1e-9) for (_p, size), (_q, model) in zip(got, want, strict=True))


def test_candles_equal_the_model(pinned: tuple[Any, Settings]) -> None:
    server, settings = pinned

    async def go(a: Adapter) -> Any:
        eth = await _inst(a, "ETH-USD")
        return await asyncio.gather(a.fetch_candles(eth, NOW - timedelta(days=3), NOW, 3600),
                                    a.fetch_candles(eth, NOW - timedelta(days=10), NOW, 86400))

    hourly, daily = _run(settings, go)
    perp, step = _perp(server.model, "ETH-USD"), sim_dydx._SPECS["ETH-USD"][2]
    first = utc_to_ms(datetime(2026, 11, 17, 14, tzinfo=UTC))
    assert [utc_to_ms(c.time) for c in hourly] == list(range(first, NOW_MS - NOW_MS % HOUR_MS + 1, HOUR_MS))
    assert [c.time.day for c in daily] == list(range(11, 21))
    for bars, length in ((hourly, HOUR_MS), (daily, DAY_MS)):
        for c in bars:
            t = utc_to_ms(c.time)
            assert [c.open, c.high, c.low, c.close] == pytest.approx(server.model.candle(perp, t, length), rel=EXACT)
            base = round(0.05 * length / HOUR_MS * server.model.open_interest_base(perp, t), step)
            assert c.volume_base == pytest.approx(base, rel=EXACT)
            assert c.volume_usd == pytest.approx(round(base * c.close, 4), rel=EXACT)
        assert [c.closed for c in bars] == [True] * (len(bars) - 1) + [False]


def test_margin_tiers_are_the_fractions_the_sim_serves(pinned: tuple[Any, Settings]) -> None:
    _server, settings = pinned

    async def go(a: Adapter) -> Any:
        return [await a.fetch_margin_tiers(await _inst(a, t)) for t in ("BTC-USD", "PEPE-USD")]

    (btc,), (pepe,) = _run(settings, go)
    for tier, ticker in ((btc, "BTC-USD"), (pepe, "PEPE-USD")):
        _clob, _tick, _step, imf, mmf, *_rest = sim_dydx._SPECS[ticker]
        assert (tier.imr, tier.mmr, tier.deduction) == (float(imf), float(mmf), 0.0)
        assert tier.max_leverage == pytest.approx(1 / float(imf), rel=EXACT)
    assert "does not scale" in btc.note
    lower, upper = sim_dydx.OI_CAPS["PEPE-USD"]
    assert f"<= {float(lower):g} (openInterestLowerCap) to 1 at {float(upper):g}" in pepe.note


def test_unknown_market_bad_depth_and_unknown_period(pinned: tuple[Any, Settings]) -> None:
    _server, settings = pinned

    async def go(a: Adapter) -> list[BaseException]:
        btc = await _inst(a, "BTC-USD")
        calls = [a.fetch_margin_tiers(parse.instrument("DOGE-USD")), a.fetch_order_book(btc, 0),
                 a.fetch_candles(btc, NOW - timedelta(days=1), NOW, 7200)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    unknown, zero, period = _run(settings, go)
    assert isinstance(unknown, VenueError) and "no market 'DOGE-USD'" in str(unknown)
    assert isinstance(zero, UsageError)
    assert isinstance(period, UnsupportedError) and "no 7200 s candles" in str(period)


def test_a_failing_book_is_the_venues_error(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(endpoints={("dydx", "/v4/orderbooks/perpetualMarket/BTC-USD"): 500}))
    settings = server.settings(tmp_path, retries=0)

    async def go(a: Adapter) -> list[Any]:
        btc, eth = await _inst(a, "BTC-USD"), await _inst(a, "ETH-USD")
        return list(await asyncio.gather(a.fetch_order_book(btc, 20), a.fetch_order_book(eth, 20),
                                         return_exceptions=True))

    btc, eth = _run(settings, go)
    assert isinstance(btc, VenueUnavailable) and btc.status == 500
    assert len(eth.bids) == 100  # another market's book still serves
