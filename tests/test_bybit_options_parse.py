"""Bybit option parsers on the real payloads in tests/payloads (sources: PROVENANCE.md there):
option tickers (``bybit__ccxt_fetchTickers.json``: real USDT-settled options with native strings;
``bybit__ccxt_fetchAllGreeks.json``: a ccxt fixture whose symbol was renamed, used for field parsing only;
the docs tickers example), the option instruments-info row, recent-trade and historical-volatility examples.

Tolerances: values Bybit sends as decimal strings are compared at rel=1e-12 (float parsing). The Black-76
cross-check of Bybit's marks and greeks allows 1e-3 relative: ``markIv`` is rounded to 4 decimals, which moves
a price by up to vega x 0.005 vol points (2e-4 of these prices).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.records import OptionQuote
from dtrack.venues.bybit import parse

Payload = Callable[[str], dict[str, Any]]
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_MS = 365 * 86_400_000
REL = 1e-12


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def raw(payload: Payload, name: str, index: int = 0) -> dict[str, Any]:
    return copy.deepcopy(payload(name)["cases"][index]["raw"])


def by_symbol(quotes: list[OptionQuote]) -> dict[str, OptionQuote]:
    return {q.symbol: q for q in quotes}


# --- symbols ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "asset", "expiry", "strike", "is_call", "settle"), [
    ("BTC-30MAY25-68000-P-USDT", "BTC", datetime(2025, 5, 30, 8, tzinfo=UTC), 68_000.0, False, "USDT"),
    ("BTC-28MAR25-90000-C", "BTC", datetime(2025, 3, 28, 8, tzinfo=UTC), 90_000.0, True, "USDC"),
    ("ETH-5DEC25-3100-P", "ETH", datetime(2025, 12, 5, 8, tzinfo=UTC), 3_100.0, False, "USDC"),
    ("SOL-27MAR26-142.5-C-USDT", "SOL", datetime(2026, 3, 27, 8, tzinfo=UTC), 142.5, True, "USDT"),
])
def test_option_terms_from_the_symbol(symbol: str, asset: str, expiry: datetime, strike: float, is_call: bool,
                                      settle: str) -> None:
    t = parse.option_terms(parse.reader("/v5/market/tickers"), symbol)
    assert (t.asset, t.expiry, t.strike, t.is_call, t.settle, t.contract_size, t.source) == (
        asset, expiry, strike, is_call, settle, 1.0, "symbol")


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTC-31FEB25-1000-C", "BTC-28XYZ25-1000-C", "BTC-28MAR25-1000-X"])
def test_bad_option_symbols(symbol: str) -> None:
    with pytest.raises(ParseError, match="bybit"):
        parse.option_terms(parse.reader("/v5/market/tickers"), symbol)


# --- instruments-info ---------------------------------------------------------------------------


def test_option_instruments_row(payload: Payload) -> None:
    body = raw(payload, "bybit__rest_instruments_info__docs.json", 2)
    row = body["result"]["list"][0]
    page = parse.parse_option_instruments_page(body)
    assert page.cursor == "" and page.broken == ()
    t = page.terms["BTC-27MAR26-70000-P-USDT"]
    assert t.expiry == utc(1_774_598_400_000) == datetime(2026, 3, 27, 8, tzinfo=UTC)  # deliveryTime = the 08:00 rule
    assert (t.asset, t.strike, t.is_call, t.settle, t.source) == ("BTC", 70_000.0, False, "USDT", "instruments-info")
    # quantities step by 0.01 of a coin: a contract is one coin, not a whole-number lot
    assert row["lotSizeFilter"]["minOrderQty"] == row["lotSizeFilter"]["qtyStep"] == "0.01"
    assert t.contract_size == 1.0


def test_option_instruments_skip_other_states_and_keep_bad_rows_aside(payload: Payload) -> None:
    body = raw(payload, "bybit__rest_instruments_info__docs.json", 2)
    good = body["result"]["list"][0]
    body["result"]["list"] += [
        {**good, "symbol": "BTC-27MAR26-80000-P-USDT", "status": "PreLaunch"},
        {**good, "symbol": "BTC-27MAR26-90000-P-USDT", "optionsType": "Call"},  # contradicts the symbol
        {**good, "symbol": "BTC-27MAR26-95000-P-USDT", "deliveryTime": "soon"},
    ]
    page = parse.parse_option_instruments_page(body)
    assert list(page.terms) == ["BTC-27MAR26-70000-P-USDT"]
    assert len(page.broken) == 2
    assert page.broken[0].startswith("BTC-27MAR26-90000-P-USDT: optionsType Call contradicts the symbol")
    assert page.broken[1].startswith("BTC-27MAR26-95000-P-USDT: field 'deliveryTime'")


def test_option_instruments_page_without_a_good_row_is_an_error(payload: Payload) -> None:
    body = raw(payload, "bybit__rest_instruments_info__docs.json", 2)
    del body["result"]["list"][0]["optionsType"]
    with pytest.raises(ParseError, match="no option row parsed"):
        parse.parse_option_instruments_page(body)


# --- tickers ------------------------------------------------------------------------------------


def test_real_usdt_option_tickers(payload: Payload) -> None:
    quotes, errors = parse.parse_option_chain(raw(payload, "bybit__ccxt_fetchTickers.json"), "BTC", {}, RECEIVED)
    assert errors == []
    got = by_symbol(quotes)
    assert sorted(got) == ["BTC-30MAY25-68000-P-USDT", "BTC-30MAY25-70000-C-USDT", "BTC-30MAY25-78000-C-USDT"]
    q = got["BTC-30MAY25-68000-P-USDT"]
    assert (q.venue, q.asset, q.strike, q.is_call, q.settle, q.contract_size) == ("bybit", "BTC", 68_000.0, False,
                                                                                  "USDT", 1.0)
    assert q.expiry == datetime(2025, 5, 30, 8, tzinfo=UTC)  # from the symbol: no instruments given
    assert q.time == utc(1_744_124_642_786)  # the answer's own time
    assert q.mark_price_usd == pytest.approx(2015.39438867, rel=REL)
    assert q.underlying_price == pytest.approx(79_369.63, rel=REL)  # the expiry's forward, not the index
    assert q.index_price == pytest.approx(78_750.38868972, rel=REL)
    assert q.mark_price_coin == pytest.approx(2015.39438867 / 79_369.63, rel=REL)  # USD / underlyingPrice
    assert q.mark_price_coin == pytest.approx(0.0253925133, rel=1e-8)  # 0.0254 BTC per BTC of underlying
    assert (q.bid_price_usd, q.ask_price_usd) == (1975.0, 2050.0)
    # IVs are fractions on Bybit: kept as they are (no percent conversion)
    assert (q.mark_iv, q.bid_iv, q.ask_iv) == (0.552, 0.547, 0.556)
    assert (q.delta, q.gamma, q.vega, q.theta) == (-0.19818258, 0.00001689, 83.17386614, -44.39180536)
    assert (q.open_interest, q.volume) == (11.35, 0.96)
    assert "USDT-settled, USDT taken as USD" in q.price_note and "coin = USD / underlyingPrice" in q.price_note


def _black76(forward: float, strike: float, years: float, iv: float, is_call: bool) -> dict[str, float]:
    """Independent textbook Black-76 (r = 0) with Deribit's greek units."""
    n = NormalDist()
    sd = iv * math.sqrt(years)
    d1 = math.log(forward / strike) / sd + sd / 2
    call = forward * n.cdf(d1) - strike * n.cdf(d1 - sd)
    pdf = n.pdf(d1)
    return {"price": call if is_call else call - (forward - strike),
            "delta": n.cdf(d1) - (0.0 if is_call else 1.0), "gamma": pdf / (forward * sd),
            "vega": forward * pdf * math.sqrt(years) / 100, "theta": -forward * pdf * iv / (2 * math.sqrt(years)) / 365}


def test_bybit_marks_and_greeks_are_black76_on_the_underlying(payload: Payload) -> None:
    """Bybit's mark is Black-76 on ``underlyingPrice`` at ``markIv``, and its greeks are in the units the
    OptionQuote documents (vega per vol point, theta per day): the conversion needs no rescaling."""
    quotes, _ = parse.parse_option_chain(raw(payload, "bybit__ccxt_fetchTickers.json"), "BTC", {}, RECEIVED)
    for q in quotes:
        years = (q.expiry - q.time).total_seconds() * 1000 / YEAR_MS
        assert q.mark_iv is not None
        ref = _black76(q.underlying_price, q.strike, years, q.mark_iv, q.is_call)
        assert q.mark_price_usd == pytest.approx(ref["price"], rel=1e-3)
        assert q.delta == pytest.approx(ref["delta"], abs=1e-4)
        for greek in ("gamma", "vega", "theta"):
            assert getattr(q, greek) == pytest.approx(ref[greek], rel=1e-3), greek


def test_zero_means_none_and_string_envelope(payload: Payload) -> None:
    """The ccxt fixture (renamed symbol, for field parsing only): retCode and time as strings, an empty book."""
    quotes, errors = parse.parse_option_chain(raw(payload, "bybit__ccxt_fetchAllGreeks.json"), "BTC", {}, RECEIVED)
    assert errors == []
    (q,) = quotes
    assert q.time == utc(1_751_739_682_013)
    assert (q.bid_price_usd, q.ask_price_usd, q.bid_iv, q.ask_iv) == (None, None, None, None)
    assert q.mark_iv == 0.5252 and q.mark_price_usd == pytest.approx(7037.25257463, rel=REL)
    assert q.underlying_price == pytest.approx(107_998.45, rel=REL)
    assert (q.open_interest, q.volume) == (0.0, 0.0)
    assert (q.delta, q.gamma, q.vega, q.theta) == (0.46906374, 0.00001814, 166.09011572, -79.92724861)


def test_docs_usdc_option_ticker(payload: Payload) -> None:
    quotes, errors = parse.parse_option_chain(raw(payload, "bybit__rest_tickers__docs.json", 1), "BTC", {}, RECEIVED)
    assert errors == []
    (q,) = quotes
    assert (q.symbol, q.settle, q.expiry) == ("BTC-30DEC22-18000-C", "USDC", datetime(2022, 12, 30, 8, tzinfo=UTC))
    assert q.mark_price_usd == pytest.approx(9e-8, rel=REL)  # a deep out-of-the-money call hours before expiry
    assert (q.bid_price_usd, q.bid_iv, q.ask_price_usd, q.ask_iv) == (None, None, 435.0, 5.0)
    assert q.mark_iv == 0.7567 and (q.open_interest, q.volume) == (6.3, 0.15)
    assert "USDC-settled, USDC taken as USD" in q.price_note


def test_instrument_terms_win_and_listed_options_without_ticker_are_kept(payload: Payload) -> None:
    body = raw(payload, "bybit__ccxt_fetchTickers.json")
    listed = parse.parse_option_instruments_page(raw(payload, "bybit__rest_instruments_info__docs.json", 2)).terms
    quoted = parse.option_terms(parse.reader("x"), "BTC-30MAY25-70000-C-USDT")
    exact = parse.OptionTerms(quoted.symbol, "BTC", datetime(2025, 5, 30, 8, 0, 0, 5000, tzinfo=UTC), 70_000.0, True,
                              contract_size=1.0, settle="USDT", source="instruments-info")
    quotes, errors = parse.parse_option_chain(body, "BTC", {**listed, exact.symbol: exact}, RECEIVED)
    assert errors == []
    got = by_symbol(quotes)
    assert got["BTC-30MAY25-70000-C-USDT"].expiry == exact.expiry  # deliveryTime, not the symbol's date
    lone = got["BTC-27MAR26-70000-P-USDT"]  # listed, no tickers row: kept, without a mark
    assert (lone.mark_price_usd, lone.mark_iv, lone.delta, lone.open_interest) == (None, None, None, 0.0)
    assert lone.expiry == datetime(2026, 3, 27, 8, tzinfo=UTC) and lone.settle == "USDT"
    assert lone.underlying_price == pytest.approx(78_750.38868972, rel=REL)  # no quoted option of its expiry: index
    assert "without a tickers row" in lone.price_note
    assert len(quotes) == 4


def test_a_bad_row_costs_only_itself(payload: Payload) -> None:
    body = raw(payload, "bybit__ccxt_fetchTickers.json")
    rows = body["result"]["list"]
    rows[0]["markIv"] = "n/a"
    rows[1]["underlyingPrice"] = ""  # takes the forward of its expiry from another row
    rows.append({**rows[2], "symbol": "BTCUSDT"})
    quotes, errors = parse.parse_option_chain(body, "BTC", {}, RECEIVED)
    assert sorted(q.symbol for q in quotes) == ["BTC-30MAY25-70000-C-USDT", "BTC-30MAY25-78000-C-USDT"]
    q = by_symbol(quotes)["BTC-30MAY25-70000-C-USDT"]
    assert q.underlying_price == pytest.approx(79_369.63, rel=REL)
    assert "another option of the expiry" in q.price_note
    assert [e.endpoint for e in errors] == ["/v5/market/tickers"] * 2
    assert "BTCUSDT" in errors[0].detail and "not an option symbol" in errors[0].detail
    assert errors[1].detail.startswith("BTC-30MAY25-68000-P-USDT: field 'markIv'")


def test_other_assets_are_not_read(payload: Payload) -> None:
    assert parse.parse_option_chain(raw(payload, "bybit__ccxt_fetchTickers.json"), "ETH", {}, RECEIVED) == ([], [])


# --- recent-trade -------------------------------------------------------------------------------


def test_option_trade_fields(payload: Payload) -> None:
    """The docs example is a spot trade: it is not an option and is reported; the same real row with an option
    symbol and the documented option fields (``mP``, ``iP``, ``mIv``, ``iv``) parses."""
    body = raw(payload, "bybit__rest_recent_trade__docs.json")
    spot = body["result"]["list"][0]
    body["result"]["list"].append({**spot, "symbol": "BTC-30DEC22-16000-C", "mP": "700.5", "iP": "16600.55",
                                   "mIv": "0.4861", "iv": "0.4902", "isBlockTrade": True})
    trades, errors = parse.parse_option_trades(body, "BTC", RECEIVED)
    (err,) = errors
    assert err.endpoint == "/v5/market/recent-trade" and err.detail.startswith("BTCUSDT: ")
    (t,) = trades
    assert (t.symbol, t.asset, t.strike, t.is_call, t.expiry) == (
        "BTC-30DEC22-16000-C", "BTC", 16_000.0, True, datetime(2022, 12, 30, 8, tzinfo=UTC))
    assert (t.side, t.amount, t.contract_size, t.price_usd) == ("buy", 0.00012, 1.0, 16618.49)  # taker side
    assert (t.index_price, t.iv, t.block, t.trade_id) == (16600.55, 0.4902, True, "2100000000007764263")
    assert (t.time, t.received_at) == (utc(1_672_052_955_758), RECEIVED)
    assert t.premium_usd == pytest.approx(16618.49 * 0.00012, rel=REL)


def test_option_trade_side_must_be_known(payload: Payload) -> None:
    body = raw(payload, "bybit__rest_recent_trade__docs.json")
    body["result"]["list"] = [{**body["result"]["list"][0], "symbol": "BTC-30DEC22-16000-P", "iP": "1",
                               "side": "Short"}]
    trades, (err,) = parse.parse_option_trades(body, "BTC", RECEIVED)
    assert trades == [] and "side is 'Short'" in err.detail


# --- historical-volatility ----------------------------------------------------------------------


def test_historical_volatility(payload: Payload) -> None:
    body = raw(payload, "bybit__rest_historical_volatility__docs.json")
    (p,) = parse.parse_historical_volatility(body, "BTC", 30, RECEIVED)
    assert p.time == utc(1_672_052_400_000) == datetime(2022, 12, 26, 11, tzinfo=UTC)
    assert (p.venue, p.symbol, p.received_at) == ("bybit", "BTC-HV30D", RECEIVED)
    assert p.value == pytest.approx(0.45024716, rel=REL)  # a fraction: 45 %


def test_historical_volatility_of_another_period_is_an_error(payload: Payload) -> None:
    with pytest.raises(ParseError, match="a 30-day row in the 7-day series"):
        parse.parse_historical_volatility(raw(payload, "bybit__rest_historical_volatility__docs.json"), "BTC", 7,
                                          RECEIVED)
