"""Bybit order books, OHLCV candles and risk-limit tiers parsed from real payloads, with exact values.

Tolerances: values are read from decimal strings, so they are compared at rel=1e-12 (float parsing); derived
figures (a continuity deduction) are checked against the same arithmetic done here by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import Implausible, ParseError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.bybit import parse

Payload = Callable[[str], dict[str, Any]]
EXACT = 1e-12
RECEIVED = datetime(2024, 2, 1, 16, 13, tzinfo=UTC)

BTCUSDT = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, market="linear")
BTCUSD = Instrument(venue="bybit", symbol="BTCUSD", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                    margin=Margin.INVERSE, contract_size=1.0, contract_unit=Unit.USD, market="inverse")


def raw(payload: Payload, name: str, index: int = 0) -> Any:
    return copy.deepcopy(payload(name)["cases"][index]["raw"])


# --- orderbook -----------------------------------------------------------------------------------


def test_orderbook_real_capture(payload: Payload) -> None:
    case = payload("bybit__ccxt_fetchOrderBook.json")["cases"][0]
    book = parse.parse_orderbook(case["raw"], BTCUSDT, 2, RECEIVED)
    assert book.bids == ((42544.7, 172.404), (42544.5, 88.856))
    assert book.asks == ((42548.0, 108.998), (42548.2, 75.008))
    # independent reference: ccxt's reading of the same answer
    assert [list(b) for b in book.bids] == case["ccxt_parsed"]["bids"]
    assert [list(a) for a in book.asks] == case["ccxt_parsed"]["asks"]
    assert book.time == datetime(2024, 2, 1, 16, 12, 28, 569000, tzinfo=UTC)  # ts 1706803948569
    assert book.sequence == 342690 and book.limit == 2 and book.unit is Unit.BASE
    assert book.best_bid == 42544.7 and book.best_ask == 42548.0 and book.received_at == RECEIVED


def test_orderbook_units_per_coin(payload: Payload) -> None:
    """The same levels read as a 1000-multiplier contract (prices / 1000, sizes x 1000) and as an inverse one
    (USD contracts -> coins at each level's price): the conversions, on the real numbers."""
    body = raw(payload, "bybit__ccxt_fetchOrderBook.json")
    kilo = Instrument(venue="bybit", symbol="BTCUSDT", asset="X", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, multiplier=1000.0, market="linear")
    book = parse.parse_orderbook(body, kilo, 2, RECEIVED)
    assert book.bids[0] == (pytest.approx(42.5447, rel=EXACT), pytest.approx(172404.0, rel=EXACT))
    inverse = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                         margin=Margin.INVERSE, contract_size=1.0, contract_unit=Unit.USD, market="inverse")
    book = parse.parse_orderbook(body, inverse, 2, RECEIVED)
    assert book.unit is Unit.USD
    assert book.asks[1] == (42548.2, pytest.approx(75.008 / 42548.2, rel=EXACT))


def test_orderbook_refuses_broken_answers(payload: Payload) -> None:
    body = raw(payload, "bybit__ccxt_fetchOrderBook.json")
    with pytest.raises(ParseError, match="book of 'BTCUSDT', asked for 'ETHUSDT'"):
        parse.parse_orderbook(body, Instrument(venue="bybit", symbol="ETHUSDT", asset="ETH", quote="USDT",
                                               settle="USDT", kind=Kind.PERP, margin=Margin.LINEAR), 2, RECEIVED)
    crossed = copy.deepcopy(body)
    crossed["result"]["b"][0][0] = "42549"
    with pytest.raises(Implausible, match="crossed"):
        parse.parse_orderbook(crossed, BTCUSDT, 2, RECEIVED)
    unsorted = copy.deepcopy(body)
    unsorted["result"]["a"].reverse()
    with pytest.raises(ParseError, match="asks are not in ascending"):
        parse.parse_orderbook(unsorted, BTCUSDT, 2, RECEIVED)
    negative = copy.deepcopy(body)
    negative["result"]["b"][1][1] = "-1"
    with pytest.raises(Implausible, match="b size"):
        parse.parse_orderbook(negative, BTCUSDT, 2, RECEIVED)


# --- kline -> candles ----------------------------------------------------------------------------


def test_candles_of_real_klines(payload: Payload) -> None:
    case = payload("bybit__ccxt_fetchOHLCV.json")["cases"][0]
    bars = parse.parse_bars(case["raw"], "BTCUSDT")
    assert bars[0] == parse.Bar(1706637600000, 43376.1, 43474.1, 43264.8, 43352.8, 1575.305, 68345898.1407)
    # the newest bar (18:00) holds the receive time: still open
    received = datetime(2024, 1, 30, 18, 30, tzinfo=UTC)
    candles = parse.candles(bars, BTCUSDT, 3600, received)
    assert [c.time for c in candles] == [datetime(2024, 1, 30, h, tzinfo=UTC) for h in (16, 17, 18)]
    assert [c.closed for c in candles] == [True, True, False]
    # independent reference: ccxt's OHLCV rows (open time, o, h, l, c, base volume), ascending
    assert [[int(c.time.timestamp() * 1000), c.open, c.high, c.low, c.close, c.volume_base] for c in candles] == \
        case["ccxt_parsed"]
    # linear: turnover in USDT is the USD volume
    assert [c.volume_usd for c in candles] == [58117391.4117, 138878389.2519, 68345898.1407]
    assert all(c.period_seconds == 3600 and c.venue == "bybit" and c.symbol == "BTCUSDT" for c in candles)
    # the day's VWAP lies inside each bar's range: turnover / volume is USDT per BTC
    assert all(c.low <= c.volume_usd / c.volume_base <= c.high for c in candles if c.volume_base)
    # 0.4 ms before 19:00 the 18:00 bar is still open: the receive time is floored to the ms (as fields.utc_to_ms
    # and the store keep times), never rounded up to the bar's end
    just_before = datetime(2024, 1, 30, 18, 59, 59, 999_600, tzinfo=UTC)
    assert [c.closed for c in parse.candles(bars, BTCUSDT, 3600, just_before)] == [True, True, False]


def test_candles_inverse_and_multiplier_units(payload: Payload) -> None:
    """Inverse rows: ``volume`` is USD contracts, ``turnover`` coins (the real numbers, read as such)."""
    bars = parse.parse_bars(raw(payload, "bybit__ccxt_fetchOHLCV.json"), "BTCUSDT")
    (first, *_) = parse.candles(bars[-1:], BTCUSD, 3600, RECEIVED)
    assert first.volume_usd == pytest.approx(1341.261, rel=EXACT)
    assert first.volume_base == pytest.approx(58117391.4117, rel=EXACT)
    kilo = Instrument(venue="bybit", symbol="1000XUSDT", asset="X", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, multiplier=1000.0, market="linear")
    (k,) = parse.candles(bars[-1:], kilo, 3600, RECEIVED)
    assert (k.open, k.close, k.volume_base) == (pytest.approx(43.3507, rel=EXACT), pytest.approx(43.488, rel=EXACT),
                                                pytest.approx(1341261.0, rel=EXACT))


def test_klines_projection_is_unchanged(payload: Payload) -> None:
    body = raw(payload, "bybit__ccxt_fetchOHLCV.json")
    assert [(k.start_ms, k.open, k.close) for k in parse.parse_klines(body, "BTCUSDT")] == \
        [(b.start_ms, b.open, b.close) for b in parse.parse_bars(body, "BTCUSDT")]


def test_bar_outside_its_range_is_implausible(payload: Payload) -> None:
    body = raw(payload, "bybit__ccxt_fetchOHLCV.json")
    body["result"]["list"][0][2] = "43000"  # high below the open (the real row: 43376.1, 43474.1, 43264.8, 43352.8)
    with pytest.raises(Implausible, match=r"the open 43376\.1 and close 43352\.8 must lie within "
                                          r"\[low 43264\.8, high 43000\.0\]") as err:
        parse.parse_bars(body, "BTCUSDT")
    assert (err.value.field, err.value.value) == (
        "openPrice/highPrice/lowPrice/closePrice", [43376.1, 43000.0, 43264.8, 43352.8])


# --- risk-limit ----------------------------------------------------------------------------------


def test_risk_limit_docs_example_is_percent(payload: Payload) -> None:
    """The docs' BTCUSD row: "0.5" / "1" beside 100x is percent (1 x 100 = 100): 0.5 % and 1 %."""
    page = parse.parse_risk_limit(raw(payload, "bybit__rest_risk_limit__docs.json"), "BTCUSD")
    assert page.cursor == ""
    (tier,) = parse.margin_tiers(page.tiers, BTCUSD, None, RECEIVED)
    assert (tier.tier, tier.floor, tier.cap, tier.unit) == (1, 0.0, 150.0, Unit.BASE)  # 150 BTC
    assert tier.mmr == pytest.approx(0.005, rel=EXACT) and tier.imr == pytest.approx(0.01, rel=EXACT)
    assert tier.max_leverage == 100.0 and tier.deduction == 0.0
    assert "percent" in tier.note and 'mmDeduction "" on the lowest tier: 0' in tier.note
    assert tier.source == "/v5/market/risk-limit" and tier.official


def test_risk_limit_testnet_rows_are_fractions(payload: Payload) -> None:
    """The testnet answer lists id 2 before id 1 and carries no mmDeduction: sorted by cap, floor = the previous
    cap, and tier 2's deduction from continuity (300,000 x (0.005 - 0.0033) = 510 USDT)."""
    page = parse.parse_risk_limit(raw(payload, "bybit__rest_risk_limit__testnet.json"), "BTCUSDT")
    stamp = datetime(2026, 9, 17, tzinfo=UTC)
    low, high = parse.margin_tiers(page.tiers, BTCUSDT, stamp, RECEIVED)
    assert (low.tier, low.floor, low.cap, low.mmr, low.imr, low.max_leverage, low.deduction) == \
        (1, 0.0, 300000.0, 0.0033, 0.0066, 150.0, 0.0)
    assert (high.tier, high.floor, high.cap, high.mmr, high.imr, high.max_leverage) == \
        (2, 300000.0, 2000000.0, 0.005, 0.01, 100.0)
    assert high.deduction == pytest.approx(300000 * 0.005 - 300000 * 0.0033, rel=1e-9)
    # continuity: both tiers ask the same maintenance margin at the boundary
    assert 300000 * low.mmr - low.deduction == pytest.approx(300000 * high.mmr - high.deduction, rel=1e-12)
    assert "derived by continuity" in high.note and low.unit is Unit.USD and low.time == stamp
    # the deepest tiers: a 0.6 fraction at 1x is real (not percent), mmDeduction read as sent
    deep = parse.parse_risk_limit(raw(payload, "bybit__rest_risk_limit__testnet.json", 1), "BTCUSDT").tiers
    assert deep == (parse.RiskTier(34, 800000000.0, 0.42, 0.6993, 1.43, None, False),
                    parse.RiskTier(35, 1200000000.0, 0.6, 1.0, 1.0, 242382510.0, False))


def test_risk_limit_reads_only_the_symbol_and_numbers_as_json_numbers(payload: Payload) -> None:
    body = raw(payload, "bybit__rest_risk_limit__testnet.json")
    body["result"]["list"][0]["symbol"] = "ETHUSDT"
    body["result"]["list"][1]["maintenanceMargin"] = 0.0033  # the docs type the rates as numbers
    (tier,) = parse.parse_risk_limit(body, "BTCUSDT").tiers
    assert (tier.id, tier.mmr) == (1, 0.0033)
    with pytest.raises(ParseError, match="no risk-limit rows for BTCUSDT"):
        parse.margin_tiers((), BTCUSDT, None, RECEIVED)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("initialMargin", "0.1", "neither a fraction"),  # 0.1 x 100 = 10
    ("maintenanceMargin", "0.02", "maintenanceMargin <= initialMargin"),
    ("mmDeduction", "-5", "must be >= 0"),
    ("riskLimitValue", "0", "must be > 0"),
])
def test_risk_limit_impossible_rows(payload: Payload, field: str, value: str, match: str) -> None:
    body = raw(payload, "bybit__rest_risk_limit__testnet.json")
    body["result"]["list"][0][field] = value
    with pytest.raises(Implausible, match=match):
        parse.parse_risk_limit(body, "BTCUSDT")
