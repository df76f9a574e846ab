"""Deribit order books and OHLCV candles (the quant toolkit): the parsers on the venue's documented order-book answer
and the real chart capture, and the real adapter over real sockets against the simulation (books recomputed from
``MarketModel.book``, candles from ``MarketModel.candle``), a failing endpoint, and the margin tiers Deribit does
not publish.

Floats: rel=1e-12 where a value is read back from the same decimal (the sim writes the model's floats as JSON
numbers); the book's amounts are rounded by the venue to whole contracts, so the model's size is met within half a
contract.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dtrack.config import Settings
from dtrack.errors import Implausible, ParseError, UnsupportedError, UsageError, VenueUnavailable
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.sim.faults import Faults
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.venues import deribit as sim_deribit
from dtrack.venues.base import Adapter
from dtrack.venues.deribit import parse
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from pinned_sim import VenueSim

Payload = Callable[[str], dict[str, Any]]
#: the market clock and the adapter clock, pinned to the same instant (not on an hour boundary)
NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12
RECEIVED = datetime(2019, 2, 21, 14, 0, 27, tzinfo=UTC)


def _perpetual(symbol: str, margin: Margin, contract_size: float, quote: str) -> Instrument:
    settle = "BTC" if quote == "USD" else quote
    return Instrument(venue="deribit", symbol=symbol, asset="BTC", quote=quote, settle=settle, kind=Kind.PERP,
                      margin=margin, contract_size=contract_size,
                      contract_unit=Unit.USD if margin is Margin.INVERSE else Unit.BASE)


BTC_PERP = _perpetual("BTC-PERPETUAL", Margin.INVERSE, 10.0, "USD")


def _book_body(payload: Payload) -> Any:
    return copy.deepcopy(payload("deribit__rest_get_order_book__docs.json")["cases"][0]["raw"])


# --- parsers -------------------------------------------------------------------------------------------------


def test_order_book_of_the_documented_answer_in_coins(payload: Payload) -> None:
    # Inverse: amounts are USD (multiples of the 10 USD contract); coins = USD / the level's price.
    book = parse.parse_order_book(_book_body(payload), BTC_PERP, 5, RECEIVED)
    assert [p for p, _ in book.bids] == [3955.75, 3940.75, 3423.0]
    assert [s for _, s in book.bids] == pytest.approx([0.00758389686, 25.888473006, 12.515337423], rel=1e-9)
    assert book.asks == () and book.best_ask is None and book.best_bid == 3955.75
    assert (book.unit, book.limit, book.sequence) == (Unit.USD, 5, 474988)
    assert book.time == datetime(2019, 2, 21, 14, 0, 26, 706000, tzinfo=UTC)
    assert book.received_at == RECEIVED
    assert "USD" in book.note and "each level's price" in book.note


def test_order_book_of_a_linear_perpetual_counts_coins(payload: Payload) -> None:
    # The same levels read as a linear (USDC) perpetual's: the amount is already in the base coin.
    body = _book_body(payload)
    body["result"]["instrument_name"] = "BTC_USDC-PERPETUAL"
    linear = _perpetual("BTC_USDC-PERPETUAL", Margin.LINEAR, 0.001, "USDC")
    book = parse.parse_order_book(body, linear, 5, RECEIVED)
    assert book.bids == ((3955.75, 30.0), (3940.75, 102020.0), (3423.0, 42840.0))
    assert book.unit is Unit.BASE


def test_order_book_levels_out_of_order_crossed_or_empty_are_refused(payload: Payload) -> None:
    """Deribit sends bids descending and asks ascending (the docs answer): read by the same array reader as Binance,
    Bybit and OKX, an answer in another order, a crossed book or a level of nothing is refused, never re-sorted."""
    body = _book_body(payload)
    body["result"]["bids"].reverse()
    with pytest.raises(ParseError, match="bids are not in descending price order"):
        parse.parse_order_book(body, BTC_PERP, 5, RECEIVED)
    body = _book_body(payload)
    body["result"]["asks"] = [[3990.0, 20], [3960.0, 10]]
    with pytest.raises(ParseError, match="asks are not in ascending price order"):
        parse.parse_order_book(body, BTC_PERP, 5, RECEIVED)
    body = _book_body(payload)
    body["result"]["asks"] = [[3950.0, 10]]  # below the best bid 3955.75
    with pytest.raises(Implausible, match="crossed book"):
        parse.parse_order_book(body, BTC_PERP, 5, RECEIVED)
    body = _book_body(payload)
    body["result"]["bids"][1][1] = 0
    with pytest.raises(Implausible, match="a resting size must be > 0"):
        parse.parse_order_book(body, BTC_PERP, 5, RECEIVED)
    body = _book_body(payload)
    body["result"]["asks"] = [[3960.0, 10], [3990.0, 20]]  # in order, above the best bid: read as sent
    book = parse.parse_order_book(body, BTC_PERP, 5, RECEIVED)
    assert book.asks == ((3960.0, pytest.approx(10 / 3960.0, rel=EXACT)), (3990.0, pytest.approx(20 / 3990.0,
                                                                                                  rel=EXACT)))


def test_broken_order_books_are_refused(payload: Payload) -> None:
    other = _book_body(payload)
    other["result"]["instrument_name"] = "ETH-PERPETUAL"
    with pytest.raises(ParseError, match="the book of 'ETH-PERPETUAL' in an answer about 'BTC-PERPETUAL'"):
        parse.parse_order_book(other, BTC_PERP, 5, RECEIVED)
    negative = _book_body(payload)
    negative["result"]["bids"][1][1] = -10
    with pytest.raises(Implausible, match="bids amount"):
        parse.parse_order_book(negative, BTC_PERP, 5, RECEIVED)
    short = _book_body(payload)
    short["result"]["bids"][0] = [3955.75]
    with pytest.raises(ParseError, match=r"expected \[price, amount, \.\.\.\]"):
        parse.parse_order_book(short, BTC_PERP, 5, RECEIVED)


@pytest.mark.parametrize(("depth", "asked"), [(1, 1), (2, 5), (20, 20), (21, 50), (101, 1000), (50_000, 10_000)])
def test_book_depth_is_the_smallest_allowed_value_holding_it(depth: int, asked: int) -> None:
    assert parse.book_depth(depth) == asked


def test_chart_bars_of_the_real_capture(payload: Payload) -> None:
    # ccxt's BTC_USDT 1 h capture: volume 0.008 BTC, cost 587.580928 USDT (= 0.008 x ~73,447: cost is the quote).
    body = payload("deribit__ccxt_fetchOHLCV.json")["cases"][0]["raw"]
    (bar,) = parse.parse_chart_bars(body)
    assert bar == (1710327600000, 73427.75, 73448.39, 73427.75, 73448.39, 0.008, 587.580928)
    spot = Instrument(venue="deribit", symbol="BTC_USDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.SPOT,
                      margin=Margin.LINEAR)
    still_open = datetime(2024, 3, 13, 11, 13, 41, tzinfo=UTC)  # the answer's usOut
    (candle,) = parse.chart_candles([bar], spot, HOUR_MS, still_open)
    assert (candle.time, candle.period_seconds) == (datetime(2024, 3, 13, 11, tzinfo=UTC), 3600)
    assert (candle.open, candle.high, candle.low, candle.close) == (73427.75, 73448.39, 73427.75, 73448.39)
    assert (candle.volume_base, candle.volume_usd, candle.closed) == (0.008, 587.580928, False)
    (done,) = parse.chart_candles([bar], spot, HOUR_MS, datetime(2024, 3, 13, 12, tzinfo=UTC))
    assert done.closed is True


def test_a_bar_whose_high_is_below_its_close_is_implausible(payload: Payload) -> None:
    body = copy.deepcopy(payload("deribit__ccxt_fetchOHLCV.json")["cases"][0]["raw"])
    body["result"]["high"] = [73440.0]  # below the real close 73448.39
    with pytest.raises(Implausible, match=r"the open 73427\.75 and close 73448\.39 must lie within "
                                          r"\[low 73427\.75, high 73440\.0\]") as err:
        parse.parse_chart_bars(body)
    assert (err.value.field, err.value.value) == ("open/high/low/close", [73427.75, 73440.0, 73427.75, 73448.39])
    body["result"]["high"], body["result"]["cost"] = [73448.39], [-1.0]
    with pytest.raises(Implausible, match="must be >= 0") as cost:
        parse.parse_chart_bars(body)
    assert cost.value.field == "cost"


# --- the adapter against the simulation ----------------------------------------------------------------------


_run = VenueSim("deribit", Adapter, NOW).run  # the adapter on a clock stopped at NOW


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Settings, Path]:
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path), log


def _asked(log: Path, method: str) -> list[dict[str, list[str]]]:
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [parse_qs(urlsplit(r["path"]).query) for r in rows
            if r["venue"] == "deribit" and urlsplit(r["path"]).path.endswith("/" + method)]


def _perp(model: MarketModel, symbol: str) -> SimPerp:
    perp = model.perp("deribit", symbol)
    assert perp is not None
    return perp


async def _contract(a: Adapter, symbol: str) -> Instrument:
    return next(i for i in await a.contracts(["BTC", "SOL"]) if i.symbol == symbol)


@pytest.mark.parametrize(("symbol", "depth", "asked"), [("BTC-PERPETUAL", 25, 50), ("SOL_USDC-PERPETUAL", 5, 5)])
def test_book_equals_the_model(pinned: tuple[Any, Settings, Path], symbol: str, depth: int, asked: int) -> None:
    server, settings, log = pinned

    async def go(a: Adapter) -> Any:
        return await a.fetch_order_book(await _contract(a, symbol), depth)

    book = _run(settings, go)
    assert _asked(log, "get_order_book") == [{"instrument_name": [symbol], "depth": [str(asked)]}]
    perp = _perp(server.model, symbol)
    tick = sim_deribit.TICK_SIZE[perp.asset]
    model_bids, model_asks = server.model.book(perp, NOW_MS, asked, tick)
    inverse = perp.margin == "inverse"
    assert book.unit is (Unit.USD if inverse else Unit.BASE) and book.limit == asked
    assert (book.time, book.sequence) == (NOW, NOW_MS // 10)
    for got, want in ((book.bids, model_bids), (book.asks, model_asks)):
        assert len(got) == len(want) == asked
        assert [p for p, _ in got] == pytest.approx([p for p, _ in want], rel=EXACT)
        for (price, coins), (_p, model_coins) in zip(got, want, strict=True):
            # The venue rounds each level to whole contracts (USD for the inverse perp, coins for the linear one):
            # the coins read back lie within half a contract of the model's.
            held = coins * price if inverse else coins
            model_held = model_coins * price if inverse else model_coins
            assert abs(held - model_held) <= perp.contract_size / 2 + 1e-9
            assert round(held / perp.contract_size, 6) == round(held / perp.contract_size)


def test_candles_equal_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    start = NOW - timedelta(days=3)

    async def go(a: Adapter) -> Any:
        inst = await _contract(a, "BTC-PERPETUAL")
        return await asyncio.gather(a.fetch_candles(inst, start, NOW, 3600),
                                    a.fetch_candles(inst, NOW - timedelta(days=10), NOW, 86400))

    hourly, daily = _run(settings, go)
    perp = _perp(server.model, "BTC-PERPETUAL")
    first = utc_to_ms(datetime(2026, 11, 17, 14, tzinfo=UTC))  # the first hour opening at or after start
    assert [utc_to_ms(c.time) for c in hourly] == list(range(first, NOW_MS - NOW_MS % HOUR_MS + 1, HOUR_MS))
    for bars, length in ((hourly, HOUR_MS), (daily, DAY_MS)):
        for c in bars:
            t = utc_to_ms(c.time)
            assert (c.open, c.high, c.low, c.close) == pytest.approx(server.model.candle(perp, t, length), rel=EXACT)
            volume = round(server.model.open_interest_base(perp, t) * 0.01 * length / DAY_MS, 3)
            assert c.volume_base == pytest.approx(volume, rel=EXACT)
            assert c.volume_usd == pytest.approx(volume * c.close, rel=EXACT)  # cost: the quote currency (USD)
            assert c.period_seconds == length // 1000 and (c.venue, c.symbol) == ("deribit", "BTC-PERPETUAL")
        assert [c.closed for c in bars] == [True] * (len(bars) - 1) + [False]  # the bar holding NOW is open
    assert len(daily) == 10 and daily[-1].time == datetime(2026, 11, 20, tzinfo=UTC)
    assert sorted(q["resolution"][0] for q in _asked(log, "get_tradingview_chart_data")) == ["1D", "60"]


def test_periods_without_a_resolution_and_bad_depths_are_refused(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned

    async def go(a: Adapter) -> list[BaseException]:
        inst = await _contract(a, "BTC-PERPETUAL")
        calls = [a.fetch_candles(inst, NOW - timedelta(days=1), NOW, 14400), a.fetch_order_book(inst, 0),
                 a.fetch_margin_tiers(inst)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    four_hours, zero, tiers = _run(settings, go)
    assert isinstance(four_hours, UnsupportedError) and "no 14400 s candles" in str(four_hours)
    assert isinstance(zero, UsageError) and "give 1 or more" in str(zero)
    assert isinstance(tiers, UnsupportedError)
    assert "publishes no margin tier table" in str(tiers) and "formula" in str(tiers)


def test_a_failing_book_endpoint_is_the_venues_error(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(endpoints={("deribit", "/api/v2/public/get_order_book"): 500}))
    settings = server.settings(tmp_path, retries=0)

    async def go(a: Adapter) -> list[Any]:
        inst = await _contract(a, "BTC-PERPETUAL")
        return list(await asyncio.gather(a.fetch_order_book(inst, 10),
                                         a.fetch_candles(inst, NOW - timedelta(hours=3), NOW, 3600),
                                         return_exceptions=True))

    book, candles = _run(settings, go)
    assert isinstance(book, VenueUnavailable) and book.status == 500
    assert len(candles) == 3  # the other endpoints still serve
    assert ms_to_utc(NOW_MS - NOW_MS % HOUR_MS) == candles[-1].time
