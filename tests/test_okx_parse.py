"""OKX parsers on the real captured payloads in tests/payloads (values asserted exactly).

Real captures exist for instruments (cryptofeed, 2022) and open-interest (ccxt static test). OKX
funding-rate, funding-rate-history, mark-price and index-tickers have no real capture (INDEX.md,
"Gaps"); those parsers are exercised against the simulator in test_okx_sim.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import ParseError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.venues.fields import Listing
from dtrack.venues.okx import api
from dtrack.venues.okx.parse import (
    ContractOpenInterest,
    SwapFunding,
    funding_rate,
    index_id,
    parse_funding,
    parse_history,
    parse_index,
    parse_instruments,
    parse_marks,
    parse_open_interest,
    swap_funding,
)

INSTRUMENTS = "okx__rest_public_instruments__capture.json"
OPEN_INTEREST = "okx__ccxt_fetchOpenInterest.json"
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _case(doc: dict[str, Any], url_part: str) -> dict[str, Any]:
    return next(c for c in doc["cases"] if url_part in c["input"]["url"])


def _swaps(payload: Any) -> dict[str, Instrument]:
    raw = _case(payload(INSTRUMENTS), "instType=SWAP")["raw"]
    listing = parse_instruments(raw)
    assert listing.broken == {}
    return {i.symbol: i for i in listing.instruments}


def test_swap_list_has_every_live_swap(payload: Any) -> None:
    raw = _case(payload(INSTRUMENTS), "instType=SWAP")["raw"]
    swaps = _swaps(payload)
    assert len(swaps) == len(raw["data"]) == 166
    for row in raw["data"]:
        inst = swaps[row["instId"]]
        assert inst.kind is Kind.PERP and inst.venue == "okx"
        assert inst.contract_size == pytest.approx(float(row["ctVal"]) * float(row["ctMult"]), rel=1e-15)
        assert inst.settle == row["settleCcy"]
        if row["ctType"] == "inverse":
            # coin-margined: contracts are USD, settled in the coin
            assert (inst.margin, inst.contract_unit, inst.quote, inst.settle) == (
                Margin.INVERSE, Unit.USD, "USD", inst.asset)
        else:
            assert (inst.margin, inst.contract_unit, inst.quote) == (Margin.LINEAR, Unit.BASE, "USDT")
            assert inst.settle == "USDT"


@pytest.mark.parametrize(("symbol", "asset", "quote", "settle", "margin", "size", "unit"), [
    ("BTC-USD-SWAP", "BTC", "USD", "BTC", Margin.INVERSE, 100.0, Unit.USD),
    ("ETH-USD-SWAP", "ETH", "USD", "ETH", Margin.INVERSE, 10.0, Unit.USD),
    ("BTC-USDT-SWAP", "BTC", "USDT", "USDT", Margin.LINEAR, 0.01, Unit.BASE),
    ("ETH-USDT-SWAP", "ETH", "USDT", "USDT", Margin.LINEAR, 0.1, Unit.BASE),
    ("SOL-USDT-SWAP", "SOL", "USDT", "USDT", Margin.LINEAR, 1.0, Unit.BASE),
    ("SHIB-USDT-SWAP", "SHIB", "USDT", "USDT", Margin.LINEAR, 1_000_000.0, Unit.BASE),
    ("BABYDOGE-USDT-SWAP", "BABYDOGE", "USDT", "USDT", Margin.LINEAR, 1e9, Unit.BASE),
    # 1INCH starts with a digit but is not a multiple of INCH
    ("1INCH-USDT-SWAP", "1INCH", "USDT", "USDT", Margin.LINEAR, 1.0, Unit.BASE),
])
def test_swap_contract_sizes(payload: Any, symbol: str, asset: str, quote: str, settle: str, margin: Margin,
                             size: float, unit: Unit) -> None:
    inst = _swaps(payload)[symbol]
    assert (inst.asset, inst.quote, inst.settle) == (asset, quote, settle)
    assert (inst.margin, inst.contract_unit) == (margin, unit)
    assert inst.contract_size == size
    assert inst.multiplier == 1.0
    assert inst.normalized_id == f"{asset}-{quote}-PERP"
    assert index_id(inst) == f"{asset}-{quote}"


@pytest.mark.parametrize("url_part", ["instType=OPTION&uly=BTC-USD", "instType=OPTION&uly=ETH-USD"])
def test_options_are_skipped(payload: Any, url_part: str) -> None:
    raw = _case(payload(INSTRUMENTS), url_part)["raw"]
    assert raw["data"]
    assert parse_instruments(raw) == Listing((), {})


def test_open_interest_units(payload: Any) -> None:
    case = payload(OPEN_INTEREST)["cases"][0]
    oi = parse_open_interest(case["raw"], {"BTC-USDT-SWAP"})["BTC-USDT-SWAP"]
    assert oi.contracts == pytest.approx(2663107.29999999861, rel=1e-15)
    assert oi.coin == pytest.approx(26631.0729999999861, rel=1e-15)
    assert oi.usd == pytest.approx(1676426045.349999124995, rel=1e-15)
    # independent reference: ccxt's own reading of the same answer
    assert oi.usd == pytest.approx(case["ccxt_parsed"]["openInterestValue"], rel=1e-12)
    # contracts x 0.01 BTC (ctVal of BTC-USDT-SWAP in the instruments capture) = oiCcy
    btc = _swaps(payload)["BTC-USDT-SWAP"]
    assert oi.contracts * btc.contract_size == pytest.approx(oi.coin, rel=1e-12)


def test_rate_takes_oi_usd_and_prices_per_unit(payload: Any) -> None:
    oi = parse_open_interest(payload(OPEN_INTEREST)["cases"][0]["raw"], {"BTC-USDT-SWAP"})["BTC-USDT-SWAP"]
    btc = _swaps(payload)["BTC-USDT-SWAP"]
    funding = SwapFunding(rate=0.0001, funding_time=datetime(2024, 10, 12, 16, tzinfo=UTC), interval_hours=8.0,
                          predicted_rate=None, time=None)
    rate = funding_rate(btc, funding, RECEIVED, mark=62950.1, index=62948.3, oi=oi)
    assert rate.open_interest_usd == pytest.approx(1676426045.349999124995, rel=1e-15)
    assert "oiUsd" in rate.note
    # the funding row has no ts: no time (never the receive time)
    assert (rate.mark_price, rate.index_price, rate.time, rate.received_at) == (62950.1, 62948.3, None, RECEIVED)
    assert rate.next_funding_time == datetime(2024, 10, 12, 16, tzinfo=UTC)


def test_oi_fallbacks_without_oi_usd(payload: Any) -> None:
    swaps = _swaps(payload)
    real = parse_open_interest(payload(OPEN_INTEREST)["cases"][0]["raw"], {"BTC-USDT-SWAP"})["BTC-USDT-SWAP"]
    assert real.usd is not None and real.coin is not None
    mark = real.usd / real.coin
    funding = SwapFunding(0.0, RECEIVED, 8.0, None, None)
    linear = funding_rate(swaps["BTC-USDT-SWAP"], funding, RECEIVED, mark=mark,
                          oi=ContractOpenInterest(real.contracts, real.coin, None))
    assert linear.open_interest_usd == pytest.approx(real.usd, rel=1e-12)
    assert "x mark" in linear.note
    inverse = funding_rate(swaps["BTC-USD-SWAP"], funding, RECEIVED, oi=ContractOpenInterest(1234.0, None, None))
    assert inverse.open_interest_usd == 123_400.0  # contracts of 100 USD
    no_mark = funding_rate(swaps["BTC-USDT-SWAP"], funding, RECEIVED, oi=ContractOpenInterest(1.0, None, None))
    assert no_mark.open_interest_usd is None


def _row(**fields: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": [fields]}


def test_malformed_instruments_name_venue_and_endpoint(payload: Any) -> None:
    """A list whose every swap row is malformed is a ParseError (the format changed; not cached)."""
    good = _case(payload(INSTRUMENTS), "instType=SWAP")["raw"]["data"][0]
    broken = {k: v for k, v in good.items() if k != "ctVal"}
    with pytest.raises(ParseError) as err:
        parse_instruments({"code": "0", "msg": "", "data": [broken]})
    assert (err.value.venue, err.value.endpoint) == ("okx", api.INSTRUMENTS)
    assert "ctVal" in str(err.value)
    with pytest.raises(ParseError, match="uly/instFamily"):
        parse_instruments({"code": "0", "data": [{**good, "uly": "BTCUSD"}]})
    with pytest.raises(ParseError, match="expected an array"):
        parse_instruments({"code": "0", "msg": "", "data": {"instId": "BTC-USD-SWAP"}})


def test_odd_instrument_rows_are_skipped_or_set_aside(payload: Any) -> None:
    """Next to real swaps: swaps of an unknown unit or type and garbage rows are skipped; a malformed
    swap row is set aside under its coin (the adapter fails only a query asking for that coin)."""
    real = _case(payload(INSTRUMENTS), "instType=SWAP")["raw"]["data"]
    btc = next(r for r in real if r["instId"] == "BTC-USDT-SWAP")
    odd = [
        {**btc, "instId": "BTC-EUR-SWAP", "uly": "BTC-EUR", "ctValCcy": "EUR"},  # unknown contract unit
        {**btc, "instId": "BTC-USDT-SWAP2", "ctType": "quanto"},  # unknown swap type
        {**btc, "instId": "XYZ-USDT-SWAP", "uly": "XYZ-USDT", "ctValCcy": "XYZ", "ctVal": "n/a"},  # malformed
        {**btc, "instId": "1000ABC-USDT-SWAP", "uly": "1000ABC-USDT", "ctValCcy": "USD", "ctVal": None},
        "garbage", None, [1, 2],
    ]
    listing = parse_instruments({"code": "0", "msg": "", "data": [*odd, *real]})
    assert [i.symbol for i in listing.instruments] == [r["instId"] for r in real]
    assert set(listing.broken) == {"XYZ", "ABC"}
    assert "ctVal" in listing.broken["XYZ"] and "'n/a'" in listing.broken["XYZ"]


def test_odd_rows_of_bulk_answers_are_not_read() -> None:
    """Bulk answers (funding-rate instId=ANY, open-interest, mark-price, index-tickers): only the asked
    rows are read; a garbage row of another swap next to a good one changes nothing."""
    good = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "fundingRate": "0.0001", "fundingTime": "1763625600000",
            "nextFundingTime": "1763654400000", "nextFundingRate": "", "ts": "1763620000000",
            "oi": "5000", "oiCcy": "50", "oiUsd": "5000000", "markPx": "100000.5"}
    garbage = {"instId": "ODD-USDT-SWAP", "instType": "SWAP", "fundingRate": "abc", "fundingTime": "1",
               "oi": None, "markPx": "", "idxPx": "x"}
    body = {"code": "0", "msg": "", "data": [garbage, "not a row", {"instId": ["list"]}, good]}
    asked = {"BTC-USDT-SWAP"}
    funding = parse_funding(body, asked)
    assert set(funding) == asked
    assert funding["BTC-USDT-SWAP"].interval_hours == 8.0
    assert funding["BTC-USDT-SWAP"].funding_time == datetime(2025, 11, 20, 8, tzinfo=UTC)
    assert parse_open_interest(body, asked) == {"BTC-USDT-SWAP": ContractOpenInterest(
        5000.0, 50.0, 5_000_000.0, datetime(2025, 11, 20, 6, 26, 40, tzinfo=UTC))}
    assert parse_marks(body, asked) == {"BTC-USDT-SWAP": 100000.5}
    index = {"code": "0", "msg": "", "data": [{"instId": "ODD-USDT", "idxPx": "x"},
                                              {"instId": "BTC-USDT", "idxPx": "99999.5"}]}
    assert parse_index(index, {"BTC-USDT", "ETH-USDT"}) == {"BTC-USDT": 99999.5}
    # the same garbage row asked for is still an error
    with pytest.raises(ParseError, match=r"fundingRate|fundingTime"):
        parse_funding(body, {"ODD-USDT-SWAP"})
    with pytest.raises(ParseError, match="markPx"):
        parse_marks(body, {"ODD-USDT-SWAP"})
    with pytest.raises(ParseError, match="no row for ETH-USDT-SWAP"):
        swap_funding(body, "ETH-USDT-SWAP")


def test_malformed_funding_and_history() -> None:
    with pytest.raises(ParseError) as err:
        parse_funding(_row(instId="BTC-USDT-SWAP", instType="SWAP", fundingRate="0.0001",
                           fundingTime="1763625600000"), {"BTC-USDT-SWAP"})
    assert (err.value.venue, err.value.endpoint) == ("okx", api.FUNDING_RATE)
    assert "nextFundingTime" in str(err.value)
    with pytest.raises(ParseError, match="not after"):
        parse_funding(_row(instId="X-USDT-SWAP", instType="SWAP", fundingRate="0", fundingTime="1763625600000",
                           nextFundingTime="1763625600000"), {"X-USDT-SWAP"})
    with pytest.raises(ParseError, match="epoch milliseconds"):  # seconds, not ms
        parse_funding(_row(instId="X-USDT-SWAP", instType="SWAP", fundingRate="0", fundingTime="1763625600",
                           nextFundingTime="1763654400"), {"X-USDT-SWAP"})
    with pytest.raises(ParseError) as err:
        parse_history(_row(instId="BTC-USDT-SWAP", fundingRate="abc", realizedRate="", fundingTime="1"))
    assert err.value.endpoint == api.FUNDING_HISTORY
    with pytest.raises(ParseError, match="data"):
        parse_open_interest({"code": "0", "msg": ""}, {"BTC-USDT-SWAP"})


def test_history_prefers_realized_rate() -> None:
    rows = parse_history({"code": "0", "msg": "", "data": [
        {"fundingRate": "0.0002", "realizedRate": "0.00019", "fundingTime": "1700006400000"},
        {"fundingRate": "0.0003", "realizedRate": "", "fundingTime": "1699977600000"},
    ]})
    assert [(r.rate, r.realized) for r in rows] == [(0.00019, True), (0.0003, False)]
    assert rows[0].time == datetime(2023, 11, 15, tzinfo=UTC)
