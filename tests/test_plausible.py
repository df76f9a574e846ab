"""Values no market can have are refused at parse time: the rules of ``dtrack.venues.plausible`` (their bounds
at the edges), and each venue's parsers on REAL payloads with one field changed to an absurd value: the exact
``Implausible`` (venue, endpoint, symbol, field, value, rule), and the other rows of the answer still read.

The mutations keep every other byte of the captured answer. Where a row is copied to show that the others
survive, only its identity (the symbol) is changed, as said at the copy.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import load_payload
from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import FundingRate, Instrument, Kind, Margin, OpenInterest, OptionQuote, Unit
from dtrack.results import Failure
from dtrack.venues import plausible
from dtrack.venues.binance import parse as binance
from dtrack.venues.bybit import parse as bybit
from dtrack.venues.deribit import parse as deribit
from dtrack.venues.fields import ms_to_utc
from dtrack.venues.hyperliquid import parse as hyperliquid
from dtrack.venues.okx import parse as okx
from test_plausible_corpus import binance_listing, bybit_contract, deribit_listing, deribit_option_specs, received_at

YEARS_50_MS = 50 * 365 * 86_400_000


def raw(name: str, case: int = 0) -> Any:
    """A deep copy of one real case, free to change."""
    return copy.deepcopy(load_payload(name)["cases"][case]["raw"])


def received(name: str, case: int = 0) -> datetime:
    return received_at(load_payload(name)["cases"][case])


def assert_refused(exc: BaseException, venue: str, endpoint: str, symbol: str, field: str, value: object,
                   rule: str) -> None:
    """``exc`` is the Implausible of ``field`` = ``value`` of ``symbol`` (``rule`` a part of its rule), and
    its failure row names all of it."""
    assert isinstance(exc, Implausible), repr(exc)
    assert (exc.venue, exc.endpoint, exc.symbol, exc.field, exc.value) == (venue, endpoint, symbol, field, value)
    assert rule in exc.rule, exc.rule
    row = Failure.of(venue, exc).to_row()
    assert (row["kind"], row["endpoint"], row["venue"]) == ("implausible", endpoint, venue)
    assert symbol in row["message"] and field in row["message"] and repr(value) in row["message"]


def only(errors: list[Any]) -> DtrackError:
    (error,) = errors
    assert isinstance(error, DtrackError)
    return error


# --- the rules and their bounds ----------------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RULES = plausible.Rules("venue", "/endpoint", "SYM")


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
def test_a_price_is_positive_and_finite(value: float) -> None:
    with pytest.raises(Implausible, match="a price must be > 0"):
        RULES.price("mark_price", value)
    RULES.price("mark_price", 1e-12)
    RULES.price("mark_price", None)  # absent: nothing to refuse


def test_an_amount_may_be_zero_not_negative() -> None:
    RULES.amount("open_interest", 0.0)
    with pytest.raises(Implausible, match=r"SYM open_interest=-1e-09 is implausible \(must be >= 0\)"):
        RULES.amount("open_interest", -1e-9)


def test_a_venue_time_is_at_most_a_day_after_it_was_received() -> None:
    RULES.time("time", NOW + timedelta(days=1), NOW)
    with pytest.raises(Implausible, match="more than a day after it was received"):
        RULES.time("time", NOW + timedelta(days=1, milliseconds=1), NOW)
    with pytest.raises(Implausible, match="before 2010"):
        RULES.time("time", datetime(2009, 12, 31, tzinfo=UTC), NOW)
    RULES.time("time", datetime(2010, 1, 1, tzinfo=UTC), NOW)  # the past is fine: history, old answers


def test_an_expiry_is_at_most_five_years_ahead() -> None:
    RULES.expiry(NOW + timedelta(days=5 * 365), NOW)
    with pytest.raises(Implausible, match="more than 5 years after"):
        RULES.expiry(NOW + timedelta(days=5 * 365, seconds=1), NOW)
    with pytest.raises(Implausible, match="before 2010"):
        RULES.expiry(datetime(2005, 1, 1, tzinfo=UTC), NOW)


def test_a_funding_rate_within_its_cap_inclusive() -> None:
    cap = plausible.FundingCap(-0.00375, 0.00375, "OKX funding-rate minFundingRate / maxFundingRate")
    RULES.funding("rate", 0.00375, cap)
    RULES.funding("rate", -0.00375, cap)
    with pytest.raises(Implausible) as caught:
        RULES.funding("rate", 0.0037501, cap, 8.0)
    assert caught.value.rule == ("outside [-0.00375, 0.00375] per 8 h: OKX funding-rate minFundingRate / "
                                 "maxFundingRate")
    assert hyperliquid.funding_cap(4.0) == plausible.FundingCap(-0.16, 0.16, "Hyperliquid caps funding at 4 %/h")
    assert (plausible.BACKSTOP.floor, plausible.BACKSTOP.cap) == (-0.05, 0.05)
    RULES.funding("rate", 0.05, plausible.BACKSTOP)  # Bybit's largest published cap (BIOUSDT)
    with pytest.raises(Implausible, match="no venue publishes a cap above 5 % per interval"):
        RULES.funding("rate", 10.0, plausible.BACKSTOP)  # 1,000 % per interval


def test_intrinsic_floor_allows_discounting_and_one_percent() -> None:
    # a 1-year put struck at 150,000 on a spot of 100,000: K e^(-0.25) - S = 16,820 < intrinsic 50,000 is
    # the least a European put can be worth at a 25 %/yr rate; the floor is below it
    floor = plausible.intrinsic_floor(150_000.0, 100_000.0, False, 1.0)
    assert floor == pytest.approx(50_000 - 150_000 * (1 - math.exp(-0.25)) - 1_000, rel=1e-12)
    assert floor < 150_000 * math.exp(-0.25) - 100_000
    # a week: 0.48 % of discounting at most, plus 1 % of the underlying
    assert plausible.intrinsic_floor(70_000.0, 79_369.63, True, 7 / 365) == pytest.approx(
        9_369.63 - 79_369.63 * (1 - math.exp(-0.25 * 7 / 365)) - 793.6963, rel=1e-12)
    assert plausible.intrinsic(70_000.0, 60_000.0, True) == 0.0


def _option(mark_usd: float | None, *, strike: float = 70_000.0, underlying: float = 79_369.63,
            time: datetime | None = NOW, expiry: datetime = NOW + timedelta(days=30)) -> OptionQuote:
    return OptionQuote(venue="bybit", symbol="BTC-X-70000-C", asset="BTC", expiry=expiry, strike=strike,
                       is_call=True, time=time, received_at=NOW, underlying_price=underlying,
                       mark_price_usd=mark_usd)


def test_option_mark_below_intrinsic_is_refused_only_while_live() -> None:
    plausible.option_quote("/t", _option(9_000.0))  # 369.63 under intrinsic: within 1 % of the underlying
    with pytest.raises(Implausible, match=r"below the intrinsic value 9369\.63"):
        plausible.option_quote("/t", _option(1.0))
    # one past its expiry (as of the quote) is no live option: no floor (every view leaves it out)
    plausible.option_quote("/t", _option(1.0, expiry=NOW - timedelta(days=2)))
    plausible.option_quote("/t", _option(0.0, strike=90_000.0))  # an out-of-the-money mark of 0 is a price
    with pytest.raises(Implausible, match=r"mark_price_usd=-1\.0"):
        plausible.option_quote("/t", _option(-1.0, strike=90_000.0))
    plausible.option_quote("/t", _option(None, underlying=math.nan))  # OKX's "nothing to price against"


def test_records_never_divide_by_a_price_that_is_not_positive() -> None:
    inst = bybit_contract("BTCUSD", "inverse")
    with pytest.raises(ValueError, match="a price must be > 0"):
        OpenInterest.of(instrument=inst, amount=100.0, unit=Unit.USD, price=0.0, price_source="mark", time=None,
                        received_at=NOW)
    with pytest.raises(Implausible) as caught:
        plausible.open_interest("/v5/market/tickers", instrument=inst, amount=100.0, unit=Unit.USD, price=0.0,
                                price_source="mark", time=None, received_at=NOW)
    assert_refused(caught.value, "bybit", "/v5/market/tickers", "BTCUSD", "price_used (mark)", 0.0,
                   "a price must be > 0")


def test_refused_names_the_symbols_of_implausible_errors_only() -> None:
    errors: list[DtrackError] = [RULES.refuse("x", 1, "r"), ParseError("v", "/e", "odd")]
    assert plausible.refused(errors) == {"SYM"}


# --- Bybit ---------------------------------------------------------------------------------------------------------

BYBIT_INVERSE = "bybit__rest_tickers__docs.json"  # BTCUSD, with fundingCap "0.005"
BYBIT_OPTIONS = "bybit__ccxt_fetchTickers.json"  # three real USDT-settled options


def _bybit_inverse(change: dict[str, str]) -> tuple[Any, dict[str, Instrument]]:
    """The real inverse tickers answer with ``change`` applied to BTCUSD, plus a copy of its row relabelled
    ETHUSD (identity only), so that what survives can be seen."""
    body = raw(BYBIT_INVERSE)
    row = body["result"]["list"][0]
    body["result"]["list"].append({**row, "symbol": "ETHUSD"})
    row.update(change)
    return body, {s: bybit_contract(s, "inverse") for s in ("BTCUSD", "ETHUSD")}


def test_bybit_rate_beyond_the_rows_funding_cap() -> None:
    body, wanted = _bybit_inverse({"fundingRate": "0.0051"})
    errors: list[DtrackError] = []
    rates = bybit.parse_tickers(body, wanted, received(BYBIT_INVERSE), None, errors)
    assert [r.instrument.symbol for r in rates] == ["ETHUSD"]
    assert_refused(only(errors), "bybit", "/v5/market/tickers", "BTCUSD", "rate", 0.0051,
                   "outside [-0.005, 0.005] per 8 h: Bybit tickers fundingCap")
    with pytest.raises(Implausible):  # without an errors list the refusal is raised
        bybit.parse_tickers(body, wanted, received(BYBIT_INVERSE))


def test_bybit_mark_of_zero_no_longer_divides_the_inverse_open_interest() -> None:
    body, wanted = _bybit_inverse({"markPrice": "0"})
    ois, errors = bybit.parse_open_interest(body, wanted, received(BYBIT_INVERSE))
    assert [o.instrument.symbol for o in ois] == ["ETHUSD"]
    assert ois[0].usd == pytest.approx(240_113_967.0, rel=1e-12)
    assert_refused(only(errors), "bybit", "/v5/market/tickers", "BTCUSD", "price_used (mark)", 0.0,
                   "a price must be > 0")
    quotes, errors = bybit.parse_quotes(body, wanted, received(BYBIT_INVERSE))
    assert [q.instrument.symbol for q in quotes] == ["ETHUSD"]
    assert_refused(only(errors), "bybit", "/v5/market/tickers", "BTCUSD", "mark_price", 0.0, "a price must be > 0")


def test_bybit_negative_open_interest_and_a_next_funding_time_fifty_years_ahead() -> None:
    body, wanted = _bybit_inverse({"openInterest": "-240113967"})
    _, failed = bybit.parse_open_interest(body, wanted, received(BYBIT_INVERSE))
    assert_refused(only(failed), "bybit", "/v5/market/tickers", "BTCUSD", "open_interest", -240_113_967.0,
                   "must be >= 0")
    later = str(int(raw(BYBIT_INVERSE)["result"]["list"][0]["nextFundingTime"]) + YEARS_50_MS)
    body, wanted = _bybit_inverse({"nextFundingTime": later})
    errors: list[DtrackError] = []
    assert [r.instrument.symbol for r in bybit.parse_tickers(body, wanted, received(BYBIT_INVERSE), None, errors)] \
        == ["ETHUSD"]
    error = only(errors)
    assert isinstance(error, Implausible) and (error.symbol, error.field) == ("BTCUSD", "next_funding_time")
    assert error.value == ms_to_utc(int(later)).isoformat()
    assert "more than a day after it was received" in error.rule


def test_bybit_option_marks_negative_and_below_intrinsic() -> None:
    body = raw(BYBIT_OPTIONS)
    rows = {r["symbol"]: r for r in body["result"]["list"]}
    rows["BTC-30MAY25-70000-C-USDT"]["markPrice"] = "1"  # a call 9,370 in the money, marked at 1 USD
    rows["BTC-30MAY25-68000-P-USDT"]["markPrice"] = "-2015.39438867"
    quotes, errors = bybit.parse_option_chain(body, "BTC", {}, received(BYBIT_OPTIONS))
    assert [q.symbol for q in quotes] == ["BTC-30MAY25-78000-C-USDT"]
    assert quotes[0].mark_price_usd == pytest.approx(6782.24582537, rel=1e-12)
    by_symbol = {e.symbol: e for e in errors if isinstance(e, Implausible)}
    assert len(errors) == 2
    assert_refused(by_symbol["BTC-30MAY25-70000-C-USDT"], "bybit", "/v5/market/tickers", "BTC-30MAY25-70000-C-USDT",
                   "mark_price_usd", 1.0, "below the intrinsic value 9369.63 against 79369.6")
    assert_refused(by_symbol["BTC-30MAY25-68000-P-USDT"], "bybit", "/v5/market/tickers", "BTC-30MAY25-68000-P-USDT",
                   "mark_price_usd", -2015.39438867, "must be >= 0")


def test_bybit_listed_option_expiring_decades_away() -> None:
    page = raw("bybit__rest_instruments_info__docs.json", 2)
    row = page["result"]["list"][0]  # BTC-27MAR26-70000-P-USDT, listed without a tickers row in the options file
    row["deliveryTime"] = str(int(row["deliveryTime"]) + 30 * 365 * 86_400_000)
    listed = bybit.parse_option_instruments_page(page).terms
    quotes, errors = bybit.parse_option_chain(raw(BYBIT_OPTIONS), "BTC", listed, received(BYBIT_OPTIONS))
    assert len(quotes) == 3  # the three quoted options
    error = only(errors)
    assert isinstance(error, Implausible) and (error.symbol, error.field) == ("BTC-27MAR26-70000-P-USDT", "expiry")
    assert error.endpoint == "/v5/market/instruments-info" and "more than 5 years after" in error.rule


def test_bybit_empty_tickers_list_is_a_failure_not_silence() -> None:
    body, wanted = _bybit_inverse({})
    body["result"]["list"] = []
    with pytest.raises(ParseError, match=r"bybit /v5/market/tickers: .*an empty list, asked about BTCUSD, ETHUSD$"):
        bybit.parse_open_interest(body, wanted, received(BYBIT_INVERSE))
    with pytest.raises(ParseError, match="an empty list"):
        bybit.parse_tickers(body, wanted, received(BYBIT_INVERSE), None, [])
    # the empty list of ANOTHER category is no failure: nothing of it was asked
    assert bybit.parse_quotes(body, {"BTCUSDT": bybit_contract("BTCUSDT", "linear")}, NOW) == ([], [])


# --- Binance -------------------------------------------------------------------------------------------------------

COINM_PREMIUM = "binance-coinm__rest_premiumIndex__docs.json"  # BTCUSD_PERP and BTCUSD_200925
USDM_PREMIUM = "binance-usdm__rest_premiumIndex__docs.json"
FUNDING_INFO = "binance-usdm__rest_fundingInfo_issue_capture__docs.json"  # BLZUSDT capped at +-3 %


def test_binance_negative_mark_drops_its_symbol_only() -> None:
    body = raw(COINM_PREMIUM)
    body[0]["markPrice"] = "-11029.69574559"
    table = binance.parse_premium_index(body, "coinm")
    assert list(table.rows) == ["BTCUSD_200925"]
    with pytest.raises(Implausible) as caught:
        table.get("BTCUSD_PERP")
    assert_refused(caught.value, "binance", "/dapi/v1/premiumIndex", "BTCUSD_PERP", "markPrice", -11029.69574559,
                   "a price must be > 0")


def test_binance_rate_beyond_fundinginfo_cap_and_beyond_the_backstop() -> None:
    usdm = binance_listing("usdm")
    intervals = binance.parse_funding_intervals(raw(FUNDING_INFO), "usdm")
    assert intervals.caps["BLZUSDT"] == plausible.FundingCap(-0.03, 0.03,
                                                            "Binance fundingInfo adjustedFundingRateCap / Floor")
    (row,) = raw(USDM_PREMIUM, 1)
    at = received(USDM_PREMIUM, 1)
    # the real BTCUSDT row relabelled BLZUSDT (identity only) at 3.1 % per 4 h: over BLZUSDT's 3 % cap
    blz = binance.parse_premium_index([{**row, "symbol": "BLZUSDT", "lastFundingRate": "0.031"}], "usdm").rows
    with pytest.raises(Implausible) as caught:
        binance.funding_rate(usdm["BLZUSDT"], blz["BLZUSDT"], intervals, None, at)
    assert_refused(caught.value, "binance", "/fapi/v1/premiumIndex", "BLZUSDT", "rate", 0.031,
                   "outside [-0.03, 0.03] per 4 h: Binance fundingInfo adjustedFundingRateCap / Floor")
    # BTCUSDT has no fundingInfo row: no published cap, so the backstop
    btc = binance.parse_premium_index([{**row, "lastFundingRate": "10"}], "usdm").rows["BTCUSDT"]
    with pytest.raises(Implausible) as caught:
        binance.funding_rate(usdm["BTCUSDT"], btc, intervals, None, at)
    assert_refused(caught.value, "binance", "/fapi/v1/premiumIndex", "BTCUSDT", "rate", 10.0,
                   "no venue publishes a cap above 5 % per interval")
    fine = binance.parse_premium_index([row], "usdm").rows["BTCUSDT"]
    assert binance.funding_rate(usdm["BTCUSDT"], fine, intervals, None, at).rate == pytest.approx(0.00038246)


def test_binance_negative_open_interest_and_a_time_fifty_years_ahead() -> None:
    with pytest.raises(Implausible) as caught:
        binance.parse_open_interest({"symbol": "BTCUSDT", "openInterest": "-10659.509", "time": 1589437530011},
                                    "usdm", "BTCUSDT")
    assert_refused(caught.value, "binance", "/fapi/v1/openInterest", "BTCUSDT", "openInterest", -10659.509,
                   "must be >= 0")
    (row,) = raw(USDM_PREMIUM, 1)
    row["time"] += YEARS_50_MS
    premium = binance.parse_premium_index([row], "usdm").rows["BTCUSDT"]
    with pytest.raises(Implausible) as caught:
        binance.price_quote(binance_listing("usdm")["BTCUSDT"], premium, None, received(USDM_PREMIUM, 1))
    error = caught.value
    assert (error.endpoint, error.symbol, error.field) == ("/fapi/v1/premiumIndex", "BTCUSDT", "time")


def test_binance_empty_premium_index_while_symbols_are_asked() -> None:
    with pytest.raises(ParseError, match=r"binance /fapi/v1/premiumIndex: .*an empty list"):
        binance.parse_premium_index([], "usdm", {"BTCUSDT"})
    assert binance.parse_premium_index([], "usdm", set()).rows == {}


# --- OKX -----------------------------------------------------------------------------------------------------------

OKX_OI = "okx__ccxt_fetchOpenInterest.json"
OKX_WS = "okx__ws_tickers__capture.json"


def _okx_swap() -> Instrument:
    return Instrument(venue="okx", symbol="BTC-USDT-SWAP", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, contract_size=0.01, contract_unit=Unit.BASE, market="SWAP")


def test_okx_negative_open_interest_named_by_its_endpoint() -> None:
    body = raw(OKX_OI)
    body["data"][0]["oi"] = "-2663107.3"
    row = okx.parse_open_interest(body, {"BTC-USDT-SWAP"})["BTC-USDT-SWAP"]
    with pytest.raises(Implausible) as caught:
        okx.open_interest(_okx_swap(), row, 62950.0, received(OKX_OI))  # converted at a mark: still open-interest's
    assert_refused(caught.value, "okx", "/api/v5/public/open-interest", "BTC-USDT-SWAP", "oi", -2663107.3,
                   "must be >= 0")
    fine = okx.parse_open_interest(raw(OKX_OI), {"BTC-USDT-SWAP"})["BTC-USDT-SWAP"]
    with pytest.raises(Implausible) as caught:
        okx.open_interest(_okx_swap(), fine, 0.0, received(OKX_OI))
    assert_refused(caught.value, "okx", "/api/v5/public/mark-price", "BTC-USDT-SWAP", "price_used (mark)", 0.0,
                   "a price must be > 0")


def test_okx_spot_last_of_zero() -> None:
    frames = [c["raw"] for c in load_payload(OKX_WS)["cases"]]
    spot = next(f for f in frames if f["data"][0]["instId"] == "BTC-USDT")
    spot["data"][0]["last"] = "0"
    ticker = okx.parse_tickers(spot, {"BTC-USDT"})["BTC-USDT"]
    with pytest.raises(Implausible) as caught:
        okx.spot_price("BTC", ticker, received(OKX_WS, frames.index(spot)))
    assert_refused(caught.value, "okx", "/api/v5/market/tickers", "BTC-USDT", "price", 0.0, "a price must be > 0")


def test_okx_empty_answer_about_asked_contracts() -> None:
    body = raw(OKX_OI)
    body["data"] = []
    with pytest.raises(ParseError, match=r"okx /api/v5/public/open-interest: .*an empty list"):
        okx.parse_open_interest(body, {"BTC-USDT-SWAP"})
    # index-tickers is no list of contracts: OKX may publish no index for a quote currency
    assert okx.parse_index({"code": "0", "msg": "", "data": []}, {"BTC-USDC"}) == {}


# --- Deribit -------------------------------------------------------------------------------------------------------

DERIBIT_TICKER = "deribit__rest_ticker__docs.json"  # BTC-PERPETUAL
DERIBIT_WS = "deribit__ws_ticker__capture.json"


def test_deribit_funding_8h_of_1000_percent() -> None:
    body = raw(DERIBIT_TICKER)
    body["result"]["funding_8h"] = 10
    with pytest.raises(Implausible) as caught:
        deribit.parse_ticker(body, deribit_listing()["BTC-PERPETUAL"], received(DERIBIT_TICKER))
    assert_refused(caught.value, "deribit", "public/ticker", "BTC-PERPETUAL", "rate", 10.0,
                   "outside [-0.05, 0.05] per 8 h: no venue publishes a cap above 5 % per interval")


def test_deribit_mark_of_zero_no_longer_divides_the_inverse_open_interest() -> None:
    """The real ticker row read as a book-summary row (the same field names) with its mark set to 0: the
    inverse perpetual's USD open interest would be divided by it; the row is refused, the others serve."""
    perp = deribit_listing()["BTC-PERPETUAL"]
    row = raw(DERIBIT_TICKER)["result"]
    eth = {**row, "instrument_name": "ETH-PERPETUAL"}  # identity only
    body = {"result": [{**row, "mark_price": 0}, eth]}
    wanted = {"BTC-PERPETUAL": perp, "ETH-PERPETUAL": deribit_listing()["ETH-PERPETUAL"]}
    errors: list[DtrackError] = []
    found = deribit.parse_open_interest(body, wanted, received(DERIBIT_TICKER), errors)
    assert list(found) == ["ETH-PERPETUAL"]
    assert_refused(only(errors), "deribit", "public/get_book_summary_by_currency", "BTC-PERPETUAL",
                   "price_used (mark)", 0.0, "a price must be > 0")
    errors = []
    rates = deribit.parse_book_summary(body, wanted, received(DERIBIT_TICKER), errors)
    assert list(rates) == ["ETH-PERPETUAL"]
    assert_refused(only(errors), "deribit", "public/get_book_summary_by_currency", "BTC-PERPETUAL", "mark_price",
                   0.0, "a price must be > 0")


def test_deribit_timestamps_in_seconds_are_parse_errors() -> None:
    """Deribit stamps in epoch ms; a value in seconds would read as January 1970: every path refuses it (the
    ms range check of ``Reader.ms``), naming the endpoint and field."""
    seconds = 1623059681
    row = raw(DERIBIT_TICKER)["result"]
    perp = deribit_listing()["BTC-PERPETUAL"]
    with pytest.raises(ParseError, match=r"deribit public/ticker: .*'timestamp' is 1623059681, expected epoch milli"):
        deribit.parse_ticker({"result": {**row, "timestamp": seconds}}, perp, received(DERIBIT_TICKER))
    summary = {"result": [{**row, "creation_timestamp": seconds}]}  # the ticker row as a book-summary row
    for read in (lambda: deribit.parse_quotes(summary, {"BTC-PERPETUAL": perp}, {}, NOW),
                 lambda: deribit.parse_open_interest(summary, {"BTC-PERPETUAL": perp}, NOW, []),
                 lambda: deribit.parse_book_summary(summary, {"BTC-PERPETUAL": perp}, NOW, [])):
        with pytest.raises(ParseError, match=r"get_book_summary_by_currency: .*'creation_timestamp' is 1623059681"):
            read()
    data = raw(DERIBIT_WS)["params"]["data"]
    with pytest.raises(ParseError, match=r"'timestamp' is \d{10}, expected epoch milliseconds"):
        deribit.option_ticker_quote({**data, "timestamp": data["timestamp"] // 1000},
                                    deribit_option_specs()[data["instrument_name"]], NOW)
    trades = raw("deribit__rest_get_last_trades_by_currency__docs.json")
    trades["result"]["trades"][0]["timestamp"] //= 1000
    page = deribit.parse_option_trades(trades, "BTC", NOW)
    assert page.trades == () and "expected epoch milliseconds" in str(only(list(page.errors)))
    chart = raw("deribit__ccxt_fetchOHLCV.json")
    chart["result"]["ticks"] = [t // 1000 for t in chart["result"]["ticks"]]
    with pytest.raises(ParseError, match=r"'tick' is .*expected epoch milliseconds"):
        deribit.parse_chart(chart)


def test_deribit_option_ticker_negative_mark_and_expiry_decades_away() -> None:
    data = raw(DERIBIT_WS)["params"]["data"]
    at = received(DERIBIT_WS)
    spec = deribit_option_specs()[data["instrument_name"]]
    assert deribit.option_ticker_quote(data, spec, at).mark_price_coin == data["mark_price"]
    with pytest.raises(Implausible) as caught:
        deribit.option_ticker_quote({**data, "mark_price": -data["mark_price"]}, spec, at)
    error = caught.value
    assert (error.venue, error.endpoint, error.symbol, error.field) == (
        "deribit", "public/ticker", data["instrument_name"], "mark_price_usd")
    far = type(spec)(spec.symbol, spec.asset, spec.expiry.replace(year=spec.expiry.year + 30), spec.strike,
                     spec.is_call, spec.contract_size, spec.settle, quote=spec.quote)
    with pytest.raises(Implausible, match="more than 5 years after"):
        deribit.option_ticker_quote(data, far, at)


def test_deribit_option_summary_keeps_the_refusal_as_implausible() -> None:
    """A refused row of the option book summary stays an ``Implausible`` (kind ``implausible``), named by the
    row, and the other rows serve (the docs row, and a copy of it named as another real option: identity only)."""
    name_ = "deribit__rest_get_book_summary_by_currency__docs.json"
    body = raw(name_)
    (row,) = body["result"]
    body["result"].append({**row, "instrument_name": "ETH-22FEB19-160-P"})
    row["mark_price"] = -row["mark_price"]
    specs: dict[str, deribit.DeribitOptionSpec] = {}
    for item in body["result"]:
        name = deribit.option_name(item["instrument_name"])
        assert name is not None
        specs[item["instrument_name"]] = deribit.DeribitOptionSpec(
            item["instrument_name"], name.asset, name.expiry, name.strike, name.is_call, 1.0, settle="ETH", quote="ETH")
    rows = deribit.parse_option_summary(body, "ETH", specs, None, received(name_))
    assert [q.symbol for q in rows.quotes] == ["ETH-22FEB19-160-P"]
    error = only(list(rows.errors))
    assert isinstance(error, Implausible)
    assert (error.endpoint, error.symbol, error.field) == ("public/get_book_summary_by_currency?kind=option",
                                                          "ETH-22FEB19-140-P", "mark_price_usd")


# --- Hyperliquid ---------------------------------------------------------------------------------------------------

HL_CTXS = "hyperliquid__rest_info_metaAndAssetCtxs__docs.json"  # BTC, ETH, HPOS


def _hl(change: dict[str, str]) -> tuple[Any, list[Instrument]]:
    body = raw(HL_CTXS)
    body[1][0].update(change)  # BTC's context
    return body, [hyperliquid.instrument(u["name"]) for u in body[0]["universe"]]


def test_hyperliquid_rate_beyond_four_percent_an_hour() -> None:
    body, insts = _hl({"funding": "0.0401"})
    errors: list[DtrackError] = []
    rates, missing = hyperliquid.funding_rates(body, insts, {}, received(HL_CTXS), errors)
    assert ([r.instrument.symbol for r in rates], missing) == (["ETH", "HPOS"], [])
    assert_refused(only(errors), "hyperliquid", "POST /info metaAndAssetCtxs", "BTC", "rate", 0.0401,
                   "outside [-0.04, 0.04] per 1 h: Hyperliquid caps funding at 4 %/h")
    pred = {"BTC": hyperliquid.Predicted(0.2, None, 8.0)}  # 20 % per 8 h: inside 4 %/h x 8 h
    (btc,), _ = hyperliquid.funding_rates(raw(HL_CTXS), insts[:1], pred, received(HL_CTXS))
    assert btc.predicted_rate == 0.2 and btc.interval_hours == 8.0


def test_hyperliquid_mark_of_zero() -> None:
    body, insts = _hl({"markPx": "0"})
    errors: list[DtrackError] = []
    ois, _ = hyperliquid.open_interests(body, insts, received(HL_CTXS), errors)
    assert [o.instrument.symbol for o in ois] == ["ETH", "HPOS"]
    assert_refused(only(errors), "hyperliquid", "POST /info metaAndAssetCtxs", "BTC", "price_used (mark)", 0.0,
                   "a price must be > 0")
    errors = []
    quotes, _ = hyperliquid.price_quotes(body, insts, received(HL_CTXS), errors)
    assert [q.instrument.symbol for q in quotes] == ["ETH", "HPOS"]
    assert_refused(only(errors), "hyperliquid", "POST /info metaAndAssetCtxs", "BTC", "mark_price", 0.0,
                   "a price must be > 0")
    # a malformed context (not an implausible one) still fails the answer, as it did
    body, insts = _hl({"markPx": "n/a"})
    with pytest.raises(ParseError, match="'markPx'"):
        hyperliquid.open_interests(body, insts, received(HL_CTXS), [])


def test_history_rates_beyond_the_backstop() -> None:
    body = raw("hyperliquid__rest_info_fundingHistory__docs.json")
    body[0]["fundingRate"] = "10"
    with pytest.raises(Implausible) as caught:
        hyperliquid.parse_funding_history(body, body[0]["coin"])
    assert_refused(caught.value, "hyperliquid", "POST /info fundingHistory", "xyz:XYZ100", "rate", 10.0,
                   "no venue publishes a cap above 5 % per interval")
    bybit_history = raw("bybit__rest_funding_history__docs.json")
    bybit_history["result"]["list"][0]["fundingRate"] = "-0.0501"
    with pytest.raises(Implausible, match=r"ETHPERP rate=-0.0501 is implausible"):
        bybit.parse_funding_history(bybit_history, "ETHPERP")


def test_a_refused_row_is_a_failure_of_kind_implausible_with_its_endpoint() -> None:
    error = RULES.refuse("mark_price", -1.0, "a price must be > 0")
    assert Failure.of("venue", error).to_row() == {
        "venue": "venue", "kind": "implausible", "endpoint": "/endpoint",
        "message": "venue /endpoint: unexpected payload: SYM mark_price=-1.0 is implausible (a price must be > 0)"}
    assert isinstance(error, ParseError)


def test_every_record_type_is_checked_by_its_function() -> None:
    inst = bybit_contract("BTCUSDT", "linear")
    rate = FundingRate(instrument=inst, rate=0.0001, interval_hours=8.0, interval_source="x", time=None,
                       received_at=NOW, mark_price=50_000.0, open_interest_usd=-1.0)
    with pytest.raises(Implausible, match=r"open_interest_usd=-1\.0"):
        plausible.funding_rate("/t", rate)


# --- OKX's row caps, over a real socket (the corpus has no real funding-rate answer) ---------------------------------


def test_okx_rate_beyond_the_rows_max_funding_rate(tmp_path: Path) -> None:
    """The sim's funding-rate answer (its format checked against the real captures) with BTC-USDT-SWAP's rate at
    twice the row's own ``maxFundingRate``: that swap is refused naming OKX's cap, the other swaps serve."""
    from dtrack.sim.server import load_routes
    from dtrack.venues.okx import api as okx_api
    from test_okx_sim import MODEL, _current, _serve_modified

    routes = load_routes(MODEL, ("okx",))
    funding = routes.table[("okx", "rest", "GET", okx_api.FUNDING_RATE)]
    doubled: list[float] = []

    def beyond_the_cap(req: Any) -> Any:
        body = funding(req)
        row = next(r for r in body["data"] if r["instId"] == "BTC-USDT-SWAP")
        doubled.append(2 * float(row["maxFundingRate"]))
        row["fundingRate"] = repr(doubled[-1])
        return body

    routes.add("okx", "rest", "GET", okx_api.FUNDING_RATE, beyond_the_cap)
    answer = _serve_modified(tmp_path, routes, _current)
    symbols = {r.instrument.symbol for r in answer.items}
    assert "BTC-USDT-SWAP" not in symbols and {"ETH-USDT-SWAP", "BTC-USD-SWAP"} <= symbols
    (error,) = [e for e in answer.errors if isinstance(e, Implausible)]
    cap = doubled[0] / 2
    assert_refused(error, "okx", "/api/v5/public/funding-rate", "BTC-USDT-SWAP", "rate", doubled[0],
                   f"outside [{-cap:g}, {cap:g}] per 8 h: OKX funding-rate minFundingRate / maxFundingRate")
