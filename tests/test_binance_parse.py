"""Binance parsers on the real payloads in tests/payloads (exact values).

Floats are compared with rel=1e-12: every value is one decimal string parsed once, so the only
error is float rounding. The openInterest endpoint has no real capture; its unit conversion is
tested on literal amounts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dtrack.config import Settings
from dtrack.errors import ParseError, RateLimited, VenueError
from dtrack.records import Kind, Margin, Unit
from dtrack.venues.base import VenueContext
from dtrack.venues.binance import parse
from dtrack.venues.binance.adapter import BinanceAdapter

EXACT = 1e-12
NO_INTERVALS: parse.BySymbol[float] = parse.BySymbol({})  # an empty fundingInfo: every symbol on the 8 h default


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def raws(payload, name: str) -> list:
    return [case["raw"] for case in payload(name)["cases"]]


@pytest.fixture
def usdm(payload):
    """USDⓈ-M perpetuals and quarterlies from the real 2021 exchangeInfo capture, by symbol."""
    (raw,) = raws(payload, "binance-usdm__rest_exchangeInfo__capture.json")
    return {i.symbol: i for i in parse.parse_exchange_info(raw, "usdm").instruments}


@pytest.fixture
def coinm(payload):
    """COIN-M perpetuals and quarterlies from the real 2021 exchangeInfo capture, by symbol."""
    (raw,) = raws(payload, "binance-coinm__rest_exchangeInfo__capture.json")
    return {i.symbol: i for i in parse.parse_exchange_info(raw, "coinm").instruments}


# --- exchangeInfo ------------------------------------------------------------------------------


def test_usdm_exchange_info_keeps_trading_perpetuals_and_quarterlies(usdm) -> None:
    # 122 symbols: 119 trading perpetuals, 2 quarterlies, BTCSTUSDT pending (contractType "").
    assert len(usdm) == 121
    assert sum(i.kind is Kind.PERP for i in usdm.values()) == 119
    assert "BTCSTUSDT" not in usdm
    quarterly = usdm["BTCUSDT_210924"]
    # deliveryDate 1632470400000 = Friday 2021-09-24 08:00 UTC
    assert (quarterly.kind, quarterly.expiry) == (Kind.FUTURE, datetime(2021, 9, 24, 8, tzinfo=UTC))
    assert (quarterly.asset, quarterly.quote, quarterly.settle, quarterly.margin) == ("BTC", "USDT", "USDT",
                                                                                     Margin.LINEAR)
    assert (quarterly.contract_size, quarterly.contract_unit, quarterly.market) == (1.0, Unit.BASE, "usdm")
    assert quarterly.normalized_id == "BTC-USDT-20210924"
    assert usdm["ETHUSDT_210924"].expiry == quarterly.expiry
    btc = usdm["BTCUSDT"]
    assert (btc.venue, btc.asset, btc.quote, btc.settle) == ("binance", "BTC", "USDT", "USDT")
    assert (btc.kind, btc.margin, btc.market) == (Kind.PERP, Margin.LINEAR, "usdm")
    assert (btc.multiplier, btc.contract_size, btc.contract_unit) == (1.0, 1.0, Unit.BASE)
    assert btc.normalized_id == "BTC-USDT-PERP"
    assert usdm["BTCBUSD"].quote == "BUSD"


def test_usdm_exchange_info_multiplier_symbols(usdm) -> None:
    shib = usdm["1000SHIBUSDT"]
    assert (shib.asset, shib.multiplier) == ("SHIB", 1000.0)
    # 1INCH is a coin, not a multiple of INCH.
    assert (usdm["1INCHUSDT"].asset, usdm["1INCHUSDT"].multiplier) == ("1INCH", 1.0)


def test_coinm_exchange_info_inverse_contract_sizes(coinm) -> None:
    # 36 symbols: 18 perpetuals and 18 quarterlies (status in contractStatus).
    assert len(coinm) == 36
    assert sorted(s for s, i in coinm.items() if i.kind is Kind.PERP) == sorted(s for s in coinm if s.endswith("_PERP"))
    assert sum(i.kind is Kind.PERP for i in coinm.values()) == 18
    btc, eth = coinm["BTCUSD_PERP"], coinm["ETHUSD_PERP"]
    assert (btc.asset, btc.quote, btc.settle, btc.margin) == ("BTC", "USD", "BTC", Margin.INVERSE)
    assert (btc.contract_size, btc.contract_unit, btc.market) == (100.0, Unit.USD, "coinm")
    assert (eth.contract_size, eth.settle) == (10.0, "ETH")
    assert btc.normalized_id == "BTC-USD-PERP"
    # Quarterlies keep the contract terms of their pair; 1640937600000 = Friday 2021-12-31 08:00 UTC.
    dec = coinm["BTCUSD_211231"]
    assert (dec.kind, dec.expiry, dec.margin) == (Kind.FUTURE, datetime(2021, 12, 31, 8, tzinfo=UTC), Margin.INVERSE)
    assert (dec.contract_size, dec.contract_unit, dec.settle) == (100.0, Unit.USD, "BTC")
    assert (coinm["ETHUSD_210924"].contract_size, coinm["ADAUSD_211231"].contract_size) == (10.0, 10.0)
    assert dec.normalized_id == "BTC-USD-20211231"


def test_exchange_info_skips_odd_rows_and_reports_malformed_perpetuals(payload) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_exchangeInfo__capture.json")
    btc = next(s for s in raw["symbols"] if s["symbol"] == "BTCUSDT")
    odd = [
        42,  # not an object
        {**btc, "symbol": "XAUUSDT", "contractType": "TRADIFI_PERPETUAL", "baseAsset": None},  # unknown type
        {**btc, "symbol": "NEWUSDT", "status": "PENDING_TRADING", "quoteAsset": ""},  # not trading
        {**btc, "symbol": "ODDUSDT", "baseAsset": "ODD", "marginAsset": 7},  # a trading perpetual, malformed
    ]
    listing = parse.parse_exchange_info({**raw, "symbols": [*odd, *raw["symbols"]]}, "usdm")
    assert len(listing.instruments) == 121  # the capture's trading contracts, untouched by the odd rows
    assert list(listing.broken) == ["ODD"] and listing.broken["ODD"].startswith("ODDUSDT ")
    assert "marginAsset" in listing.broken["ODD"]
    assert "/fapi/v1/exchangeInfo" in listing.broken["ODD"]
    # A payload where no perpetual parses is broken as a whole (and so never cached).
    with pytest.raises(ParseError, match="no trading contract parsed"):
        parse.parse_exchange_info({"symbols": [odd[3]]}, "usdm")


# --- premiumIndex ------------------------------------------------------------------------------


def test_usdm_premium_index_object_and_array(payload, usdm) -> None:
    single, bulk = raws(payload, "binance-usdm__rest_premiumIndex__docs.json")
    for raw in (single, bulk):
        rows = parse.parse_premium_index(raw, "usdm")
        assert (list(rows.rows), rows.bad) == (["BTCUSDT"], {})
        row = rows.rows["BTCUSDT"]
        assert row.rate == pytest.approx(0.00038246, rel=EXACT)
        assert row.next_funding == utc(1597392000000)
        assert row.time == utc(1597370495002)
        received = utc(1597370495002 + 5_000)  # 5 s after the row's own time (its times must not be later)
        fr = parse.funding_rate(usdm["BTCUSDT"], row, NO_INTERVALS, 12345.678, received)
        assert fr.rate == pytest.approx(0.00038246, rel=EXACT)
        assert (fr.interval_hours, fr.interval_source) == (8.0, "default 8 h (not in fundingInfo)")
        assert fr.predicted_rate is None
        assert fr.next_funding_time == utc(1597392000000)
        assert fr.time == utc(1597370495002)  # Binance's own timestamp, not the receive time
        assert fr.received_at == received
        assert fr.mark_price == pytest.approx(11793.63104562, rel=EXACT)
        assert fr.index_price == pytest.approx(11781.80495970, rel=EXACT)
        assert fr.open_interest_usd == pytest.approx(12345.678 * 11793.63104562, rel=EXACT)
        assert fr.note == "OI = openInterest (BTC) x mark"
        assert fr.rate_8h == pytest.approx(0.00038246, rel=EXACT)


def test_coinm_premium_index_skips_delivery_funding(payload, coinm) -> None:
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    rows = parse.parse_premium_index(raw, "coinm").rows
    perp, dated = rows["BTCUSD_PERP"], rows["BTCUSD_200925"]
    # The delivery contract carries "" funding and nextFundingTime 0.
    assert (dated.rate, dated.next_funding) == (None, None)
    assert dated.mark == pytest.approx(12077.01343750, rel=EXACT)
    fr = parse.funding_rate(coinm["BTCUSD_PERP"], perp, parse.BySymbol({"BTCUSD_PERP": 8.0}), 20731.0,
                            utc(1596094042000 + 5_000))
    assert fr.rate == pytest.approx(0.00071003, rel=EXACT)
    assert (fr.interval_hours, fr.interval_source) == (8.0, "fundingInfo.fundingIntervalHours")
    assert fr.next_funding_time == utc(1596096000000)
    assert fr.time == utc(1596094042000)
    assert fr.mark_price == pytest.approx(11029.69574559, rel=EXACT)
    assert fr.index_price == pytest.approx(10979.14437500, rel=EXACT)
    # Inverse: contracts x 100 USD, whatever the mark.
    assert fr.open_interest_usd == pytest.approx(20731 * 100.0, rel=EXACT)
    assert fr.note == "OI = openInterest (contracts) x contractSize 100 USD"


def test_premium_index_reads_only_asked_symbols(payload) -> None:
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    garbage = [7, {"symbol": "NEWUSD_PERP", "markPrice": "", "indexPrice": "", "lastFundingRate": "",
                   "nextFundingTime": "soon"}, {"pair": "BTCUSD"}]
    rows = parse.parse_premium_index([*garbage, *raw], "coinm", {"BTCUSD_PERP"})
    # The delivery contract and the garbage rows are not asked for: skipped unread.
    assert (list(rows.rows), dict(rows.bad)) == (["BTCUSD_PERP"], {})
    assert rows.get("BTCUSD_PERP") is not None and rows.get("NEWUSD_PERP") is None
    assert rows.rows["BTCUSD_PERP"].rate == pytest.approx(0.00071003, rel=EXACT)
    # An ASKED row that is malformed fails that symbol alone.
    asked = parse.parse_premium_index([*garbage, *raw], "coinm", {"BTCUSD_PERP", "NEWUSD_PERP"})
    assert list(asked.rows) == ["BTCUSD_PERP"]
    with pytest.raises(ParseError, match="'nextFundingTime' is 'soon'"):
        asked.get("NEWUSD_PERP")


def test_funding_info_skips_garbage_and_keeps_bad_rows_per_symbol(payload, usdm) -> None:
    (real,) = raws(payload, "binance-usdm__rest_fundingInfo_issue_capture__docs.json")
    intervals = parse.parse_funding_intervals([{"disclaimer": False}, "x", *real,
                                               {"symbol": "BTCUSDT", "fundingIntervalHours": 0}], "usdm")
    assert intervals.rows == {"BLZUSDT": 4.0, "GTCUSDT": 8.0, "LPTUSDT": 4.0, "UNFIUSDT": 4.0}
    assert parse.interval_of(usdm["BLZUSDT"], intervals) == (4.0, "fundingInfo.fundingIntervalHours")
    # A malformed row of the symbol is its error, never the silent 8 h default.
    with pytest.raises(ParseError, match="fundingIntervalHours of BTCUSDT is 0"):
        parse.interval_of(usdm["BTCUSDT"], intervals)


@pytest.mark.parametrize(("hour", "hours", "on"), [
    (8, 8.0, True), (16, 4.0, True), (4, 8.0, False), (4, 4.0, True), (15, 8.0, False), (15, 4.0, False),
    (15, 1.0, True), (0, 8.0, True),
])
def test_on_schedule_is_the_utc_grid_of_the_interval(hour, hours, on) -> None:
    settle = datetime(2026, 9, 21, hour, tzinfo=UTC)
    assert parse.on_schedule(settle, hours) is on


def test_off_schedule_row_keeps_the_venue_interval_and_says_so(usdm) -> None:
    # Literal row: no real capture has a nextFundingTime off its symbol's grid.
    row = parse.Premium("BLZUSDT", 0.0001, datetime(2026, 9, 21, 15, tzinfo=UTC), 0.1, 0.1, None)
    intervals = parse.BySymbol({"BLZUSDT": 4.0})
    assert parse.off_schedule(usdm["BLZUSDT"], row, intervals)
    received = datetime(2026, 9, 21, 14, 30, tzinfo=UTC)
    fr = parse.funding_rate(usdm["BLZUSDT"], row, intervals, 10.0, received)
    assert (fr.interval_hours, fr.interval_source) == (4.0, "fundingInfo.fundingIntervalHours")
    assert fr.note == ("OI = openInterest (BLZ) x mark; interval unconfirmed: nextFundingTime 2026-09-21 15:00 UTC "
                       "is not on the 4 h grid (fundingInfo.fundingIntervalHours), the interval may have changed")
    on_grid = parse.Premium("BLZUSDT", 0.0001, datetime(2026, 9, 21, 16, tzinfo=UTC), 0.1, 0.1, None)
    assert not parse.off_schedule(usdm["BLZUSDT"], on_grid, intervals)
    fr = parse.funding_rate(usdm["BLZUSDT"], on_grid, intervals, 10.0, received)
    assert fr.note == "OI = openInterest (BLZ) x mark"


def test_funding_rate_of_delivery_row_is_a_parse_error(payload, coinm) -> None:
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    dated = parse.parse_premium_index(raw, "coinm").rows["BTCUSD_200925"]
    with pytest.raises(ParseError, match="binance /dapi/v1/premiumIndex"):
        parse.funding_rate(coinm["BTCUSD_PERP"], dated, NO_INTERVALS, None, utc(0))


def test_multiplier_prices_are_per_one_coin(usdm) -> None:
    # No real 1000SHIB premiumIndex exists; the row below only exercises the unit rule.
    row = parse.Premium("1000SHIBUSDT", 0.0001, utc(1597392000000), 0.0072, 0.0071, None)
    fr = parse.funding_rate(usdm["1000SHIBUSDT"], row, NO_INTERVALS, 2_000_000.0, utc(1597370500000))
    assert fr.mark_price == pytest.approx(0.0072 / 1000, rel=EXACT)
    assert fr.index_price == pytest.approx(0.0071 / 1000, rel=EXACT)
    assert fr.open_interest_usd == pytest.approx(2_000_000 * 0.0072, rel=EXACT)
    assert fr.note == "OI = openInterest (1000SHIB) x mark"
    assert fr.time is None and fr.received_at == utc(1597370500000)  # no venue time: none, never the receive time
    assert fr.instrument.asset == "SHIB"


def test_missing_open_interest_is_none_not_zero(usdm) -> None:
    row = parse.Premium("BTCUSDT", 0.0001, utc(1597392000000), 11793.6, 11781.8, utc(1597370495002))
    fr = parse.funding_rate(usdm["BTCUSDT"], row, NO_INTERVALS, None, utc(1597370500000))
    assert fr.open_interest_usd is None
    assert "unavailable" in fr.note


# --- fundingInfo -------------------------------------------------------------------------------


def test_usdm_funding_info_docs_and_real_fragment(payload, usdm) -> None:
    (docs,) = raws(payload, "binance-usdm__rest_fundingInfo__docs.json")
    assert parse.parse_funding_intervals(docs, "usdm") == parse.BySymbol({"BLZUSDT": 8.0})
    (real,) = raws(payload, "binance-usdm__rest_fundingInfo_issue_capture__docs.json")
    intervals = parse.parse_funding_intervals(real, "usdm")
    assert intervals.rows == {"BLZUSDT": 4.0, "GTCUSDT": 8.0, "LPTUSDT": 4.0, "UNFIUSDT": 4.0}
    assert parse.interval_of(usdm["BLZUSDT"], intervals) == (4.0, "fundingInfo.fundingIntervalHours")
    assert parse.interval_of(usdm["GTCUSDT"], intervals) == (8.0, "fundingInfo.fundingIntervalHours")
    assert parse.interval_of(usdm["BTCUSDT"], intervals) == (8.0, "default 8 h (not in fundingInfo)")


def test_coinm_funding_info_docs(payload, coinm) -> None:
    (docs,) = raws(payload, "binance-coinm__rest_fundingInfo__docs.json")
    intervals = parse.parse_funding_intervals(docs, "coinm")
    assert intervals.rows == {"BTCUSD_PERP": 8.0}
    assert parse.interval_of(coinm["ETHUSD_PERP"], intervals)[1] == "default 8 h (not in fundingInfo)"


# --- fundingRate history -----------------------------------------------------------------------


def test_usdm_funding_history_docs(payload, usdm) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_fundingRate_history__docs.json")
    rows = parse.parse_funding_history(raw, "usdm", "BTCUSDT")
    assert rows == [(utc(1570608000000), pytest.approx(-0.0375, rel=EXACT)),
                    (utc(1570636800000), pytest.approx(0.0001, rel=EXACT))]
    start, end = utc(1570608000000), utc(1570640000000)
    received = utc(1570640000000 + 5_000)
    hist = parse.funding_history(usdm["BTCUSDT"], rows, start, end, 8.0, received)
    assert (hist.venue, hist.symbol, hist.start, hist.end, hist.note) == ("binance", "BTCUSDT", start, end, "")
    assert {(p.venue, p.symbol, p.received_at) for p in hist.points} == {("binance", "BTCUSDT", received)}
    assert [p.time for p in hist.points] == [utc(1570608000000), utc(1570636800000)]
    assert [p.interval_hours for p in hist.points] == [8.0, 8.0]  # spacing of the settlements
    assert hist.points[0].rate == pytest.approx(-0.0375, rel=EXACT)


def test_funding_history_notes_missing_early_part(usdm) -> None:
    start = utc(1570608000000 - 30 * 86_400_000)
    end = utc(1570608000000)
    hist = parse.funding_history(usdm["BTCUSDT"], [(utc(1570608000000), 0.0001)], start, end, 8.0, end)
    assert "no settlement of BTCUSDT before 2019-10-09 08:00 UTC" in hist.note
    assert parse.funding_history(usdm["BTCUSDT"], [], start, start, 8.0, end).note.startswith("Binance returned no")


def test_funding_history_times_are_range_checked(payload) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_fundingRate_history__docs.json")
    in_seconds = [{**row, "fundingTime": row["fundingTime"] // 1000} for row in raw]
    with pytest.raises(ParseError, match="expected epoch milliseconds"):
        parse.parse_funding_history(in_seconds, "usdm", "BTCUSDT")


def test_funding_history_rejects_rows_of_another_symbol(payload) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_fundingRate_history__docs.json")
    with pytest.raises(ParseError, match="asked for ETHUSDT"):
        parse.parse_funding_history(raw, "usdm", "ETHUSDT")


# --- openInterest units, malformed payloads, error envelope -------------------------------------


def test_open_interest_units(usdm, coinm) -> None:
    body = {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "openInterest": "20731", "contractType": "PERPETUAL",
            "time": 1790000000000}
    assert parse.parse_open_interest(body, "coinm", "BTCUSD_PERP") == parse.OIReading(20731.0, utc(1790000000000))
    assert parse.open_interest_usd(coinm["ETHUSD_PERP"], 7.0, 3000.0)[0] == 70.0
    assert parse.open_interest_usd(usdm["ETHUSDT"], 7.0, 3000.0)[0] == 21000.0
    with pytest.raises(ParseError, match="asked for BTCUSDT"):
        parse.parse_open_interest(body, "coinm", "BTCUSDT")


@pytest.mark.parametrize(("call", "endpoint"), [
    (lambda: parse.parse_premium_index([{"symbol": "BTCUSDT", "markPrice": "n/a", "indexPrice": "1"}],
                                       "usdm").get("BTCUSDT"), "/fapi/v1/premiumIndex"),
    (lambda: parse.parse_premium_index({"code": 0}, "usdm", {"BTCUSDT"}).get("BTCUSDT"), "/fapi/v1/premiumIndex"),
    (lambda: parse.parse_premium_index("[]", "usdm"), "/fapi/v1/premiumIndex"),
    (lambda: parse.parse_exchange_info({"serverTime": 1}, "coinm"), "/dapi/v1/exchangeInfo"),
    (lambda: parse.parse_funding_intervals({"symbol": "BLZUSDT"}, "usdm"), "/fapi/v1/fundingInfo"),
    (lambda: parse.parse_funding_history([{"symbol": "X", "fundingTime": 1}], "coinm", "X"),
     "/dapi/v1/fundingRate"),
    (lambda: parse.parse_open_interest({"symbol": "BTCUSDT", "openInterest": ""}, "usdm", "BTCUSDT"),
     "/fapi/v1/openInterest"),
])
def test_malformed_payloads_raise_parse_error(call, endpoint) -> None:
    with pytest.raises(ParseError) as info:
        call()
    assert (info.value.venue, info.value.endpoint) == ("binance", endpoint)
    assert str(info.value).startswith(f"binance {endpoint}: unexpected payload")


def test_check_maps_error_envelopes() -> None:
    # check() touches no HTTP client or cache: only the settings the constructor validates.
    ctx = VenueContext(None, Settings(), None, lambda: utc(0))  # type: ignore[arg-type]
    adapter = BinanceAdapter(ctx)
    adapter.check([{"symbol": "BTCUSDT"}])
    adapter.check({"code": 200, "msg": "success"})
    with pytest.raises(VenueError, match=r"-1121: Invalid symbol\.") as info:
        adapter.check({"code": -1121, "msg": "Invalid symbol."})
    assert info.value.code == "-1121"
    with pytest.raises(RateLimited):
        adapter.check({"code": -1003, "msg": "Too many requests."})
