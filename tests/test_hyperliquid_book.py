"""Hyperliquid order books, OHLCV candles and margin tiers (the quant toolkit): the parsers on the venue's documented
answers and the real candle capture, and the real adapter over real sockets against the simulation (books
recomputed from ``MarketModel.book``, candles from ``MarketModel.candle``, tiers from the tables the sim's ``meta``
serves), and a failing endpoint.

Floats: rel=1e-12 where a value is read back from the same decimal string; the sim writes book sizes on the coin's
``szDecimals``, so the model's size is met within half a lot.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dtrack.config import Settings
from dtrack.errors import Implausible, ParseError, UnsupportedError, UsageError, VenueError, VenueUnavailable
from dtrack.records import MarginTier, Unit
from dtrack.sim.faults import Faults
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, SimPerp
from dtrack.sim.venues import hyperliquid as sim_hl
from dtrack.venues.base import Adapter
from dtrack.venues.fields import utc_to_ms
from dtrack.venues.hyperliquid import parse
from pinned_sim import VenueSim

Payload = Callable[[str], dict[str, Any]]
#: the market clock and the adapter clock, pinned to the same instant (not on an hour boundary)
NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12
RECEIVED = datetime(2025, 8, 6, 3, 29, 35, tzinfo=UTC)
BTC, KPEPE = parse.instrument("BTC"), parse.instrument("kPEPE")


def _l2(payload: Payload, coin: str = "BTC") -> Any:
    body = copy.deepcopy(payload("hyperliquid__rest_info_l2Book__docs.json")["cases"][0]["raw"])
    body["coin"] = coin
    return body


def _meta(payload: Payload, case: int) -> Any:
    return copy.deepcopy(payload("hyperliquid__rest_info_metaAndAssetCtxs__docs.json")["cases"][case]["raw"][0])


# --- parsers: the order book -----------------------------------------------------------------------------------


def test_l2_book_of_the_documented_answer(payload: Payload) -> None:
    book = parse.parse_l2_book(_l2(payload), BTC, RECEIVED)
    assert book.bids == ((113377.0, 7.6699), (113376.0, 4.13714))
    assert book.asks == ((113397.0, 0.11543),)
    assert (book.unit, book.limit, book.sequence) == (Unit.BASE, 20, None)  # 20 whatever depth was wanted
    assert book.time == datetime(2025, 8, 6, 3, 29, 34, 231000, tzinfo=UTC)
    assert book.received_at == RECEIVED


def test_l2_book_of_kpepe_is_per_pepe(payload: Payload) -> None:
    # The same answer read as kPEPE's: px per 1000 PEPE -> per PEPE, sz in kPEPE -> PEPE.
    book = parse.parse_l2_book(_l2(payload, "kPEPE"), KPEPE, RECEIVED)
    assert [x for level in book.bids for x in level] == pytest.approx([113.377, 7669.9, 113.376, 4137.14], rel=EXACT)
    assert [x for level in book.asks for x in level] == pytest.approx([113.397, 115.43], rel=EXACT)
    assert "px / 1000" in book.note


def test_broken_l2_books_are_refused(payload: Payload) -> None:
    with pytest.raises(ParseError, match="the book of 'ETH' in an answer about 'BTC'"):
        parse.parse_l2_book(_l2(payload, "ETH"), BTC, RECEIVED)
    one_side = _l2(payload)
    one_side["levels"] = one_side["levels"][:1]
    with pytest.raises(ParseError, match=r"levels has 1 sides, expected \[bids, asks\]"):
        parse.parse_l2_book(one_side, BTC, RECEIVED)
    zero = _l2(payload)
    zero["levels"][1][0]["px"] = "0.0"
    with pytest.raises(Implausible, match="a price must be > 0"):
        parse.parse_l2_book(zero, BTC, RECEIVED)


def test_l2_book_levels_out_of_order_empty_or_crossed_are_refused(payload: Payload) -> None:
    # The documented answer is best first (bids 113377 > 113376, the ask 113397 above both) and is read as sent
    # (books.object_side, as the array venues read theirs): a side out of that order is not re-sorted but refused.
    reversed_bids = _l2(payload)
    reversed_bids["levels"][0].reverse()
    with pytest.raises(ParseError, match="BTC: bids are not in descending price order") as order:
        parse.parse_l2_book(reversed_bids, BTC, RECEIVED)
    assert not isinstance(order.value, Implausible)  # a broken answer, not a value
    reversed_asks = _l2(payload)
    reversed_asks["levels"][1].insert(0, {"px": "113398.0", "sz": "1.0", "n": 1})  # above the documented ask
    with pytest.raises(ParseError, match="BTC: asks are not in ascending price order"):
        parse.parse_l2_book(reversed_asks, BTC, RECEIVED)
    # A level of nothing is no level (the venue lists resting orders only).
    empty = _l2(payload)
    empty["levels"][0][1]["sz"] = "0.0"
    with pytest.raises(Implausible, match="a resting size must be > 0") as size:
        parse.parse_l2_book(empty, BTC, RECEIVED)
    assert (size.value.field, size.value.value) == ("bids sz", 0.0)
    # An ask at the best bid: a crossed book (the venue matches crossing orders; a snapshot never rests crossed).
    for ask in ("113377.0", "113300.0"):
        crossed = _l2(payload)
        crossed["levels"][1][0]["px"] = ask
        with pytest.raises(Implausible, match=r"a crossed book \(best bid >= best ask\)") as cross:
            parse.parse_l2_book(crossed, BTC, RECEIVED)
        assert (cross.value.field, cross.value.value) == ("bids/asks", [113377.0, float(ask)])
    # kPEPE: the crossing is told in prices per PEPE (÷ 1000), as the book would have shown them.
    crossed = _l2(payload, "kPEPE")
    crossed["levels"][1][0]["px"] = "113377.0"
    with pytest.raises(Implausible, match="a crossed book") as cross:
        parse.parse_l2_book(crossed, KPEPE, RECEIVED)
    assert cross.value.value == pytest.approx([113.377, 113.377], rel=EXACT)


# --- parsers: candles ------------------------------------------------------------------------------------------


def _candles(payload: Payload, case: int, coin: str | None = None) -> Any:
    raw = copy.deepcopy(payload("hyperliquid__ccxt_fetchOHLCV.json")["cases"][case]["raw"])
    for row in raw:
        row["s"] = coin or row["s"]
    return raw


def test_bars_of_the_real_capture(payload: Payload) -> None:
    bars = parse.parse_bars(_candles(payload, 2), "BTC", "1m")
    assert bars == [(1710552360000, 69584.0, 69610.0, 69474.0, 69483.0, 6.83271),
                    (1710552420000, 69471.0, 69497.0, 69465.0, 69497.0, 0.88301)]
    received = datetime(2024, 3, 16, 1, 27, 30, tzinfo=UTC)  # inside the second minute
    first, second = parse.candles(reversed(bars), BTC, 60_000, received)  # ascending whatever the order
    assert (first.time, first.period_seconds, first.closed) == (datetime(2024, 3, 16, 1, 26, tzinfo=UTC), 60, True)
    assert (first.open, first.high, first.low, first.close, first.volume_base) == (
        69584.0, 69610.0, 69474.0, 69483.0, 6.83271)
    assert first.volume_usd is None  # the candle carries no notional
    assert (second.close, second.closed) == (69497.0, False)


def test_kpepe_bars_are_per_pepe(payload: Payload) -> None:
    # The real PURR/USDC daily candles read as kPEPE's: prices / 1000, volume x 1000.
    bars = parse.parse_bars(_candles(payload, 3, "kPEPE"), "kPEPE", "1d")
    candles = parse.candles(bars, KPEPE, DAY_MS, datetime(2024, 9, 10, tzinfo=UTC))
    assert (candles[0].open, candles[0].high, candles[0].low, candles[0].close) == pytest.approx(
        (0.13819e-3, 0.1438e-3, 0.12182e-3, 0.13472e-3), rel=EXACT)
    assert candles[0].volume_base == pytest.approx(39_959_080_000.0, rel=EXACT)
    assert all(c.closed for c in candles) and len(candles) == 5


def test_a_bar_whose_low_is_above_its_open_is_implausible(payload: Payload) -> None:
    # The real first minute (o 69584, h 69610, l 69474, c 69483) with its low moved above the open and the close.
    raw = _candles(payload, 2)
    raw[0]["l"] = "69600.0"
    with pytest.raises(Implausible, match=r"the open 69584\.0 and close 69483\.0 must lie within "
                                          r"\[low 69600\.0, high 69610\.0\]") as err:
        parse.parse_bars(raw, "BTC", "1m")
    assert (err.value.field, err.value.value) == ("o/h/l/c", [69584.0, 69610.0, 69600.0, 69483.0])
    raw = _candles(payload, 2)
    raw[1]["h"] = "69490.0"  # the second minute's high below its close 69497
    with pytest.raises(Implausible, match=r"close 69497\.0 must lie within \[low 69465\.0, high 69490\.0\]"):
        parse.parse_bars(raw, "BTC", "1m")
    raw = _candles(payload, 2)
    raw[1]["o"] = "0"
    with pytest.raises(Implausible, match="a price must be > 0") as price:
        parse.parse_bars(raw, "BTC", "1m")
    assert price.value.field == "o"


# --- parsers: margin tiers ----------------------------------------------------------------------------------------


def _continuous(tiers: tuple[MarginTier, ...]) -> None:
    """The maintenance margin is the same on both sides of every tier boundary (the venue's continuity rule)."""
    for low, high in itertools.pairwise(tiers):
        assert low.cap == high.floor
        assert high.floor * low.mmr - low.deduction == pytest.approx(high.floor * high.mmr - high.deduction, rel=EXACT)


def test_btc_margin_table_of_the_docs(payload: Payload) -> None:
    # BTC: 40x up to 150M of notional, 20x past it. mmr = half the initial margin at the tier's max leverage:
    # 1/80 = 1.25 %, 1/40 = 2.5 %; deduction = 150M x (2.5 % - 1.25 %) = 1.875M.
    table = payload("hyperliquid__rest_info_marginTable__docs.json")["cases"][0]["raw"]
    tiers = parse.table_tiers(table, "BTC", RECEIVED, source="margin table 56 (tiered 40x)")
    assert [(t.tier, t.floor, t.cap, t.max_leverage) for t in tiers] == [(1, 0.0, 150e6, 40.0), (2, 150e6, None, 20.0)]
    assert [t.mmr for t in tiers] == pytest.approx([0.0125, 0.025], rel=EXACT)
    assert [t.imr for t in tiers] == pytest.approx([0.025, 0.05], rel=EXACT)
    assert [t.deduction for t in tiers] == pytest.approx([0.0, 1_875_000.0], rel=EXACT)
    assert {(t.unit, t.venue, t.symbol, t.time, t.official) for t in tiers} == {
        (Unit.USD, "hyperliquid", "BTC", None, True)}
    assert tiers[0].note.startswith("margin table 56 (tiered 40x); mmr = 1 / (2 x maxLeverage)")
    _continuous(tiers)
    # At 200M: 200M x 2.5 % - 1.875M = 3.125M = 150M x 1.25 % + 50M x 2.5 %.
    assert 200e6 * tiers[1].mmr - tiers[1].deduction == pytest.approx(150e6 * 0.0125 + 50e6 * 0.025, rel=EXACT)


def test_tiers_from_the_documented_meta(payload: Payload) -> None:
    # No marginTableId: held to maxLeverage (BTC 50x); an id under 50 is a single tier at that leverage (xyz:TSLA 10).
    (btc,) = parse.margin_tiers(_meta(payload, 0), BTC, RECEIVED)
    assert (btc.floor, btc.cap, btc.max_leverage, btc.mmr, btc.deduction) == (0.0, None, 50.0, 0.01, 0.0)
    assert btc.source == "POST /info meta" and "maxLeverage at any size" in btc.note
    (tsla,) = parse.margin_tiers(_meta(payload, 1), parse.instrument("xyz:TSLA"), RECEIVED)
    assert (tsla.max_leverage, tsla.mmr, tsla.imr) == (10.0, 0.05, 0.1)
    assert tsla.note.startswith("margin table 10: a single tier at 10x")
    # An id from 50 is looked up in marginTables (the docs list table 50: one tier at 50x).
    listed = _meta(payload, 0)
    listed["universe"][1]["marginTableId"] = 50
    (eth,) = parse.margin_tiers(listed, parse.instrument("ETH"), RECEIVED)
    assert (eth.max_leverage, eth.mmr) == (50.0, 0.01) and eth.note.startswith("margin table 50;")


def test_broken_margin_tables_are_refused(payload: Payload) -> None:
    missing = _meta(payload, 0)
    missing["universe"][0]["marginTableId"] = 57
    with pytest.raises(ParseError, match=r"marginTableId 57 is not in meta\.marginTables"):
        parse.margin_tiers(missing, BTC, RECEIVED)
    with pytest.raises(ParseError, match="lists no 'SOL'"):
        parse.margin_tiers(_meta(payload, 0), parse.instrument("SOL"), RECEIVED)
    table = copy.deepcopy(payload("hyperliquid__rest_info_marginTable__docs.json")["cases"][0]["raw"])
    table["marginTiers"].reverse()
    with pytest.raises(ParseError, match="do not start at 0 with rising lowerBounds"):
        parse.table_tiers(table, "BTC", RECEIVED)
    table["marginTiers"].reverse()
    table["marginTiers"][1]["maxLeverage"] = 0
    with pytest.raises(Implausible, match="a max leverage must be >= 1"):
        parse.table_tiers(table, "BTC", RECEIVED)


# --- the adapter against the simulation ----------------------------------------------------------------------


_run = VenueSim("hyperliquid", Adapter, NOW).run  # the adapter on a clock stopped at NOW


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Settings]:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS))
    return server, server.settings(tmp_path)


def _perp(model: MarketModel, symbol: str) -> SimPerp:
    perp = model.perp("hyperliquid", symbol)
    assert perp is not None
    return perp


async def _inst(a: Adapter, coin: str) -> Any:
    return next(i for i in await a.perpetuals(["BTC", "PEPE", "SOL", "ETH"]) if i.symbol == coin)


@pytest.mark.parametrize("coin", ["BTC", "kPEPE"])
def test_book_equals_the_model(pinned: tuple[Any, Settings], coin: str) -> None:
    server, settings = pinned

    async def go(a: Adapter) -> Any:
        return await a.fetch_order_book(await _inst(a, coin), 50)

    book = _run(settings, go)
    perp, model = _perp(server.model, coin), server.model
    sz_decimals = sim_hl._SPECS[coin][0]
    tick = sim_hl.book_tick(model.mark_price(perp, NOW_MS), sz_decimals)
    model_bids, model_asks = model.book(perp, NOW_MS, sim_hl.BOOK_LEVELS, tick)
    mult = perp.multiplier
    assert (book.limit, book.time, book.unit) == (20, NOW, Unit.BASE)  # 20 levels although 50 were wanted
    for got, want in ((book.bids, model_bids), (book.asks, model_asks)):
        assert len(got) == len(want) == 20
        assert [p for p, _ in got] == pytest.approx([p / mult for p, _ in want], rel=EXACT)
        for (_p, coins), (_q, model_size) in zip(got, want, strict=True):
            lot = 10.0 ** -sz_decimals
            assert abs(coins / mult - model_size) <= lot / 2 + 1e-12  # sizes on the coin's lot, x multiplier
    assert book.best_bid is not None and book.best_ask is not None and book.best_bid < book.best_ask


def test_candles_equal_the_model(pinned: tuple[Any, Settings]) -> None:
    server, settings = pinned

    async def go(a: Adapter) -> Any:
        btc, kpepe = await _inst(a, "BTC"), await _inst(a, "kPEPE")
        return await asyncio.gather(a.fetch_candles(btc, NOW - timedelta(days=3), NOW, 3600),
                                    a.fetch_candles(kpepe, NOW - timedelta(days=10), NOW, 86400))

    hourly, daily = _run(settings, go)
    first = utc_to_ms(datetime(2026, 11, 17, 14, tzinfo=UTC))
    assert [utc_to_ms(c.time) for c in hourly] == list(range(first, NOW_MS - NOW_MS % HOUR_MS + 1, HOUR_MS))
    assert [c.time.day for c in daily] == list(range(11, 21))
    for bars, coin, length in ((hourly, "BTC", HOUR_MS), (daily, "kPEPE", DAY_MS)):
        perp = _perp(server.model, coin)
        for c in bars:
            t = utc_to_ms(c.time)
            expected = [x / perp.multiplier for x in server.model.candle(perp, t, length)]
            assert [c.open, c.high, c.low, c.close] == pytest.approx(expected, rel=EXACT)
            volume = round(0.07 * length / HOUR_MS * server.model.open_interest_base(perp, t), 2)
            assert c.volume_base == pytest.approx(volume * perp.multiplier, rel=EXACT)
            assert c.volume_usd is None and c.period_seconds == length // 1000
        assert [c.closed for c in bars] == [True] * (len(bars) - 1) + [False]


def test_margin_tiers_are_the_tables_the_sim_serves(pinned: tuple[Any, Settings]) -> None:
    _server, settings = pinned

    async def go(a: Adapter) -> Any:
        return [await a.fetch_margin_tiers(await _inst(a, coin)) for coin in ("BTC", "ETH", "SOL", "kPEPE")]

    btc, eth, sol, kpepe = _run(settings, go)
    for tiers, table_id in ((btc, 56), (eth, 55), (kpepe, 52)):
        _description, served = sim_hl.MARGIN_TABLES[table_id]
        assert [(t.floor, t.max_leverage) for t in tiers] == served
        assert [t.mmr for t in tiers] == pytest.approx([1 / (2 * lev) for _b, lev in served], rel=EXACT)
        assert tiers[-1].cap is None and tiers[0].deduction == 0.0
        _continuous(tiers)
    assert btc[1].deduction == pytest.approx(1_875_000.0, rel=EXACT)
    assert [(t.floor, t.cap, t.max_leverage, t.mmr) for t in sol] == [(0.0, None, 20.0, 0.025)]  # table 20: flat
    assert sol[0].note.startswith("margin table 20: a single tier at 20x")


def test_unlisted_coin_bad_depth_and_unknown_period(pinned: tuple[Any, Settings]) -> None:
    _server, settings = pinned

    async def go(a: Adapter) -> list[BaseException]:
        btc = await _inst(a, "BTC")
        calls = [a.fetch_order_book(parse.instrument("DOGE"), 20), a.fetch_order_book(btc, 0),
                 a.fetch_candles(btc, NOW - timedelta(days=1), NOW, 5400)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    unlisted, zero, period = _run(settings, go)
    assert isinstance(unlisted, VenueError) and unlisted.code == "unknown_coin"
    assert isinstance(zero, UsageError)
    assert isinstance(period, UnsupportedError) and "no 5400 s candles" in str(period)


def test_a_failing_l2_book_is_the_venues_error(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS),
                         faults=Faults(endpoints={("hyperliquid", "/info l2Book"): 500}))
    settings = server.settings(tmp_path, retries=0)

    async def go(a: Adapter) -> list[Any]:
        btc = await _inst(a, "BTC")
        return list(await asyncio.gather(a.fetch_order_book(btc, 20), a.fetch_margin_tiers(btc),
                                         return_exceptions=True))

    book, tiers = _run(settings, go)
    assert isinstance(book, VenueUnavailable) and book.status == 500
    assert len(tiers) == 2  # meta still serves
