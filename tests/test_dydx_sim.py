"""Simulated dYdX v4 indexer against the real answers (shapes), and the real adapter over real sockets against the
simulation: values equal to the market model's, paging backwards, the listing's filters, the disk cache, and every
fault kind (the indexer's 429 carries Retry-After in milliseconds)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dtrack.config import Settings
from dtrack.errors import ParseError, RateLimited, VenueUnavailable
from dtrack.records import Kind, Margin
from dtrack.sim.faults import Faults
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues import dydx as sim_dydx
from dtrack.venues.base import Adapter
from dtrack.venues.dydx import api, parse
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from dtrack.venues.pool import open_pool
from shapes import shape_differences

T = TypeVar("T")
Payload = Callable[[str], dict[str, Any]]
#: the market clock and the adapter clock, pinned to the same instant (not on an hour boundary)
NOW = datetime(2026, 11, 20, 13, 27, 45, 123000, tzinfo=UTC)
NOW_MS = utc_to_ms(NOW)
EXACT = 1e-12
ASSETS = ("BTC", "ETH", "SOL", "PEPE")
TICKERS = ["BTC-USD", "ETH-USD", "SOL-USD", "PEPE-USD"]


def _get(sim: Any, path: str) -> tuple[int, dict[str, str], Any]:
    url = sim.venue_urls()["dydx"]["rest"] + path
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def _real(payload: Payload, name: str) -> Any:
    return payload(name)["cases"][0]["raw"]


# --- (a) conformance with the real answers ----------------------------------------------------------------


def test_shape_perpetual_markets(sim: Any, payload: Payload) -> None:
    status, _headers, body = _get(sim, "/v4/perpetualMarkets")
    assert status == 200
    real = _real(payload, "dydx__ccxt_fetchMarkets.json")["markets"]["BTC-USD"]
    for ticker, market in body["markets"].items():
        assert market["ticker"] == ticker
        assert shape_differences(market, real) == []
        assert set(market) == set(real)  # nothing the indexer does not send
    assert body["markets"][sim_dydx.SETTLED_TICKER]["status"] == "FINAL_SETTLEMENT"


def test_shape_historical_funding(sim: Any, payload: Payload) -> None:
    status, _headers, body = _get(sim, "/v4/historicalFunding/BTC-USD?limit=5")
    assert status == 200 and len(body["historicalFunding"]) == 5
    assert shape_differences(body, _real(payload, "dydx__ccxt_fetchFundingRateHistory.json")) == []
    times = [row["effectiveAt"] for row in body["historicalFunding"]]
    assert times == sorted(times, reverse=True)  # newest first


def test_shape_candles(sim: Any, payload: Payload) -> None:
    status, _headers, body = _get(sim, "/v4/candles/perpetualMarkets/BTC-USD?resolution=1MIN&limit=3")
    assert status == 200 and len(body["candles"]) == 3
    assert shape_differences(body, _real(payload, "dydx__ccxt_fetchOHLCV.json")) == []


def test_shape_order_book(sim: Any, payload: Payload) -> None:
    status, _headers, body = _get(sim, "/v4/orderbooks/perpetualMarket/BTC-USD")
    assert status == 200 and len(body["bids"]) == len(body["asks"]) == sim_dydx.BOOK_LEVELS
    assert shape_differences(body, _real(payload, "dydx__ccxt_fetchOrderBook.json")) == []


@pytest.mark.parametrize(("path", "status", "param"), [
    ("/v4/historicalFunding/BTC-USD?limit=1001", 400, "limit"),
    ("/v4/historicalFunding/BTC-USD?effectiveBeforeOrAt=yesterday", 400, "effectiveBeforeOrAt"),
    ("/v4/candles/perpetualMarkets/BTC-USD?resolution=2HOURS", 400, "resolution"),
])
def test_bad_parameters_get_the_indexers_400(sim: Any, path: str, status: int, param: str) -> None:
    got, _headers, body = _get(sim, path)
    assert got == status and body["errors"][0]["param"] == param


def test_unknown_ticker_of_the_market_list_is_404(sim: Any) -> None:
    status, _headers, body = _get(sim, "/v4/perpetualMarkets?ticker=NOPE-USD")
    assert status == 404 and "NOPE-USD not found" in body["errors"][0]["msg"]
    assert list(_get(sim, "/v4/perpetualMarkets?ticker=ETH-USD")[2]["markets"]) == ["ETH-USD"]


def test_candles_follow_the_window_and_the_model() -> None:
    model = MarketModel(7, now_ms=NOW_MS)
    perp = model.perp("dydx", "ETH-USD")
    assert perp is not None
    day = utc_to_ms(datetime(2026, 11, 20, tzinfo=UTC))
    req = _request(model, "/v4/candles/perpetualMarkets/ETH-USD", {
        "resolution": "4HOURS", "fromISO": sim_dydx.iso(day + 4 * HOUR_MS + 1), "toISO": sim_dydx.iso(NOW_MS + 1)})
    body = sim_dydx.candles(model, perp, req)
    # fromISO is inclusive (04:00:00.001 excludes the 04:00 candle), toISO exclusive; newest first, the open one last
    assert [c["startedAt"] for c in body["candles"]] == [sim_dydx.iso(day + 12 * HOUR_MS),
                                                          sim_dydx.iso(day + 8 * HOUR_MS)]
    o, h, low, c = model.candle(perp, day + 8 * HOUR_MS, 4 * HOUR_MS)
    assert [float(body["candles"][1][k]) for k in ("open", "high", "low", "close")] == pytest.approx(
        [o, h, low, c], rel=EXACT)


def _request(model: MarketModel, path: str, query: dict[str, str]) -> Any:
    from dtrack.sim.server import SimRequest

    return SimRequest("dydx", "rest", path, query, None, model.now_ms())


# --- (b) the real adapter against the simulation ---------------------------------------------------------------


def _run(settings: Settings, fn: Callable[[Adapter], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_pool(settings, now=lambda: NOW) as pool:
            return await fn(pool.adapter("dydx"))

    return asyncio.run(main())


@pytest.fixture
def pinned(sim_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Settings, Path]:
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path), log


def _calls(log: Path, prefix: str = "/v4/") -> list[str]:
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [r["path"] for r in rows if r["venue"] == "dydx" and r["path"].startswith(prefix)]


async def _perps(a: Adapter) -> list[Any]:
    return await a.perpetuals(ASSETS)


def test_instruments_skip_the_settled_market(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    insts = _run(settings, lambda a: a.instruments())
    assert [i.symbol for i in insts] == TICKERS
    assert all((i.quote, i.settle, i.kind, i.margin) == ("USDC", "USDC", Kind.PERP, Margin.LINEAR) for i in insts)


def test_funding_equals_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned

    async def go(a: Adapter) -> Any:
        return await a.fetch_funding_rates(await _perps(a))

    result = _run(settings, go)
    assert result.errors == []
    markets = {t: m for t, m in _get(server, "/v4/perpetualMarkets")[2]["markets"].items()}
    for row in result.items:
        perp = server.model.perp("dydx", row.instrument.symbol)
        rate, nxt = server.model.current_funding(perp, NOW_MS)
        assert row.rate == pytest.approx(rate, rel=EXACT)
        assert (row.interval_hours, row.next_funding_time) == (1.0, ms_to_utc(nxt))
        assert row.next_funding_time == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
        assert row.index_price == pytest.approx(server.model.index_price(perp.asset, NOW_MS), rel=EXACT)
        served = float(markets[perp.symbol]["openInterest"]) * float(markets[perp.symbol]["oraclePrice"])
        assert row.open_interest_usd == pytest.approx(served, rel=EXACT)
        # the sim rounds open interest to the market's step
        model_usd = server.model.open_interest_base(perp, NOW_MS) * server.model.index_price(perp.asset, NOW_MS)
        assert row.open_interest_usd == pytest.approx(model_usd, rel=1e-3)
    pepe = next(r for r in result.items if r.instrument.symbol == "PEPE-USD")
    assert "isolated-margin market" in pepe.note


def test_funding_open_interest_and_quotes_share_one_market_list(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, log = pinned

    async def go(a: Adapter) -> Any:
        perps = await _perps(a)
        before = len(_calls(log))
        answers = await asyncio.gather(a.fetch_funding_rates(perps), a.fetch_open_interest(perps),
                                       a.fetch_quotes(perps))
        return answers, _calls(log)[before:]

    (rates, oi, quotes), calls = _run(settings, go)
    assert calls.count("/v4/perpetualMarkets") == 1  # shared in flight
    assert sorted(c for c in calls if c != "/v4/perpetualMarkets") == sorted(
        f"/v4/orderbooks/perpetualMarket/{t}" for t in TICKERS)
    assert len(rates.items) == len(oi.items) == len(quotes.items) == 4
    for q in quotes.items:
        assert q.mark_price is None and q.last_price is not None and q.index_price is not None
        assert abs(q.last_price / q.index_price - 1) < 0.01  # the book mid around the mark


def test_history_seven_days_equals_the_model(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    start = NOW - timedelta(days=7)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("SOL-USD"), start, NOW))
    perp = server.model.perp("dydx", "SOL-USD")
    expected = [(ms_to_utc(t + sim_dydx.settle_lag_ms(t)), r) for t, r in
                server.model.settlements(perp, utc_to_ms(start) - HOUR_MS, NOW_MS)
                if utc_to_ms(start) <= t + sim_dydx.settle_lag_ms(t) <= NOW_MS]
    assert len(expected) == 168
    assert [(p.time, p.rate) for p in hist.points] == expected
    assert {p.interval_hours for p in hist.points} == {1.0} and hist.note == ""
    assert len(_calls(log, "/v4/historicalFunding/SOL-USD")) == 1


def test_history_pages_backwards_past_1000_rows(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    start = NOW - timedelta(days=50)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("ETH-USD"), start, NOW))
    assert len(hist.points) == 1200
    calls = _calls(log, "/v4/historicalFunding/ETH-USD")
    assert len(calls) == 2 and all("limit=1000" in c for c in calls)
    perp = server.model.perp("dydx", "ETH-USD")
    assert [p.rate for p in hist.points] == [r for _t, r in server.model.settlements(perp, utc_to_ms(start),
                                                                                     NOW_MS)]


def test_history_pages_through_a_lower_page_cap(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    server.server.faults.page_caps[("dydx", "/v4/historicalFunding/ETH-USD")] = 100
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("ETH-USD"), NOW - timedelta(days=10),
                                                            NOW))
    assert len(hist.points) == 240
    assert len(_calls(log, "/v4/historicalFunding/ETH-USD")) == 3  # a short page is not taken as the end


def test_history_without_progress_is_an_error(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    routes = server.server.routes
    key = ("dydx", "rest", "GET", "/v4/historicalFunding/ETH-USD")
    served = routes.table[key]
    routes.table[key] = lambda req: served(replace(req, query={"limit": req.query.get("limit", "1000")}))
    try:
        with pytest.raises(ParseError, match="no progress"):
            _run(settings, lambda a: a.fetch_funding_history(parse.instrument("ETH-USD"), NOW - timedelta(days=60),
                                                             NOW))
    finally:
        routes.table[key] = served


def test_history_says_when_the_venue_has_less(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, _log = pinned
    start, end = datetime(2023, 10, 20, tzinfo=UTC), datetime(2023, 10, 27, tzinfo=UTC)
    hist = _run(settings, lambda a: a.fetch_funding_history(parse.instrument("BTC-USD"), start, end))
    assert hist.points[0].time.replace(second=0, microsecond=0) == datetime(2023, 10, 26, 0, 0, tzinfo=UTC)
    assert "from 2023-10-26 00:00 UTC only" in hist.note


def test_klines_and_oi_history_from_the_same_candles(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, log = pinned
    inst = parse.instrument("BTC-USD")
    start = NOW - timedelta(hours=6)

    async def go(a: Adapter) -> Any:
        return await asyncio.gather(a.fetch_price_history(inst, start, NOW, 1), a.fetch_oi_history(inst, start, NOW,
                                                                                                   1))

    closes, oi = _run(settings, go)
    perp = server.model.perp("dydx", "BTC-USD")
    assert len(_calls(log, "/v4/candles/")) == 1  # the two share one request
    assert [p.time for p in closes][-1] == NOW  # the open candle is stamped now
    assert closes[-1].price == pytest.approx(server.model.mark_price(perp, NOW_MS), rel=EXACT)
    hours = [datetime(2026, 11, 20, h, tzinfo=UTC) for h in range(8, 14)]
    assert [p.time for p in oi.points] == hours
    for p in oi.points:
        assert p.base == pytest.approx(server.model.open_interest_base(perp, utc_to_ms(p.time)), abs=1e-4)


def test_second_call_reads_instruments_from_disk(pinned: tuple[Any, Settings, Path]) -> None:
    _server, settings, log = pinned

    async def go(a: Adapter) -> Any:
        return await a.fetch_funding_rates(await _perps(a))

    _run(settings, go)
    assert _calls(log).count("/v4/perpetualMarkets") == 2  # the listing, then the rates
    _run(settings, go)
    assert _calls(log).count("/v4/perpetualMarkets") == 3


# --- faults --------------------------------------------------------------------------------------------------


def test_429_retry_after_is_read_in_milliseconds(sim_factory: Callable[..., Any], tmp_path: Path) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), faults=Faults(venues={"dydx": "429"}))
    status, headers, body = _get(server, "/v4/perpetualMarkets")
    assert (status, headers["Retry-After"], body) == (429, "1000", {"errors": [{"msg": "Too many requests"}]})
    settings = server.settings(tmp_path, max_wait=1.0, retries=0)
    with pytest.raises(RateLimited) as err:
        _run(settings, lambda a: a.instruments())
    # the indexer's "1000" is 1 s, not 1000 s: dtrack waits the indexer's window (10 s) at most, never 1000 s
    assert err.value.retry_after == api.RATE_LIMIT_WINDOW_S


@pytest.mark.parametrize(("kind", "error"), [("500", VenueUnavailable), ("malformed", ParseError),
                                             ("down", VenueUnavailable)])
def test_faults_are_classified(sim_factory: Callable[..., Any], tmp_path: Path, kind: str, error: type) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), faults=Faults(venues={"dydx": kind}))
    settings = server.settings(tmp_path, retries=1, backoff=0.01, timeout=2.0)
    with pytest.raises(error):
        _run(settings, lambda a: a.instruments())


def test_a_failed_book_costs_only_the_last_price(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    server.server.faults.endpoints[("dydx", "/v4/orderbooks/perpetualMarket/ETH-USD")] = 500

    async def go(a: Adapter) -> Any:
        return await a.fetch_quotes(await _perps(a))

    quotes = _run(replace(settings, http=replace(settings.http, retries=0)), go)
    eth = next(q for q in quotes.items if q.instrument.symbol == "ETH-USD")
    assert eth.last_price is None and eth.index_price is not None
    assert len(quotes.items) == 4 and [type(e) for e in quotes.errors] == [VenueUnavailable]


def test_an_implausible_market_costs_only_its_ticker(pinned: tuple[Any, Settings, Path]) -> None:
    server, settings, _log = pinned
    server.server.faults.odd_rows[("dydx", "/v4/perpetualMarkets", "SOL-USD")] = {"openInterest": "-3"}

    async def go(a: Adapter) -> Any:
        return await a.fetch_open_interest(await _perps(a))

    oi = _run(settings, go)
    assert sorted(o.instrument.symbol for o in oi.items) == ["BTC-USD", "ETH-USD", "PEPE-USD"]
    assert [(e.kind, e.symbol) for e in oi.errors] == [("implausible", "SOL-USD")]
