"""Deribit option parsers on the real payloads: the 2021 instrument capture (808 options), the real option tickers
(ws capture: marks in the coin, IVs in percent, greeks), and the docs examples of the book summary, option trades,
DVOL and realized volatility. Exact values; conversions checked against an independent Black-76."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.venues.deribit.parse import (
    DeribitOptionSpec,
    option_currency,
    option_index,
    option_name,
    option_ticker_quote,
    option_trade,
    parse_historical_volatility,
    parse_option_instruments,
    parse_option_summary,
    parse_option_ticker,
    parse_option_trades,
    parse_vol_index,
    vol_points,
)
from dtrack.venues.fields import ms_to_utc

Payload = Callable[[str], dict[str, Any]]
N = NormalDist()
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)
#: the trades docs example was answered on 2026-02-13: received 5 s after its trade (a trade stamped more than a
#: day after its answer was received is implausible)
TRADES_RECEIVED = datetime(2026, 2, 13, 12, 7, 39, 552000, tzinfo=UTC)
INSTRUMENTS = "deribit__rest_get_instruments__capture.json"
TICKERS = "deribit__ws_ticker__capture.json"


def specs(payload: Payload) -> dict[str, DeribitOptionSpec]:
    """Every option of the real BTC and ETH instrument captures, by name."""
    out: dict[str, DeribitOptionSpec] = {}
    for case in payload(INSTRUMENTS)["cases"]:
        out.update(parse_option_instruments(case["raw"]).specs)
    return out


def tickers(payload: Payload) -> dict[str, dict[str, Any]]:
    """The first real ticker of each option in the ws capture, by name."""
    out: dict[str, dict[str, Any]] = {}
    for case in payload(TICKERS)["cases"]:
        data = case["raw"]["params"]["data"]
        out.setdefault(data["instrument_name"], data)
    return out


# --- instruments ---------------------------------------------------------------------------------------------


def test_instrument_capture_lists_every_option_with_its_terms(payload: Payload) -> None:
    btc, eth = (parse_option_instruments(case["raw"]) for case in payload(INSTRUMENTS)["cases"])
    # the capture asked without a kind filter: 390 + 418 options next to 8 + 8 futures (skipped)
    assert (len(btc.specs), len(eth.specs), btc.broken, eth.broken) == (390, 418, (), ())
    assert btc.specs["BTC-24SEP21-40000-P"] == DeribitOptionSpec(
        "BTC-24SEP21-40000-P", "BTC", ms_to_utc(1_632_470_400_000), 40_000.0, False, 1.0, settle="BTC", quote="BTC")
    assert eth.specs["ETH-23JUL21-2050-P"] == DeribitOptionSpec(
        "ETH-23JUL21-2050-P", "ETH", datetime(2021, 7, 23, 8, tzinfo=UTC), 2050.0, False, 1.0, settle="ETH",
        quote="ETH")
    every = {**btc.specs, **eth.specs}.values()
    assert all(s.coin_quoted and s.contract_size == 1.0 and s.expiry.hour == 8 for s in every)
    assert sum(s.is_call for s in every) == sum(not s.is_call for s in every) == 404


def test_names_spell_the_same_terms_as_the_instrument_rows(payload: Payload) -> None:
    """The name parser (used for trades of options no longer listed) agrees with all 808 real rows."""
    for spec in specs(payload).values():
        terms = option_name(spec.symbol)
        assert terms is not None, spec.symbol
        assert (terms.asset, terms.quote, terms.expiry, terms.strike, terms.is_call) == (
            spec.asset, spec.quote, spec.expiry, spec.strike, spec.is_call)


@pytest.mark.parametrize(("name", "expected"), [
    ("SOL_USDC-28MAR25-200-C", ("SOL", "USDC", datetime(2025, 3, 28, 8, tzinfo=UTC), 200.0, True)),
    ("XRP_USDC-30AUG24-0d625-P", ("XRP", "USDC", datetime(2024, 8, 30, 8, tzinfo=UTC), 0.625, False)),
    ("BTC-5DEC25-100000-C", ("BTC", "BTC", datetime(2025, 12, 5, 8, tzinfo=UTC), 100_000.0, True)),
])
def test_option_names(name: str, expected: tuple[Any, ...]) -> None:
    terms = option_name(name)
    assert terms is not None
    assert (terms.asset, terms.quote, terms.expiry, terms.strike, terms.is_call) == expected


@pytest.mark.parametrize("name", ["BTC-PERPETUAL", "BTC-28MAR25", "BTC-31FEB25-1000-C", "BTC-28MAR25-90000-X"])
def test_not_option_names(name: str) -> None:
    assert option_name(name) is None


def test_currency_and_index_of_an_asset() -> None:
    assert [option_currency(a) for a in ("BTC", "ETH", "SOL")] == ["BTC", "ETH", "USDC"]
    assert [option_index(a) for a in ("BTC", "ETH", "SOL")] == ["btc_usd", "eth_usd", "sol_usdc"]


def test_a_broken_row_is_noted_and_the_rest_serves(payload: Payload) -> None:
    raw = payload(INSTRUMENTS)["cases"][0]["raw"]
    rows = [r for r in raw["result"] if r["kind"] == "option"]
    broken = {**rows[0]}
    del broken["strike"]
    listing = parse_option_instruments({**raw, "result": [broken, *rows[1:]]})
    assert len(listing.specs) == 389 and rows[0]["instrument_name"] not in listing.specs
    assert listing.broken == (f"{rows[0]['instrument_name']}: field 'strike' is None, expected a number",)
    with pytest.raises(ParseError, match="no option parsed"):  # every row broken: the format changed
        parse_option_instruments({**raw, "result": [broken]})


# --- the chain: real tickers -------------------------------------------------------------------------------


def test_real_ticker_exact_values(payload: Payload) -> None:
    data = tickers(payload)["ETH-30JUL21-2800-C"]
    q = option_ticker_quote(data, specs(payload)["ETH-30JUL21-2800-C"], RECEIVED)
    assert (q.venue, q.symbol, q.asset, q.strike, q.is_call) == ("deribit", "ETH-30JUL21-2800-C", "ETH", 2800.0, True)
    assert q.expiry == datetime(2021, 7, 30, 8, tzinfo=UTC)
    assert q.time == ms_to_utc(1_626_993_723_632)
    assert (q.underlying_price, q.index_price) == (2003.61, 2006.72)
    # the coin price as sent; USD = coin x underlying_price (the forward of the expiry, ETH-30JUL21)
    assert q.mark_price_coin == 0.001972
    assert q.mark_price_usd == pytest.approx(0.001972 * 2003.61, rel=1e-15)
    assert q.bid_price_usd == pytest.approx(0.0015 * 2003.61, rel=1e-15)
    assert q.ask_price_usd == pytest.approx(0.0025 * 2003.61, rel=1e-15)
    # percent points -> fractions
    assert (q.mark_iv, q.bid_iv, q.ask_iv) == pytest.approx((1.2074, 1.1562, 1.2563), rel=1e-15)
    assert (q.delta, q.gamma, q.vega, q.theta) == (0.03127, 0.0002, 0.20072, -1.64029)
    assert (q.open_interest, q.volume, q.contract_size, q.settle) == (12685.0, 869.0, 1.0, "ETH")
    assert "underlying_price (the expiry's forward)" in q.price_note and "ETH" in q.price_note


def test_deep_in_the_money_put_converts_with_the_forward(payload: Payload) -> None:
    q = option_ticker_quote(tickers(payload)["ETH-27AUG21-4000-P"], specs(payload)["ETH-27AUG21-4000-P"], RECEIVED)
    assert q.mark_price_coin == 1.005718  # more than one coin: the put is worth more than the underlying
    assert q.mark_price_usd == pytest.approx(1.005718 * 1999.98, rel=1e-15)
    assert q.mark_price_usd > 4000 - 1999.98  # above intrinsic on the forward
    assert (q.mark_iv, q.delta) == (pytest.approx(1.172, rel=1e-15), -0.95701)


def test_every_real_ticker_matches_an_independent_black76(payload: Payload) -> None:
    """With the IV as a fraction and the price in USD = coin x underlying_price, textbook Black-76 on the
    forward reproduces Deribit's own delta to its 5 decimals and its mark to the IV's 0.01-point rounding
    (or 1 bp of the price; 0.001 USD for the 1e-6 coin minimum mark). A percent IV or a USD price converted
    with the index instead would miss by orders of magnitude."""
    all_specs = specs(payload)
    for name, data in tickers(payload).items():
        q = option_ticker_quote(data, all_specs[name], RECEIVED)
        assert q.mark_iv is not None and q.mark_price_usd is not None and q.delta is not None
        years = (q.expiry - q.time).total_seconds() / (365 * 86_400)
        f, k, sd = q.underlying_price, q.strike, q.mark_iv * math.sqrt(years)
        d1 = (math.log(f / k) + sd * sd / 2) / sd
        d2 = d1 - sd
        price = f * N.cdf(d1) - k * N.cdf(d2) if q.is_call else k * N.cdf(-d2) - f * N.cdf(-d1)
        vega_point = f * N.pdf(d1) * math.sqrt(years) / 100
        assert abs(price - q.mark_price_usd) <= max(0.01 * vega_point, 1e-4 * price) + 1e-3, name
        assert q.delta == pytest.approx(N.cdf(d1) - (0.0 if q.is_call else 1.0), abs=6e-6), name


def test_ticker_for_another_instrument_fails(payload: Payload) -> None:
    data = tickers(payload)["ETH-30JUL21-2800-C"]
    with pytest.raises(ParseError, match="ticker is for 'ETH-30JUL21-2800-C'"):
        option_ticker_quote(data, specs(payload)["ETH-23JUL21-2050-P"], RECEIVED)
    body = {"jsonrpc": "2.0", "result": data}  # a public/ticker answer holds the same object
    assert parse_option_ticker(body, specs(payload)["ETH-30JUL21-2800-C"], RECEIVED).mark_price_coin == 0.001972


# --- the chain: book summary (docs example) ---------------------------------------------------------------


def docs_spec() -> DeribitOptionSpec:
    """The docs example row's option (no instrument row exists for it: its terms as its name spells them)."""
    terms = option_name("ETH-22FEB19-140-P")
    assert terms is not None
    return DeribitOptionSpec("ETH-22FEB19-140-P", "ETH", terms.expiry, terms.strike, terms.is_call, 1.0, settle="ETH",
                             quote="ETH")


def test_book_summary_docs_row(payload: Payload) -> None:
    body = payload("deribit__rest_get_book_summary_by_currency__docs.json")["cases"][0]["raw"]
    rows = parse_option_summary(body, "ETH", {"ETH-22FEB19-140-P": docs_spec()}, 130.5, RECEIVED)
    assert (rows.unknown, rows.errors) == ((), ())
    (q,) = rows.quotes
    assert q.time == ms_to_utc(1_550_227_952_163)  # creation_timestamp
    assert (q.underlying_price, q.index_price) == (121.38, 130.5)  # the index passed in (get_index_price)
    assert (q.mark_price_coin, q.mark_price_usd) == (80.0, pytest.approx(80 * 121.38, rel=1e-15))
    assert q.bid_price_usd == pytest.approx(0.1488 * 121.38, rel=1e-15)
    assert q.ask_price_usd == pytest.approx(0.34 * 121.38, rel=1e-15)
    assert (q.open_interest, q.volume) == (0.55, 0.55)
    # the book summary has no greeks and no bid/ask IV; this example has no mark_iv either
    assert (q.mark_iv, q.bid_iv, q.ask_iv, q.delta, q.gamma, q.vega, q.theta) == (None,) * 7


def test_book_summary_unknown_rows_other_assets_and_missing_marks(payload: Payload) -> None:
    body = payload("deribit__rest_get_book_summary_by_currency__docs.json")["cases"][0]["raw"]
    (row,) = body["result"]
    assert parse_option_summary(body, "ETH", {}, None, RECEIVED).unknown == ("ETH-22FEB19-140-P",)
    assert parse_option_summary(body, "BTC", {}, None, RECEIVED) == parse_option_summary(
        {**body, "result": []}, "BTC", {}, None, RECEIVED)  # ETH rows are not read for BTC
    # a row without a mark or book is kept with None fields; without any price to convert with it is an error
    bare = {**row, "mark_price": None, "bid_price": None, "ask_price": None}
    (q,) = parse_option_summary({**body, "result": [bare]}, "ETH", {row["instrument_name"]: docs_spec()}, None,
                                RECEIVED).quotes
    assert (q.mark_price_coin, q.mark_price_usd, q.bid_price_usd, q.ask_price_usd, q.index_price) == (None,) * 5
    orphan = {**row, "underlying_price": None}
    rows = parse_option_summary({**body, "result": [orphan]}, "ETH", {row["instrument_name"]: docs_spec()}, None,
                                RECEIVED)
    assert rows.quotes == () and len(rows.errors) == 1
    assert "ETH-22FEB19-140-P: neither underlying_price nor an index price" in str(rows.errors[0])
    # with an index but no underlying_price, the index converts and the note says so
    (q,) = parse_option_summary({**body, "result": [orphan]}, "ETH", {row["instrument_name"]: docs_spec()}, 130.5,
                                RECEIVED).quotes
    assert q.underlying_price == 130.5 and "the index (no underlying_price in the row)" in q.price_note


# --- trades ------------------------------------------------------------------------------------------------


def test_trades_docs_example(payload: Payload) -> None:
    body = payload("deribit__rest_get_last_trades_by_currency__docs.json")["cases"][0]["raw"]
    received = TRADES_RECEIVED
    page = parse_option_trades(body, "BTC", received)
    assert (page.has_more, page.errors) == (True, ())
    (t,) = page.trades
    assert (t.venue, t.symbol, t.asset, t.strike, t.is_call) == ("deribit", "BTC-24APR26-72000-C", "BTC", 72000.0,
                                                                   True)
    assert t.expiry == datetime(2026, 4, 24, 8, tzinfo=UTC)
    assert (t.time, t.side, t.trade_id, t.block) == (ms_to_utc(1_770_984_454_552), "buy", "415305279", False)
    assert t.received_at == received
    assert (t.amount, t.contract_size) == (3.0, 1.0)  # amount 3 BTC = contracts 3
    assert t.index_price == 66930.31
    assert t.price_usd == pytest.approx(0.0525 * 66930.31, rel=1e-15)  # coin price x the trade's index
    assert t.premium_usd == pytest.approx(3 * 0.0525 * 66930.31, rel=1e-15)
    assert t.iv == pytest.approx(0.4591, rel=1e-15)
    assert parse_option_trades(body, "ETH", RECEIVED).trades == ()  # other assets' trades are not read


def test_block_flag_and_old_rows_without_contracts(payload: Payload) -> None:
    (row,) = payload("deribit__rest_get_last_trades_by_currency__docs.json")["cases"][0]["raw"]["result"]["trades"]
    # the docs row as a block leg (block_trade_id is the documented marker)
    received = TRADES_RECEIVED
    assert option_trade({**row, "block_trade_id": "BLOCK-1234", "block_trade_leg_count": 2}, received).block
    assert not option_trade({**row, "block_trade_id": None}, received).block
    old = {k: v for k, v in row.items() if k != "contracts"}
    assert (option_trade(old, received).amount, option_trade(old, received).contract_size) == (3.0, 1.0)
    with pytest.raises(ParseError, match="direction is 'long'"):
        option_trade({**row, "direction": "long"}, received)
    with pytest.raises(ParseError, match="not a Deribit option name"):
        option_trade({**row, "instrument_name": "BTC-PERPETUAL"}, received)


# --- volatility ----------------------------------------------------------------------------------------------


def test_vol_index_docs_example(payload: Payload) -> None:
    """The docs example (1-minute candles) parses to (open time, close) exactly. Its values look like
    fractions, but live DVOL is in percent points (about 40 to 100); dtrack divides by 100."""
    body = payload("deribit__rest_get_volatility_index_data__docs.json")["cases"][0]["raw"]
    candles, continuation = parse_vol_index(body)
    assert candles == [(1_598_019_300_000, 0.212860821), (1_598_019_360_000, 0.212987527),
                       (1_598_019_420_000, 0.212992597)]
    assert continuation is None
    with_more = {**body, "result": {**body["result"], "continuation": 1_598_019_240_000}}
    assert parse_vol_index(with_more)[1] == 1_598_019_240_000


def test_vol_points_are_daily_closes_as_fractions() -> None:
    day = 86_400_000
    t0 = 1_795_000_000_000 // day * day
    candles = [(t0, 48.3), (t0 + day, 51.0), (t0 + 2 * day, 49.5)]
    now = t0 + 2 * day + 3_600_000  # the third day is still open
    points = vol_points(candles, now, currency="BTC", received=RECEIVED)
    assert {(p.venue, p.symbol, p.received_at) for p in points} == {("deribit", "BTC-DVOL", RECEIVED)}
    assert [(p.time, p.value) for p in points] == [
        (ms_to_utc(t0 + day), pytest.approx(0.483, rel=1e-15)),
        (ms_to_utc(t0 + 2 * day), pytest.approx(0.51, rel=1e-15)),
        (ms_to_utc(now), pytest.approx(0.495, rel=1e-15))]


def test_historical_volatility_docs_example(payload: Payload) -> None:
    body = payload("deribit__rest_get_historical_volatility__docs.json")["cases"][0]["raw"]
    points = parse_historical_volatility(body, "BTC", RECEIVED)
    assert {(p.venue, p.symbol, p.received_at) for p in points} == {("deribit", "BTC-HV", RECEIVED)}
    assert len(points) == 6  # the example repeats its first row: one point per time
    assert points[0].time == ms_to_utc(1_549_720_800_000)
    assert points[0].value == pytest.approx(14.747743607344217 / 100, rel=1e-15)
    assert (points[-1].time, points[-1].value) == (ms_to_utc(1_550_228_400_000),
                                                   pytest.approx(0.46371891307340015, rel=1e-15))
    assert [p.time for p in points] == sorted(p.time for p in points)
    with pytest.raises(ParseError, match="expected 2"):
        parse_historical_volatility({"result": [[1_549_720_800_000, 14.7, 1]]}, "BTC", RECEIVED)
