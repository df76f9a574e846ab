"""dYdX v4 indexer parsers on the real answers in tests/payloads (ccxt's recordings of the live indexer, 2025-07-29):
exact values, units, the listing's filters, plausibility, and ccxt's own parse of the same answers as a second
implementation. Floats are compared at rel=1e-12 (both sides parse the same decimal text)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from dtrack.errors import Implausible, ParseError
from dtrack.records import Kind, Margin, Unit
from dtrack.venues import plausible
from dtrack.venues.dydx import api, parse
from dtrack.venues.dydx.adapter import iso_ms
from dtrack.venues.fields import utc_to_ms

Payload = Callable[[str], dict[str, Any]]
EXACT = 1e-12
#: a receive time 20 minutes into the hour of the recorded answers
RECEIVED = datetime(2025, 7, 29, 5, 20, 0, tzinfo=UTC)


def _case(payload: Payload, name: str) -> dict[str, Any]:
    case: dict[str, Any] = payload(name)["cases"][0]
    return case


def _markets(payload: Payload) -> dict[str, Any]:
    return copy.deepcopy(_case(payload, "dydx__ccxt_fetchMarkets.json")["raw"])


# --- instruments ---------------------------------------------------------------------------------------


def test_listing_of_the_real_markets(payload: Payload) -> None:
    listing = parse.parse_listing(_markets(payload))
    (btc,) = listing.instruments
    assert (btc.venue, btc.symbol, btc.asset, btc.quote, btc.settle) == ("dydx", "BTC-USD", "BTC", "USDC", "USDC")
    assert (btc.kind, btc.margin, btc.multiplier, btc.contract_size, btc.contract_unit) == (
        Kind.PERP, Margin.LINEAR, 1.0, 1.0, Unit.BASE)
    assert btc.normalized_id == "BTC-USDC-PERP"
    # ccxt, a second reading of the same answer, agrees on the terms
    ccxt = _case(payload, "dydx__ccxt_fetchMarkets.json")["ccxt_parsed"][0]
    assert (ccxt["id"], ccxt["base"], ccxt["settle"], ccxt["swap"], ccxt["linear"]) == (
        btc.symbol, btc.asset, btc.settle, True, True)


@pytest.mark.parametrize("status", ["FINAL_SETTLEMENT", "INITIALIZING", "PAUSED"])
def test_markets_without_positions_are_not_listed(payload: Payload, status: str) -> None:
    body = _markets(payload)
    body["markets"]["ETH-USD"] = {**body["markets"]["BTC-USD"], "ticker": "ETH-USD", "status": status}
    assert [i.symbol for i in parse.parse_listing(body).instruments] == ["BTC-USD"]


@pytest.mark.parametrize("status", ["POST_ONLY", "CANCEL_ONLY"])
def test_markets_that_hold_positions_are_listed(payload: Payload, status: str) -> None:
    body = _markets(payload)
    body["markets"]["BTC-USD"]["status"] = status
    assert [i.symbol for i in parse.parse_listing(body).instruments] == ["BTC-USD"]


def test_a_broken_entry_costs_only_its_asset(payload: Payload) -> None:
    body = _markets(payload)
    body["markets"]["ETH-USD"] = {**body["markets"]["BTC-USD"], "ticker": "SOL-USD"}  # key and ticker disagree
    listing = parse.parse_listing(body)
    assert [i.symbol for i in listing.instruments] == ["BTC-USD"]
    assert "ETH" in listing.broken and "ticker 'SOL-USD'" in listing.broken["ETH"]
    with pytest.raises(ParseError, match="no market parsed"):
        parse.parse_listing({"markets": {"ETH-USD": body["markets"]["ETH-USD"]}})


def test_a_multiple_ticker_is_per_coin() -> None:
    inst = parse.instrument("1000PEPE-USD")
    assert (inst.asset, inst.multiplier) == ("PEPE", 1000.0)


# --- funding, open interest, prices ----------------------------------------------------------------------


def test_funding_of_the_real_market(payload: Payload) -> None:
    body = _markets(payload)
    inst = parse.instrument("BTC-USD")
    rate = parse.funding_rate(inst, body["markets"]["BTC-USD"], RECEIVED)
    # nextFundingRate "0.00016451111111111111" is a 1-HOUR rate (api.INTERVAL_SOURCE)
    assert rate.rate == pytest.approx(0.00016451111111111111, rel=EXACT)
    assert (rate.interval_hours, rate.interval_source) == (1.0, api.INTERVAL_SOURCE)
    assert rate.rate_8h == pytest.approx(0.00016451111111111111 * 8, rel=EXACT)
    assert rate.apr == pytest.approx(0.00016451111111111111 * 8760, rel=EXACT)
    assert rate.next_funding_time == datetime(2025, 7, 29, 6, 0, tzinfo=UTC)  # the next whole hour
    assert not rate.continuous
    assert (rate.time, rate.received_at, rate.predicted_rate, rate.mark_price) == (None, RECEIVED, None, None)
    assert rate.index_price == pytest.approx(118700.5426, rel=EXACT)
    # openInterest 59.0763 coins (one side) x oraclePrice
    assert rate.open_interest_usd == pytest.approx(float(Decimal("59.0763") * Decimal("118700.5426")), rel=EXACT)
    assert rate.sides is None and rate.long_cost_8h == rate.rate_8h and rate.short_cost_8h == -rate.rate_8h


def test_funding_cap_comes_from_the_margin_fractions(payload: Payload) -> None:
    row = _markets(payload)["markets"]["BTC-USD"]
    cap = parse.funding_cap(row, parse.reader(api.PERPETUAL_MARKETS))
    # 6,000 % x (0.02 - 0.012) / 8 per hour, + defaultFundingRate1H 0
    assert (cap.floor, cap.cap) == (pytest.approx(-0.06, rel=EXACT), pytest.approx(0.06, rel=EXACT))
    inst = parse.instrument("BTC-USD")
    parse.funding_rate(inst, {**row, "nextFundingRate": "0.0599"}, RECEIVED)  # within it
    with pytest.raises(Implausible) as err:
        parse.funding_rate(inst, {**row, "nextFundingRate": "0.0601"}, RECEIVED)
    assert (err.value.venue, err.value.symbol, err.value.field) == ("dydx", "BTC-USD", "rate")
    assert "6,000 %" in str(err.value)
    without = {k: v for k, v in row.items() if k != "initialMarginFraction"}
    assert parse.funding_cap(without, parse.reader(api.PERPETUAL_MARKETS)) is plausible.BACKSTOP


def test_open_interest_of_the_real_market(payload: Payload) -> None:
    row = _markets(payload)["markets"]["BTC-USD"]
    oi = parse.open_interest(parse.instrument("BTC-USD"), row, RECEIVED)
    assert (oi.amount, oi.unit, oi.base) == (pytest.approx(59.0763, rel=EXACT), Unit.BASE,
                                             pytest.approx(59.0763, rel=EXACT))
    assert (oi.price_used, oi.price_source) == (pytest.approx(118700.5426, rel=EXACT), "oracle")
    assert oi.usd == pytest.approx(59.0763 * 118700.5426, rel=EXACT)
    assert "one side" in oi.note and oi.long_usd is None


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("openInterest", "-1", "must be >= 0"),
    ("oraclePrice", "0", "a price must be > 0"),
])
def test_implausible_markets_are_refused(payload: Payload, field: str, value: str, rule: str) -> None:
    row = {**_markets(payload)["markets"]["BTC-USD"], field: value}
    with pytest.raises(Implausible, match=rule):
        parse.open_interest(parse.instrument("BTC-USD"), row, RECEIVED)


def test_per_market_keeps_the_others_and_names_the_missing(payload: Payload) -> None:
    body = _markets(payload)
    body["markets"]["ETH-USD"] = {**body["markets"]["BTC-USD"], "ticker": "ETH-USD", "oraclePrice": "-5"}
    errors: list[Any] = []
    wanted = [parse.instrument(t) for t in ("BTC-USD", "ETH-USD", "SOL-USD")]
    rates, missing = parse.per_market(body, wanted, lambda i, r: parse.funding_rate(i, r, RECEIVED), errors)
    assert [r.instrument.symbol for r in rates] == ["BTC-USD"]
    assert missing == ["SOL-USD"]
    assert [(type(e), e.symbol) for e in errors] == [(Implausible, "ETH-USD")]


def test_book_of_the_real_answer(payload: Payload) -> None:
    case = _case(payload, "dydx__ccxt_fetchOrderBook.json")
    book = parse.parse_book(case["raw"], "BTC-USD")
    assert (book.best_bid, book.best_ask, book.mid) == (118267.0, 118485.0, (118267.0 + 118485.0) / 2)
    assert [book.best_bid, book.best_ask] == [case["ccxt_parsed"]["bids"][0][0], case["ccxt_parsed"]["asks"][0][0]]
    quote = parse.price_quote(parse.instrument("BTC-USD"), _markets(payload)["markets"]["BTC-USD"], book, RECEIVED)
    assert (quote.mark_price, quote.last_price) == (None, pytest.approx(118376.0, rel=EXACT))
    assert quote.index_price == pytest.approx(118700.5426, rel=EXACT)
    one_sided = parse.parse_book({"bids": case["raw"]["bids"], "asks": []}, "BTC-USD")
    assert one_sided.mid is None
    with pytest.raises(Implausible):
        parse.parse_book({"bids": [{"price": "-1", "size": "1"}], "asks": []}, "BTC-USD")


# --- history --------------------------------------------------------------------------------------------


def test_funding_history_of_the_real_answer(payload: Payload) -> None:
    case = _case(payload, "dydx__ccxt_fetchFundingRateHistory.json")
    rows = parse.parse_funding_history(case["raw"], "BTC-USD")
    assert rows == [(datetime(2025, 7, 29, 5, 0, 1, 53000, tzinfo=UTC), pytest.approx(0.000176, rel=EXACT))]
    theirs = case["ccxt_parsed"][0]  # ccxt's reading: the same time and rate
    assert (utc_to_ms(rows[0][0]), rows[0][1]) == (theirs["timestamp"], pytest.approx(theirs["fundingRate"], rel=EXACT))
    with pytest.raises(ParseError, match="ticker 'BTC-USD' in an answer about 'ETH-USD'"):
        parse.parse_funding_history(case["raw"], "ETH-USD")
    bad = copy.deepcopy(case["raw"])
    bad["historicalFunding"][0]["effectiveAt"] = "2025-07-29T05:00:01"  # no offset: refused, not guessed
    with pytest.raises(ParseError, match="ISO-8601 UTC"):
        parse.parse_funding_history(bad, "BTC-USD")


def test_candles_of_the_real_answer(payload: Payload) -> None:
    case = _case(payload, "dydx__ccxt_fetchOHLCV.json")
    (candle,) = parse.parse_candles(case["raw"], "BTC-USD", "1MIN")
    assert (candle.open_ms, candle.close, candle.starting_oi) == (1753767960000, 118810.0, 59.0763)
    assert [candle.open_ms, candle.close] == [case["ccxt_parsed"][0][0], case["ccxt_parsed"][0][4]]
    points = parse.oi_points([candle], parse.instrument("BTC-USD"), RECEIVED)
    assert [(p.time, p.base, p.usd) for p in points] == [(datetime(2025, 7, 29, 5, 46, tzinfo=UTC), 59.0763, None)]
    with pytest.raises(ParseError, match="'1MIN' in an answer about 'BTC-USD' '1HOUR'"):
        parse.parse_candles(case["raw"], "BTC-USD", "1HOUR")


def test_iso_times_as_the_indexer_writes_them() -> None:
    assert iso_ms(datetime(2025, 7, 29, 5, 0, 1, 53000, tzinfo=UTC)) == "2025-07-29T05:00:01.053Z"
    assert iso_ms(datetime(2025, 7, 29, 5, 0, tzinfo=UTC)) == "2025-07-29T05:00:00.000Z"
