"""Binance parsers of open interest, OI history, long/short, klines and quotes (exact values).

Real captures are used wherever one exists in tests/payloads: openInterestHist
(USDⓈ-M), klines (ccxt fixtures), premiumIndex (docs examples) and the 2021 exchangeInfo contract
specs. openInterest, COIN-M openInterestHist, the long/short statistics and ``ticker/price`` have no
capture: their tests use literal rows shaped as the docs show and say so. Floats: rel=1e-12 (one
decimal string parsed once) unless a test states otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dtrack.config import Settings
from dtrack.errors import Implausible, ParseError, UnsupportedError
from dtrack.records import DataKind, Kind, OIPoint, PricePoint, Unit
from dtrack.venues.base import VenueContext
from dtrack.venues.binance import api, parse
from dtrack.venues.binance.adapter import BinanceAdapter
from dtrack.venues.fields import HOUR_MS, Kline

EXACT = 1e-12


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


#: when the answers of these tests were "received"
RECEIVED = datetime(2026, 11, 20, 12, tzinfo=UTC)


def raws(payload, name: str) -> list:
    return [case["raw"] for case in payload(name)["cases"]]


@pytest.fixture
def usdm(payload):
    (raw,) = raws(payload, "binance-usdm__rest_exchangeInfo__capture.json")
    return {i.symbol: i for i in parse.parse_exchange_info(raw, "usdm").instruments}


@pytest.fixture
def coinm_raw(payload):
    (raw,) = raws(payload, "binance-coinm__rest_exchangeInfo__capture.json")
    return raw


@pytest.fixture
def coinm(coinm_raw):
    return {i.symbol: i for i in parse.parse_exchange_info(coinm_raw, "coinm").instruments}


# --- open interest: units on real contract specs and real premiumIndex rows ----------------------


def test_usdm_open_interest_is_base_coin_priced_at_the_mark(payload, usdm) -> None:
    single, _bulk = raws(payload, "binance-usdm__rest_premiumIndex__docs.json")
    mark = parse.parse_premium_index(single, "usdm").rows["BTCUSDT"]
    # openInterest 10659.509 BTC: the USDⓈ-M docs' example amount (no capture of the endpoint exists)
    oi = parse.open_interest(usdm["BTCUSDT"], parse.OIReading(10659.509, utc(1597370400000)), mark,
                             utc(1597370500000))
    assert (oi.amount, oi.unit, oi.price_source) == (10659.509, Unit.BASE, "mark (premiumIndex)")
    assert oi.base == pytest.approx(10659.509, rel=EXACT)
    assert oi.price_used == pytest.approx(11793.63104562, rel=EXACT)
    assert oi.usd == pytest.approx(10659.509 * 11793.63104562, rel=EXACT)
    assert oi.time == utc(1597370400000)  # openInterest's own time
    assert oi.note == ""  # Binance's figure is one side already


def test_coinm_open_interest_is_contracts_of_contract_size_usd(payload, coinm) -> None:
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    marks = parse.parse_premium_index(raw, "coinm").rows
    received = utc(1596094042000 + 5_000)  # 5 s after the rows' own time (their times must not be later)
    perp = parse.open_interest(coinm["BTCUSD_PERP"], parse.OIReading(20731.0, None), marks["BTCUSD_PERP"], received)
    assert (perp.unit, perp.instrument.contract_size) == (Unit.CONTRACTS, 100.0)
    assert perp.usd == pytest.approx(20731 * 100.0, rel=EXACT)  # whatever the price
    assert perp.base == pytest.approx(20731 * 100.0 / 11029.69574559, rel=EXACT)
    assert perp.price_used == pytest.approx(11029.69574559, rel=EXACT)
    assert perp.time == utc(1596094042000)  # no openInterest time: premiumIndex's
    # The docs' delivery row BTCUSD_200925 prices its own contract (the 2021 spec of the September one).
    sept = replace(coinm["BTCUSD_210924"], symbol="BTCUSD_200925", expiry=datetime(2020, 9, 25, 8, tzinfo=UTC))
    dated = parse.open_interest(sept, parse.OIReading(15004.0, None), marks["BTCUSD_200925"], received)
    assert dated.usd == pytest.approx(1_500_400.0, rel=EXACT)
    assert dated.base == pytest.approx(1_500_400.0 / 12077.01343750, rel=EXACT)


def test_multiplier_open_interest_is_per_one_coin(usdm) -> None:
    # 2,000,000 units of 1000SHIB at a mark of 0.0072 per 1000 SHIB (literal row: the unit rule only)
    mark = parse.Premium("1000SHIBUSDT", 0.0001, None, 0.0072, 0.0071, utc(1597370495002))
    oi = parse.open_interest(usdm["1000SHIBUSDT"], parse.OIReading(2_000_000.0, None), mark, utc(1597370500000))
    assert oi.base == pytest.approx(2_000_000_000.0, rel=EXACT)
    assert oi.price_used == pytest.approx(0.0000072, rel=EXACT)
    assert oi.usd == pytest.approx(14_400.0, rel=EXACT)


# --- openInterestHist ----------------------------------------------------------------------------


def test_usdm_oi_history_real_capture(payload, usdm) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_openInterestHist_hexdocs__docs.json")
    points = parse.parse_oi_history(raw, usdm["BTCUSDT"], {"symbol": "BTCUSDT"}, RECEIVED)
    assert points == [OIPoint(venue="binance", symbol="BTCUSDT", time=utc(1616438700000),
                              base=pytest.approx(34085.0, rel=EXACT), usd=pytest.approx(1927265695.27131325, rel=EXACT),
                              received_at=RECEIVED)]
    with pytest.raises(ParseError, match="asked for symbol ETHUSDT"):
        parse.parse_oi_history(raw, usdm["ETHUSDT"], {"symbol": "ETHUSDT"}, RECEIVED)


def test_coinm_oi_history_units_are_contracts_and_base_coin(coinm) -> None:
    # Literal row shaped as the COIN-M docs example (no capture): sumOpenInterest is contracts,
    # sumOpenInterestValue base coin.
    row = {"pair": "BTCUSD", "contractType": "PERPETUAL", "sumOpenInterest": "20403",
           "sumOpenInterestValue": "176.19651223", "timestamp": 1591261042378}
    params = {"pair": "BTCUSD", "contractType": "PERPETUAL"}
    (point,) = parse.parse_oi_history([row], coinm["BTCUSD_PERP"], params, RECEIVED)
    assert (point.venue, point.symbol, point.time, point.received_at) == (
        "binance", "BTCUSD_PERP", utc(1591261042378), RECEIVED)
    assert point.base == pytest.approx(176.19651223, rel=EXACT)
    assert point.usd == pytest.approx(2_040_300.0, rel=EXACT)
    with pytest.raises(ParseError, match="asked for contractType PERPETUAL"):
        parse.parse_oi_history([{**row, "contractType": "CURRENT_QUARTER"}], coinm["BTCUSD_PERP"], params, RECEIVED)
    with pytest.raises(Implausible, match=r"BTCUSD_PERP sumOpenInterest=-1\.0 is implausible \(must be >= 0\)"):
        parse.parse_oi_history([{**row, "sumOpenInterest": "-1"}], coinm["BTCUSD_PERP"], params, RECEIVED)


def test_oi_history_is_clipped_sorted_and_unique(usdm) -> None:
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    points = [OIPoint(venue="binance", symbol="BTCUSDT", time=t0 + timedelta(hours=h), base=float(h),
                      received_at=RECEIVED)
              for h in (3, 1, 2, 0, 2, 5)]
    hist = parse.oi_history(usdm["BTCUSDT"], points, t0 + timedelta(hours=1), t0 + timedelta(hours=3), 1, "n")
    assert [p.base for p in hist.points] == [1.0, 2.0, 3.0]
    assert (hist.venue, hist.symbol, hist.period_hours, hist.note) == ("binance", "BTCUSDT", 1.0, "n")


def test_oi_history_window_keeps_the_latest_30_days() -> None:
    now = datetime(2026, 9, 21, 14, tzinfo=UTC)
    start, note = parse.oi_history_window(now - timedelta(days=7), now, now)
    assert (start, note) == (now - timedelta(days=7), "")
    start, note = parse.oi_history_window(now - timedelta(days=40), now, now)
    assert start == now - timedelta(days=30) + timedelta(minutes=5)
    assert note == ("Binance keeps openInterestHist for the latest 30 days only: asked from 2026-08-12 14:00 UTC, "
                    "served from 2026-08-22 14:05 UTC")


def test_contract_types_and_roll_on_the_real_coinm_listing(coinm_raw, coinm) -> None:
    """At the capture's serverTime (2021-07-21) every quarterly's computed contractType is the one
    Binance listed, and the last roll is the NEXT_QUARTER contracts' onboardDate (2021-06-25 08:00)."""
    now = utc(coinm_raw["serverTime"])
    listed = {s["symbol"]: s for s in coinm_raw["symbols"]}
    futures = [i for i in coinm.values() if i.kind is Kind.FUTURE]
    assert len(futures) == 18
    for inst in futures:
        assert parse.contract_type(inst, now) == listed[inst.symbol]["contractType"]
    assert parse.last_roll(now) == utc(listed["BTCUSD_211231"]["onboardDate"]) == datetime(2021, 6, 25, 8, tzinfo=UTC)
    assert parse.oi_history_params(coinm["BTCUSD_211231"], now) == {"pair": "BTCUSD", "contractType": "NEXT_QUARTER"}
    assert parse.oi_history_params(coinm["BTCUSD_PERP"], now) == {"pair": "BTCUSD", "contractType": "PERPETUAL"}
    roll, note = parse.coinm_roll_start(coinm["BTCUSD_210924"], now)
    assert roll == datetime(2021, 6, 25, 8, tzinfo=UTC)
    assert "per contractType" in note and "2021-06-25 08:00 UTC" in note
    assert parse.coinm_roll_start(coinm["BTCUSD_PERP"], now) == (None, "")
    # a quarterly that is neither current nor next has no series
    far = replace(coinm["BTCUSD_211231"], expiry=datetime(2022, 3, 25, 8, tzinfo=UTC))
    with pytest.raises(UnsupportedError, match="per contractType"):
        parse.contract_type(far, now)


def test_quarterly_deliveries_are_last_fridays_at_8() -> None:
    days = parse.quarterly_deliveries(datetime(2026, 5, 1, tzinfo=UTC))
    assert days[4:8] == [datetime(2026, 3, 27, 8, tzinfo=UTC), datetime(2026, 6, 26, 8, tzinfo=UTC),
                         datetime(2026, 9, 25, 8, tzinfo=UTC), datetime(2026, 12, 25, 8, tzinfo=UTC)]
    assert all(d.weekday() == 4 for d in days)


# --- pages ---------------------------------------------------------------------------------------


def test_pages_cover_the_window_exactly() -> None:
    hour = HOUR_MS
    pages = parse.pages(10 * hour + 1, 729 * hour, hour, 500)
    assert pages == [parse.Page(11 * hour, 510 * hour, 500), parse.Page(511 * hour, 729 * hour, 219)]
    assert parse.pages(5 * hour + 1, 5 * hour + 2, hour, 500) == []
    # COIN-M klines: at most 200 days between startTime and endTime -> 201 daily candles per page
    day = 24 * hour
    pages = parse.pages(0, 300 * day, day, 1500, api.KLINES_SPAN_MAX_MS["coinm"])
    assert [(p.count, p.end_ms - p.start_ms) for p in pages] == [(201, 200 * day), (100, 99 * day)]
    assert parse.period_name(4) == "4h" and parse.period_name(24) == "1d"
    with pytest.raises(UnsupportedError, match="no 2 h period"):
        parse.period_name(2)


def test_kline_weights() -> None:
    assert [api.kline_weight(n) for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)] == [1, 1, 2, 2, 5, 5, 10, 10]


# --- klines --------------------------------------------------------------------------------------


def test_usdm_klines_real_capture(payload) -> None:
    raw = raws(payload, "binance__ccxt_fetchOHLCV.json")[2]  # GET /fapi/v1/klines?symbol=BTCUSDT&interval=1m
    # (open time, close, high, low): the second minute opened 71471.00 and wicked down to 70459.40
    assert parse.parse_klines(raw, "usdm") == [
        (1712738460000, pytest.approx(71481.90, rel=EXACT), pytest.approx(71481.90, rel=EXACT),
         pytest.approx(71481.90, rel=EXACT)),
        (1712738520000, pytest.approx(70459.40, rel=EXACT), pytest.approx(71471.00, rel=EXACT),
         pytest.approx(70459.40, rel=EXACT)),
        (1712738580000, pytest.approx(70459.40, rel=EXACT), pytest.approx(71470.90, rel=EXACT),
         pytest.approx(70459.40, rel=EXACT))]


def test_price_history_times_closes_at_candle_close(payload, usdm) -> None:
    # Spot 1h klines (same row format as fapi): opens 2024-01-30 16:00, 17:00, 18:00 UTC.
    candles = parse.parse_klines(raws(payload, "binance__ccxt_fetchOHLCV.json")[0], "usdm")
    opened = [utc(1706630400000) + timedelta(hours=h) for h in range(3)]
    after = opened[2] + timedelta(hours=2)
    points = parse.price_history(usdm["BTCUSDT"], candles, 1, opened[0], after, after, RECEIVED)

    def close(t: datetime, price: float, high: float, low: float) -> PricePoint:
        return PricePoint(venue="binance", symbol="BTCUSDT", time=t, price=pytest.approx(price, rel=EXACT),
                          high=pytest.approx(high, rel=EXACT), low=pytest.approx(low, rel=EXACT),
                          received_at=RECEIVED)

    # the rows' close, high and low: 43488.71 / 43936.00 / 43171.00, 43374.80 / 43832.08 / 43084.00, ...
    assert points == (close(opened[1], 43488.71, 43936.00, 43171.00), close(opened[2], 43374.80, 43832.08, 43084.00),
                      close(opened[2] + timedelta(hours=1), 43361.11, 44048.00, 43062.00))
    # the candle still open closes "now"; one closing before ``start`` is left out
    now = opened[2] + timedelta(minutes=20)
    points = parse.price_history(usdm["BTCUSDT"], candles, 1, opened[1] + timedelta(minutes=1), now, now, RECEIVED)
    assert [p.time for p in points] == [opened[2], now]
    # multiplier symbols: per one coin
    shib = parse.price_history(usdm["1000SHIBUSDT"], [Kline(1706630400000, 7.2, 7.5, 6.9)], 1, opened[0], after,
                               after, RECEIVED)
    assert (shib[0].price, shib[0].high, shib[0].low) == pytest.approx((0.0072, 0.0075, 0.0069), rel=EXACT)


def test_coinm_klines_real_capture(payload, coinm) -> None:
    raw = raws(payload, "binance__ccxt_fetchOHLCV.json")[1]  # COIN-M indexPriceKlines, 1d: the klines row format
    candles = parse.parse_klines(raw, "coinm")
    assert [c.close for c in candles] == [pytest.approx(x, rel=EXACT) for x in (71625.41841177, 69135.87773144,
                                                                                  68921.79749600)]
    day = timedelta(days=1)
    now = utc(1712707200000) + timedelta(hours=8)  # inside the third day
    points = parse.price_history(coinm["BTCUSD_PERP"], candles, 24, utc(0), now, now, RECEIVED)
    assert [p.time for p in points] == [utc(1712534400000) + day, utc(1712620800000) + day, now]
    # the day still open keeps its high and low so far, as sent
    assert [(p.high, p.low) for p in points] == [
        pytest.approx((72740.01330078, 69076.81471239), rel=EXACT),
        pytest.approx((71739.77815692, 68230.05238367), rel=EXACT),
        pytest.approx((69565.97257021, 68482.85614772), rel=EXACT)]


def test_klines_malformed_rows_are_parse_errors() -> None:
    with pytest.raises(ParseError, match=r"/dapi/v1/klines.*'close'"):
        parse.parse_klines([[1712738460000, "1", "1", "1"]], "coinm")
    with pytest.raises(ParseError, match=r"'openTime'.*epoch milliseconds"):
        parse.parse_klines([[1712738460, "1", "1", "1", "2"]], "usdm")
    # a close above the high is no bar any market has (the candle parser's rule)
    with pytest.raises(Implausible, match=r"the open 1\.0 and close 2\.0 must lie within \[low 1\.0, high 1\.0\]"):
        parse.parse_klines([[1712738460000, "1", "1", "1", "2"]], "usdm")


# --- quotes, tickers, spot ------------------------------------------------------------------------


def test_quotes_from_real_premium_index(payload, usdm, coinm) -> None:
    single, _bulk = raws(payload, "binance-usdm__rest_premiumIndex__docs.json")
    row = parse.parse_premium_index(single, "usdm").rows["BTCUSDT"]
    received = utc(1597370495002 + 5_000)  # 5 s after the row's own time (its time must not be later)
    quote = parse.price_quote(usdm["BTCUSDT"], row, 11790.5, received)
    assert (quote.time, quote.received_at) == (utc(1597370495002), received)
    assert quote.mark_price == pytest.approx(11793.63104562, rel=EXACT)
    assert quote.index_price == pytest.approx(11781.80495970, rel=EXACT)
    assert quote.last_price == 11790.5
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    dated = parse.parse_premium_index(raw, "coinm").rows["BTCUSD_200925"]
    quote = parse.price_quote(coinm["BTCUSD_210924"], dated, None, utc(1596094042000 + 5_000))
    assert (quote.mark_price, quote.last_price) == (pytest.approx(12077.01343750, rel=EXACT), None)
    shib = parse.price_quote(usdm["1000SHIBUSDT"], parse.Premium("1000SHIBUSDT", None, None, 0.0072, 0.0071, None),
                             0.0073, utc(5))
    assert (shib.mark_price, shib.index_price, shib.last_price, shib.time, shib.received_at) == (
        pytest.approx(0.0000072, rel=EXACT), pytest.approx(0.0000071, rel=EXACT), pytest.approx(0.0000073, rel=EXACT),
        None, utc(5))  # a premiumIndex row without a time: none, never the receive time


def test_price_tickers_read_asked_symbols_only() -> None:
    # Literal rows shaped as the docs' ``ticker/price`` answer (no capture of it exists).
    body = [{"symbol": "BTCUSDT", "price": "6000.01", "time": 1589437530011}, {"symbol": "NEWUSDT", "price": ""},
            7, {"symbol": "ETHUSDT", "price": "0"}]
    table = parse.parse_price_tickers(body, "/fapi/v2/ticker/price", {"BTCUSDT", "ETHUSDT", "SOLUSDT"})
    assert table.get("BTCUSDT") == pytest.approx(6000.01, rel=EXACT)
    assert table.get("SOLUSDT") is None
    with pytest.raises(Implausible, match=r"ETHUSDT price=0\.0 is implausible \(a price must be > 0\)"):
        table.get("ETHUSDT")
    one = parse.parse_price_tickers({"symbol": "LTCBTC", "price": "4.00000200"}, api.SPOT_TICKER_PRICE, {"LTCBTC"})
    assert one.get("LTCBTC") == pytest.approx(4.000002, rel=EXACT)


def test_spot_price_record() -> None:
    spot = parse.spot_price("PEPE", 0.0000092, utc(7))
    assert (spot.venue, spot.asset, spot.quote, spot.symbol, spot.price, spot.time, spot.received_at) == (
        "binance", "PEPE", "USDT", "PEPEUSDT", 0.0000092, None, utc(7))  # the spot ticker carries no time
    assert spot.source == "spot ticker (/api/v3/ticker/price)"


# --- long/short ------------------------------------------------------------------------------------


def test_long_short_latest_row(usdm) -> None:
    # Literal rows shaped as the USDⓈ-M docs example (no capture exists); the latest row wins.
    rows = [{"symbol": "BTCUSDT", "longShortRatio": "1.9559", "longAccount": "0.6617", "shortAccount": "0.3383",
             "timestamp": "1583139900000"},
            {"symbol": "BTCUSDT", "longShortRatio": "1.8200", "longAccount": "0.6455", "shortAccount": "0.3545",
             "timestamp": 1583139600000}]
    path, definition = api.LONG_SHORT[0]
    ratio = parse.parse_long_short(rows, path, usdm["BTCUSDT"], definition, RECEIVED)
    assert ratio is not None
    assert (ratio.venue, ratio.asset, ratio.symbol, ratio.period) == ("binance", "BTC", "BTCUSDT", "5m")
    assert ratio.definition == "global accounts (USDⓈ-M BTCUSDT)"
    assert (ratio.ratio, ratio.long_share, ratio.time, ratio.received_at) == (1.9559, 0.6617, utc(1583139900000),
                                                                               RECEIVED)
    assert parse.parse_long_short([], path, usdm["BTCUSDT"], definition, RECEIVED) is None
    # the COIN-M position statistic names the share longPosition
    alt = {"symbol": "BTCUSDT", "longShortRatio": "1.4342", "longPosition": "0.5891", "timestamp": 1583139600000}
    got = parse.parse_long_short([alt], api.LONG_SHORT[2][0], usdm["BTCUSDT"], api.LONG_SHORT[2][1], RECEIVED)
    assert got is not None and got.long_share == 0.5891
    assert got.definition == "top-trader positions (top 20% by margin balance) (USDⓈ-M BTCUSDT)"
    with pytest.raises(ParseError, match="out of range"):
        parse.parse_long_short([{**alt, "longPosition": "1.5"}], path, usdm["BTCUSDT"], definition, RECEIVED)
    with pytest.raises(ParseError, match="asked for BTCUSDT"):
        parse.parse_long_short([{**alt, "symbol": "ETHUSDT"}], path, usdm["BTCUSDT"], definition, RECEIVED)


# --- the adapter's budgets -------------------------------------------------------------------------


def test_futures_data_has_its_own_budget() -> None:
    adapter = BinanceAdapter(VenueContext(None, Settings(), None, lambda: utc(0)))  # type: ignore[arg-type]
    assert adapter.budget("usdm", "/futures/data/openInterestHist", None) == (api.FUTURES_DATA_LIMIT,
                                                                                "futures-data")
    assert adapter.budget("coinm", "/futures/data/openInterestHist", None) == (api.LIMITS["coinm"], "")
    assert adapter.budget("spot", api.SPOT_TICKER_PRICE, None) == (api.LIMITS["spot"], "")
    assert api.LIMITS["spot"].weight == 6000 and api.FUTURES_DATA_LIMIT.window == 300
    assert adapter.capability(DataKind.OI_HISTORY).history == "30d"
