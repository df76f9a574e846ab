"""OKX parsers on the real captured payloads in ../shared/exchange-payloads (values asserted exactly).

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
from dtrack.venues.okx import api
from dtrack.venues.okx.parse import (
    SwapFunding,
    SwapOpenInterest,
    funding_rate,
    index_id,
    parse_funding,
    parse_history,
    parse_instruments,
    parse_open_interest,
)

INSTRUMENTS = "okx__rest_public_instruments__capture.json"
OPEN_INTEREST = "okx__ccxt_fetchOpenInterest.json"
RECEIVED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _case(doc: dict[str, Any], url_part: str) -> dict[str, Any]:
    return next(c for c in doc["cases"] if url_part in c["input"]["url"])


def _swaps(payload: Any) -> dict[str, Instrument]:
    raw = _case(payload(INSTRUMENTS), "instType=SWAP")["raw"]
    return {i.symbol: i for i in parse_instruments(raw)}


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


@pytest.mark.parametrize("url_part", ["instType=FUTURES", "instType=OPTION&uly=BTC-USD", "instType=OPTION&uly=ETH-USD"])
def test_non_swap_instruments_are_skipped(payload: Any, url_part: str) -> None:
    raw = _case(payload(INSTRUMENTS), url_part)["raw"]
    assert raw["data"]
    assert parse_instruments(raw) == []


def test_open_interest_units(payload: Any) -> None:
    case = payload(OPEN_INTEREST)["cases"][0]
    oi = parse_open_interest(case["raw"])["BTC-USDT-SWAP"]
    assert oi.contracts == pytest.approx(2663107.29999999861, rel=1e-15)
    assert oi.coin == pytest.approx(26631.0729999999861, rel=1e-15)
    assert oi.usd == pytest.approx(1676426045.349999124995, rel=1e-15)
    # independent reference: ccxt's own reading of the same answer
    assert oi.usd == pytest.approx(case["ccxt_parsed"]["openInterestValue"], rel=1e-12)
    # contracts x 0.01 BTC (ctVal of BTC-USDT-SWAP in the instruments capture) = oiCcy
    btc = _swaps(payload)["BTC-USDT-SWAP"]
    assert oi.contracts * btc.contract_size == pytest.approx(oi.coin, rel=1e-12)


def test_rate_takes_oi_usd_and_prices_per_unit(payload: Any) -> None:
    oi = parse_open_interest(payload(OPEN_INTEREST)["cases"][0]["raw"])["BTC-USDT-SWAP"]
    btc = _swaps(payload)["BTC-USDT-SWAP"]
    funding = SwapFunding(rate=0.0001, funding_time=datetime(2024, 10, 12, 16, tzinfo=UTC), interval_hours=8.0,
                          predicted_rate=None, time=None)
    rate = funding_rate(btc, funding, RECEIVED, mark=62950.1, index=62948.3, oi=oi)
    assert rate.open_interest_usd == pytest.approx(1676426045.349999124995, rel=1e-15)
    assert "oiUsd" in rate.note
    assert (rate.mark_price, rate.index_price, rate.time) == (62950.1, 62948.3, RECEIVED)
    assert rate.next_funding_time == datetime(2024, 10, 12, 16, tzinfo=UTC)


def test_oi_fallbacks_without_oi_usd(payload: Any) -> None:
    swaps = _swaps(payload)
    real = parse_open_interest(payload(OPEN_INTEREST)["cases"][0]["raw"])["BTC-USDT-SWAP"]
    assert real.usd is not None and real.coin is not None
    mark = real.usd / real.coin
    funding = SwapFunding(0.0, RECEIVED, 8.0, None, None)
    linear = funding_rate(swaps["BTC-USDT-SWAP"], funding, RECEIVED, mark=mark,
                          oi=SwapOpenInterest(real.contracts, real.coin, None))
    assert linear.open_interest_usd == pytest.approx(real.usd, rel=1e-12)
    assert "x mark" in linear.note
    inverse = funding_rate(swaps["BTC-USD-SWAP"], funding, RECEIVED, oi=SwapOpenInterest(1234.0, None, None))
    assert inverse.open_interest_usd == 123_400.0  # contracts of 100 USD
    no_mark = funding_rate(swaps["BTC-USDT-SWAP"], funding, RECEIVED, oi=SwapOpenInterest(1.0, None, None))
    assert no_mark.open_interest_usd is None


def _row(**fields: Any) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": [fields]}


def test_malformed_instruments_name_venue_and_endpoint(payload: Any) -> None:
    good = _case(payload(INSTRUMENTS), "instType=SWAP")["raw"]["data"][0]
    broken = {k: v for k, v in good.items() if k != "ctVal"}
    with pytest.raises(ParseError) as err:
        parse_instruments({"code": "0", "msg": "", "data": [broken]})
    assert (err.value.venue, err.value.endpoint) == ("okx", api.INSTRUMENTS)
    assert "ctVal" in str(err.value)
    with pytest.raises(ParseError, match="uly/instFamily"):
        parse_instruments({"code": "0", "data": [{**good, "uly": "BTCUSD"}]})
    with pytest.raises(ParseError, match="ctValCcy"):
        parse_instruments({"code": "0", "data": [{**good, "ctValCcy": "EUR"}]})
    with pytest.raises(ParseError, match="expected an array"):
        parse_instruments({"code": "0", "msg": "", "data": {"instId": "BTC-USD-SWAP"}})


def test_malformed_funding_and_history() -> None:
    with pytest.raises(ParseError) as err:
        parse_funding(_row(instId="BTC-USDT-SWAP", instType="SWAP", fundingRate="0.0001", fundingTime="1"))
    assert (err.value.venue, err.value.endpoint) == ("okx", api.FUNDING_RATE)
    assert "nextFundingTime" in str(err.value)
    with pytest.raises(ParseError, match="not after"):
        parse_funding(_row(instId="X-USDT-SWAP", instType="SWAP", fundingRate="0", fundingTime="2",
                           nextFundingTime="2"))
    with pytest.raises(ParseError) as err:
        parse_history(_row(instId="BTC-USDT-SWAP", fundingRate="abc", realizedRate="", fundingTime="1"))
    assert err.value.endpoint == api.FUNDING_HISTORY
    with pytest.raises(ParseError, match="data"):
        parse_open_interest({"code": "0", "msg": ""})


def test_history_prefers_realized_rate() -> None:
    rows = parse_history({"code": "0", "msg": "", "data": [
        {"fundingRate": "0.0002", "realizedRate": "0.00019", "fundingTime": "1700006400000"},
        {"fundingRate": "0.0003", "realizedRate": "", "fundingTime": "1699977600000"},
    ]})
    assert [(r.rate, r.realized) for r in rows] == [(0.00019, True), (0.0003, False)]
    assert rows[0].time == datetime(2023, 11, 15, tzinfo=UTC)
