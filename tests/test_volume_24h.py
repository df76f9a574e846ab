"""Every venue's rolling 24 h traded volume on ``PriceQuote`` (``volume_24h_usd``, ``volume_24h_base``).

- the parsers on the real payloads, exact values and the unit each venue sends: Bybit linear (ccxt's real BTCUSDT
  ticker) and inverse (the docs' BTCUSD row), OKX inverse future and swap (real WebSocket tickers rows, the same
  fields as REST ``market/tickers``), Hyperliquid (the docs' ``metaAndAssetCtxs``), dYdX (ccxt's real
  ``perpetualMarkets``), Deribit (a book-summary row of BTC-PERPETUAL made of the docs' ticker example figures: no
  capture of a future's book summary exists), Binance ``ticker/24hr`` (the docs' rows: no capture exists), GMX
  (none);
- an implausible volume costs its row;
- the simulated venues serve the fields in the real formats and consistently with the market model (Binance's
  ``ticker/24hr`` is the sum of its own hourly klines), and every adapter's ``fetch_quotes`` reads them.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dtrack.errors import Implausible
from dtrack.records import Instrument, Kind, Margin, PriceQuote, Unit
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.venues.binance import parse as binance
from dtrack.venues.bybit import parse as bybit
from dtrack.venues.deribit import parse as deribit
from dtrack.venues.dydx import parse as dydx
from dtrack.venues.fields import ms_to_utc
from dtrack.venues.gmx import parse as gmx
from dtrack.venues.hyperliquid import parse as hyperliquid
from dtrack.venues.okx import parse as okx
from dtrack.venues.pool import open_pool
from shapes import shape_differences

Payload = Callable[[str], dict[str, Any]]
RECEIVED = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
EXACT = 1e-12


def raws(payload: Payload, name: str) -> list[Any]:
    return [case["raw"] for case in payload(name)["cases"]]


# --- Bybit ----------------------------------------------------------------------------------------------------


def test_bybit_linear_turnover_is_usd_and_volume_coins(payload: Payload) -> None:
    """ccxt's real BTCUSDT ticker: turnover24h 2352063794.0035 USDT, volume24h 47293.8870 BTC (2352063794 /
    47293.887 = 49733 USD per BTC, inside the row's 48381.6 - 51444.4)."""
    btc = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, market="linear")
    (quote,), errors = bybit.parse_quotes(raws(payload, "bybit__ccxt_fetchTicker.json")[0], {"BTCUSDT": btc},
                                          RECEIVED)
    assert errors == []
    assert (quote.volume_24h_usd, quote.volume_24h_base) == (2352063794.0035, 47293.887)
    assert 48381.6 < quote.volume_24h_usd / quote.volume_24h_base < 51444.4


def test_bybit_inverse_volume_is_usd_and_turnover_coins(payload: Payload) -> None:
    """The docs' inverse BTCUSD row: volume24h 13713832 (USD contracts of 1 USD), turnover24h 115.6907 BTC."""
    btc = Instrument(venue="bybit", symbol="BTCUSD", asset="BTC", quote="USD", settle="BTC", kind=Kind.PERP,
                     margin=Margin.INVERSE, contract_size=1.0, contract_unit=Unit.USD, market="inverse")
    body = next(b for b in raws(payload, "bybit__rest_tickers__docs.json") if b["result"]["category"] == "inverse")
    (quote,), errors = bybit.parse_quotes(body, {"BTCUSD": btc}, RECEIVED)
    assert errors == []
    assert (quote.volume_24h_usd, quote.volume_24h_base) == (13713832.0, 115.6907)
    assert 102007.6 < quote.volume_24h_usd / quote.volume_24h_base < 131309.3  # the row's 24 h low - high


def test_bybit_multiplier_contracts_count_coins_of_the_asset(payload: Payload) -> None:
    """A ``1000PEPEUSDT`` row (the real BTCUSDT row renamed): volume24h is in 1000PEPE, so x 1000 PEPE."""
    pepe = Instrument(venue="bybit", symbol="1000PEPEUSDT", asset="PEPE", quote="USDT", settle="USDT",
                      kind=Kind.PERP, margin=Margin.LINEAR, multiplier=1000.0, market="linear")
    body = raws(payload, "bybit__ccxt_fetchTicker.json")[0]
    body = {**body, "result": {**body["result"], "list": [{**body["result"]["list"][0], "symbol": "1000PEPEUSDT"}]}}
    (quote,), _ = bybit.parse_quotes(body, {"1000PEPEUSDT": pepe}, RECEIVED)
    assert (quote.volume_24h_usd, quote.volume_24h_base) == (2352063794.0035, pytest.approx(47293887.0, rel=EXACT))


# --- OKX ------------------------------------------------------------------------------------------------------


def _okx_contracts(payload: Payload) -> dict[str, Instrument]:
    out: dict[str, Instrument] = {}
    for case in payload("okx__rest_public_instruments__capture.json")["cases"]:
        if "instType=SWAP" in case["input"]["url"] or "instType=FUTURES" in case["input"]["url"]:
            out.update({i.symbol: i for i in okx.parse_instruments(case["raw"]).instruments})
    return out


@pytest.mark.parametrize(("inst_id", "contracts", "ct_val", "coins", "low", "high"), [
    ("BTC-USD-220527", 779573.0, 100.0, 2620.289, 27930.8, 31003.3),
    ("UNI-USD-SWAP", 289425.0, 10.0, 577730.7823, 4.537, 5.458),
])
def test_okx_inverse_usd_is_contracts_times_ct_val(payload: Payload, inst_id: str, contracts: float, ct_val: float,
                                                  coins: float, low: float, high: float) -> None:
    """Real tickers rows: vol24h in contracts of ctVal USD, volCcy24h in the base coin (their quotient lies inside
    the row's 24 h low - high: the units are what the docs say)."""
    inst = _okx_contracts(payload)[inst_id]
    assert (inst.contract_unit, inst.contract_size) == (Unit.USD, ct_val)
    frame = next(f for f in raws(payload, "okx__ws_tickers__capture.json") if f["data"][0]["instId"] == inst_id)
    ticker = okx.parse_tickers(frame, {inst_id})[inst_id]
    assert (ticker.vol_24h, ticker.vol_ccy_24h) == (contracts, coins)
    quote = okx.price_quote(inst, RECEIVED, None, None, ticker.last, ticker=ticker)
    assert quote.volume_24h_usd == pytest.approx(contracts * ct_val, rel=EXACT)
    assert quote.volume_24h_base == coins
    assert low < quote.volume_24h_usd / coins < high


def test_okx_linear_usd_is_coins_at_the_last_price(payload: Payload) -> None:
    """No real linear derivative tickers row exists: the UNI-USD-SWAP row on the linear UNI-USDT-SWAP's terms.
    volCcy24h is in coins (OKX's docs), valued at the last price (an approximation, said in the parser)."""
    inst = _okx_contracts(payload)["UNI-USDT-SWAP"]
    assert inst.contract_unit is Unit.BASE
    frame = next(f for f in raws(payload, "okx__ws_tickers__capture.json") if f["data"][0]["instId"] == "UNI-USD-SWAP")
    ticker = okx.parse_tickers(frame, {"UNI-USD-SWAP"})["UNI-USD-SWAP"]
    quote = okx.price_quote(inst, RECEIVED, 5.2, None, ticker.last, ticker=ticker)
    assert quote.volume_24h_usd == pytest.approx(577730.7823 * 5.123, rel=EXACT)
    assert quote.volume_24h_base == 577730.7823
    no_last = okx.price_quote(inst, RECEIVED, 5.2, None, None, ticker=ticker)  # then the mark
    assert no_last.volume_24h_usd == pytest.approx(577730.7823 * 5.2, rel=EXACT)


def test_okx_spot_ticker_volumes_are_read_as_sent(payload: Payload) -> None:
    """The real BTC-USDT spot ticker: vol24h in BTC, volCcy24h in USDT (read as sent; spot is no PriceQuote)."""
    ticker = okx.parse_tickers(raws(payload, "okx__ccxt_fetchTicker.json")[0], {"BTC-USDT"})["BTC-USDT"]
    assert (ticker.vol_24h, ticker.vol_ccy_24h) == (21266.19145051, 1519926359.597266598)


# --- Deribit, Hyperliquid, dYdX, GMX ----------------------------------------------------------------------------


def test_deribit_book_summary_volume_usd_and_coins(payload: Payload) -> None:
    """A BTC-PERPETUAL book-summary row carrying the docs' ticker example's figures (``stats.volume`` 7831.27 BTC,
    ``volume_usd`` 282615600): the book summary sends the same two fields at the top level."""
    perp = next(i for body in raws(payload, "deribit__rest_get_instruments__capture.json")
                for i in deribit.parse_instruments(body).instruments if i.symbol == "BTC-PERPETUAL")
    ticker = raws(payload, "deribit__rest_ticker__docs.json")[0]["result"]
    row = {"instrument_name": "BTC-PERPETUAL", "mark_price": ticker["mark_price"], "last": ticker["last_price"],
           "creation_timestamp": ticker["timestamp"], "estimated_delivery_price": ticker["estimated_delivery_price"],
           "volume": ticker["stats"]["volume"], "volume_usd": ticker["stats"]["volume_usd"],
           "open_interest": ticker["open_interest"], "base_currency": "BTC", "quote_currency": "USD"}
    body = {"jsonrpc": "2.0", "result": [row]}
    quotes = deribit.parse_quotes(body, {"BTC-PERPETUAL": perp}, {}, RECEIVED)
    quote = quotes["BTC-PERPETUAL"]
    assert (quote.volume_24h_usd, quote.volume_24h_base) == (282615600.0, 7831.26548117)
    assert quote.volume_24h_usd / quote.volume_24h_base == pytest.approx(36088.0, rel=1e-4)  # near the 36288 mark
    without = deribit.parse_quotes({"jsonrpc": "2.0", "result": [{k: v for k, v in row.items()
                                                                  if not k.startswith("volume")}]},
                                   {"BTC-PERPETUAL": perp}, {}, RECEIVED)["BTC-PERPETUAL"]
    assert (without.volume_24h_usd, without.volume_24h_base) == (None, None)


def test_hyperliquid_day_notional_is_usd(payload: Payload) -> None:
    """The docs' metaAndAssetCtxs: dayNtlVlm 1169046.29406 (USD notional) of the first coin; the docs' sample has no
    dayBaseVlm (None); a kPEPE context's dayBaseVlm counts 1000 PEPE per kPEPE."""
    (body,) = raws(payload, "hyperliquid__rest_info_metaAndAssetCtxs__docs.json")[:1]
    coins = hyperliquid.parse_meta(body[0]).instruments
    quotes, missing = hyperliquid.price_quotes(body, coins, RECEIVED)
    assert missing == []
    assert [(q.instrument.symbol, q.volume_24h_usd, q.volume_24h_base) for q in quotes] == [
        ("BTC", 1169046.29406, None), ("ETH", 1426126.295175, None), ("HPOS", 809774.565507, None)]
    kpepe = hyperliquid.price_quote(hyperliquid.instrument("kPEPE"), {**body[1][0], "dayBaseVlm": "81658.5"},
                                    RECEIVED)
    assert kpepe.volume_24h_base == pytest.approx(81_658_500.0, rel=EXACT) and kpepe.volume_24h_usd == 1169046.29406


def test_dydx_volume24h_is_usd(payload: Payload) -> None:
    """ccxt's real perpetualMarkets: BTC-USD volume24H 563041.3490 (USD); no base-coin figure is sent."""
    row = raws(payload, "dydx__ccxt_fetchMarkets.json")[0]["markets"]["BTC-USD"]
    quote = dydx.price_quote(dydx.instrument("BTC-USD"), row, None, RECEIVED)
    assert (quote.volume_24h_usd, quote.volume_24h_base) == (563041.349, None)


def test_gmx_quotes_carry_no_volume() -> None:
    from decimal import Decimal

    eth = gmx.instrument("arbitrum", "ETH/USD [WETH-USDC]")
    quote = gmx.price_quote(eth, Decimal("3150.25"), RECEIVED)
    assert (quote.volume_24h_usd, quote.volume_24h_base) == (None, None)


# --- Binance ticker/24hr ----------------------------------------------------------------------------------------

#: The docs' ``GET /dapi/v1/ticker/24hr`` example (developers.binance.com, coin-margined futures, "24hr Ticker Price
#: Change Statistics"); no capture of it exists. ``volume`` is contracts (100 USD for BTC), ``baseVolume`` BTC.
COINM_24HR = {"symbol": "BTCUSD_200925", "pair": "BTCUSD", "priceChange": "136.6", "priceChangePercent": "1.436",
              "weightedAvgPrice": "9547.3", "lastPrice": "9651.6", "lastQty": "1", "openPrice": "9515.0",
              "highPrice": "9687.0", "lowPrice": "9499.5", "volume": "494109", "baseVolume": "5192.94797687",
              "openTime": 1591170300000, "closeTime": 1591256718418, "firstId": 600507, "lastId": 697803,
              "count": 97297}
#: The docs' ``GET /fapi/v1/ticker/24hr`` example (USDⓈ-M; the docs reuse the spot sample's figures): ``volume`` in
#: the base coin, ``quoteVolume`` in the quote.
USDM_24HR = {"symbol": "BTCUSDT", "priceChange": "-94.99999800", "priceChangePercent": "-95.960",
             "weightedAvgPrice": "0.29628482", "lastPrice": "4.00000200", "lastQty": "200.00000000",
             "openPrice": "99.00000000", "highPrice": "100.00000000", "lowPrice": "0.10000000",
             "volume": "8913.30000000", "quoteVolume": "15.30000000", "openTime": 1499783499040,
             "closeTime": 1499869899040, "firstId": 28385, "lastId": 28460, "count": 76}
PREMIUM = binance.Premium("X", None, None, 9600.0, 9590.0, None)


def test_binance_coinm_volume_is_contracts_times_contract_size() -> None:
    inst = Instrument(venue="binance", symbol="BTCUSD_200925", asset="BTC", quote="USD", settle="BTC",
                      kind=Kind.FUTURE, margin=Margin.INVERSE, contract_size=100.0, contract_unit=Unit.USD,
                      expiry=datetime(2020, 9, 25, 8, tzinfo=UTC), market="coinm")
    day = binance.parse_day_tickers([COINM_24HR], "coinm", {"BTCUSD_200925"}).get("BTCUSD_200925")
    assert day == binance.DayTicker(9651.6, 494109.0, base_volume=5192.94797687)
    quote = binance.price_quote(inst, PREMIUM, None, datetime(2020, 6, 4, tzinfo=UTC), day=day)
    assert (quote.last_price, quote.volume_24h_usd, quote.volume_24h_base) == (9651.6, 49410900.0, 5192.94797687)


def test_binance_usdm_volume_is_the_quote_volume() -> None:
    inst = Instrument(venue="binance", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                      margin=Margin.LINEAR, market="usdm")
    table = binance.parse_day_tickers(USDM_24HR, "usdm", {"BTCUSDT"})  # ``?symbol=``: one object
    day = table.get("BTCUSDT")
    assert day == binance.DayTicker(4.000002, 8913.3, quote_volume=15.3)
    quote = binance.price_quote(inst, PREMIUM, None, RECEIVED, day=day)
    assert (quote.last_price, quote.volume_24h_usd, quote.volume_24h_base) == (4.000002, 15.3, 8913.3)
    pepe = Instrument(venue="binance", symbol="1000PEPEUSDT", asset="PEPE", quote="USDT", settle="USDT",
                      kind=Kind.PERP, margin=Margin.LINEAR, multiplier=1000.0, market="usdm")
    scaled = binance.price_quote(pepe, PREMIUM, None, RECEIVED, day=day)
    assert scaled.volume_24h_base == pytest.approx(8_913_300.0, rel=EXACT) and scaled.volume_24h_usd == 15.3


def test_implausible_volumes_cost_their_row(payload: Payload) -> None:
    bad = binance.parse_day_tickers([{**COINM_24HR, "volume": "-1"}], "coinm", {"BTCUSD_200925"})
    with pytest.raises(Implausible):
        bad.get("BTCUSD_200925")
    btc = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT", settle="USDT", kind=Kind.PERP,
                     margin=Margin.LINEAR, market="linear")
    body = raws(payload, "bybit__ccxt_fetchTicker.json")[0]
    body = {**body, "result": {**body["result"], "list": [{**body["result"]["list"][0], "turnover24h": "-5"}]}}
    quotes, errors = bybit.parse_quotes(body, {"BTCUSDT": btc}, RECEIVED)
    assert quotes == [] and [type(e) for e in errors] == [Implausible]
    assert "volume_24h_usd" in str(errors[0])


# --- the simulated venues -----------------------------------------------------------------------------------------

NOW_MS = 1_790_000_000_000
VENUES = ("binance", "bybit", "okx", "deribit", "hyperliquid", "dydx", "gmx")


@pytest.fixture(scope="module")
def pinned_sim():
    from conftest import SimThread

    server = SimThread(model=MarketModel(7, now_ms=NOW_MS))
    yield server
    server.close()


def _quotes(server: Any, tmp_path: Any, venue: str) -> list[PriceQuote]:
    settings = server.settings(tmp_path, retries=0)

    async def main() -> list[PriceQuote]:
        async with open_pool(settings, now=lambda: ms_to_utc(NOW_MS)) as pool:
            adapter = pool.adapter(venue)
            contracts = await adapter.contracts(["BTC", "ETH"])
            answer = await adapter.fetch_quotes(contracts)
            assert answer.errors == []
            return list(answer.items)

    return asyncio.run(main())


@pytest.mark.parametrize("venue", VENUES)
def test_every_adapter_reads_the_simulated_volume(pinned_sim: Any, tmp_path: Any, venue: str) -> None:
    """Every perpetual's quote carries a 24 h volume where the venue publishes one (GMX does not); USD / coins is
    a price near the contract's mark (the model's day is a few percent wide)."""
    quotes = _quotes(pinned_sim, tmp_path, venue)
    perps = [q for q in quotes if q.instrument.kind is Kind.PERP]
    assert perps
    for q in perps:
        if venue == "gmx":
            assert (q.volume_24h_usd, q.volume_24h_base) == (None, None)
            continue
        assert q.volume_24h_usd is not None and q.volume_24h_usd > 0, q.instrument.symbol
        if venue == "dydx":
            assert q.volume_24h_base is None  # dYdX sends USD only
            continue
        assert q.volume_24h_base is not None and q.volume_24h_base > 0
        price = q.mark_price if q.mark_price is not None else q.index_price
        assert price is not None
        assert 0.9 < q.volume_24h_usd / q.volume_24h_base / price < 1.1, q.instrument.symbol


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize(("host", "symbol"), [("usdm", "BTCUSDT"), ("coinm", "BTCUSD_PERP")])
def test_binance_sim_day_ticker_sums_its_own_hourly_klines(pinned_sim: Any, host: str, symbol: str) -> None:
    base = pinned_sim.venue_urls()["binance"][host]
    prefix = "/fapi/v1" if host == "usdm" else "/dapi/v1"
    first = NOW_MS - NOW_MS % HOUR_MS - 23 * HOUR_MS
    klines = _get(f"{base}{prefix}/klines?symbol={symbol}&interval=1h&startTime={first}&limit=24")
    assert len(klines) == 24 and klines[-1][0] == NOW_MS - NOW_MS % HOUR_MS
    day = _get(f"{base}{prefix}/ticker/24hr?symbol={symbol}")
    row = day if host == "usdm" else day[0]
    assert float(row["volume"]) == pytest.approx(sum(float(k[5]) for k in klines), rel=1e-9)
    second = "quoteVolume" if host == "usdm" else "baseVolume"
    assert float(row[second]) == pytest.approx(sum(float(k[7]) for k in klines), rel=1e-9)
    bulk = _get(f"{base}{prefix}/ticker/24hr")
    assert [r for r in bulk if r["symbol"] == symbol] == [row]
    # the shape of the docs' example rows (keys and JSON types)
    docs = USDM_24HR if host == "usdm" else COINM_24HR
    assert shape_differences(row, docs) == []
