"""OKX parsers of the open-interest / basis data on the real captures in tests/payloads
(values asserted exactly), and linear vs inverse conversion on real contract specs.

Real captures: instruments with FUTURES rows (cryptofeed, 2022), open-interest, candles and a spot
ticker (ccxt static tests), and WebSocket tickers rows of a dated future and a swap (cryptofeed, same
2022 session as the instruments; their rows are the REST tickers rows). OKX open-interest-history,
the long/short ratios, mark-price and index-tickers have no real capture (INDEX.md, "Gaps"): their
parsers are exercised against the simulator in test_okx_oi_sim.py, and here only on malformed input.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.records import Instrument, Kind, Margin, OpenInterest, PricePoint, SpotPrice, Unit
from dtrack.venues.okx import api
from dtrack.venues.okx.parse import (
    ContractOpenInterest,
    index_id,
    long_short,
    open_interest,
    parse_candles,
    parse_instruments,
    parse_oi_history,
    parse_open_interest,
    parse_ratio,
    parse_tickers,
    price_points,
    price_quote,
    spot_price,
)

INSTRUMENTS = "okx__rest_public_instruments__capture.json"
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _case(doc: dict[str, Any], url_part: str) -> dict[str, Any]:
    return next(c for c in doc["cases"] if url_part in c["input"]["url"])


def _futures(payload: Any) -> dict[str, Instrument]:
    listing = parse_instruments(_case(payload(INSTRUMENTS), "instType=FUTURES")["raw"])
    assert listing.broken == {}
    return {i.symbol: i for i in listing.instruments}


def _contracts(payload: Any) -> dict[str, Instrument]:
    doc = payload(INSTRUMENTS)
    found: dict[str, Instrument] = {}
    for part in ("instType=SWAP", "instType=FUTURES"):
        found |= {i.symbol: i for i in parse_instruments(_case(doc, part)["raw"]).instruments}
    return found


# --- dated futures in the instrument list ------------------------------------------------------


def test_futures_list_has_every_live_future(payload: Any) -> None:
    raw = _case(payload(INSTRUMENTS), "instType=FUTURES")["raw"]
    futures = _futures(payload)
    assert len(futures) == len(raw["data"]) == 104  # 13 coins x (inverse, linear) x 4 expiries
    for row in raw["data"]:
        inst = futures[row["instId"]]
        assert (inst.kind, inst.market, inst.venue) == (Kind.FUTURE, "FUTURES", "okx")
        assert inst.expiry == datetime.fromtimestamp(int(row["expTime"]) / 1000, UTC)
        assert inst.contract_size == pytest.approx(float(row["ctVal"]) * float(row["ctMult"]), rel=1e-15)
        assert inst.settle == row["settleCcy"]
        assert inst.margin is Margin(row["ctType"])
        assert inst.contract_unit is (Unit.USD if row["ctType"] == "inverse" else Unit.BASE)


@pytest.mark.parametrize(("symbol", "quote", "settle", "margin", "size", "unit", "expiry", "normalized"), [
    ("BTC-USD-220520", "USD", "BTC", Margin.INVERSE, 100.0, Unit.USD, datetime(2022, 5, 20, 8, tzinfo=UTC),
     "BTC-USD-20220520"),
    ("BTC-USD-220930", "USD", "BTC", Margin.INVERSE, 100.0, Unit.USD, datetime(2022, 9, 30, 8, tzinfo=UTC),
     "BTC-USD-20220930"),
    ("ETH-USD-220624", "USD", "ETH", Margin.INVERSE, 10.0, Unit.USD, datetime(2022, 6, 24, 8, tzinfo=UTC),
     "ETH-USD-20220624"),
    ("BTC-USDT-220527", "USDT", "USDT", Margin.LINEAR, 0.01, Unit.BASE, datetime(2022, 5, 27, 8, tzinfo=UTC),
     "BTC-USDT-20220527"),
    ("ETH-USDT-220624", "USDT", "USDT", Margin.LINEAR, 0.1, Unit.BASE, datetime(2022, 6, 24, 8, tzinfo=UTC),
     "ETH-USDT-20220624"),
])
def test_future_contract_specs(payload: Any, symbol: str, quote: str, settle: str, margin: Margin, size: float,
                               unit: Unit, expiry: datetime, normalized: str) -> None:
    inst = _futures(payload)[symbol]
    assert (inst.asset, inst.quote, inst.settle, inst.margin) == (symbol.split("-")[0], quote, settle, margin)
    assert (inst.contract_size, inst.contract_unit, inst.multiplier) == (size, unit, 1.0)
    assert inst.expiry == expiry
    assert inst.normalized_id == normalized
    assert index_id(inst) == f"{inst.asset}-{quote}"


def test_futures_not_trading_or_without_expiry_are_skipped(payload: Any) -> None:
    real = _case(payload(INSTRUMENTS), "instType=FUTURES")["raw"]["data"]
    btc = next(r for r in real if r["instId"] == "BTC-USD-220520")
    odd = [{**btc, "instId": "BTC-USD-220603", "state": "preopen"},
           {**btc, "instId": "BTC-USD-220610", "state": "expired"},
           {**btc, "instId": "BTC-USD-XPERP", "expTime": ""},  # an "X-Perp": FUTURES without expiry
           {**btc, "instId": "LTC-USD-220520", "uly": "LTC-USD", "expTime": "soon"}]  # malformed
    listing = parse_instruments({"code": "0", "msg": "", "data": [*odd, *real]})
    assert [i.symbol for i in listing.instruments] == [r["instId"] for r in real]
    assert set(listing.broken) == {"LTC"} and "expTime" in listing.broken["LTC"]


def test_swaps_are_perps_of_market_swap(payload: Any) -> None:
    swaps = parse_instruments(_case(payload(INSTRUMENTS), "instType=SWAP")["raw"]).instruments
    assert {(i.kind, i.market, i.expiry) for i in swaps} == {(Kind.PERP, "SWAP", None)}


# --- open interest: linear vs inverse on real contract specs ------------------------------------


def test_open_interest_of_real_capture(payload: Any) -> None:
    """BTC-USDT-SWAP (linear, 0.01 BTC): oi 2663107.3 contracts = 26631.073 BTC; at the capture's own price
    (oiUsd / oiCcy) the USD value is OKX's oiUsd."""
    raw = payload("okx__ccxt_fetchOpenInterest.json")["cases"][0]["raw"]
    row = parse_open_interest(raw, {"BTC-USDT-SWAP"})["BTC-USDT-SWAP"]
    assert row.time == datetime(2024, 10, 12, 10, 18, 34, 766000, tzinfo=UTC)
    btc = _contracts(payload)["BTC-USDT-SWAP"]
    price = 1676426045.349999124995 / 26631.0729999999861  # 62949.2... USD per BTC
    oi = open_interest(btc, row, price, RECEIVED)
    assert oi is not None
    assert (oi.amount, oi.unit, oi.price_source, oi.time) == (2663107.29999999861, Unit.CONTRACTS, "mark", row.time)
    assert oi.received_at == RECEIVED
    assert oi.base == pytest.approx(26631.0729999999861, rel=1e-15)
    assert oi.usd == pytest.approx(1676426045.349999124995, rel=1e-15)
    # without a mark price OKX's own oiUsd / oiCcy converts it, and says so
    fallback = open_interest(btc, row, None, RECEIVED)
    assert fallback is not None
    assert fallback.price_source == "oiUsd / oiCcy (open-interest)"
    assert fallback.usd == pytest.approx(1676426045.349999124995, rel=1e-15)
    assert open_interest(btc, ContractOpenInterest(1.0, None, None), None, RECEIVED) is None


@pytest.mark.parametrize(("symbol", "contracts", "price", "base", "usd"), [
    # inverse: contracts of 100 USD (BTC) / 10 USD (ETH); the coin amount depends on the price
    ("BTC-USD-220520", 1000.0, 30_000.0, 100_000.0 / 30_000.0, 100_000.0),
    ("BTC-USD-SWAP", 250.0, 40_000.0, 25_000.0 / 40_000.0, 25_000.0),
    ("ETH-USD-220624", 1000.0, 2_000.0, 10_000.0 / 2_000.0, 10_000.0),
    # linear: contracts of 0.01 BTC / 0.1 ETH; the USD value depends on the price
    ("BTC-USDT-220527", 1000.0, 30_000.0, 10.0, 300_000.0),
    ("ETH-USDT-220624", 1000.0, 2_000.0, 100.0, 200_000.0),
    ("SHIB-USDT-SWAP", 3.0, 0.00001, 3_000_000.0, 30.0),  # 1,000,000 SHIB a contract
])
def test_linear_and_inverse_conversion(payload: Any, symbol: str, contracts: float, price: float, base: float,
                                       usd: float) -> None:
    inst = _contracts(payload)[symbol]
    oi = open_interest(inst, ContractOpenInterest(contracts, None, None), price, RECEIVED)
    assert isinstance(oi, OpenInterest)
    # no ts in the row: no time (never the receive time)
    assert (oi.amount, oi.unit, oi.price_used, oi.time, oi.received_at) == (contracts, Unit.CONTRACTS, price, None,
                                                                             RECEIVED)
    assert oi.base == pytest.approx(base, rel=1e-12)
    assert oi.usd == pytest.approx(usd, rel=1e-12)


# --- klines -----------------------------------------------------------------------------------


def test_candles_of_real_capture(payload: Any) -> None:
    """Three 1H candles, newest first; each becomes its close at its close time (open + 1 h)."""
    case = payload("okx__ccxt_fetchOHLCV.json")["cases"][0]
    rows = parse_candles(case["raw"], api.HISTORY_CANDLES)
    assert [(r.open_time, r.close) for r in rows] == [
        (datetime(2024, 1, 30, 18, tzinfo=UTC), 43373.9),
        (datetime(2024, 1, 30, 17, tzinfo=UTC), 43398.6),
        (datetime(2024, 1, 30, 16, tzinfo=UTC), 43495.9)]
    # independent reference: ccxt's reading of the same answer (open time ms, ..., close)
    assert sorted((r.open_time.timestamp() * 1000, r.close) for r in rows) == [
        (c[0], c[4]) for c in case["ccxt_parsed"]]
    btc = _contracts(payload)["BTC-USDT-SWAP"]
    later = datetime(2024, 2, 1, tzinfo=UTC)
    start, end = datetime(2024, 1, 30, tzinfo=UTC), datetime(2024, 1, 31, tzinfo=UTC)
    def close(t: datetime, price: float, high: float, low: float) -> PricePoint:
        return PricePoint(venue="okx", symbol="BTC-USDT-SWAP", time=t, price=price, high=high, low=low,
                          received_at=RECEIVED)

    # each bar's close, high and low as sent (h, l: 43500 / 43220.9, 43591.7 / 43300, 43493.9 / 43279.9)
    assert price_points(rows, btc, 1, later, start, end, received=RECEIVED) == (
        close(datetime(2024, 1, 30, 17, tzinfo=UTC), 43495.9, 43500.0, 43220.9),
        close(datetime(2024, 1, 30, 18, tzinfo=UTC), 43398.6, 43591.7, 43300.0),
        close(datetime(2024, 1, 30, 19, tzinfo=UTC), 43373.9, 43493.9, 43279.9))
    # independent reference: ccxt's reading of the same rows (open time ms, open, high, low, close, volume)
    assert sorted((r.open_time.timestamp() * 1000, r.high, r.low) for r in rows) == [
        (c[0], c[2], c[3]) for c in case["ccxt_parsed"]]
    # the newest candle still open at `now`: its close is the price at now (its high and low those so far); a
    # window ends the series
    now = datetime(2024, 1, 30, 18, 20, tzinfo=UTC)
    points = price_points(rows, btc, 1, now, start, now, received=RECEIVED)
    assert points[-1] == close(now, 43373.9, 43493.9, 43279.9)
    assert price_points(rows, btc, 1, later, start, datetime(2024, 1, 30, 18, tzinfo=UTC),
                        received=RECEIVED)[-1].price == 43398.6


def test_candle_prices_are_per_unit_of_the_asset(payload: Any) -> None:
    rows = parse_candles(payload("okx__ccxt_fetchOHLCV.json")["cases"][0]["raw"], api.CANDLES)
    kilo = Instrument(venue="okx", symbol="1000X-USDT-SWAP", asset="X", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, multiplier=1000.0)
    later = datetime(2024, 2, 1, tzinfo=UTC)
    points = price_points(rows, kilo, 1, later, later - timedelta(days=5), later, received=RECEIVED)
    assert [p.price for p in points] == [43.4959, 43.3986, 43.3739]
    assert [(p.high, p.low) for p in points] == [pytest.approx(x, rel=1e-15) for x in (
        (43.5, 43.2209), (43.5917, 43.3), (43.4939, 43.2799))]  # each / 1000, to the last bit of a double


# --- tickers: spot and dated futures ----------------------------------------------------------


def test_spot_ticker_of_real_capture(payload: Any) -> None:
    raw = payload("okx__ccxt_fetchTicker.json")["cases"][0]["raw"]
    tickers = parse_tickers(raw, {"BTC-USDT", "ETH-USDT"})
    assert set(tickers) == {"BTC-USDT"}  # a pair not in the answer is just absent
    assert spot_price("BTC", tickers["BTC-USDT"], RECEIVED) == SpotPrice(
        venue="okx", asset="BTC", quote="USDT", symbol="BTC-USDT", price=73384.8,
        time=datetime(2024, 3, 13, 11, 10, 43, 709000, tzinfo=UTC), received_at=RECEIVED,
        source="spot ticker last (market/tickers)")


def test_future_and_swap_tickers_of_real_capture(payload: Any) -> None:
    """The WebSocket tickers rows (same fields as REST market/tickers) of BTC-USD-220527 and a swap,
    recorded in the session of the instruments capture: last per unit of the asset."""
    frames = [c["raw"] for c in payload("okx__ws_tickers__capture.json")["cases"]]
    future = next(f for f in frames if f["data"][0]["instId"] == "BTC-USD-220527")
    ticker = parse_tickers(future, {"BTC-USD-220527"})["BTC-USD-220527"]
    assert (ticker.last, ticker.time) == (30218.8, datetime(2022, 5, 13, 16, 27, 3, 3000, tzinfo=UTC))
    inst = _futures(payload)["BTC-USD-220527"]
    quote = price_quote(inst, RECEIVED, None, None, ticker.last)
    assert (quote.last_price, quote.mark_price, quote.index_price) == (30218.8, None, None)
    assert (quote.time, quote.received_at) == (None, RECEIVED)  # three answers, no one time
    swap = next(f for f in frames if f["data"][0]["instType"] == "SWAP")
    assert parse_tickers(swap, {"UNI-USD-SWAP"})["UNI-USD-SWAP"].last == 5.123


# --- rubik statistics: malformed answers ------------------------------------------------------


def test_statistics_rows_are_arrays() -> None:
    btc = Instrument(venue="okx", symbol="BTC-USDT-SWAP", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, contract_size=0.01)
    with pytest.raises(ParseError, match=r"expected \[ts, oi, oiCcy, oiUsd"):
        parse_oi_history({"code": "0", "msg": "", "data": [["1763625600000", "5"]]}, btc, RECEIVED)
    with pytest.raises(ParseError, match="expected an array") as err:
        parse_oi_history({"code": "0", "msg": "", "data": [{"ts": "1763625600000"}]}, btc, RECEIVED)
    assert err.value.endpoint == api.OI_HISTORY
    with pytest.raises(ParseError, match="negative"):
        parse_ratio({"code": "0", "msg": "", "data": [["1763625600000", "-1"]]}, api.LONG_SHORT_CCY)
    with pytest.raises(ParseError, match="'ratio'") as err:
        parse_ratio({"code": "0", "msg": "", "data": [["1763625600000", ""]]}, api.LONG_SHORT_CONTRACT)
    assert err.value.endpoint == api.LONG_SHORT_CONTRACT
    assert parse_ratio({"code": "0", "msg": "", "data": []}, api.LONG_SHORT_CCY) is None


def test_latest_ratio_by_time_and_long_share() -> None:
    rows = {"code": "0", "msg": "", "data": [["1763625300000", "1.5"], ["1763625600000", "0.25"],
                                             ["1763625000000", "3"]]}
    latest = parse_ratio(rows, api.LONG_SHORT_CONTRACT)
    assert latest == (datetime(2025, 11, 20, 8, tzinfo=UTC), 0.25)
    ratio = long_short("BTC", "BTC-USDT-SWAP", "accounts", latest, RECEIVED)
    assert (ratio.ratio, ratio.long_share, ratio.period) == (0.25, 0.2, "5m")  # 1 long for 4 shorts
    assert (ratio.time, ratio.received_at) == (datetime(2025, 11, 20, 8, tzinfo=UTC), RECEIVED)
