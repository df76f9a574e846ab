"""Binance European options parsers on the real payloads: ``/eapi/v1/mark`` (the real ccxt capture and the
docs example), ``ticker``, ``openInterest`` and ``blockTrades`` (docs examples), with exact values.

There is no capture of ``/eapi/v1/exchangeInfo`` in the payload corpus: the option terms (unit = contract size) are
given here as records, stated in each test, never as a payload. Values are exact up to float parsing of
the venue's decimal strings (rel 1e-12).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dtrack.errors import ParseError
from dtrack.venues.binance import parse
from dtrack.venues.binance.parse import IndexPrice, OptionListing, OptionSymbol

EXACT = 1e-12


def raw(payload, name: str):
    return payload(name)["cases"][0]["raw"]


def eth_800_call(unit: float = 1.0) -> OptionSymbol:
    """The terms of ETH-231229-800-C as its symbol states them (unit: stated per test)."""
    return OptionSymbol("ETH-231229-800-C", "ETH", "ETHUSDT", datetime(2023, 12, 29, 8, tzinfo=UTC), 800.0, True,
                        unit, "USDT")


# --- /eapi/v1/mark ---------------------------------------------------------------------------------


def test_real_mark_capture_ivs_are_fractions_and_negative_means_none(payload) -> None:
    # binance__ccxt_fetchAllGreeks.json: the real GET /eapi/v1/mark answer ccxt recorded
    table = parse.parse_option_marks(raw(payload, "binance__ccxt_fetchAllGreeks.json"))
    mark = table.get("ETH-231229-800-C")
    assert mark is not None
    assert mark.price == pytest.approx(1789.2, rel=EXACT)
    assert mark.mark_iv == pytest.approx(0.708575, rel=EXACT)  # a fraction already: 70.86 %
    assert mark.bid_iv is None and mark.ask_iv is None  # "-0.00000001": no quote on either side
    assert (mark.delta, mark.gamma, mark.vega, mark.theta) == pytest.approx(
        (-0.91110168, 0.0001436, 2.00337645, -1.0575559), rel=EXACT)
    assert mark.rate == pytest.approx(0.065, rel=EXACT)


def test_docs_mark_example(payload) -> None:
    table = parse.parse_option_marks(raw(payload, "binance-options__rest_mark__docs.json"), {"BTC-200730-9000-C"})
    mark = table.get("BTC-200730-9000-C")
    assert mark is not None
    assert (mark.price, mark.bid_iv, mark.ask_iv, mark.mark_iv) == pytest.approx(
        (1343.2883, 1.40000077, 1.50000153, 1.45), rel=EXACT)
    assert (mark.delta, mark.gamma, mark.vega, mark.theta, mark.rate) == pytest.approx(
        (0.55937056, 0.00010969, 978.58874732, 3739.82509871, 0.1), rel=EXACT)


def test_quote_from_the_real_mark_converts_usdt_to_coin_at_the_stated_index(payload) -> None:
    mark = parse.parse_option_marks(raw(payload, "binance__ccxt_fetchAllGreeks.json")).get("ETH-231229-800-C")
    index = IndexPrice(2400.0, datetime(2023, 12, 1, tzinfo=UTC))  # stated: the capture carries no index
    received = datetime(2023, 12, 1, 0, 0, 5, tzinfo=UTC)
    q = parse.option_quote(eth_800_call(), index, mark, None, None, received)
    assert (q.venue, q.symbol, q.asset, q.strike, q.is_call) == ("binance", "ETH-231229-800-C", "ETH", 800.0, True)
    assert q.expiry == datetime(2023, 12, 29, 8, tzinfo=UTC) and q.time == index.time and q.received_at == received
    assert q.underlying_price == q.index_price == 2400.0
    assert q.mark_price_usd == pytest.approx(1789.2, rel=EXACT)
    assert q.mark_price_coin == pytest.approx(1789.2 / 2400.0, rel=EXACT)  # 0.7455 ETH
    assert q.mark_iv == pytest.approx(0.708575, rel=EXACT) and q.bid_iv is None and q.ask_iv is None
    assert q.delta == pytest.approx(-0.91110168, rel=EXACT) and q.vega == pytest.approx(2.00337645, rel=EXACT)
    assert (q.contract_size, q.settle, q.open_interest, q.volume) == (1.0, "USDT", 0.0, 0.0)
    assert q.bid_price_usd is None and q.ask_price_usd is None  # no ticker row
    assert "USDT (taken as USD)" in q.price_note and "riskFreeInterest 0.065" in q.price_note
    assert q.normalized_id == "ETH-USD-20231229-800-C"


def test_prices_and_greeks_are_per_coin_when_a_contract_holds_several_coins(payload) -> None:
    mark = parse.parse_option_marks(raw(payload, "binance__ccxt_fetchAllGreeks.json")).get("ETH-231229-800-C")
    ticker = parse.OptionTicker(volume=3.0, last=1790.0, bid=1780.0, ask=1800.0)
    # a hypothetical unit of 10 coins per contract: every per-contract figure is divided by it (at a stated index
    # of 900: a mark of 178.92 per coin is not below the 800 call's intrinsic value there, as it would be at 2400)
    q = parse.option_quote(eth_800_call(10.0), IndexPrice(900.0, None), mark, ticker, 7.0,
                           datetime(2023, 12, 1, tzinfo=UTC))
    assert q.mark_price_usd == pytest.approx(178.92, rel=EXACT)
    assert q.mark_price_coin == pytest.approx(178.92 / 900.0, rel=EXACT)
    assert (q.bid_price_usd, q.ask_price_usd) == pytest.approx((178.0, 180.0), rel=EXACT)
    assert (q.delta, q.gamma, q.vega, q.theta) == pytest.approx(
        (-0.091110168, 0.00001436, 0.200337645, -0.10575559), rel=EXACT)
    assert (q.open_interest, q.volume, q.contract_size) == (7.0, 3.0, 10.0)  # contracts of 10 coins
    # the index has no time: none (never the receive time, which is received_at)
    assert q.time is None and q.received_at == datetime(2023, 12, 1, tzinfo=UTC)


def test_an_option_without_a_mark_row_is_kept_empty() -> None:
    q = parse.option_quote(eth_800_call(), IndexPrice(2400.0, None), None, None, None,
                           datetime(2023, 12, 1, tzinfo=UTC))
    assert q.mark_price_usd is None and q.mark_price_coin is None and q.mark_iv is None and q.delta is None
    assert q.underlying_price == 2400.0 and "no /eapi/v1/mark row" in q.price_note


def test_a_malformed_asked_mark_row_fails_only_that_symbol(payload) -> None:
    rows = [dict(r) for r in raw(payload, "binance-options__rest_mark__docs.json")]
    rows.append({**rows[0], "symbol": "BTC-200730-9500-C", "markPrice": "n/a"})
    table = parse.parse_option_marks(rows, {"BTC-200730-9000-C", "BTC-200730-9500-C"})
    assert table.get("BTC-200730-9000-C") is not None
    with pytest.raises(ParseError, match="markPrice"):
        table.get("BTC-200730-9500-C")


# --- /eapi/v1/ticker, openInterest, index ----------------------------------------------------------


def test_docs_ticker_example(payload) -> None:
    ticker = parse.parse_option_tickers(raw(payload, "binance-options__rest_ticker__docs.json")).get(
        "BTC-200730-9000-C")
    assert ticker == parse.OptionTicker(volume=5.0, last=1000.0, bid=999.34, ask=1000.23)


def test_docs_open_interest_example_is_contracts_by_symbol(payload) -> None:
    body = raw(payload, "binance-options__rest_openInterest__docs.json")
    assert parse.parse_option_open_interest(body, "ETH") == {"ETH-221119-1175-P": pytest.approx(4.01, rel=EXACT)}
    # its sumOpenInterestUsd (4880.2985615624) is 4.01 x the ETH index of the day: contracts of one coin
    assert float(body[0]["sumOpenInterestUsd"]) / 4.01 == pytest.approx(1217.03, abs=0.01)
    with pytest.raises(ParseError, match="asked for BTC"):
        parse.parse_option_open_interest(body, "BTC")


def test_index_answer() -> None:
    # the docs' answer shape: {"time": ms, "indexPrice": "..."}
    index = parse.parse_option_index({"time": 1656647305000, "indexPrice": "105917.75"})
    assert index == IndexPrice(105917.75, datetime(2022, 7, 1, 3, 48, 25, tzinfo=UTC))
    with pytest.raises(ParseError, match="indexPrice"):
        parse.parse_option_index({"time": 1656647305000, "indexPrice": "0"})


# --- /eapi/v1/blockTrades --------------------------------------------------------------------------


def test_docs_block_trades_of_one_asset(payload) -> None:
    body = raw(payload, "binance-options__rest_blockTrades__docs.json")
    listing = OptionListing({"ETH-231229-800-C": eth_800_call()})  # gives ETH's unit: 1 coin
    start, end = datetime(2024, 12, 11, tzinfo=UTC), datetime(2024, 12, 12, tzinfo=UTC)
    received = datetime(2024, 12, 12, 0, 0, 5, tzinfo=UTC)
    trades, errors = parse.parse_block_trades(body, "ETH", listing, 3700.0, start, end, received)
    assert errors == []
    [t] = trades  # the XRP row is another asset's
    assert (t.symbol, t.asset, t.strike, t.is_call) == ("ETH-250725-1200-P", "ETH", 1200.0, False)
    assert t.expiry == datetime(2025, 7, 25, 8, tzinfo=UTC)  # from the symbol: no longer listed
    assert t.time == datetime(2024, 12, 11, 20, 57, 56, 483000, tzinfo=UTC) and t.received_at == received
    assert t.side == "sell"  # side -1: the taker sold
    assert t.amount == pytest.approx(2167.2, rel=EXACT)  # |qty|: the docs example signs it with the side
    assert t.price_usd == pytest.approx(342.4, rel=EXACT) and t.contract_size == 1.0
    assert t.premium_usd == pytest.approx(342.4 * 2167.2, rel=EXACT)
    assert (t.index_price, t.iv, t.block, t.trade_id) == (3700.0, None, True, "1125899906901081078")
    # outside the window: nothing; without any listed option of the asset: its unit is unknown
    assert parse.parse_block_trades(body, "ETH", listing, 3700.0, end, end, received)[0] == []
    none, failed = parse.parse_block_trades(body, "ETH", OptionListing({}), 3700.0, start, end, received)
    assert none == [] and len(failed) == 1 and "contract unit" in str(failed[0])


def test_option_terms_from_a_symbol() -> None:
    o = parse.option_of_symbol("XRP-250904-0.086-P", 100.0, "/eapi/v1/blockTrades")
    assert (o.asset, o.underlying, o.strike, o.is_call, o.unit) == ("XRP", "XRPUSDT", 0.086, False, 100.0)
    assert o.expiry == datetime(2025, 9, 4, 8, tzinfo=UTC) and o.expiration == "250904"
    for bad in ("BTC-20261225-1-C", "BTC-261232-100-C", "BTC-261225-100-X"):
        with pytest.raises(ParseError):
            parse.option_of_symbol(bad, 1.0, "/eapi/v1/blockTrades")
