"""``to_row()`` of every record, each built from a real payload through its venue's parser.

A row is flat (an embedded Instrument is spread into its columns), holds plain scalars only (enums as their
lowercase token, aware datetimes for times) and carries the derived figures that ``dataclasses.asdict`` loses
(``rate_8h``, ``apr``, ``normalized_id``, ``premium_usd``, ``n_points``). Every market-data record carries the
venue's ``time`` (None when the venue sends none, never the receive time) and ``received_at``. Expected values
are the payloads' own figures, or hand computations from them written out; floats are compared to 1e-12
(one decimal string parsed once, or one product of two).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack import records
from dtrack.records import Instrument, Record
from dtrack.venues.binance import parse as binance
from dtrack.venues.bybit import parse as bybit
from dtrack.venues.deribit import parse as deribit
from dtrack.venues.hyperliquid import parse as hyperliquid
from dtrack.venues.okx import api as okx_api
from dtrack.venues.okx import parse as okx

Payload = Callable[[str], dict[str, Any]]

REL = 1e-12
RECEIVED = datetime(2026, 11, 20, 12, tzinfo=UTC)

#: the columns of a flattened Instrument, in order
INSTRUMENT_COLUMNS = ["venue", "symbol", "asset", "quote", "settle", "kind", "margin", "multiplier", "contract_size",
                      "contract_unit", "expiry", "market", "normalized_id"]


def raws(payload: Payload, name: str) -> list[Any]:
    return [case["raw"] for case in payload(name)["cases"]]


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def assert_row(record: Record, expected: dict[str, Any]) -> dict[str, Any]:
    """``record.to_row()`` has exactly the ``expected`` columns, in order, each of the expected type (a float
    within REL; a str is a plain str, never an enum), and only plain scalars."""
    row = record.to_row()
    assert list(row) == list(expected)
    for key, want in expected.items():
        got = row[key]
        assert type(got) is type(want), (key, got, want)
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=REL), key
        else:
            assert got == want, key
        assert not isinstance(got, datetime) or got.tzinfo is not None, key
    return row


def assert_asdict_loses(record: Record, derived: set[str]) -> None:
    """``dataclasses.asdict`` lacks the derived figures (and nests an Instrument); the row has them, flat."""
    plain = dataclasses.asdict(record)  # type: ignore[call-overload]
    row = record.to_row()
    assert derived.isdisjoint(plain) and derived <= set(row)
    assert not any(isinstance(v, dict | list | tuple) for v in row.values())


@pytest.fixture
def usdm(payload: Payload) -> dict[str, Instrument]:
    """Binance USDⓈ-M contracts as the real exchangeInfo capture lists them."""
    (body,) = raws(payload, "binance-usdm__rest_exchangeInfo__capture.json")
    return {i.symbol: i for i in binance.parse_exchange_info(body, "usdm").instruments}


@pytest.fixture
def premium(payload: Payload) -> binance.Premium:
    """BTCUSDT's row of the docs' premiumIndex answer."""
    single, _bulk = raws(payload, "binance-usdm__rest_premiumIndex__docs.json")
    return binance.parse_premium_index(single, "usdm").rows["BTCUSDT"]


BTCUSDT_BINANCE = {"venue": "binance", "symbol": "BTCUSDT", "asset": "BTC", "quote": "USDT", "settle": "USDT",
                   "kind": "perp", "margin": "linear", "multiplier": 1.0, "contract_size": 1.0, "contract_unit": "base",
                   "expiry": None, "market": "usdm", "normalized_id": "BTC-USDT-PERP"}


def test_instrument(usdm: dict[str, Instrument]) -> None:
    """Reference data, not an observation: no time fields."""
    row = assert_row(usdm["BTCUSDT"], BTCUSDT_BINANCE)
    assert list(row) == INSTRUMENT_COLUMNS
    assert_asdict_loses(usdm["BTCUSDT"], {"normalized_id"})


def test_instrument_dated_future(payload: Payload) -> None:
    """An inverse dated future (the real 2021 COIN-M capture): expiry and USD contracts."""
    (body,) = raws(payload, "binance-coinm__rest_exchangeInfo__capture.json")
    inst = {i.symbol: i for i in binance.parse_exchange_info(body, "coinm").instruments}["BTCUSD_210924"]
    assert_row(inst, {"venue": "binance", "symbol": "BTCUSD_210924", "asset": "BTC", "quote": "USD", "settle": "BTC",
                      "kind": "future", "margin": "inverse", "multiplier": 1.0, "contract_size": 100.0,
                      "contract_unit": "usd", "expiry": datetime(2021, 9, 24, 8, tzinfo=UTC), "market": "coinm",
                      "normalized_id": "BTC-USD-20210924"})


#: the side columns of a funding row where both sides pay the same (every venue but GMX)
NO_SIDES = {"funding_long": None, "funding_short": None, "borrow_long": None, "borrow_short": None}


def test_funding_rate_with_the_venue_time(payload: Payload, usdm: dict[str, Instrument],
                                          premium: binance.Premium) -> None:
    """premiumIndex docs: lastFundingRate 0.00038246 per 8 h (BTCUSDT is not in the docs' fundingInfo: the
    8 h default), time 1597370495002, nextFundingTime 1597392000000; openInterest not fetched."""
    (info,) = raws(payload, "binance-usdm__rest_fundingInfo__docs.json")
    fr = binance.funding_rate(usdm["BTCUSDT"], premium, binance.parse_funding_intervals(info, "usdm"), None, RECEIVED)
    assert_row(fr, {**BTCUSDT_BINANCE, "rate": 0.00038246, "interval_hours": 8.0,
                    "interval_source": "default 8 h (not in fundingInfo)", "time": utc(1597370495002),
                    "received_at": RECEIVED, "predicted_rate": None, "next_funding_time": utc(1597392000000),
                    "mark_price": 11793.63104562, "index_price": 11781.80495970, "open_interest_usd": None,
                    "note": "OI unavailable (see errors)",
                    "rate_8h": 0.00038246, "apr": 0.00038246 * 8760 / 8, **NO_SIDES})
    assert_asdict_loses(fr, {"rate_8h", "apr", "normalized_id", "venue", "symbol"})


def test_funding_rate_without_a_venue_time(payload: Payload) -> None:
    """Hyperliquid's asset contexts carry no time: ``time`` is None, the receive time is ``received_at`` only.
    BTC in the docs' metaAndAssetCtxs: funding 0.0000125 per hour, markPx 14.3161, oraclePx 14.32, 688.11 coins."""
    (body,) = raws(payload, "hyperliquid__rest_info_metaAndAssetCtxs__docs.json")[:1]
    rates, _missing = hyperliquid.funding_rates(body, hyperliquid.parse_meta(body[0]).instruments, {}, RECEIVED)
    btc = next(r for r in rates if r.instrument.symbol == "BTC")
    assert btc.observed_at == RECEIVED  # for display only: the row keeps them apart
    assert_row(btc, {"venue": "hyperliquid", "symbol": "BTC", "asset": "BTC", "quote": "USDC", "settle": "USDC",
                     "kind": "perp", "margin": "linear", "multiplier": 1.0, "contract_size": 1.0,
                     "contract_unit": "base", "expiry": None, "market": "", "normalized_id": "BTC-USDC-PERP",
                     "rate": 0.0000125, "interval_hours": 1.0, "interval_source": "hourly (venue docs)", "time": None,
                     "received_at": RECEIVED, "predicted_rate": None,
                     "next_funding_time": datetime(2026, 11, 20, 13, tzinfo=UTC), "mark_price": 14.3161,
                     "index_price": 14.32, "open_interest_usd": 688.11 * 14.3161,
                     "note": "OI = openInterest (BTC, one side) x markPx; index = oraclePx",
                     "rate_8h": 0.0000125 * 8, "apr": 0.0000125 * 8760, **NO_SIDES})


def test_funding_history_and_points(payload: Payload, usdm: dict[str, Instrument]) -> None:
    """fundingRate docs: -0.0375 at 1570608000000 and 0.0001 at 1570636800000 (8 h apart)."""
    (body,) = raws(payload, "binance-usdm__rest_fundingRate_history__docs.json")
    rows = binance.parse_funding_history(body, "usdm", "BTCUSDT")
    start, end = utc(1570608000000), utc(1570636800000)
    hist = binance.funding_history(usdm["BTCUSDT"], rows, start, end, 8.0, RECEIVED)
    assert_row(hist, {"venue": "binance", "symbol": "BTCUSDT", "start": start, "end": end, "note": "", "n_points": 2})
    assert_asdict_loses(hist, {"n_points"})
    first, second = hist.points
    assert_row(first, {"venue": "binance", "symbol": "BTCUSDT", "time": start, "rate": -0.0375, "interval_hours": 8.0,
                       "received_at": RECEIVED, "rate_8h": -0.0375})
    assert hist.rows() == [first.to_row(), second.to_row()]
    assert_asdict_loses(first, {"rate_8h"})


def test_open_interest(payload: Payload) -> None:
    """Bybit's 2024 tickers capture: openInterest 69655.813 BTC (one side then), markPrice 68649.90, time
    1730729903941; the contract from the real instruments-info answer."""
    page = raws(payload, "bybit__rest_instruments_info__docs.json")[0]
    (btcusdt,) = bybit.parse_instruments_page(page).listing.instruments
    body = raws(payload, "bybit__ccxt_fetchFundingRates.json")[0]
    (oi,), errors = bybit.parse_open_interest(body, {"BTCUSDT": btcusdt}, RECEIVED)
    assert errors == []
    assert_row(oi, {"venue": "bybit", "symbol": "BTCUSDT", "asset": "BTC", "quote": "USDT", "settle": "USDT",
                    "kind": "perp", "margin": "linear", "multiplier": 1.0, "contract_size": 1.0,
                    "contract_unit": "base", "expiry": None, "market": "linear", "normalized_id": "BTC-USDT-PERP",
                    "amount": 69655.813, "unit": "base", "base": 69655.813, "usd": 69655.813 * 68649.90,
                    "price_used": 68649.90, "price_source": "mark", "time": utc(1730729903941),
                    "received_at": RECEIVED,
                    "note": "openInterest (BTC): no singleOpenInterest in this answer, so openInterest is taken as "
                            "one side (pre-2026-06-11)", "long_usd": None, "short_usd": None})
    assert_asdict_loses(oi, {"normalized_id"})


def test_oi_history_and_points(payload: Payload, usdm: dict[str, Instrument]) -> None:
    """openInterestHist docs: sumOpenInterest 34085 BTC, sumOpenInterestValue 1927265695.27131325 USDT at
    1616438700000."""
    (body,) = raws(payload, "binance-usdm__rest_openInterestHist_hexdocs__docs.json")
    points = binance.parse_oi_history(body, usdm["BTCUSDT"], {"symbol": "BTCUSDT"}, RECEIVED)
    t = utc(1616438700000)
    hist = binance.oi_history(usdm["BTCUSDT"], points, t, t, 1, "")
    assert_row(hist, {"venue": "binance", "symbol": "BTCUSDT", "period_hours": 1.0, "note": "", "n_points": 1})
    (point,) = hist.points
    assert_row(point, {"venue": "binance", "symbol": "BTCUSDT", "time": t, "base": 34085.0,
                       "usd": 1927265695.27131325, "received_at": RECEIVED})
    assert hist.rows() == [point.to_row()]


def test_long_short_ratio(payload: Payload) -> None:
    """Bybit account-ratio docs: buyRatio 0.49, sellRatio 0.51 at 1696262400000 (the latest row)."""
    page = raws(payload, "bybit__rest_instruments_info__docs.json")[0]
    (btcusdt,) = bybit.parse_instruments_page(page).listing.instruments
    latest = bybit.parse_account_ratio(raws(payload, "bybit__rest_account_ratio__docs.json")[0], "BTCUSDT")
    assert latest is not None
    assert_row(bybit.long_short(btcusdt, latest, RECEIVED), {
        "venue": "bybit", "asset": "BTC", "symbol": "BTCUSDT",
        "definition": "accounts net long / net short (USDT perpetual BTCUSDT)", "ratio": 0.49 / 0.51,
        "long_share": 0.49, "time": utc(1696262400000), "received_at": RECEIVED, "period": "5min"})


def test_price_quote(usdm: dict[str, Instrument], premium: binance.Premium) -> None:
    """premiumIndex docs: markPrice 11793.63104562, indexPrice 11781.80495970, time 1597370495002; no last."""
    quote = binance.price_quote(usdm["BTCUSDT"], premium, None, RECEIVED)
    assert_row(quote, {**BTCUSDT_BINANCE, "time": utc(1597370495002), "received_at": RECEIVED,
                       "mark_price": 11793.63104562, "index_price": 11781.80495970, "last_price": None,
                       "volume_24h_usd": None, "volume_24h_base": None})


def test_spot_price(payload: Payload) -> None:
    """OKX's BTC-USDT ticker capture: last 73384.8 at ts 1710328243709."""
    tickers = okx.parse_tickers(raws(payload, "okx__ccxt_fetchTicker.json")[0], {"BTC-USDT"})
    spot = okx.spot_price("BTC", tickers["BTC-USDT"], RECEIVED)
    assert spot is not None
    assert_row(spot, {"venue": "okx", "asset": "BTC", "quote": "USDT", "symbol": "BTC-USDT", "price": 73384.8,
                      "time": utc(1710328243709), "received_at": RECEIVED,
                      "source": "spot ticker last (market/tickers)"})


def test_price_point(payload: Payload) -> None:
    """OKX's BTC-USDT-SWAP 1 h candles capture: the candle opening 2024-01-30 16:00 closed at 43495.9 (high 43500,
    low 43220.9)."""
    doc = payload("okx__rest_public_instruments__capture.json")
    swaps = next(c["raw"] for c in doc["cases"] if "instType=SWAP" in c["input"]["url"])
    btc = {i.symbol: i for i in okx.parse_instruments(swaps).instruments}["BTC-USDT-SWAP"]
    rows = okx.parse_candles(raws(payload, "okx__ccxt_fetchOHLCV.json")[0], okx_api.CANDLES)
    first = okx.price_points(rows, btc, 1, RECEIVED, datetime(2024, 1, 30, tzinfo=UTC),
                             datetime(2024, 1, 31, tzinfo=UTC), received=RECEIVED)[0]
    assert_row(first, {"venue": "okx", "symbol": "BTC-USDT-SWAP", "time": datetime(2024, 1, 30, 17, tzinfo=UTC),
                       "price": 43495.9, "received_at": RECEIVED, "high": 43500.0, "low": 43220.9})


def test_option_quote(payload: Payload) -> None:
    """A real Deribit ticker of ETH-30JUL21-2800-C: coin prices x underlying_price 2003.61 in USD, IVs in
    percent points / 100, greeks as sent, open interest and volume in 1-coin contracts."""
    specs: dict[str, deribit.DeribitOptionSpec] = {}
    for body in raws(payload, "deribit__rest_get_instruments__capture.json"):
        specs.update(deribit.parse_option_instruments(body).specs)
    data = next(r["params"]["data"] for r in raws(payload, "deribit__ws_ticker__capture.json")
                if r["params"]["data"]["instrument_name"] == "ETH-30JUL21-2800-C")
    quote = deribit.option_ticker_quote(data, specs["ETH-30JUL21-2800-C"], RECEIVED)
    assert_row(quote, {
        "venue": "deribit", "symbol": "ETH-30JUL21-2800-C", "asset": "ETH",
        "expiry": datetime(2021, 7, 30, 8, tzinfo=UTC), "strike": 2800.0, "is_call": True,
        "time": utc(1626993723632), "received_at": RECEIVED, "underlying_price": 2003.61, "index_price": 2006.72,
        "mark_price_usd": 0.001972 * 2003.61, "mark_price_coin": 0.001972, "bid_price_usd": 0.0015 * 2003.61,
        "ask_price_usd": 0.0025 * 2003.61, "mark_iv": 1.2074, "bid_iv": 1.1562, "ask_iv": 1.2563, "delta": 0.03127,
        "gamma": 0.0002, "vega": 0.20072, "theta": -1.64029, "open_interest": 12685.0, "volume": 869.0,
        "contract_size": 1.0, "settle": "ETH",
        "price_note": "Deribit prices in ETH per coin (sent); USD = ETH price x underlying_price "
                      "(the expiry's forward)",
        "normalized_id": "ETH-USD-20210730-2800-C"})
    assert_asdict_loses(quote, {"normalized_id"})


def test_option_trade(payload: Payload) -> None:
    """Deribit's get_last_trades_by_currency docs: BTC-24APR26-72000-C bought, 3 contracts of 1 BTC at 0.0525
    BTC, index 66930.31, iv 45.91 %."""
    page = deribit.parse_option_trades(raws(payload, "deribit__rest_get_last_trades_by_currency__docs.json")[0],
                                       "BTC", RECEIVED)
    (trade,) = page.trades
    assert_row(trade, {
        "venue": "deribit", "symbol": "BTC-24APR26-72000-C", "asset": "BTC",
        "expiry": datetime(2026, 4, 24, 8, tzinfo=UTC), "strike": 72000.0, "is_call": True,
        "time": utc(1770984454552), "received_at": RECEIVED, "side": "buy", "amount": 3.0, "contract_size": 1.0,
        "price_usd": 0.0525 * 66930.31, "index_price": 66930.31, "iv": 0.4591, "block": False,
        "trade_id": "415305279", "normalized_id": "BTC-USD-20260424-72000-C",
        "premium_usd": 0.0525 * 66930.31 * 3.0 * 1.0})
    assert_asdict_loses(trade, {"normalized_id", "premium_usd"})


def test_vol_point(payload: Payload) -> None:
    """Bybit's historical-volatility docs: 30-day realized volatility 0.45024716 at 1672052400000."""
    (point,) = bybit.parse_historical_volatility(raws(payload, "bybit__rest_historical_volatility__docs.json")[0],
                                                 "BTC", 30, RECEIVED)
    assert_row(point, {"venue": "bybit", "symbol": "BTC-HV30D", "time": utc(1672052400000), "value": 0.45024716,
                       "received_at": RECEIVED})


def test_every_record_type_is_a_row_and_every_observation_is_timed() -> None:
    """Every dataclass in records is keyword-only and has ``to_row``; every market-data record has ``time`` and
    ``received_at`` fields, and history points their venue and symbol. (The tests above cover each type.)"""
    classes = [c for _, c in inspect.getmembers(records, inspect.isclass)
               if dataclasses.is_dataclass(c) and c.__module__ == records.__name__]
    assert {c.__name__ for c in classes} >= {
        "Instrument", "FundingRate", "FundingPoint", "FundingHistory", "OpenInterest", "OIPoint", "OIHistory",
        "LongShortRatio", "PriceQuote", "SpotPrice", "PricePoint", "OptionQuote", "OptionTrade", "VolPoint"}
    for cls in classes:
        assert issubclass(cls, Record), cls
        names = {f.name for f in dataclasses.fields(cls)}
        assert all(f.kw_only for f in dataclasses.fields(cls)), cls
        if issubclass(cls, records.Observation):
            assert {"time", "received_at"} <= names, cls
    for point in (records.FundingPoint, records.OIPoint, records.PricePoint, records.VolPoint):
        assert {"venue", "symbol", "time", "received_at"} <= {f.name for f in dataclasses.fields(point)}
    assert not issubclass(Instrument, records.Observation)  # reference data: no time fields


def test_positional_construction_is_refused(usdm: dict[str, Instrument]) -> None:
    with pytest.raises(TypeError):
        records.PricePoint("okx", "BTC-USDT-SWAP", RECEIVED, 1.0, RECEIVED)  # type: ignore[misc]
