"""Bybit parsers on the real payloads in tests/payloads (sources: PROVENANCE.md there).

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

BTCUSDT = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, market="linear")
BTCUSD = Instrument(venue="bybit", symbol="BTCUSD", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                    margin=Margin.INVERSE,
                    contract_size=1.0, contract_unit=Unit.USD, market="inverse")


def raws(payload: Payload, name: str) -> list[dict[str, Any]]:
    return [case["raw"] for case in payload(name)["cases"]]


def instruments_case(payload: Payload, index: int) -> dict[str, Any]:
    return raws(payload, "bybit__rest_instruments_info__docs.json")[index]


# --- instruments-info --------------------------------------------------------------------------


def test_instruments_linear_perp(payload: Payload) -> None:
    page = parse.parse_instruments_page(instruments_case(payload, 0))
    assert page.listing.instruments == (BTCUSDT,)
    # fundingInterval 480 is in minutes: 8 hours.
    assert page.intervals == {"BTCUSDT": 8.0}
    assert (page.bad_intervals, page.listing.broken, page.cursor) == ({}, {}, "")


def test_instruments_prelaunch_is_skipped_and_cursor_decoded(payload: Payload) -> None:
    page = parse.parse_instruments_page(instruments_case(payload, 1))  # BIOUSDT, status PreLaunch
    assert (page.listing.instruments, page.intervals, page.listing.broken) == ((), {}, {})
    assert page.cursor == "first%3DBIOUSDT%26last%3DBIOUSDT"
    assert parse.cursor_param(page.cursor) == "first=BIOUSDT&last=BIOUSDT"


@pytest.mark.parametrize("index", [2, 3])  # option and spot listings hold no perpetuals
def test_instruments_other_categories_hold_no_perps(payload: Payload, index: int) -> None:
    page = parse.parse_instruments_page(instruments_case(payload, index))
    assert (page.listing.instruments, page.listing.broken) == ((), {})


def test_instruments_odd_rows_next_to_a_good_one_are_skipped(payload: Payload) -> None:
    body = copy.deepcopy(instruments_case(payload, 0))
    good = body["result"]["list"][0]
    body["result"]["list"] = [
        {"symbol": "WEIRDUSDT", "contractType": "QuantumPerpetual", "status": "Trading", "baseCoin": "WEIRD"},
        {"symbol": "OLDUSDT", "contractType": "LinearPerpetual", "status": "Delivering", "baseCoin": ""},
        {"symbol": ["not", "a", "symbol"], "contractType": ["LinearPerpetual"], "status": None},
        None, "garbage", 42,
        {**good, "symbol": "ODDUSDT", "baseCoin": "", "quoteCoin": None},  # a trading perp that does not parse
        {**good, "symbol": "ETHUSDT", "baseCoin": "ETH", "fundingInterval": ""},  # parses, but no interval
        good,
    ]
    page = parse.parse_instruments_page(body)
    assert [i.symbol for i in page.listing.instruments] == ["ETHUSDT", "BTCUSDT"]
    assert page.listing.instruments[1] == BTCUSDT
    assert page.intervals == {"BTCUSDT": 8.0}
    assert "fundingInterval" in page.bad_intervals["ETHUSDT"]
    (reason,) = page.listing.broken.values()  # kept aside: an error only if ODD is asked for (Listing.for_assets)
    assert page.listing.broken.keys() == {"ODD"} and reason.startswith("ODDUSDT: ") and "baseCoin" in reason


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
    intervals = parse.parse_instruments_page(instruments_case(payload, 0)).intervals
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


def test_tickers_odd_unasked_rows_next_to_a_good_one_are_not_read(payload: Payload) -> None:
    inverse = copy.deepcopy(raws(payload, "bybit__rest_tickers__docs.json")[0])
    good = inverse["result"]["list"][0]
    inverse["result"]["list"] = [
        {**good, "symbol": "ETHUSD", "markPrice": "", "indexPrice": "", "fundingRate": "", "openInterest": "",
         "nextFundingTime": "0", "fundingIntervalHour": "n/a"},
        {"symbol": None}, {"symbol": ["BTCUSD"]}, None, "garbage",
        good,
    ]
    (fr,) = parse.parse_tickers(inverse, {"BTCUSD": BTCUSD}, RECEIVED)
    assert fr.instrument == BTCUSD and fr.open_interest_usd == pytest.approx(240113967.0, rel=1e-12)
    assert parse.symbols_without_interval(inverse, {"BTCUSD": BTCUSD}) == set()
    # The same odd row, asked for, is a ParseError naming the endpoint.
    eth = Instrument(venue="bybit", symbol="ETHUSD", asset="ETH", quote="USD", settle="ETH", kind=Kind.PERP,
                     margin=Margin.INVERSE,
                     contract_size=1.0, contract_unit=Unit.USD, market="inverse")
    with pytest.raises(ParseError) as err:
        parse.parse_tickers(inverse, {"BTCUSD": BTCUSD, "ETHUSD": eth}, RECEIVED)
    assert err.value.endpoint == "/v5/market/tickers"


# --- open interest: singleOpenInterest absent / present / present but empty --------------------
#
# No real tickers payload carries singleOpenInterest yet (added 2026-06-11). The real inverse docs
# ticker is given the real (openInterest, singleOpenInterest) pair of Bybit's open-interest docs
# example (63,910,691 = both sides, 31,955,346 = one side); the key-presence rule is what is tested.


def _inverse_with(payload: Payload, **fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(raws(payload, "bybit__rest_tickers__docs.json")[0])
    body["result"]["list"][0].update(fields)
    return body


def _oi_docs_pair(payload: Payload) -> tuple[str, str]:
    row = raws(payload, "bybit__rest_open_interest__docs.json")[0]["result"]["list"][0]
    return row["openInterest"], row["singleOpenInterest"]


def test_open_interest_single_present_is_one_side(payload: Payload) -> None:
    both, single = _oi_docs_pair(payload)
    (fr,) = parse.parse_tickers(_inverse_with(payload, openInterest=both, singleOpenInterest=single),
                                {"BTCUSD": BTCUSD}, RECEIVED)
    assert fr.open_interest_usd == pytest.approx(31955346.0, rel=1e-12)
    assert fr.note == "OI = singleOpenInterest (USD contracts of 1 USD)"


@pytest.mark.parametrize("empty", ["", None])
def test_open_interest_single_present_but_empty_halves_both_sides(payload: Payload, empty: str | None) -> None:
    both, _ = _oi_docs_pair(payload)
    (fr,) = parse.parse_tickers(_inverse_with(payload, openInterest=both, singleOpenInterest=empty),
                                {"BTCUSD": BTCUSD}, RECEIVED)
    # openInterest counts both sides since 2026-06-11: one side is half of it, never all of it.
    assert fr.open_interest_usd == pytest.approx(63910691.0 / 2, rel=1e-12)
    assert fr.open_interest_usd == pytest.approx(31955346.0, abs=1.0)  # Bybit's own one side, whole contracts
    assert fr.note.startswith("OI = openInterest / 2 (USD contracts of 1 USD); singleOpenInterest is empty")
    assert "2026-06-11" in fr.note and "pre-2026-06-11" not in fr.note
    # the same on a linear row: half of openInterest (coins) x mark
    (body,) = raws(payload, "bybit__ccxt_fetchFundingRates.json")
    body = copy.deepcopy(body)
    body["result"]["list"][0]["singleOpenInterest"] = empty
    (lin,) = parse.parse_tickers(body, {"BTCUSDT": BTCUSDT}, RECEIVED, {"BTCUSDT": 8.0})
    assert lin.open_interest_usd == pytest.approx(69655.813 / 2 * 68649.90, rel=1e-12)
    assert lin.note.startswith("OI = openInterest / 2 (BTC) x mark; singleOpenInterest is empty")


def test_open_interest_single_absent_is_pre_2026_06_11(payload: Payload) -> None:
    body = _inverse_with(payload)  # the real docs row has no singleOpenInterest key
    assert "singleOpenInterest" not in body["result"]["list"][0]
    (fr,) = parse.parse_tickers(body, {"BTCUSD": BTCUSD}, RECEIVED)
    assert fr.open_interest_usd == pytest.approx(240113967.0, rel=1e-12)
    assert fr.note == ("OI = openInterest (USD contracts of 1 USD); no singleOpenInterest in this answer, "
                       "so openInterest is taken as one side (pre-2026-06-11)")
    with pytest.raises(ParseError, match="singleOpenInterest"):  # present but not a number
        parse.parse_tickers(_inverse_with(payload, singleOpenInterest="n/a"), {"BTCUSD": BTCUSD}, RECEIVED)


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
    page = parse.parse_instruments_page(instruments)  # the instrument stays; its interval is unusable
    assert page.listing.instruments == (BTCUSDT,) and page.intervals == {}
    assert page.bad_intervals == {"BTCUSDT": "fundingInterval of 'BTCUSDT' is 0 minutes"}
    instruments["result"] = {"category": "linear", "list": {"symbol": "BTCUSDT"}}
    with pytest.raises(ParseError, match=r"result\.list") as err:  # the page itself: not cached
        parse.parse_instruments_page(instruments)
    assert err.value.endpoint == "/v5/market/instruments-info"
