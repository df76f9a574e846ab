"""Simulated Bybit options (instruments-info, tickers, recent-trade, historical-volatility) against the real
captures (shapes), and the real Bybit adapter against the sim over sockets: the chain, trades and realized
volatility equal the ``OptionsModel``'s, in one round, and faults behave (core -> raises, enrichment -> errors).

Tolerances: the sim writes the model's floats at full precision, so values read back are compared at
rel=1e-12; trade IVs are the model's percent points with 2 decimals, sent as fractions with 4 (abs 1e-12 of
the rounded value); realized volatility is sent with 8 decimals (abs 5e-9).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import SimThread, load_payload
from dtrack.config import Settings
from dtrack.errors import ParseError, UnsupportedError, VenueError
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel
from dtrack.sim.options import OptionsModel
from dtrack.sim.server import SimRequest
from dtrack.sim.venues import bybit as bybit_sim
from dtrack.venues.bybit.adapter import BybitAdapter
from dtrack.venues.fields import ms_to_utc, page_windows, utc_to_ms
from dtrack.venues.pool import open_pool
from shapes import shape_differences

T = TypeVar("T")
NOW_MS = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC, the pinned market clock
NOW = ms_to_utc(NOW_MS)
REL = 1e-12
CCXT_LOOSE = frozenset({"retCode", "time"})  # ccxt re-serialised these as strings (INDEX.md)
TICKERS = "/v5/market/tickers"
INSTRUMENTS = "/v5/market/instruments-info"


def sim_get(sim: SimThread, path_qs: str) -> Any:
    with urllib.request.urlopen(sim.venue_urls()["bybit"]["rest"] + path_qs, timeout=30) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def real(name: str, index: int = 0) -> Any:
    return load_payload(name)["cases"][index]["raw"]


@pytest.fixture
def pinned(sim_factory: Callable[..., SimThread], tmp_path: Path) -> SimThread:
    """A sim with a fixed market clock and a request log."""
    return sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(tmp_path / "requests.jsonl"))


@pytest.fixture
def options(pinned: SimThread) -> OptionsModel:
    return OptionsModel(pinned.model)


def run(settings: Settings, fn: Callable[[BybitAdapter], Awaitable[T]]) -> T:
    """``fn(adapter)`` in a fresh loop, the adapter's clock pinned to the sim's."""

    async def main() -> T:
        async with open_pool(settings, now=lambda: NOW) as pool:
            adapter = pool.adapter("bybit")
            assert isinstance(adapter, BybitAdapter)
            return await fn(adapter)

    return asyncio.run(main())


def logged(tmp_path: Path, path_prefix: str = "/") -> list[str]:
    rows = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["path"] for r in rows if r["venue"] == "bybit" and r["path"].startswith(path_prefix)]


# --- (a) conformance with the real captures -----------------------------------------------------


@pytest.mark.parametrize(("path_qs", "name", "index", "loose"), [
    ("/v5/market/tickers?category=option&baseCoin=BTC", "bybit__ccxt_fetchTickers.json", 0, CCXT_LOOSE),
    ("/v5/market/tickers?category=option&baseCoin=SOL", "bybit__ccxt_fetchAllGreeks.json", 0, CCXT_LOOSE),
    ("/v5/market/tickers?category=option&baseCoin=ETH&expDate=5JUN26", "bybit__rest_tickers__docs.json", 1,
     frozenset()),
    ("/v5/market/instruments-info?category=option&baseCoin=ETH", "bybit__rest_instruments_info__docs.json", 2,
     frozenset()),
    ("/v5/market/instruments-info?category=option", "bybit__rest_instruments_info__docs.json", 2, frozenset()),
    ("/v5/market/recent-trade?category=option&baseCoin=BTC&limit=50", "bybit__rest_recent_trade__docs.json", 0,
     frozenset()),
    ("/v5/market/historical-volatility?category=option&baseCoin=ETH&period=30",
     "bybit__rest_historical_volatility__docs.json", 0, frozenset()),
])
def test_sim_matches_real_shapes(pinned: SimThread, path_qs: str, name: str, index: int,
                                 loose: frozenset[str]) -> None:
    body = sim_get(pinned, path_qs)
    rows = body["result"] if isinstance(body["result"], list) else body["result"]["list"]
    assert rows, "the sim served no rows to compare"
    assert shape_differences(body, real(name, index), loose_types=loose) == []


def test_sim_option_rows_carry_the_model(pinned: SimThread, options: OptionsModel) -> None:
    """Tickers and instruments-info list the same options as the model, with its numbers."""
    tickers = sim_get(pinned, "/v5/market/tickers?category=option&baseCoin=BTC")["result"]["list"]
    listing = sim_get(pinned, "/v5/market/instruments-info?category=option&baseCoin=BTC")["result"]["list"]
    chain = {q.option.instrument: q for q in options.chain("bybit", "BTC", NOW_MS)}
    assert sorted(r["symbol"] for r in tickers) == sorted(r["symbol"] for r in listing) == sorted(chain)
    for row in tickers:
        q = chain[row["symbol"]]
        assert float(row["markPrice"]) == q.mark_price_usd and float(row["markIv"]) == q.mark_iv
        assert float(row["underlyingPrice"]) == q.underlying_price and float(row["openInterest"]) == q.open_interest
        assert row["bid1Price"] == "0" if q.bid_price_usd is None else float(row["bid1Price"]) == q.bid_price_usd
    for row in listing:
        o = chain[row["symbol"]].option
        assert (int(row["deliveryTime"]), row["optionsType"], row["settleCoin"]) == (
            o.expiry_ms, "Call" if o.is_call else "Put", "USDC")


def test_sim_option_paging_and_filters(pinned: SimThread, options: OptionsModel) -> None:
    listed = sorted(o.instrument for o in options.listed("bybit", "ETH", NOW_MS))
    got: list[str] = []
    cursor = ""
    for _ in range(20):
        page = sim_get(pinned, f"/v5/market/instruments-info?category=option&baseCoin=ETH&limit=100{cursor}")
        got += [r["symbol"] for r in page["result"]["list"]]
        if not page["result"]["nextPageCursor"]:
            break
        cursor = "&cursor=" + page["result"]["nextPageCursor"]
    assert got == listed and len(listed) > 200
    one = sim_get(pinned, f"/v5/market/tickers?category=option&symbol={listed[5]}")["result"]["list"]
    assert [r["symbol"] for r in one] == [listed[5]]
    assert sim_get(pinned, "/v5/market/tickers?category=option&baseCoin=PEPE")["result"]["list"] == []
    calls = sim_get(pinned, "/v5/market/recent-trade?category=option&baseCoin=BTC&optionType=Call&limit=30")
    rows = calls["result"]["list"]
    assert len(rows) == 30 and all(r["symbol"].endswith("-C") for r in rows)
    assert [int(r["time"]) for r in rows] == sorted((int(r["time"]) for r in rows), reverse=True)


@pytest.mark.parametrize(("path_qs", "message"), [
    ("/v5/market/tickers?category=option", "baseCoin or symbol is required"),
    ("/v5/market/tickers?category=option&symbol=BTC-1JAN20-1000-C", "symbol invalid"),
    ("/v5/market/recent-trade?category=option&optionType=Both", "optionType invalid"),
    ("/v5/market/recent-trade?category=option&limit=1001", "limit out of range"),
    ("/v5/market/historical-volatility?category=option&period=30&startTime=1779900000000", "go together"),
    ("/v5/market/historical-volatility?category=option&period=30&startTime=1770000000000&endTime=1780000000000",
     "exceeds 30 days"),
    ("/v5/market/historical-volatility?category=option&period=7", "not simulated"),
])
def test_sim_bad_requests_are_retcode_10001(pinned: SimThread, path_qs: str, message: str) -> None:
    body = sim_get(pinned, path_qs)
    assert body["retCode"] == 10001 and message in body["retMsg"]


# --- (b) the adapter against the sim ------------------------------------------------------------


@pytest.mark.parametrize("asset", ["BTC", "ETH", "SOL"])
def test_chain_equals_the_model(pinned: SimThread, options: OptionsModel, tmp_path: Path, asset: str) -> None:
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_chain(asset))
    assert answer.errors == []
    model = {q.option.instrument: q for q in options.chain("bybit", asset, NOW_MS)}
    got = {q.symbol: q for q in answer.items}
    assert sorted(got) == sorted(model) and len(got) == len(answer.items)
    # expiries and strikes complete: every listed expiry, every strike of each, as calls and puts
    assert sorted({q.expiry for q in answer.items}) == [ms_to_utc(e) for e in options.expiries("bybit", asset, NOW_MS)]
    for symbol, q in got.items():
        m = model[symbol]
        o = m.option
        assert (q.venue, q.asset, q.expiry, q.strike, q.is_call, q.time) == (
            "bybit", asset, ms_to_utc(o.expiry_ms), o.strike, o.is_call, NOW)
        assert (q.settle, q.contract_size) == ("USDC", 1.0)
        assert q.mark_price_usd == pytest.approx(m.mark_price_usd, rel=REL)
        assert q.mark_price_coin == pytest.approx(m.mark_price_coin, rel=REL)  # USD / forward, as the model's
        assert q.underlying_price == pytest.approx(m.underlying_price, rel=REL)
        assert q.index_price == pytest.approx(m.index_price, rel=REL)
        assert q.mark_iv == pytest.approx(m.mark_iv, rel=REL) and q.ask_iv == pytest.approx(m.ask_iv, rel=REL)
        assert q.bid_iv == (None if m.bid_iv is None else pytest.approx(m.bid_iv, rel=REL))
        assert q.bid_price_usd == (None if m.bid_price_usd is None else pytest.approx(m.bid_price_usd, rel=REL))
        assert q.ask_price_usd == pytest.approx(m.ask_price_usd, rel=REL)
        for greek in ("delta", "gamma", "vega", "theta"):
            assert getattr(q, greek) == pytest.approx(getattr(m, greek), rel=REL), greek
        assert q.open_interest == pytest.approx(m.open_interest, rel=REL)
        assert q.volume == pytest.approx(m.volume_24h, rel=REL)
        assert 0.0 < q.mark_iv < 3.0  # a fraction, not percent points


def test_chain_is_one_round_and_the_listing_is_cached(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    """Cold: instruments-info (one page) beside the tickers; warm: the tickers alone. Each run is one round
    (requests all in flight before any is answered); the sim holds a round's answers until its requests have
    arrived, so the rounds are what the adapter sent together however slow the machine."""
    sim = sim_factory(model=MarketModel(7, now_ms=NOW_MS), hold=(2, 1), log_requests=str(tmp_path / "requests.jsonl"))

    async def chain(adapter: BybitAdapter) -> None:
        answer = await adapter.fetch_option_chain("BTC")
        assert answer.errors == [] and answer.items

    settings = sim.settings(tmp_path)
    run(settings, chain)
    assert sorted(urlsplit(p).path for p in logged(tmp_path)) == [INSTRUMENTS, TICKERS]
    run(settings, chain)
    assert sorted(urlsplit(p).path for p in logged(tmp_path)) == [INSTRUMENTS, TICKERS, TICKERS]
    assert [[urlsplit(p).path for p in r] for r in sim.rounds()] == [[INSTRUMENTS, TICKERS], [TICKERS]]
    assert sim.flight.timed_out == 0
    (query,) = [parse_qs(urlsplit(p).query) for p in logged(tmp_path, INSTRUMENTS)]
    assert query == {"category": ["option"], "baseCoin": ["BTC"], "limit": ["1000"]}


def test_chain_follows_instrument_cursors(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.page_caps[("bybit", INSTRUMENTS)] = 100  # pages of 100 rows, whatever the limit asked
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_chain("BTC"))
    assert answer.errors == [] and len(answer.items) == 468
    pages = logged(tmp_path, INSTRUMENTS)
    assert len(pages) == 5 and sum("cursor=" in p for p in pages) == 4


def test_unquoted_option_is_kept_without_a_mark(pinned: SimThread, options: OptionsModel, tmp_path: Path) -> None:
    chain = options.chain("bybit", "ETH", NOW_MS)
    gone = chain[40]
    tickers = partial(bybit_sim.tickers, pinned.model, options=options)

    def without_one(req: SimRequest) -> Any:
        body = tickers(req)
        body["result"]["list"] = [r for r in body["result"]["list"] if r["symbol"] != gone.option.instrument]
        return body

    pinned.server.routes.add("bybit", "rest", "GET", TICKERS, without_one)
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_chain("ETH"))
    assert answer.errors == [] and len(answer.items) == len(chain)
    (q,) = [q for q in answer.items if q.symbol == gone.option.instrument]
    assert (q.mark_price_usd, q.mark_price_coin, q.mark_iv, q.delta, q.open_interest) == (None, None, None, None, 0.0)
    assert q.underlying_price == pytest.approx(gone.underlying_price, rel=REL)  # its expiry's forward
    assert q.expiry == ms_to_utc(gone.option.expiry_ms)


def test_no_options_on_the_coin(pinned: SimThread, tmp_path: Path) -> None:
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_chain("PEPE"))
    assert (answer.items, answer.errors) == ([], [])


def test_tickers_500_fails_the_chain(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.endpoints[("bybit", TICKERS)] = 500
    with pytest.raises(VenueError) as info:
        run(pinned.settings(tmp_path, retries=0), lambda a: a.fetch_option_chain("BTC"))
    assert info.value.venue == "bybit" and info.value.status == 500 and TICKERS in str(info.value)


def test_instruments_500_is_an_error_and_the_chain_serves(pinned: SimThread, options: OptionsModel,
                                                          tmp_path: Path) -> None:
    pinned.server.faults.endpoints[("bybit", INSTRUMENTS)] = 500
    answer = run(pinned.settings(tmp_path, retries=0), lambda a: a.fetch_option_chain("BTC"))
    (err,) = answer.errors
    assert isinstance(err, VenueError) and err.status == 500 and INSTRUMENTS in str(err)
    model = {q.option.instrument: q for q in options.chain("bybit", "BTC", NOW_MS)}
    assert sorted(q.symbol for q in answer.items) == sorted(model)
    for q in answer.items:  # expiries from the symbols (08:00 UTC) equal deliveryTime
        assert q.expiry == ms_to_utc(model[q.symbol].option.expiry_ms)
        assert q.mark_price_usd == pytest.approx(model[q.symbol].mark_price_usd, rel=REL)


def test_a_broken_instrument_row_is_an_error_of_its_own(pinned: SimThread, options: OptionsModel,
                                                        tmp_path: Path) -> None:
    info = partial(bybit_sim.instruments_info, pinned.model, options=options)

    def one_broken(req: SimRequest) -> Any:
        body = info(req)
        body["result"]["list"][3]["deliveryTime"] = "tomorrow"
        return body

    pinned.server.routes.add("bybit", "rest", "GET", INSTRUMENTS, one_broken)
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_chain("SOL"))
    (err,) = answer.errors
    assert isinstance(err, ParseError) and err.endpoint == INSTRUMENTS and "deliveryTime" in err.detail
    assert len(answer.items) == len(options.chain("bybit", "SOL", NOW_MS))  # the option itself still served


def test_venue_wide_fault_raises(sim_factory: Callable[..., SimThread], tmp_path: Path) -> None:
    sim = sim_factory(model=MarketModel(7, now_ms=NOW_MS), faults={"bybit": "500"})
    with pytest.raises(VenueError):
        run(sim.settings(tmp_path, retries=0), lambda a: a.fetch_option_chain("BTC"))


# --- trades -------------------------------------------------------------------------------------


def test_trades_equal_the_model(pinned: SimThread, options: OptionsModel, tmp_path: Path) -> None:
    start = NOW - timedelta(hours=24)
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_trades("BTC", start, NOW))
    assert answer.errors == []
    model = options.trades("bybit", "BTC", utc_to_ms(start), NOW_MS)
    assert len(model) > 100 and any(t.block_trade_id for t in model)
    assert [t.trade_id for t in answer.items] == [t.trade_id for t in model]  # every trade, ascending
    for got, m in zip(answer.items, model, strict=True):
        assert (got.symbol, got.time, got.side, got.block) == (
            m.instrument, ms_to_utc(m.ts_ms), m.direction, m.block_trade_id is not None)
        assert (got.expiry, got.strike, got.is_call) == (ms_to_utc(m.option.expiry_ms), m.option.strike,
                                                         m.option.is_call)
        assert got.amount == pytest.approx(m.amount, rel=REL) and got.contract_size == 1.0
        assert got.price_usd == pytest.approx(m.price_usd, rel=REL)
        assert got.index_price == pytest.approx(m.index_price, rel=REL)
        assert got.iv == pytest.approx(round(m.iv / 100, 4), abs=1e-12)  # percent points -> fraction
    queries = sorted(parse_qs(urlsplit(p).query)["optionType"][0] for p in logged(tmp_path, "/v5/market/recent-trade"))
    assert queries == ["Call", "Put"]


def test_trades_reach_back_as_far_as_the_venue_serves(pinned: SimThread, options: OptionsModel, tmp_path: Path) -> None:
    pinned.server.faults.page_caps[("bybit", "/v5/market/recent-trade")] = 20  # the latest 20 trades only
    answer = run(pinned.settings(tmp_path), lambda a: a.fetch_option_trades("BTC", NOW - timedelta(days=1), NOW))
    model = options.trades("bybit", "BTC", NOW_MS - DAY_MS, NOW_MS)
    newest = sorted([t for t in model if t.option.is_call][-20:] + [t for t in model if not t.option.is_call][-20:],
                    key=lambda t: t.ts_ms)
    assert [t.trade_id for t in answer.items] == [t.trade_id for t in newest]


# --- realized volatility ------------------------------------------------------------------------


def test_realized_vol_equals_the_model_in_concurrent_windows(pinned: SimThread, options: OptionsModel,
                                                             tmp_path: Path) -> None:
    start = NOW - timedelta(days=33)
    points = run(pinned.settings(tmp_path), lambda a: a.fetch_realized_vol("ETH", start, NOW))
    model = options.historical_volatility("ETH", utc_to_ms(start), NOW_MS)
    assert [p.time for p in points] == [ms_to_utc(t) for t, _ in model] and len(points) == 33 * 24
    for p, (_, pct) in zip(points, model, strict=True):
        assert p.value == pytest.approx(pct / 100, abs=5e-9)  # a fraction
    calls = [parse_qs(urlsplit(p).query) for p in logged(tmp_path, "/v5/market/historical-volatility")]
    windows = sorted((int(q["startTime"][0]), int(q["endTime"][0])) for q in calls)
    assert windows == page_windows(utc_to_ms(start), NOW_MS, HOUR_MS, 720) and len(windows) == 2
    assert all(q["period"] == ["30"] and q["baseCoin"] == ["ETH"] for q in calls)


def test_realized_vol_keeps_two_years(pinned: SimThread, tmp_path: Path) -> None:
    """A window reaching beyond Bybit's two years starts there: 30 days from 730 days back, one request."""
    start, end = NOW - timedelta(days=800), NOW - timedelta(days=700)
    points = run(pinned.settings(tmp_path), lambda a: a.fetch_realized_vol("BTC", start, end))
    first = -(-utc_to_ms(NOW - timedelta(days=730)) // HOUR_MS) * HOUR_MS
    assert points[0].time == ms_to_utc(first) and len(points) == 30 * 24
    assert len(logged(tmp_path, "/v5/market/historical-volatility")) == 1


def test_no_volatility_index(pinned: SimThread, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match="no volatility index"):
        run(pinned.settings(tmp_path), lambda a: a.fetch_vol_index("BTC", NOW - timedelta(days=1), NOW))
