"""ccxt, unmodified but for its URLs, against dtrack's simulated venues: a real third-party client asks the sim
what it asks the real venues, and its numbers equal dtrack's for the same contracts.

ccxt (sync API) runs against the five simulated venues on a real socket (``exchange.urls['api']`` pointed at
``SimServer.venue_urls()``; ccxt's own paths kept), the market clock pinned, every time window passed explicitly
(``since`` / ccxt's documented ``until`` param; Deribit's ``start_timestamp`` / ``end_timestamp`` for its funding
value), so nothing depends on the wall clock. Options set, all documented ccxt options:
``enableRateLimit: False`` (the sim has no limits; keeps the test fast), Binance ``fetchCurrencies: False``
(``sapi`` is private), and ``fetchMarkets.types`` on Bybit (linear, inverse) and OKX (swap, future) so
``load_markets`` skips the option chains and spot lists the test does not use (the sim serves them too).
Deribit and Hyperliquid run with their defaults: ``get_currencies`` + ``get_instruments`` without a currency,
and ``spotMeta`` + ``spotMetaAndAssetCtxs`` + ``metaAndAssetCtxs`` + ``perpDexs``.

Per venue: ``load_markets`` (the perpetuals and dated futures equal dtrack's listing, contract sizes equal),
``fetch_funding_rates`` (every perpetual, where ccxt has it) and ``fetch_funding_rate``, ``fetch_funding_rate_history``,
``fetch_open_interest``, ``fetch_open_interest_history`` (where ccxt has it), ``fetch_ohlcv`` and
``fetch_order_book``. Both sides parse the same decimal text, so numbers are compared at ``rel=1e-12`` (equal but
for float rounding); Bybit's ``openInterest`` is sent with 8 decimals, compared at ``abs=1e-8``.
Unit conversions: Bybit's ``openInterest`` (what ccxt reports) counts both sides, dtrack one side (half of it);
OKX's ``openInterestAmount`` is contracts (dtrack's ``amount``), ``baseVolume`` coins (dtrack's ``base``); Deribit's
inverse ``openInterestValue`` is USD (dtrack's ``usd``); ccxt's candles open at ``t``, dtrack's closes are stamped at
the candle's close ``t + 1 h`` (the open candle: at the clock). dtrack has no order book: the book ccxt reads is
checked against dtrack's mark (best bid < mark <= best ask, one tick apart, the tick ccxt read from the listing).
What ccxt does not offer: Deribit has no ``fetchFundingRates`` and no OI history, Hyperliquid no OI history; ccxt's
Deribit ``fetchFundingRate`` is the funding accrued over the last 8 h (``get_funding_rate_value``), not the
``funding_8h`` dtrack shows, so it is checked against the hourly ``interest_1h`` of the same hours instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest

from conftest import SimThread
from dtrack.records import Instrument, Kind
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.pool import open_pool

#: the pinned market clock (2026-11-18 11:23:40.123 UTC: between settlements, inside an hour)
NOW_MS = 1_795_000_000_000 + 17 * 60_000 + 123
NOW = ms_to_utc(NOW_MS)
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]
#: ccxt's base codes of those assets' contracts (1000x PEPE contracts keep their prefix); Hyperliquid's delisted
#: coin (``isDelisted``, which dtrack leaves out) is none of them
BASES = {*ASSETS, "1000PEPE", "KPEPE"}
EXACT = 1e-12
HISTORY_MS = 2 * 24 * HOUR_MS
#: Binance's hosts by ccxt's default host (the other venues have one REST host, "rest")
BINANCE_HOSTS = {"fapi.binance.com": "usdm", "dapi.binance.com": "coinm", "eapi.binance.com": "options",
                 "api.binance.com": "spot", "papi.binance.com": "spot"}


@dataclass(frozen=True)
class Case:
    """One venue: ccxt's exchange class and options, the contract compared (ccxt's symbol, the venue's id), and
    which of dtrack's contracts ccxt's markets cover (Binance: ccxt's ``binanceusdm`` is the USDⓈ-M host)."""

    exchange: str
    symbol: str
    venue_id: str
    options: dict[str, Any] = field(default_factory=dict)
    covers: Callable[[Instrument], bool] = lambda _i: True


CASES = {
    "binance": Case("binanceusdm", "BTC/USDT:USDT", "BTCUSDT", {"fetchCurrencies": False},
                    lambda i: i.market == "usdm"),
    "bybit": Case("bybit", "BTC/USDT:USDT", "BTCUSDT", {"fetchMarkets": {"types": ["linear", "inverse"]}}),
    "okx": Case("okx", "BTC/USDT:USDT", "BTC-USDT-SWAP", {"fetchMarkets": {"types": ["swap", "future"]}}),
    "deribit": Case("deribit", "BTC/USD:BTC", "BTC-PERPETUAL"),
    "hyperliquid": Case("hyperliquid", "BTC/USDC:USDC", "BTC"),
}
VENUES = sorted(CASES)


def point_at(exchange: ccxt.Exchange, venue: str, urls: dict[str, dict[str, str]]) -> ccxt.Exchange:
    """``exchange`` with every ``urls['api']`` entry on the sim: the sim's base URL for the entry's host, ccxt's own
    path after it (``https://fapi.binance.com/fapi/v1`` -> ``http://127.0.0.1:PORT/binance/usdm/fapi/v1``)."""
    api = exchange.urls["api"]
    for key, url in api.items():
        parts = urlsplit(url)
        host = BINANCE_HOSTS[parts.netloc] if venue == "binance" else "rest"
        api[key] = urls[venue][host] + parts.path
    return exchange


def native_id(market: dict[str, Any]) -> str:
    """The venue's own name of a ccxt market (Hyperliquid's ccxt ``id`` is the asset index: its name is the coin)."""
    return str(market["info"]["name"]) if market["id"].isdigit() else str(market["id"])


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    """The sim on a real socket, its market clock pinned at NOW."""
    server = SimThread(model=MarketModel(7, now_ms=NOW_MS))
    yield server
    server.close()


@pytest.fixture(scope="module")
def clients(market: SimThread) -> dict[str, ccxt.Exchange]:
    """One ccxt exchange per venue, pointed at the sim, markets loaded."""
    out = {}
    for venue, case in CASES.items():
        exchange = getattr(ccxt, case.exchange)({"enableRateLimit": False, "options": dict(case.options)})
        point_at(exchange, venue, market.venue_urls())
        exchange.load_markets()
        out[venue] = exchange
    return out


@dataclass
class Seen:
    """What dtrack read from one venue: its contracts, the compared perpetual and dtrack's records of it."""

    contracts: list[Instrument]
    perp: Instrument
    rates: dict[str, Any]
    history: Any
    oi: Any
    oi_history: Any
    closes: Any
    quote: Any


@pytest.fixture(scope="module")
def dtrack_side(market: SimThread, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seen]:
    """dtrack's adapters over the same sim, for the same contracts and windows."""
    settings = market.settings(tmp_path_factory.mktemp("dtrack"))

    async def read(venue: str) -> Seen:
        async with open_pool(settings, now=lambda: NOW) as pool:
            adapter = pool.adapter(venue)
            contracts = await adapter.contracts(ASSETS)
            perps = [i for i in contracts if i.kind is Kind.PERP]
            perp = next(i for i in perps if i.symbol == CASES[venue].venue_id)
            rates = await adapter.fetch_funding_rates(perps)
            start = ms_to_utc(NOW_MS - HISTORY_MS)
            oi_history = None
            if venue not in ("deribit", "hyperliquid"):  # neither publishes open-interest history
                oi_history = await adapter.fetch_oi_history(perp, start, NOW, 1)
            return Seen(contracts, perp, {r.instrument.symbol: r for r in rates.items},
                        await adapter.fetch_funding_history(perp, start, NOW),
                        (await adapter.fetch_open_interest([perp])).items[0], oi_history,
                        await adapter.fetch_price_history(perp, NOW - timedelta(hours=6), NOW, 1),
                        (await adapter.fetch_quotes([perp])).items[0])

    return {venue: asyncio.run(read(venue)) for venue in VENUES}


# --- markets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_markets_equal_dtracks_listing(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen],
                                       venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    ours = [i for i in seen.contracts if case.covers(i) and i.asset in ASSETS]
    theirs = {native_id(m): m for m in exchange.markets.values()
              if (m["swap"] or m["future"]) and m["active"] is not False and m["base"] in BASES}
    assert sorted(theirs) == sorted(i.symbol for i in ours)
    for inst in ours:
        m = theirs[inst.symbol]
        assert (m["swap"], m["future"]) == (inst.kind is Kind.PERP, inst.kind is Kind.FUTURE)
        assert m["inverse"] == (inst.margin.value == "inverse") and m["settle"] == inst.settle
        assert m["contractSize"] == pytest.approx(inst.contract_size, rel=EXACT)
        if inst.expiry is not None:
            assert m["expiry"] == utc_to_ms(inst.expiry)
    assert native_id(exchange.market(case.symbol)) == case.venue_id


def test_currencies_and_spot_listings(clients: dict[str, ccxt.Exchange], market: SimThread) -> None:
    """What ``load_markets`` read besides the contracts: Deribit's ``get_currencies``, Hyperliquid's ``spotMeta`` and
    ``spotMetaAndAssetCtxs`` (the Unit-wrapped coins, which ccxt names by their coin)."""
    assert {"BTC", "ETH", "USDC", "USDT", "EURR"} <= set(clients["deribit"].currencies)
    spot = {m["symbol"]: m for m in clients["hyperliquid"].markets.values() if m["spot"]}
    assert sorted(spot) == ["BTC/USDC", "ETH/USDC", "SOL/USDC"]
    for m in spot.values():
        assert float(m["info"]["midPx"]) == pytest.approx(market.model.spot_price("hyperliquid", m["base"], NOW_MS),
                                                          rel=EXACT)


# --- funding ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", [v for v in VENUES if v != "deribit"])  # ccxt has no Deribit fetchFundingRates
def test_funding_rates_of_every_perpetual(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen],
                                          venue: str) -> None:
    exchange, seen = clients[venue], dtrack_side[venue]
    theirs = {native_id(exchange.market(symbol)): r for symbol, r in exchange.fetch_funding_rates().items()
              if exchange.market(symbol)["swap"] and exchange.market(symbol)["base"] in BASES}  # (Bybit: futures too)
    assert theirs and set(theirs) <= set(seen.rates)
    if venue != "bybit":  # ccxt's Bybit fetchFundingRates reads one category (linear by default)
        assert set(theirs) == {s for s, r in seen.rates.items() if CASES[venue].covers(r.instrument)}
    for name, rate in theirs.items():
        assert rate["fundingRate"] == pytest.approx(seen.rates[name].rate, rel=EXACT), name


@pytest.mark.parametrize("venue", VENUES)
def test_funding_rate(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen], venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    if venue == "deribit":
        start = NOW_MS - 8 * HOUR_MS
        value = exchange.fetch_funding_rate(case.symbol, {"start_timestamp": start, "end_timestamp": NOW_MS})
        hourly = exchange.fetch_funding_rate_history(case.symbol, start + 1, 100, {"until": NOW_MS})
        assert len(hourly) == 8  # the whole hours in (start, NOW]
        assert value["fundingRate"] == pytest.approx(sum(r["info"]["interest_1h"] for r in hourly), rel=1e-9)
        return
    rate = exchange.fetch_funding_rate(case.symbol)
    ours = seen.rates[case.venue_id]
    assert rate["fundingRate"] == pytest.approx(ours.rate, rel=EXACT)
    if venue != "okx":  # OKX's funding-rate carries no prices
        assert rate["markPrice"] == pytest.approx(ours.mark_price, rel=EXACT)
        assert rate["indexPrice"] == pytest.approx(ours.index_price, rel=EXACT)
    if venue != "hyperliquid":  # ccxt computes Hyperliquid's next hour from its own clock
        assert rate["fundingTimestamp"] == utc_to_ms(ours.next_funding_time)


@pytest.mark.parametrize("venue", VENUES)
def test_funding_history(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen], venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    since = NOW_MS - HISTORY_MS
    theirs = exchange.fetch_funding_rate_history(case.symbol, since, 200, {"until": NOW_MS})
    ours = seen.history.points
    assert len(ours) >= 6  # two days: 8-hourly settlements at least
    assert [r["timestamp"] for r in theirs] == [utc_to_ms(p.time) for p in ours]
    assert [r["fundingRate"] for r in theirs] == pytest.approx([p.rate for p in ours], rel=EXACT)


# --- open interest -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_open_interest(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen], venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    oi = exchange.fetch_open_interest(case.symbol)
    ours = seen.oi
    if venue == "bybit":
        # ccxt reads the latest hourly bucket of /v5/market/open-interest: both sides, dtrack's point is one side
        (point,) = [p for p in seen.oi_history.points if utc_to_ms(p.time) == oi["timestamp"]]
        assert oi["openInterestAmount"] / 2 == pytest.approx(point.base, abs=1e-8)
    elif venue == "okx":
        assert oi["openInterestAmount"] == pytest.approx(ours.amount, rel=EXACT)  # contracts
        assert oi["baseVolume"] == pytest.approx(ours.base, rel=EXACT)
        assert oi["openInterestValue"] == pytest.approx(ours.usd, rel=EXACT)
    elif venue == "deribit":
        assert oi["openInterestValue"] == pytest.approx(ours.usd, rel=EXACT)  # USD: the inverse perpetual's unit
    else:
        assert oi["openInterestAmount"] == pytest.approx(ours.base, rel=EXACT)


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])  # ccxt has no Deribit/Hyperliquid OI history
def test_open_interest_history(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen], venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    since = NOW_MS - 24 * HOUR_MS
    theirs = exchange.fetch_open_interest_history(case.symbol, "1h", since, 24, {"until": NOW_MS})
    ours = {utc_to_ms(p.time): p for p in seen.oi_history.points}
    assert len(theirs) >= 20
    for row in theirs:
        point = ours[row["timestamp"]]
        if venue == "bybit":  # both sides, 8 decimals
            assert row["openInterestAmount"] / 2 == pytest.approx(point.base, abs=1e-8)
        elif venue == "okx":  # rubik rows: [ts, contracts, coins, USD]; ccxt: amount = coins
            assert float(row["info"][2]) == pytest.approx(point.base, rel=EXACT)
        else:
            assert row["openInterestAmount"] == pytest.approx(point.base, rel=EXACT)


# --- candles and the book ------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_ohlcv_closes(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen], venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    first = (NOW_MS - 6 * HOUR_MS) // HOUR_MS * HOUR_MS + HOUR_MS
    candles = exchange.fetch_ohlcv(case.symbol, "1h", first, 6, {"until": NOW_MS})
    assert [c[0] for c in candles] == list(range(first, NOW_MS, HOUR_MS))
    closes = {utc_to_ms(p.time): p.price for p in seen.closes}
    for opened, o, h, low, c, _volume in candles:
        assert low <= min(o, c) <= max(o, c) <= h
        assert c == pytest.approx(closes[min(opened + HOUR_MS, NOW_MS)], rel=EXACT)


@pytest.mark.parametrize("venue", VENUES)
def test_order_book_around_dtracks_mark(clients: dict[str, ccxt.Exchange], dtrack_side: dict[str, Seen],
                                        venue: str) -> None:
    exchange, seen, case = clients[venue], dtrack_side[venue], CASES[venue]
    book = exchange.fetch_order_book(case.symbol, 5)
    bids, asks = [b[0] for b in book["bids"]], [a[0] for a in book["asks"]]
    assert len(bids) == len(asks) == 5 if venue != "hyperliquid" else len(bids) == len(asks) == 20
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert all(level[1] > 0 for level in book["bids"] + book["asks"])
    tick = exchange.market(case.symbol)["precision"]["price"]
    assert bids[0] < seen.quote.mark_price <= asks[0]
    assert asks[0] - bids[0] == pytest.approx(tick, rel=1e-9)
