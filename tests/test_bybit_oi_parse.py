"""Bybit parsers for open interest, OI history, klines, account ratio, quotes, spot and dated futures, on
the real payloads in tests/payloads (sources: tests/payloads/PROVENANCE.md).

Tolerances: values Bybit sends as decimal strings are compared at rel=1e-12 (float parsing); USD values
are also cross-checked against Bybit's own ``openInterestValue``, rounded to cents (linear) or to
0.01 coin (inverse), at the looser tolerance stated there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.bybit import parse

Payload = Callable[[str], dict[str, Any]]
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
PRE_2026 = "no singleOpenInterest in this answer, so openInterest is taken as one side (pre-2026-06-11)"


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def raws(payload: Payload, name: str) -> list[dict[str, Any]]:
    return [case["raw"] for case in payload(name)["cases"]]


def instrument_row(payload: Payload, **changes: Any) -> dict[str, Any]:
    """The real BTCUSDT instruments-info answer, its one row changed as given."""
    body = copy.deepcopy(raws(payload, "bybit__rest_instruments_info__docs.json")[0])
    body["result"]["list"][0].update(changes)
    return body


def one_instrument(body: dict[str, Any]) -> Instrument:
    (inst,) = parse.parse_instruments_page(body).listing.instruments
    return inst


@pytest.fixture
def btcusdt(payload: Payload) -> Instrument:
    """The linear perpetual as the real instruments-info capture specifies it."""
    return one_instrument(instrument_row(payload))


@pytest.fixture
def btcusd(payload: Payload) -> Instrument:
    """The inverse perpetual: the real row with Bybit's documented inverse terms (no real inverse capture)."""
    return one_instrument(instrument_row(payload, symbol="BTCUSD", contractType="InversePerpetual",
                                         quoteCoin="USD", settleCoin="BTC"))


# --- instruments-info: dated futures ------------------------------------------------------------


def test_linear_usdc_future_from_instrument_row(payload: Payload) -> None:
    # BTC-26DEC25 is the USDC future of Bybit's real futures ticker example (deliveryTime 2025-12-26T08:00Z).
    page = parse.parse_instruments_page(instrument_row(
        payload, symbol="BTC-26DEC25", contractType="LinearFutures", quoteCoin="USDC", settleCoin="USDC",
        deliveryTime="1766736000000", fundingInterval=0))
    (fut,) = page.listing.instruments
    assert fut == Instrument(venue="bybit", symbol="BTC-26DEC25", asset="BTC", quote="USDC", settle="USDC",
                             kind=Kind.FUTURE, margin=Margin.LINEAR,
                             contract_size=1.0, contract_unit=Unit.BASE,
                             expiry=datetime(2025, 12, 26, 8, tzinfo=UTC), market="linear")
    assert fut.normalized_id == "BTC-USDC-20251226"
    assert (page.intervals, page.bad_intervals) == ({}, {})  # futures pay no funding


def test_inverse_future_from_instrument_row(payload: Payload) -> None:
    fut = one_instrument(instrument_row(payload, symbol="BTCUSDZ25", contractType="InverseFutures", quoteCoin="USD",
                                        settleCoin="BTC", deliveryTime="1766736000000"))
    assert (fut.kind, fut.margin, fut.market, fut.quote, fut.settle) == (Kind.FUTURE, Margin.INVERSE, "inverse",
                                                                         "USD", "BTC")
    assert (fut.contract_size, fut.contract_unit, fut.expiry) == (1.0, Unit.USD, datetime(2025, 12, 26, 8, tzinfo=UTC))


def test_perpetual_keeps_no_expiry(btcusdt: Instrument) -> None:
    assert (btcusdt.kind, btcusdt.expiry) == (Kind.PERP, None)  # deliveryTime "0"


@pytest.mark.parametrize("symbol", ["BTCUSDT-28NOV25", "BTC-26DEC25", "BTCUSDZ25"])
def test_broken_future_row_is_kept_under_its_asset(payload: Payload, symbol: str) -> None:
    kind = "InverseFutures" if symbol.endswith("Z25") else "LinearFutures"
    page = parse.parse_instruments_page(instrument_row(payload, symbol=symbol, contractType=kind, baseCoin="",
                                                       deliveryTime="1766736000000"))
    assert page.listing.instruments == ()
    assert page.listing.broken.keys() == {"BTC"} and page.listing.broken["BTC"].startswith(f"{symbol}: ")


def test_future_without_delivery_time_is_broken(payload: Payload) -> None:
    page = parse.parse_instruments_page(instrument_row(payload, symbol="BTCUSDT-28NOV25",
                                                       contractType="LinearFutures", deliveryTime="0"))
    assert "deliveryTime" in page.listing.broken["BTC"]


# --- tickers: open interest ---------------------------------------------------------------------


def test_linear_open_interest_2024_capture(payload: Payload, btcusdt: Instrument) -> None:
    (body,) = raws(payload, "bybit__ccxt_fetchFundingRates.json")
    (oi,), errors = parse.parse_open_interest(body, {"BTCUSDT": btcusdt}, RECEIVED)
    assert errors == []
    assert (oi.instrument, oi.unit, oi.price_source, oi.time) == (btcusdt, Unit.BASE, "mark", utc(1730729903941))
    assert oi.amount == pytest.approx(69655.813, rel=1e-12)  # BTC, one side before 2026-06-11
    assert oi.base == pytest.approx(69655.813, rel=1e-12)
    assert oi.price_used == pytest.approx(68649.90, rel=1e-12)
    assert oi.usd == pytest.approx(69655.813 * 68649.90, rel=1e-12)
    assert oi.usd == pytest.approx(4781864596.87, rel=1e-9)  # Bybit's openInterestValue, in cents
    assert oi.note == f"openInterest (BTC): {PRE_2026}"


def test_inverse_open_interest_docs(payload: Payload, btcusd: Instrument) -> None:
    inverse = raws(payload, "bybit__rest_tickers__docs.json")[0]
    (oi,), errors = parse.parse_open_interest(inverse, {"BTCUSD": btcusd}, RECEIVED)
    assert errors == []
    # Inverse OI is USD (contracts of 1 USD); the coin amount is USD / mark.
    assert (oi.amount, oi.unit, oi.usd) == (240113967.0, Unit.USD, 240113967.0)
    assert oi.price_used == pytest.approx(114898.43, rel=1e-12)
    assert oi.base == pytest.approx(240113967.0 / 114898.43, rel=1e-12)
    assert oi.base == pytest.approx(2089.79, abs=0.005)  # Bybit's openInterestValue (BTC, 0.01 steps)
    assert oi.note == f"openInterest (USD contracts of 1 USD): {PRE_2026}"
    assert oi.time == utc(1760352369814)


def test_open_interest_single_side_and_halved(payload: Payload, btcusd: Instrument) -> None:
    # The real (openInterest, singleOpenInterest) pair of the open-interest docs example, in the real ticker.
    both, single = raws(payload, "bybit__rest_open_interest__docs.json")[0]["result"]["list"][0]["openInterest"], \
        "31955346"
    body = copy.deepcopy(raws(payload, "bybit__rest_tickers__docs.json")[0])
    body["result"]["list"][0].update(openInterest=both, singleOpenInterest=single)
    (oi,), _ = parse.parse_open_interest(body, {"BTCUSD": btcusd}, RECEIVED)
    assert (oi.amount, oi.usd) == (31955346.0, 31955346.0)
    assert oi.note == ("singleOpenInterest (USD contracts of 1 USD): one side; openInterest counts both sides "
                       "since 2026-06-11 (documented as 2 x singleOpenInterest)")
    body["result"]["list"][0]["singleOpenInterest"] = ""
    (half,), _ = parse.parse_open_interest(body, {"BTCUSD": btcusd}, RECEIVED)
    assert half.amount == pytest.approx(63910691.0 / 2, rel=1e-12)
    assert half.note.startswith("openInterest / 2 (USD contracts of 1 USD): singleOpenInterest is empty")


def test_linear_future_ticker_open_interest_and_quote(payload: Payload) -> None:
    # Bybit's real futures ticker example (a websocket snapshot) as a row of the REST tickers list.
    data = raws(payload, "bybit__ws_tickers__docs.json")[1]["data"]
    body = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [data]}, "time": 1760409119857}
    fut = Instrument(venue="bybit", symbol="BTC-26DEC25", asset="BTC", quote="USDC", settle="USDC", kind=Kind.FUTURE,
                     margin=Margin.LINEAR,
                     expiry=datetime(2025, 12, 26, 8, tzinfo=UTC), market="linear")
    (oi,), errors = parse.parse_open_interest(body, {fut.symbol: fut}, RECEIVED)
    assert errors == []
    assert (oi.amount, oi.unit) == (6.622, Unit.BASE)
    assert oi.usd == pytest.approx(6.622 * 121144.63, rel=1e-12)
    assert oi.usd == pytest.approx(802219.74, abs=0.01)  # openInterestValue
    (quote,), _ = parse.parse_quotes(body, {fut.symbol: fut}, RECEIVED)
    assert (quote.mark_price, quote.index_price, quote.last_price) == (121144.63, 114132.51, 109401.50)


def test_multiplier_symbol_prices_per_one_unit(payload: Payload) -> None:
    """A 1000PEPEUSDT row: OI in 1000PEPE units, mark per 1000 PEPE (real row, symbol and coin renamed)."""
    pepe = one_instrument(instrument_row(payload, symbol="1000PEPEUSDT", baseCoin="1000PEPE"))
    assert (pepe.asset, pepe.multiplier) == ("PEPE", 1000.0)
    (body,) = raws(payload, "bybit__ccxt_fetchFundingRates.json")
    body = copy.deepcopy(body)
    body["result"]["list"][0]["symbol"] = "1000PEPEUSDT"
    (oi,), _ = parse.parse_open_interest(body, {pepe.symbol: pepe}, RECEIVED)
    assert oi.amount == pytest.approx(69655.813, rel=1e-12)  # in 1000PEPE
    assert oi.base == pytest.approx(69655813.0, rel=1e-12)  # in PEPE
    assert oi.price_used == pytest.approx(68.64990, rel=1e-12)  # per PEPE
    assert oi.usd == pytest.approx(69655.813 * 68649.90, rel=1e-12)  # the same money
    assert oi.note.startswith("openInterest (1000PEPE): ")
    (quote,), _ = parse.parse_quotes(body, {pepe.symbol: pepe}, RECEIVED)
    assert quote.mark_price == pytest.approx(68.64990, rel=1e-12)
    assert quote.last_price == pytest.approx(68.64130, rel=1e-12)


def test_bad_row_costs_only_its_contract(payload: Payload, btcusd: Instrument) -> None:
    body = copy.deepcopy(raws(payload, "bybit__rest_tickers__docs.json")[0])
    good = body["result"]["list"][0]
    body["result"]["list"].append({**good, "symbol": "ETHUSD", "markPrice": ""})
    eth = Instrument(venue="bybit", symbol="ETHUSD", asset="ETH", quote="USD", settle="ETH", kind=Kind.PERP,
                     margin=Margin.INVERSE, contract_unit=Unit.USD,
                     market="inverse")
    wanted = {"BTCUSD": btcusd, "ETHUSD": eth}
    items, errors = parse.parse_open_interest(body, wanted, RECEIVED)
    assert [oi.instrument.symbol for oi in items] == ["BTCUSD"]
    (err,) = errors
    assert (err.venue, err.endpoint) == ("bybit", "/v5/market/tickers") and "ETHUSD" in err.detail
    assert "markPrice" in err.detail
    assert parse.listed_symbols(body, wanted) == {"BTCUSD", "ETHUSD"}


# --- tickers: quotes and spot -------------------------------------------------------------------


def test_inverse_quote_docs(payload: Payload, btcusd: Instrument) -> None:
    inverse, _option, spot = raws(payload, "bybit__rest_tickers__docs.json")
    (quote,), errors = parse.parse_quotes(inverse, {"BTCUSD": btcusd}, RECEIVED)
    assert errors == []
    assert (quote.mark_price, quote.index_price, quote.last_price) == (114898.43, 114890.92, 120635.50)
    assert quote.time == utc(1760352369814)
    assert parse.parse_quotes(spot, {"BTCUSD": btcusd}, RECEIVED) == ([], [])  # spot BTCUSDT is not a contract


def test_spot_docs(payload: Payload) -> None:
    _, _, spot = raws(payload, "bybit__rest_tickers__docs.json")
    prices, errors = parse.parse_spot(spot, ["BTC", "ETH"], RECEIVED)
    assert errors == []
    (btc,) = prices  # ETHUSDT is not in the answer: absent, not an error
    assert (btc.venue, btc.asset, btc.quote, btc.symbol, btc.price) == ("bybit", "BTC", "USDT", "BTCUSDT", 20533.13)
    assert btc.time == utc(1673859087947)
    inverse = raws(payload, "bybit__rest_tickers__docs.json")[0]
    with pytest.raises(ParseError, match="category"):
        parse.parse_spot(inverse, ["BTC"], RECEIVED)
    broken = copy.deepcopy(spot)
    broken["result"]["list"][0]["lastPrice"] = ""
    assert parse.parse_spot(broken, ["BTC"], RECEIVED)[1][0].detail.startswith("BTCUSDT: ")


# --- open-interest history ----------------------------------------------------------------------


def test_oi_history_docs_single_side(payload: Payload) -> None:
    (body,) = raws(payload, "bybit__rest_open_interest__docs.json")
    rows = parse.parse_oi_history(body, "BTCUSD")
    assert [t for t, _ in rows] == [utc(ms) for ms in (1780963200000, 1780876800000, 1780790400000, 1780704000000,
                                                        1780617600000)]  # daily, newest first
    assert [side.amount for _, side in rows] == [31955346.0] * 3 + [31971156.0] * 2
    assert {side.field for _, side in rows} == {"singleOpenInterest"}
    with pytest.raises(ParseError, match="BTCUSD"):
        parse.parse_oi_history(body, "ETHUSD")


@pytest.mark.parametrize(("index", "symbol", "amount"), [(0, "BTCUSDT", 62129.455), (1, "BTCUSD", 1536179414.0)])
def test_oi_history_2025_capture_is_one_side(payload: Payload, index: int, symbol: str, amount: float) -> None:
    body = raws(payload, "bybit__ccxt_fetchOpenInterest.json")[index]
    ((when, side),) = parse.parse_oi_history(body, symbol)
    assert when == utc(1739725200000)
    assert side.amount == pytest.approx(amount, rel=1e-12)
    assert (side.field, side.caveat) == ("openInterest", PRE_2026)


def test_oi_history_malformed(payload: Payload) -> None:
    (body,) = copy.deepcopy(raws(payload, "bybit__rest_open_interest__docs.json"))
    body["result"]["list"][1]["timestamp"] = "1780876800"  # seconds, not ms
    with pytest.raises(ParseError) as err:
        parse.parse_oi_history(body, "BTCUSD")
    assert err.value.endpoint == "/v5/market/open-interest" and "timestamp" in err.value.detail


# --- kline --------------------------------------------------------------------------------------


def test_klines_ccxt_capture(payload: Payload) -> None:
    (body,) = raws(payload, "bybit__ccxt_fetchOHLCV.json")
    assert parse.parse_klines(body, "BTCUSDT") == [  # newest first: (start, open, close)
        parse.Kline(1706637600000, 43376.1, 43352.8), parse.Kline(1706634000000, 43488.0, 43376.1),
        parse.Kline(1706630400000, 43350.7, 43488.0)]
    broken = copy.deepcopy(body)
    broken["result"]["list"][0] = broken["result"]["list"][0][:4]
    with pytest.raises(ParseError, match="4 fields"):
        parse.parse_klines(broken, "BTCUSDT")
    with pytest.raises(ParseError, match="ETHUSDT"):
        parse.parse_klines(body, "ETHUSDT")


# --- account-ratio ------------------------------------------------------------------------------


def test_account_ratio_docs(payload: Payload) -> None:
    (body,) = raws(payload, "bybit__rest_account_ratio__docs.json")
    latest = parse.parse_account_ratio(body, "BTCUSDT")
    assert latest == parse.AccountRatio(utc(1696262400000), 0.49, 0.51)  # the newer of the two rows
    empty = copy.deepcopy(body)
    empty["result"]["list"] = []
    assert parse.parse_account_ratio(empty, "BTCUSDT") is None
    with pytest.raises(ParseError, match="ETHUSDT"):
        parse.parse_account_ratio(body, "ETHUSDT")
