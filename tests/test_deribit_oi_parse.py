"""Deribit open interest, quotes, candles and dated futures: parsers on the real payloads (exact values),
inverse vs linear conversion on real contract specs, and the pure paging/aggregation helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.records import Instrument, Kind, Margin, OpenInterest, PricePoint, Unit
from dtrack.venues.deribit import api
from dtrack.venues.deribit.parse import (
    index_name,
    parse_chart,
    parse_index_price,
    parse_instruments,
    parse_open_interest,
    parse_quotes,
    price_points,
)
from dtrack.venues.fields import Kline, page_windows

Payload = Callable[[str], dict[str, Any]]
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOUR_MS = 3_600_000


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def close(symbol: str, t: datetime, price: float, high: float | None = None, low: float | None = None) -> PricePoint:
    """A Deribit close (high, low) of ``symbol`` received at RECEIVED."""
    return PricePoint(venue="deribit", symbol=symbol, time=t, price=price, high=high, low=low, received_at=RECEIVED)


def docs_instruments(payload: Payload) -> dict[str, Instrument]:
    body = payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"]
    return {i.symbol: i for i in parse_instruments(body).instruments}


def ticker_as_book_summary(payload: Payload) -> dict[str, Any]:
    """A book summary holding the ticker docs example's BTC-PERPETUAL row (the book-summary docs example
    is one option row; a ticker row carries the same ``open_interest`` and ``mark_price`` fields)."""
    row = payload("deribit__rest_ticker__docs.json")["cases"][0]["raw"]["result"]
    return {"jsonrpc": "2.0", "result": [{"instrument_name": "ETH-22FEB19-140-P", "open_interest": "odd"}, row]}


# --- dated futures in the instrument list -------------------------------------------------------------


def test_real_capture_lists_dated_futures_with_expiry(payload: Payload) -> None:
    btc_case, eth_case = payload("deribit__rest_get_instruments__capture.json")["cases"]
    btc = {i.symbol: i for i in parse_instruments(btc_case["raw"]).instruments if i.kind is Kind.FUTURE}
    assert sorted(btc, key=lambda s: btc[s].expiry or RECEIVED) == [
        "BTC-23JUL21", "BTC-30JUL21", "BTC-27AUG21", "BTC-24SEP21", "BTC-31DEC21", "BTC-25MAR22", "BTC-24JUN22"]
    march = btc["BTC-25MAR22"]
    assert march.expiry == datetime(2022, 3, 25, 8, 0, tzinfo=UTC) == ms(1648195200000)
    assert march == Instrument(venue="deribit", symbol="BTC-25MAR22", asset="BTC", quote="USD", settle="BTC",
                               kind=Kind.FUTURE, margin=Margin.INVERSE,
                               contract_size=10.0, contract_unit=Unit.USD, expiry=ms(1648195200000), market="BTC")
    assert march.normalized_id == "BTC-USD-20220325"
    assert btc["BTC-23JUL21"].expiry == datetime(2021, 7, 23, 8, 0, tzinfo=UTC)  # the weekly
    eth = {i.symbol: i for i in parse_instruments(eth_case["raw"]).instruments if i.kind is Kind.FUTURE}
    assert len(eth) == 7
    assert eth["ETH-24SEP21"].expiry == ms(1632470400000)
    assert {(i.contract_size, i.contract_unit, i.margin, i.settle, i.market) for i in eth.values()} == {
        (1.0, Unit.USD, Margin.INVERSE, "ETH", "ETH")}


def test_docs_future_and_rows_not_trading_skipped(payload: Payload) -> None:
    body = copy.deepcopy(payload("deribit__rest_get_instruments__docs.json")["cases"][0]["raw"])
    dated, perp = body["result"]
    fut = parse_instruments(body).instruments[0]
    assert (fut.symbol, fut.kind, fut.expiry, fut.market) == ("BTC-29SEP23", Kind.FUTURE, ms(1695974400000), "BTC")
    closed = {**dated, "instrument_name": "BTC-27OCT23", "state": "closed"}
    inactive = {**dated, "instrument_name": "BTC-24NOV23", "is_active": False}
    body["result"] = [closed, inactive, dated, perp]
    assert [i.symbol for i in parse_instruments(body).instruments] == ["BTC-29SEP23", "BTC-PERPETUAL"]


# --- open interest ----------------------------------------------------------------------------------


def test_open_interest_inverse_perp_real_figures(payload: Payload) -> None:
    """BTC-PERPETUAL (docs spec: inverse, 10 USD contracts): open_interest 502231260 is USD, one side;
    base = USD / mark 36288.31."""
    perp = docs_instruments(payload)["BTC-PERPETUAL"]
    (oi,) = parse_open_interest(ticker_as_book_summary(payload), {perp.symbol: perp}, RECEIVED).values()
    assert (oi.amount, oi.unit, oi.price_source) == (502231260.0, Unit.USD, "mark")
    assert oi.usd == 502231260.0
    assert oi.price_used == pytest.approx(36288.31, rel=1e-15)
    assert oi.base == pytest.approx(502231260.0 / 36288.31, rel=1e-12)  # 13840.0289 BTC
    assert oi.base == pytest.approx(13840.0289, abs=1e-4)
    assert oi.time is None and oi.received_at == RECEIVED  # a ticker row has no creation_timestamp
    assert "USD" in oi.note and "contracts x 10 USD" in oi.note and "one side" in oi.note


def test_inverse_vs_linear_conversion_on_real_specs(payload: Payload) -> None:
    """Real inverse specs (BTC-25MAR22: 10 USD, ETH-24SEP21: 1 USD contracts) against a linear USDC one:
    the same one-sided position read as USD, as contracts, and as coin gives the same base and USD."""
    btc_case, eth_case = payload("deribit__rest_get_instruments__capture.json")["cases"]
    btc = next(i for i in parse_instruments(btc_case["raw"]).instruments if i.symbol == "BTC-25MAR22")
    eth = next(i for i in parse_instruments(eth_case["raw"]).instruments if i.symbol == "ETH-24SEP21")
    mark = 36288.31
    as_usd = OpenInterest.of(instrument=btc, amount=1_000_000.0, unit=Unit.USD, price=mark, price_source="mark",
                             time=RECEIVED, received_at=RECEIVED)
    as_contracts = OpenInterest.of(instrument=btc, amount=100_000.0, unit=Unit.CONTRACTS, price=mark,  # x 10 USD
                                   price_source="mark", time=RECEIVED, received_at=RECEIVED)
    assert as_usd.usd == as_contracts.usd == 1_000_000.0
    assert as_usd.base == pytest.approx(as_contracts.base, rel=1e-15)
    assert as_usd.base == pytest.approx(1_000_000.0 / 36288.31, rel=1e-15)
    eth_oi = OpenInterest.of(instrument=eth, amount=2_500.0, unit=Unit.CONTRACTS, price=2_000.0,  # 1 USD each
                             price_source="mark", time=RECEIVED, received_at=RECEIVED)
    assert (eth_oi.usd, eth_oi.base) == (2_500.0, 1.25)
    # no linear Deribit spec is captured: BTC_USDC-PERPETUAL as the venue lists it (0.001 BTC contracts)
    linear = Instrument(venue="deribit", symbol="BTC_USDC-PERPETUAL", asset="BTC", quote="USDC", settle="USDC",
                        kind=Kind.PERP, margin=Margin.LINEAR, contract_size=0.001, contract_unit=Unit.BASE,
                        market="USDC")
    body = {"result": [{"instrument_name": "BTC_USDC-PERPETUAL", "open_interest": 27.556, "mark_price": mark,
                        "creation_timestamp": 1623059681955}]}
    (lin,) = parse_open_interest(body, {linear.symbol: linear}, RECEIVED).values()
    assert (lin.unit, lin.base, lin.time, lin.received_at) == (Unit.BASE, 27.556, ms(1623059681955), RECEIVED)
    assert lin.usd == pytest.approx(27.556 * 36288.31, rel=1e-15)
    assert "BTC (linear)" in lin.note


def test_book_summary_docs_example_gives_no_contract(payload: Payload) -> None:
    """The docs example is one option row: no perpetual or future to read, and the row is not parsed."""
    body = payload("deribit__rest_get_book_summary_by_currency__docs.json")["cases"][0]["raw"]
    perp = docs_instruments(payload)["BTC-PERPETUAL"]
    assert parse_open_interest(body, {perp.symbol: perp}, RECEIVED) == {}
    assert parse_quotes(body, {perp.symbol: perp}, {}, RECEIVED) == {}


def test_malformed_wanted_row_is_a_parse_error(payload: Payload) -> None:
    body = ticker_as_book_summary(payload)
    body["result"][1] = {**body["result"][1], "mark_price": None}
    perp = docs_instruments(payload)["BTC-PERPETUAL"]
    with pytest.raises(ParseError, match="mark_price") as err:
        parse_open_interest(body, {perp.symbol: perp}, RECEIVED)
    assert err.value.endpoint == "public/get_book_summary_by_currency"
    with pytest.raises(ParseError, match="'result' missing"):
        parse_open_interest({"jsonrpc": "2.0"}, {}, RECEIVED)


# --- quotes and index ---------------------------------------------------------------------------------


def test_quotes_take_the_index_and_fall_back_to_estimated_delivery(payload: Payload) -> None:
    perp = docs_instruments(payload)["BTC-PERPETUAL"]
    body = ticker_as_book_summary(payload)
    (quote,) = parse_quotes(body, {perp.symbol: perp}, {"btc_usd": 36300.5}, RECEIVED).values()
    # a ticker row has no creation_timestamp: no time, never the receive time
    assert (quote.mark_price, quote.index_price, quote.time, quote.received_at) == (36288.31, 36300.5, None, RECEIVED)
    assert quote.last_price is None  # a ticker row names it last_price; book-summary rows "last"
    (fallback,) = parse_quotes(body, {perp.symbol: perp}, {}, RECEIVED).values()
    assert fallback.index_price == 36297.02  # estimated_delivery_price
    body["result"][1] = {**body["result"][1], "last": 36289.5}
    (with_last,) = parse_quotes(body, {perp.symbol: perp}, {}, RECEIVED).values()
    assert with_last.last_price == 36289.5


def test_index_names_follow_margin() -> None:
    inverse = Instrument(venue="deribit", symbol="ETH-26DEC25", asset="ETH", quote="USD", settle="ETH",
                         kind=Kind.FUTURE,
                         margin=Margin.INVERSE)
    linear = Instrument(venue="deribit", symbol="SOL_USDC-PERPETUAL", asset="SOL", quote="USDC", settle="USDC",
                        kind=Kind.PERP, margin=Margin.LINEAR)
    assert (index_name(inverse), index_name(linear)) == ("eth_usd", "sol_usdc")
    with pytest.raises(ParseError, match="index_price") as err:
        parse_index_price({"jsonrpc": "2.0", "result": {"estimated_delivery_price": 1.0}})
    assert err.value.endpoint == "public/get_index_price"


# --- candles ----------------------------------------------------------------------------------------


def test_chart_real_capture(payload: Payload) -> None:
    """ccxt's BTC_USDT 1 h capture: one candle opening 2024-03-13 11:00 UTC, close 73448.39, high 73448.39, low
    73427.75 (ccxt's reading of the same answer: the independent reference)."""
    case = payload("deribit__ccxt_fetchOHLCV.json")["cases"][0]
    candles = parse_chart(case["raw"])
    assert candles == [(1710327600000, 73448.39, 73448.39, 73427.75)]
    assert [(k.open_ms, k.high, k.low, k.close) for k in candles] == [(t, h, lo, c) for t, _o, h, lo, c, _v
                                                                      in case["ccxt_parsed"]]
    closed = price_points(candles, HOUR_MS, HOUR_MS, now_ms=1710331200000, symbol="BTC_USDT", received=RECEIVED)
    # at the candle's close: open + 1 h
    assert closed == (close("BTC_USDT", ms(1710331200000), 73448.39, 73448.39, 73427.75),)
    still_open = price_points(candles, HOUR_MS, HOUR_MS, now_ms=1710328421483,  # usOut of the answer
                              symbol="BTC_USDT", received=RECEIVED)
    assert still_open == (close("BTC_USDT", ms(1710328421483), 73448.39, 73448.39, 73427.75),)
    per_unit = price_points(candles, HOUR_MS, HOUR_MS, now_ms=1710331200000, multiplier=1000.0, symbol="BTC_USDT",
                            received=RECEIVED)
    assert (per_unit[0].price, per_unit[0].high, per_unit[0].low) == pytest.approx((73.44839, 73.44839, 73.42775),
                                                                                   rel=1e-15)


def test_chart_no_data_and_malformed(payload: Payload) -> None:
    body = copy.deepcopy(payload("deribit__ccxt_fetchOHLCV.json")["cases"][0]["raw"])
    empty = {**body, "result": {k: ([] if isinstance(v, list) else v) for k, v in body["result"].items()}}
    empty["result"]["status"] = "no_data"
    assert parse_chart(empty) == []
    body["result"]["status"] = "error"
    with pytest.raises(ParseError, match="status") as err:
        parse_chart(body)
    assert err.value.endpoint == "public/get_tradingview_chart_data"
    body["result"].update(status="ok", close=[])
    with pytest.raises(ParseError, match="1 ticks but 0 closes"):
        parse_chart(body)
    body["result"].update(close=[1.0], ticks=[1710327600])  # seconds, not milliseconds
    with pytest.raises(ParseError, match="epoch milliseconds"):
        parse_chart(body)


def test_four_hour_closes_from_hourly_candles() -> None:
    """4 h closes are the hourly closes ending on 4 h boundaries; the open period closes now; a finished
    period without its last hour is left out."""
    day = 1_795_046_400_000  # 2026-11-18 00:00 UTC
    hourly = [(day + h * HOUR_MS, 100.0 + h) for h in range(11)]  # 00:00 .. 10:00 opens
    now_ms = day + 10 * HOUR_MS + 1_000
    points = price_points(hourly, HOUR_MS, 4 * HOUR_MS, now_ms=now_ms, symbol="BTC-PERPETUAL", received=RECEIVED)
    assert points == (close("BTC-PERPETUAL", ms(day + 4 * HOUR_MS), 103.0),
                      close("BTC-PERPETUAL", ms(day + 8 * HOUR_MS), 107.0),
                      close("BTC-PERPETUAL", ms(now_ms), 110.0))
    gap = [c for c in hourly if c[0] != day + 7 * HOUR_MS]
    assert [p.price for p in price_points(gap, HOUR_MS, 4 * HOUR_MS, now_ms=now_ms, symbol="BTC-PERPETUAL",
                                          received=RECEIVED)] == [103.0, 110.0]


def test_four_hour_highs_and_lows_span_their_hourly_candles() -> None:
    """Hour h (00:00 .. 10:00 opens) closes at 100 + h with high 101 + h + (3 at 02:00) and low 99 + h - (4 at
    05:00): 00:00-04:00 ranges 99 .. 106 (02:00's wick), 04:00-08:00 99 .. 108 (05:00's wick), the open period
    (08:00-, three hours so far) 107 .. 111. A period missing a middle hour keeps its close but not its range (the
    missing hour may hold the extreme); one missing its first hour too."""
    day = 1_795_046_400_000  # 2026-11-18 00:00 UTC
    hourly = [Kline(day + h * HOUR_MS, 100.0 + h, 101.0 + h + (3 if h == 2 else 0), 99.0 + h - (4 if h == 5 else 0))
              for h in range(11)]
    now_ms = day + 10 * HOUR_MS + 1_000
    points = price_points(hourly, HOUR_MS, 4 * HOUR_MS, now_ms=now_ms, symbol="BTC-PERPETUAL", received=RECEIVED)
    assert points == (close("BTC-PERPETUAL", ms(day + 4 * HOUR_MS), 103.0, 106.0, 99.0),
                      close("BTC-PERPETUAL", ms(day + 8 * HOUR_MS), 107.0, 108.0, 100.0),
                      close("BTC-PERPETUAL", ms(now_ms), 110.0, 111.0, 107.0))
    for missing in (day + 5 * HOUR_MS, day + 4 * HOUR_MS):
        holed = [k for k in hourly if k.open_ms != missing]
        got = price_points(holed, HOUR_MS, 4 * HOUR_MS, now_ms=now_ms, symbol="BTC-PERPETUAL", received=RECEIVED)
        assert got[1] == close("BTC-PERPETUAL", ms(day + 8 * HOUR_MS), 107.0)  # its close, no range
        assert got[0] == points[0] and got[2] == points[2]
    # hourly periods of hourly candles: each candle's own high and low, per unit (/ 10)
    one = price_points(hourly[:2], HOUR_MS, HOUR_MS, now_ms=now_ms, multiplier=10.0, symbol="X", received=RECEIVED)
    assert [(p.price, p.high, p.low) for p in one] == [pytest.approx(x, rel=1e-15) for x in ((10.0, 10.1, 9.9),
                                                                                            (10.1, 10.2, 10.0))]


def test_chart_windows_cover_every_candle_once() -> None:
    first, candle = 1_795_046_400_000, HOUR_MS
    for count, pages in ((1, 1), (1000, 1), (1001, 2), (2161, 3)):
        last = first + (count - 1) * candle
        windows = page_windows(first, last, candle, api.CHART_CHUNK)
        assert len(windows) == pages
        assert windows[0][0] == first and windows[-1][1] == last
        assert all((hi - lo) // candle + 1 <= 1000 for lo, hi in windows)
        assert all(b[0] == a[1] + candle for a, b in pairwise(windows))
