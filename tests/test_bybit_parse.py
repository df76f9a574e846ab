"""Bybit parsers on the real payloads in ../shared/exchange-payloads (read at test time, never copied).

Tolerances: values the venue sends as decimal strings are compared at rel=1e-12 (float parsing);
USD open interest is also cross-checked against Bybit's own ``openInterestValue``, which is rounded
to cents (linear) or to 0.01 coin (inverse), hence the looser tolerance stated there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import ParseError, RateLimited, VenueError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.bybit import parse

Payload = Callable[[str], dict[str, Any]]


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)

BTCUSDT = Instrument("bybit", "BTCUSDT", "BTC", "USDT", "USDT", Kind.PERP, Margin.LINEAR, market="linear")
BTCUSD = Instrument("bybit", "BTCUSD", "BTC", "USD", "BTC", Kind.PERP, Margin.INVERSE,
                    contract_size=1.0, contract_unit=Unit.USD, market="inverse")


def raws(payload: Payload, name: str) -> list[dict[str, Any]]:
    return [case["raw"] for case in payload(name)["cases"]]


def instruments_case(payload: Payload, index: int) -> dict[str, Any]:
    return raws(payload, "bybit__rest_instruments_info__docs.json")[index]


# --- instruments-info --------------------------------------------------------------------------


def test_instruments_linear_perp(payload: Payload) -> None:
    body = instruments_case(payload, 0)
    assert parse.parse_instruments(body) == [BTCUSDT]
    # fundingInterval 480 is in minutes: 8 hours.
    assert parse.funding_intervals(body) == {"BTCUSDT": 8.0}
    assert parse.result_rows(body, "/v5/market/instruments-info")[1] == ""


def test_instruments_prelaunch_is_skipped_and_cursor_decoded(payload: Payload) -> None:
    body = instruments_case(payload, 1)  # BIOUSDT, status PreLaunch
    assert parse.parse_instruments(body) == []
    assert parse.funding_intervals(body) == {}
    _, cursor = parse.result_rows(body, "/v5/market/instruments-info")
    assert cursor == "first%3DBIOUSDT%26last%3DBIOUSDT"
    assert parse.cursor_param(cursor) == "first=BIOUSDT&last=BIOUSDT"


@pytest.mark.parametrize("index", [2, 3])  # option and spot listings hold no perpetuals
def test_instruments_other_categories_hold_no_perps(payload: Payload, index: int) -> None:
    assert parse.parse_instruments(instruments_case(payload, index)) == []


# --- tickers -----------------------------------------------------------------------------------

#: (file, envelope time, rate, next funding, mark, index, openInterest, openInterestValue) of BTCUSDT.
LINEAR_2024 = [
    ("bybit__ccxt_fetchFundingRates.json", 1730729903941, 0.0001, 1730736000000, 68649.90, 68650.75,
     69655.813, 4781864596.87),
    ("bybit__ccxt_fetchFundingRate.json", 1730730080834, 0.0001, 1730736000000, 68591.46, 68599.90,
     69604.924, 4774303360.35),
    ("bybit__ccxt_fetchTicker.json", 1707905549267, -0.00046295, 1707926400000, 51444.40, 51469.95,
     225766.793, 11614437205.81),
]


@pytest.mark.parametrize(("name", "time_ms", "rate", "next_ms", "mark", "index", "oi", "oi_value"), LINEAR_2024)
def test_linear_tickers_2024_fall_back_to_instrument_interval(
    payload: Payload, name: str, time_ms: int, rate: float, next_ms: int, mark: float, index: float, oi: float,
    oi_value: float,
) -> None:
    (body,) = raws(payload, name)
    # These 2024 answers predate fundingIntervalHour: the interval comes from instruments-info.
    assert parse.symbols_without_interval(body, {"BTCUSDT": BTCUSDT}) == {"BTCUSDT"}
    with pytest.raises(ParseError, match="fundingIntervalHour"):
        parse.parse_tickers(body, {"BTCUSDT": BTCUSDT}, RECEIVED)
    intervals = parse.funding_intervals(instruments_case(payload, 0))
    (fr,) = parse.parse_tickers(body, {"BTCUSDT": BTCUSDT}, RECEIVED, intervals)
    assert fr.instrument == BTCUSDT
    assert fr.rate == pytest.approx(rate, rel=1e-12)
    assert fr.interval_hours == 8.0
    assert fr.interval_source == "instruments-info fundingInterval (minutes)"
    assert fr.predicted_rate is None
    assert fr.next_funding_time == utc(next_ms)
    assert fr.time == utc(time_ms)  # the envelope's own time (a string in ccxt's capture)
    assert fr.mark_price == pytest.approx(mark, rel=1e-12)
    assert fr.index_price == pytest.approx(index, rel=1e-12)
    # No singleOpenInterest before 2026-06-11: openInterest (BTC) is the one-sided figure.
    assert fr.open_interest_usd == pytest.approx(oi * mark, rel=1e-12)
    assert fr.open_interest_usd == pytest.approx(oi_value, rel=1e-9)  # Bybit's USD value, in cents
    assert fr.note.startswith("OI = openInterest (BTC) x mark")
    assert "no singleOpenInterest" in fr.note


def test_inverse_ticker_docs(payload: Payload) -> None:
    inverse, option, spot = raws(payload, "bybit__rest_tickers__docs.json")
    assert parse.symbols_without_interval(inverse, {"BTCUSD": BTCUSD}) == set()
    (fr,) = parse.parse_tickers(inverse, {"BTCUSD": BTCUSD}, RECEIVED)
    assert fr.rate == pytest.approx(0.0001, rel=1e-12)
    assert fr.interval_hours == 8.0
    assert fr.interval_source == "tickers fundingIntervalHour"
    assert fr.next_funding_time == utc(1760371200000)
    assert fr.time == utc(1760352369814)
    assert fr.mark_price == pytest.approx(114898.43, rel=1e-12)
    assert fr.index_price == pytest.approx(114890.92, rel=1e-12)
    # Inverse OI is in USD contracts of 1 USD; openInterestValue is in BTC (2,089.79, 0.01 BTC steps).
    assert fr.open_interest_usd == pytest.approx(240113967.0, rel=1e-12)
    assert fr.open_interest_usd == pytest.approx(2089.79 * 114898.43, rel=3e-6)
    assert fr.note.startswith("OI = openInterest (USD contracts of 1 USD)")
    # Option and spot tickers hold none of the perpetuals asked for (spot BTCUSDT is not the perp).
    wanted = {"BTCUSD": BTCUSD, "BTCUSDT": BTCUSDT}
    assert parse.parse_tickers(option, wanted, RECEIVED) == []
    assert parse.parse_tickers(spot, wanted, RECEIVED) == []


def test_tickers_skip_symbols_not_asked(payload: Payload) -> None:
    (body,) = raws(payload, "bybit__ccxt_fetchFundingRates.json")
    assert parse.parse_tickers(body, {"BTCUSD": BTCUSD}, RECEIVED) == []


# --- funding/history ---------------------------------------------------------------------------


def test_funding_history_docs(payload: Payload) -> None:
    (body,) = raws(payload, "bybit__rest_funding_history__docs.json")
    ((when, rate),) = parse.parse_funding_history(body, "ETHPERP")
    assert when == utc(1672041600000)
    assert rate == pytest.approx(0.0001, rel=1e-12)
    with pytest.raises(ParseError, match="ETHPERP"):
        parse.parse_funding_history(body, "BTCPERP")


# --- envelopes and malformed payloads ----------------------------------------------------------


def test_envelopes_of_real_answers_pass(payload: Payload) -> None:
    for name in ("bybit__ccxt_fetchFundingRates.json", "bybit__rest_tickers__docs.json",
                 "bybit__rest_funding_history__docs.json", "bybit__rest_instruments_info__docs.json"):
        for body in raws(payload, name):
            parse.check_envelope(body)  # retCode 0, as a number or (ccxt) a string


def test_error_envelopes() -> None:
    # No real error answer was captured; the shape follows the success envelope.
    with pytest.raises(VenueError) as err:
        parse.check_envelope({"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {}})
    assert err.value.code == "10001" and not isinstance(err.value, RateLimited)
    assert "symbol invalid" in str(err.value)
    for code in (10006, "10018"):
        with pytest.raises(RateLimited) as limited:
            parse.check_envelope({"retCode": code, "retMsg": "Too many visits!", "result": {}})
        assert limited.value.code == str(code)


def test_malformed_ticker_names_venue_and_endpoint(payload: Payload) -> None:
    (body,) = raws(payload, "bybit__ccxt_fetchFundingRates.json")
    broken = copy.deepcopy(body)
    del broken["result"]["list"][0]["markPrice"]
    with pytest.raises(ParseError) as err:
        parse.parse_tickers(broken, {"BTCUSDT": BTCUSDT}, RECEIVED, {"BTCUSDT": 8.0})
    assert (err.value.venue, err.value.endpoint) == ("bybit", "/v5/market/tickers")
    assert "markPrice" in str(err.value)
    broken["result"] = {"list": "oops"}
    with pytest.raises(ParseError, match=r"result\.list"):
        parse.parse_tickers(broken, {"BTCUSDT": BTCUSDT}, RECEIVED)


def test_malformed_history_and_instruments(payload: Payload) -> None:
    (history,) = raws(payload, "bybit__rest_funding_history__docs.json")
    broken = copy.deepcopy(history)
    broken["result"]["list"][0]["fundingRate"] = "n/a"
    with pytest.raises(ParseError) as err:
        parse.parse_funding_history(broken, "ETHPERP")
    assert (err.value.venue, err.value.endpoint) == ("bybit", "/v5/market/funding/history")
    instruments = copy.deepcopy(instruments_case(payload, 0))
    instruments["result"]["list"][0]["fundingInterval"] = 0
    with pytest.raises(ParseError, match="fundingInterval"):
        parse.funding_intervals(instruments)
