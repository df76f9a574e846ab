"""Binance parsers on the real payloads in ../shared/exchange-payloads (exact values).

Floats are compared with rel=1e-12: every value is one decimal string parsed once, so the only
error is float rounding. The openInterest endpoint has no real capture; its unit conversion is
tested on literal amounts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dtrack.errors import ParseError, RateLimited, VenueError
from dtrack.records import Kind, Margin, Unit
from dtrack.venues.binance import parse
from dtrack.venues.binance.adapter import BinanceAdapter

EXACT = 1e-12


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def raws(payload, name: str) -> list:
    return [case["raw"] for case in payload(name)["cases"]]


@pytest.fixture
def usdm(payload):
    """USDⓈ-M perpetuals from the real 2021 exchangeInfo capture, by symbol."""
    (raw,) = raws(payload, "binance-usdm__rest_exchangeInfo__capture.json")
    return {i.symbol: i for i in parse.parse_instruments(raw, "usdm")}


@pytest.fixture
def coinm(payload):
    """COIN-M perpetuals from the real 2021 exchangeInfo capture, by symbol."""
    (raw,) = raws(payload, "binance-coinm__rest_exchangeInfo__capture.json")
    return {i.symbol: i for i in parse.parse_instruments(raw, "coinm")}


# --- exchangeInfo ------------------------------------------------------------------------------


def test_usdm_exchange_info_keeps_trading_perpetuals_only(usdm) -> None:
    # 122 symbols: 119 trading perpetuals, 2 quarterlies, BTCSTUSDT pending (contractType "").
    assert len(usdm) == 119
    assert "BTCUSDT_210924" not in usdm and "ETHUSDT_210924" not in usdm
    assert "BTCSTUSDT" not in usdm
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
    assert len(coinm) == 18
    assert all(s.endswith("_PERP") for s in coinm)
    btc, eth = coinm["BTCUSD_PERP"], coinm["ETHUSD_PERP"]
    assert (btc.asset, btc.quote, btc.settle, btc.margin) == ("BTC", "USD", "BTC", Margin.INVERSE)
    assert (btc.contract_size, btc.contract_unit, btc.market) == (100.0, Unit.USD, "coinm")
    assert (eth.contract_size, eth.settle) == (10.0, "ETH")
    assert btc.normalized_id == "BTC-USD-PERP"


# --- premiumIndex ------------------------------------------------------------------------------


def test_usdm_premium_index_object_and_array(payload, usdm) -> None:
    single, bulk = raws(payload, "binance-usdm__rest_premiumIndex__docs.json")
    for raw in (single, bulk):
        rows = parse.parse_premium_index(raw, "usdm")
        assert list(rows) == ["BTCUSDT"]
        row = rows["BTCUSDT"]
        assert row.rate == pytest.approx(0.00038246, rel=EXACT)
        assert row.next_funding == utc(1597392000000)
        assert row.time == utc(1597370495002)
        fr = parse.funding_rate(usdm["BTCUSDT"], row, {}, 12345.678, utc(0))
        assert fr.rate == pytest.approx(0.00038246, rel=EXACT)
        assert (fr.interval_hours, fr.interval_source) == (8.0, "default 8 h (not in fundingInfo)")
        assert fr.predicted_rate is None
        assert fr.next_funding_time == utc(1597392000000)
        assert fr.time == utc(1597370495002)  # Binance's own timestamp, not the receive time
        assert fr.mark_price == pytest.approx(11793.63104562, rel=EXACT)
        assert fr.index_price == pytest.approx(11781.80495970, rel=EXACT)
        assert fr.open_interest_usd == pytest.approx(12345.678 * 11793.63104562, rel=EXACT)
        assert fr.note == "OI = openInterest (BTC) x mark"
        assert fr.rate_8h == pytest.approx(0.00038246, rel=EXACT)


def test_coinm_premium_index_skips_delivery_funding(payload, coinm) -> None:
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    rows = parse.parse_premium_index(raw, "coinm")
    perp, dated = rows["BTCUSD_PERP"], rows["BTCUSD_200925"]
    # The delivery contract carries "" funding and nextFundingTime 0.
    assert (dated.rate, dated.next_funding) == (None, None)
    assert dated.mark == pytest.approx(12077.01343750, rel=EXACT)
    fr = parse.funding_rate(coinm["BTCUSD_PERP"], perp, {"BTCUSD_PERP": 8.0}, 20731.0, utc(0))
    assert fr.rate == pytest.approx(0.00071003, rel=EXACT)
    assert (fr.interval_hours, fr.interval_source) == (8.0, "fundingInfo.fundingIntervalHours")
    assert fr.next_funding_time == utc(1596096000000)
    assert fr.time == utc(1596094042000)
    assert fr.mark_price == pytest.approx(11029.69574559, rel=EXACT)
    assert fr.index_price == pytest.approx(10979.14437500, rel=EXACT)
    # Inverse: contracts x 100 USD, whatever the mark.
    assert fr.open_interest_usd == pytest.approx(20731 * 100.0, rel=EXACT)
    assert fr.note == "OI = openInterest (contracts) x contractSize 100 USD"


def test_funding_rate_of_delivery_row_is_a_parse_error(payload, coinm) -> None:
    (raw,) = raws(payload, "binance-coinm__rest_premiumIndex__docs.json")
    dated = parse.parse_premium_index(raw, "coinm")["BTCUSD_200925"]
    with pytest.raises(ParseError, match="binance /dapi/v1/premiumIndex"):
        parse.funding_rate(coinm["BTCUSD_PERP"], dated, {}, None, utc(0))


def test_multiplier_prices_are_per_one_coin(usdm) -> None:
    # No real 1000SHIB premiumIndex exists; the row below only exercises the unit rule.
    row = parse.Premium("1000SHIBUSDT", 0.0001, utc(1597392000000), 0.0072, 0.0071, None)
    fr = parse.funding_rate(usdm["1000SHIBUSDT"], row, {}, 2_000_000.0, utc(5000))
    assert fr.mark_price == pytest.approx(0.0072 / 1000, rel=EXACT)
    assert fr.index_price == pytest.approx(0.0071 / 1000, rel=EXACT)
    assert fr.open_interest_usd == pytest.approx(2_000_000 * 0.0072, rel=EXACT)
    assert fr.note == "OI = openInterest (1000SHIB) x mark"
    assert fr.time == utc(5000)  # no venue time -> the receive time
    assert fr.instrument.asset == "SHIB"


def test_missing_open_interest_is_none_not_zero(usdm) -> None:
    row = parse.Premium("BTCUSDT", 0.0001, utc(1597392000000), 11793.6, 11781.8, utc(1))
    fr = parse.funding_rate(usdm["BTCUSDT"], row, {}, None, utc(0))
    assert fr.open_interest_usd is None
    assert "unavailable" in fr.note


# --- fundingInfo -------------------------------------------------------------------------------


def test_usdm_funding_info_docs_and_real_fragment(payload, usdm) -> None:
    (docs,) = raws(payload, "binance-usdm__rest_fundingInfo__docs.json")
    assert parse.parse_funding_intervals(docs, "usdm") == {"BLZUSDT": 8.0}
    (real,) = raws(payload, "binance-usdm__rest_fundingInfo_issue_capture__docs.json")
    intervals = parse.parse_funding_intervals(real, "usdm")
    assert intervals == {"BLZUSDT": 4.0, "GTCUSDT": 8.0, "LPTUSDT": 4.0, "UNFIUSDT": 4.0}
    assert parse.interval_of(usdm["BLZUSDT"], intervals) == (4.0, "fundingInfo.fundingIntervalHours")
    assert parse.interval_of(usdm["GTCUSDT"], intervals) == (8.0, "fundingInfo.fundingIntervalHours")
    assert parse.interval_of(usdm["BTCUSDT"], intervals) == (8.0, "default 8 h (not in fundingInfo)")


def test_coinm_funding_info_docs(payload, coinm) -> None:
    (docs,) = raws(payload, "binance-coinm__rest_fundingInfo__docs.json")
    intervals = parse.parse_funding_intervals(docs, "coinm")
    assert intervals == {"BTCUSD_PERP": 8.0}
    assert parse.interval_of(coinm["ETHUSD_PERP"], intervals)[1] == "default 8 h (not in fundingInfo)"


# --- fundingRate history -----------------------------------------------------------------------


def test_usdm_funding_history_docs(payload, usdm) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_fundingRate_history__docs.json")
    rows = parse.parse_funding_history(raw, "usdm", "BTCUSDT")
    assert rows == [(1570608000000, pytest.approx(-0.0375, rel=EXACT)),
                    (1570636800000, pytest.approx(0.0001, rel=EXACT))]
    start, end = utc(1570608000000), utc(1570640000000)
    hist = parse.funding_history(usdm["BTCUSDT"], rows, start, end, 8.0)
    assert (hist.venue, hist.symbol, hist.start, hist.end, hist.note) == ("binance", "BTCUSDT", start, end, "")
    assert [p.time for p in hist.points] == [utc(1570608000000), utc(1570636800000)]
    assert [p.interval_hours for p in hist.points] == [8.0, 8.0]  # spacing of the settlements
    assert hist.points[0].rate == pytest.approx(-0.0375, rel=EXACT)


def test_funding_history_notes_missing_early_part(usdm) -> None:
    start = utc(1570608000000 - 30 * 86_400_000)
    hist = parse.funding_history(usdm["BTCUSDT"], [(1570608000000, 0.0001)], start, utc(1570608000000), 8.0)
    assert "no settlement of BTCUSDT before 2019-10-09 08:00 UTC" in hist.note
    assert parse.funding_history(usdm["BTCUSDT"], [], start, start, 8.0).note.startswith("Binance returned no")


def test_funding_history_rejects_rows_of_another_symbol(payload) -> None:
    (raw,) = raws(payload, "binance-usdm__rest_fundingRate_history__docs.json")
    with pytest.raises(ParseError, match="asked for ETHUSDT"):
        parse.parse_funding_history(raw, "usdm", "ETHUSDT")


# --- openInterest units, malformed payloads, error envelope -------------------------------------


def test_open_interest_units(usdm, coinm) -> None:
    body = {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "openInterest": "20731", "contractType": "PERPETUAL",
            "time": 1790000000000}
    assert parse.parse_open_interest(body, "coinm", "BTCUSD_PERP") == 20731.0
    assert parse.open_interest_usd(coinm["ETHUSD_PERP"], 7.0, 3000.0)[0] == 70.0
    assert parse.open_interest_usd(usdm["ETHUSDT"], 7.0, 3000.0)[0] == 21000.0
    with pytest.raises(ParseError, match="asked for BTCUSDT"):
        parse.parse_open_interest(body, "coinm", "BTCUSDT")


@pytest.mark.parametrize(("call", "endpoint"), [
    (lambda: parse.parse_premium_index([{"symbol": "BTCUSDT", "markPrice": "n/a", "indexPrice": "1"}], "usdm"),
     "/fapi/v1/premiumIndex"),
    (lambda: parse.parse_instruments({"serverTime": 1}, "coinm"), "/dapi/v1/exchangeInfo"),
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
    adapter = BinanceAdapter(ctx=None)  # type: ignore[arg-type]  # check() touches no context
    adapter.check([{"symbol": "BTCUSDT"}])
    adapter.check({"code": 200, "msg": "success"})
    with pytest.raises(VenueError, match=r"-1121: Invalid symbol\.") as info:
        adapter.check({"code": -1121, "msg": "Invalid symbol."})
    assert info.value.code == "-1121"
    with pytest.raises(RateLimited):
        adapter.check({"code": -1003, "msg": "Too many requests."})
