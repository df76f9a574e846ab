"""ccxt's dydx exchange, unmodified but for its URLs, against the simulated indexer: a real third-party client asks
the sim what it asks the real indexer, and its numbers equal dtrack's for the same market (see
test_ccxt_conformance.py for the other venues; dydx runs here because ccxt offers it fewer methods).

ccxt (sync, ``enableRateLimit: False``) reads ``perpetualMarkets`` (``load_markets``), ``historicalFunding``
(``fetch_funding_rate_history``, ``until`` -> ``effectiveBeforeOrAt``), ``candles`` (``fetch_ohlcv``; ccxt sends
``fromIso``/``toIso``, which the indexer does not know and ignores, so it gets the newest candles) and
``orderbooks`` (``fetch_order_book``). ccxt has no dydx ``fetchFundingRate(s)`` or ``fetchOpenInterest``: what dtrack
reads from ``perpetualMarkets`` is checked against the ``info`` ccxt keeps of the same answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest

from conftest import SimThread
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.pool import open_pool

NOW_MS = 1_795_000_000_000 + 17 * 60_000 + 123
NOW = ms_to_utc(NOW_MS)
EXACT = 1e-12
SYMBOL, TICKER = "BTC/USDC:USDC", "BTC-USD"


@pytest.fixture(scope="module")
def market() -> Iterator[SimThread]:
    server = SimThread(model=MarketModel(7, now_ms=NOW_MS))
    yield server
    server.close()


@pytest.fixture(scope="module")
def exchange(market: SimThread) -> ccxt.Exchange:
    ex = ccxt.dydx({"enableRateLimit": False})
    base = market.venue_urls()["dydx"]["rest"]
    for key, url in list(ex.urls["api"].items()):
        ex.urls["api"][key] = base + urlsplit(url).path  # ccxt's own path (/v4) after the sim's host
    ex.load_markets()
    return ex


@pytest.fixture(scope="module")
def ours(market: SimThread, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = market.settings(tmp_path_factory.mktemp("dtrack"))

    async def read() -> dict[str, Any]:
        async with open_pool(settings, now=lambda: NOW) as pool:
            a = pool.adapter("dydx")
            perps = await a.perpetuals(["BTC", "ETH", "SOL", "PEPE"])
            btc = next(i for i in perps if i.symbol == TICKER)
            return {"perps": perps, "rates": (await a.fetch_funding_rates(perps)).items,
                    "oi": (await a.fetch_open_interest([btc])).items[0],
                    "history": await a.fetch_funding_history(btc, ms_to_utc(NOW_MS - 48 * HOUR_MS), NOW),
                    "closes": await a.fetch_price_history(btc, NOW - timedelta(hours=6), NOW, 1),
                    "quote": (await a.fetch_quotes([btc])).items[0]}

    return asyncio.run(read())


def test_markets_equal_dtracks_listing(exchange: ccxt.Exchange, ours: dict[str, Any]) -> None:
    theirs = {m["id"]: m for m in exchange.markets.values() if m["active"]}
    assert sorted(theirs) == sorted(i.symbol for i in ours["perps"])  # LUNA-USD (FINAL_SETTLEMENT): neither
    for inst in ours["perps"]:
        m = theirs[inst.symbol]
        assert (m["swap"], m["linear"], m["settle"], m["base"]) == (True, True, inst.settle, inst.asset)


def test_funding_and_open_interest_read_the_same_fields(exchange: ccxt.Exchange, ours: dict[str, Any]) -> None:
    for rate in ours["rates"]:
        info = exchange.markets_by_id[rate.instrument.symbol][0]["info"]
        assert rate.rate == pytest.approx(float(info["nextFundingRate"]), rel=EXACT)
        assert rate.index_price == pytest.approx(float(info["oraclePrice"]), rel=EXACT)
    info = exchange.market(SYMBOL)["info"]
    assert ours["oi"].base == pytest.approx(float(info["openInterest"]), rel=EXACT)


def test_funding_history(exchange: ccxt.Exchange, ours: dict[str, Any]) -> None:
    theirs = exchange.fetch_funding_rate_history(SYMBOL, NOW_MS - 48 * HOUR_MS, 100, {"until": NOW_MS})
    points = ours["history"].points
    assert len(points) == 48
    assert [r["timestamp"] for r in theirs] == [utc_to_ms(p.time) for p in points]
    assert [r["fundingRate"] for r in theirs] == pytest.approx([p.rate for p in points], rel=EXACT)


def test_ohlcv_closes(exchange: ccxt.Exchange, ours: dict[str, Any]) -> None:
    candles = exchange.fetch_ohlcv(SYMBOL, "1h", None, 6)
    closes = {utc_to_ms(p.time): p.price for p in ours["closes"]}
    assert [c[0] for c in candles] == [NOW_MS // HOUR_MS * HOUR_MS - k * HOUR_MS for k in range(5, -1, -1)]
    for opened, _o, _h, _low, close, _v in candles:
        assert close == pytest.approx(closes[min(opened + HOUR_MS, NOW_MS)], rel=EXACT)


def test_order_book_mid_is_dtracks_last_price(exchange: ccxt.Exchange, ours: dict[str, Any]) -> None:
    book = exchange.fetch_order_book(SYMBOL)
    bid, ask = book["bids"][0][0], book["asks"][0][0]
    assert bid < ask and ask - bid == pytest.approx(exchange.market(SYMBOL)["precision"]["price"], rel=1e-9)
    assert ours["quote"].last_price == pytest.approx((bid + ask) / 2, rel=EXACT)
