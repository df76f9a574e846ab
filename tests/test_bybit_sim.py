"""Simulated Bybit against the real captures (shapes), and the real Bybit adapter against the sim over sockets."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import SimThread, load_payload, run_with_pool
from dtrack.errors import ParseError, VenueError
from dtrack.records import Instrument, Kind, Margin
from dtrack.sim.model import HOUR_MS, MarketModel
from dtrack.sim.venues import bybit as bybit_sim
from dtrack.venues.base import FundingAnswer
from dtrack.venues.bybit.adapter import BybitAdapter
from dtrack.venues.fields import ms_to_utc
from dtrack.venues.pool import VenuePool
from shapes import shape_differences

NOW_MS = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC, the pinned market clock
NOW = ms_to_utc(NOW_MS)
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]

#: ccxt re-serialised these envelope numbers as strings (INDEX.md caveat on ccxt static tests).
CCXT_LOOSE = frozenset({"retCode", "time"})
#: ccxt added a ``timestamp`` key to each ticker row; Bybit does not send it (same caveat).
CCXT_ADDED = frozenset({"timestamp"})


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        return json.loads(resp.read())


def sim_body(sim: SimThread, path_qs: str) -> Any:
    return get_json(sim.venue_urls()["bybit"]["rest"] + path_qs)


def real(name: str, index: int = 0) -> Any:
    return load_payload(name)["cases"][index]["raw"]


# --- (a) conformance with the real captures -----------------------------------------------------


@pytest.mark.parametrize(("path_qs", "name", "index", "loose", "optional"), [
    ("/v5/market/tickers?category=linear", "bybit__ccxt_fetchFundingRates.json", 0, CCXT_LOOSE, CCXT_ADDED),
    ("/v5/market/tickers?category=linear&symbol=BTCUSDT", "bybit__ccxt_fetchFundingRate.json", 0, CCXT_LOOSE,
     CCXT_ADDED),
    ("/v5/market/tickers?category=linear&symbol=BTCUSDT", "bybit__ccxt_fetchTicker.json", 0, CCXT_LOOSE, CCXT_ADDED),
    # ETHUSD's row keeps the older shape without fundingIntervalHour (test_sim_legacy_ticker_row).
    ("/v5/market/tickers?category=inverse", "bybit__rest_tickers__docs.json", 0, frozenset(),
     frozenset({"fundingIntervalHour"})),
    # Case 0 is a trading perpetual (case 1 is a pre-listing symbol, which the sim does not model).
    ("/v5/market/instruments-info?category=linear", "bybit__rest_instruments_info__docs.json", 0, frozenset(),
     frozenset()),
    # Bybit documents one instruments-info schema for linear and inverse; only a linear example exists.
    ("/v5/market/instruments-info?category=inverse", "bybit__rest_instruments_info__docs.json", 0, frozenset(),
     frozenset()),
    ("/v5/market/funding/history?category=linear&symbol=ETHPERP&limit=1", "bybit__rest_funding_history__docs.json",
     0, frozenset(), frozenset()),
])
def test_sim_matches_real_shapes(sim: SimThread, path_qs: str, name: str, index: int, loose: frozenset[str],
                                 optional: frozenset[str]) -> None:
    body = sim_body(sim, path_qs)
    assert body["result"]["list"], "the sim served no rows to compare"
    assert shape_differences(body, real(name, index), loose_types=loose, optional=optional) == []


def test_sim_unknown_symbol_is_retcode_10001_in_http_200(sim: SimThread) -> None:
    for path in ("/v5/market/tickers?category=linear&symbol=NOPEUSDT",
                 "/v5/market/funding/history?category=linear&symbol=BTCUSD"):  # BTCUSD is inverse
        body = sim_body(sim, path)
        assert body["retCode"] == 10001 and body["retMsg"] == "params error: symbol invalid"
        assert shape_differences(body, real("bybit__rest_funding_history__docs.json")) == []  # same envelope


def test_sim_legacy_ticker_row(sim: SimThread) -> None:
    """One inverse symbol answers in the older shape (as the real 2024 captures): no
    fundingIntervalHour, no singleOpenInterest(+Value), openInterest one side."""
    rows = {r["symbol"]: r for r in sim_body(sim, "/v5/market/tickers?category=inverse")["result"]["list"]}
    legacy_keys = {"fundingIntervalHour", "singleOpenInterest", "singleOpenInterestValue"}
    assert legacy_keys <= rows["BTCUSD"].keys()
    assert not legacy_keys & rows["ETHUSD"].keys()
    assert float(rows["BTCUSD"]["openInterest"]) == 2 * float(rows["BTCUSD"]["singleOpenInterest"])
    linear = sim_body(sim, "/v5/market/tickers?category=linear")["result"]["list"]
    assert all(legacy_keys <= r.keys() for r in linear)


def test_sim_history_rules(sim: SimThread) -> None:
    base = "/v5/market/funding/history?category=linear&symbol=SOLUSDT"
    assert sim_body(sim, base + "&startTime=1")["retCode"] == 10001  # startTime alone is an error
    assert sim_body(sim, base + "&limit=201")["retCode"] == 10001
    rows = sim_body(sim, base + "&limit=3")["result"]["list"]
    times = [int(r["fundingRateTimestamp"]) for r in rows]
    assert len(times) == 3 and times == sorted(times, reverse=True)  # newest first
    assert times[0] - times[1] == 4 * HOUR_MS


# --- (b) the real adapter over real sockets ------------------------------------------------------


@pytest.fixture
def pinned(sim_factory: Callable[..., SimThread], tmp_path: Path) -> SimThread:
    """A sim with a fixed market clock and a request log."""
    return sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(tmp_path / "requests.jsonl"))


def logged(tmp_path: Path, path_prefix: str) -> list[str]:
    lines = (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return [r["path"] for r in rows if r["venue"] == "bybit" and r["path"].startswith(path_prefix)]


def bybit(pool: VenuePool) -> BybitAdapter:
    adapter = pool.adapter("bybit")
    assert isinstance(adapter, BybitAdapter)
    return adapter


async def current(pool: VenuePool) -> tuple[list[Instrument], FundingAnswer]:
    adapter = bybit(pool)
    perps = await adapter.perpetuals(ASSETS)
    return perps, await adapter.fetch_funding_rates(perps)


def test_adapter_current_funding_equals_model(pinned: SimThread, tmp_path: Path) -> None:
    model = pinned.model
    perps, result = run_with_pool(pinned.settings(tmp_path), current)
    assert result.errors == []
    sim_perps = {p.symbol: p for p in model.perps("bybit")}
    assert sorted(i.symbol for i in perps) == sorted(sim_perps)
    assert sorted(r.instrument.symbol for r in result.items) == sorted(sim_perps)
    for fr in result.items:
        p, inst = sim_perps[fr.instrument.symbol], fr.instrument
        assert (inst.asset, inst.quote, inst.kind, inst.margin.value, inst.multiplier) == \
            (p.asset, p.quote, Kind.PERP, p.margin, p.multiplier)
        assert inst.settle == (p.asset if p.margin == "inverse" else p.quote)
        rate, next_ms = model.current_funding(p, NOW_MS)
        mark = model.mark_price(p, NOW_MS)
        assert fr.rate == pytest.approx(rate, rel=1e-12)
        assert fr.interval_hours == p.interval_h
        legacy = p.symbol == "ETHUSD"  # its ticker lacks fundingIntervalHour and singleOpenInterest
        assert fr.interval_source == ("instruments-info fundingInterval (minutes)" if legacy
                                      else "tickers fundingIntervalHour")
        assert fr.next_funding_time == ms_to_utc(next_ms)
        assert fr.predicted_rate is None
        assert fr.time == NOW
        # prices per ONE unit of the asset (1000PEPEUSDT quotes 1000 PEPE)
        assert fr.mark_price == pytest.approx(mark / p.multiplier, rel=1e-12)
        assert fr.index_price == pytest.approx(model.index_price(p.asset, NOW_MS), rel=1e-12)
        oi_usd = model.open_interest_base(p, NOW_MS) * mark  # one side
        if inst.margin is Margin.INVERSE:
            assert fr.open_interest_usd == pytest.approx(oi_usd, abs=1.0)  # whole 1-USD contracts
            assert fr.note == ("OI = openInterest (USD contracts of 1 USD); no singleOpenInterest in this answer, "
                               "so openInterest is taken as one side (pre-2026-06-11)" if legacy
                               else "OI = singleOpenInterest (USD contracts of 1 USD)")
        else:
            assert fr.open_interest_usd == pytest.approx(oi_usd, rel=1e-12)
            assert fr.note.startswith("OI = singleOpenInterest (") and fr.note.endswith(") x mark")
    pepe = next(r for r in result.items if r.instrument.symbol == "1000PEPEUSDT")
    assert pepe.note == "OI = singleOpenInterest (1000PEPE) x mark"
    assert pepe.mark_price is not None and pepe.mark_price < 0.001  # per PEPE, not per 1000 PEPE


def test_adapter_history_7_days_equals_model(pinned: SimThread, tmp_path: Path) -> None:
    model, start = pinned.model, NOW - timedelta(days=7)

    async def histories(pool: VenuePool) -> dict[str, Any]:
        adapter = bybit(pool)
        perps = await adapter.perpetuals(ASSETS)
        done = await asyncio.gather(*(adapter.fetch_funding_history(i, start, NOW) for i in perps))
        return {h.symbol: h for h in done}

    got = run_with_pool(pinned.settings(tmp_path), histories)
    assert sorted(got) == sorted(p.symbol for p in model.perps("bybit"))
    for p in model.perps("bybit"):
        hist = got[p.symbol]
        expected = model.settlements(p, NOW_MS - 7 * 24 * HOUR_MS, NOW_MS)
        assert [(pt.time, pt.interval_hours) for pt in hist.points] == \
            [(ms_to_utc(t), float(p.interval_h)) for t, _ in expected]
        assert [pt.rate for pt in hist.points] == pytest.approx([r for _, r in expected], rel=1e-12)
        assert (hist.venue, hist.start, hist.end, hist.note) == ("bybit", start, NOW, "")


def sol_history(pinned: SimThread, tmp_path: Path, start: datetime) -> Any:
    """SOLUSDT's funding history from ``start`` to NOW through the real adapter."""

    async def sol(pool: VenuePool) -> Any:
        adapter = bybit(pool)
        (inst,) = [i for i in await adapter.perpetuals(["SOL"]) if i.symbol == "SOLUSDT"]
        return await adapter.fetch_funding_history(inst, start, NOW)

    return run_with_pool(pinned.settings(tmp_path), sol)


def test_adapter_history_pages_backwards(pinned: SimThread, tmp_path: Path) -> None:
    start = NOW - timedelta(days=60)

    hist = sol_history(pinned, tmp_path, start)
    perp = pinned.model.perp("bybit", "SOLUSDT")
    assert perp is not None and perp.interval_h == 4
    expected = pinned.model.settlements(perp, NOW_MS - 60 * 24 * HOUR_MS, NOW_MS)
    assert len(hist.points) == len(expected) == 360
    assert [pt.time for pt in hist.points] == [ms_to_utc(t) for t, _ in expected]
    calls = logged(tmp_path, "/v5/market/funding/history")
    assert len(calls) == 2  # 200 rows, then 200 more reaching back past the window start
    ends = [int(parse_qs(urlsplit(c).query)["endTime"][0]) for c in calls]
    assert ends[0] == NOW_MS and ends[1] < ends[0]
    assert all("startTime" not in c and "limit=200" in c for c in calls)


def test_adapter_history_short_pages_are_not_the_end(pinned: SimThread, tmp_path: Path) -> None:
    """A venue serving fewer rows than the limit asked (37 of 200) still yields the whole window."""
    pinned.server.faults.page_caps[("bybit", "/v5/market/funding/history")] = 37
    start = NOW - timedelta(days=60)

    hist = sol_history(pinned, tmp_path, start)
    perp = pinned.model.perp("bybit", "SOLUSDT")
    assert perp is not None
    expected = pinned.model.settlements(perp, NOW_MS - 60 * 24 * HOUR_MS, NOW_MS)
    assert len(expected) == 360
    assert [(pt.time, pt.interval_hours) for pt in hist.points] == [(ms_to_utc(t), 4.0) for t, _ in expected]
    assert [pt.rate for pt in hist.points] == pytest.approx([r for _, r in expected], rel=1e-12)
    assert hist.note == ""
    calls = logged(tmp_path, "/v5/market/funding/history")
    assert len(calls) == 10  # ceil(360 / 37): stops once the oldest row reaches the window start
    assert all("limit=200" in c for c in calls)


def test_adapter_history_says_when_bybit_has_less(pinned: SimThread, tmp_path: Path) -> None:
    start = NOW - timedelta(days=3 * 365 + 30)  # before 1000PEPEUSDT's listing in the sim (2023-05-05)

    async def pepe(pool: VenuePool) -> Any:
        adapter = bybit(pool)
        (inst,) = await adapter.perpetuals(["PEPE"])
        return await adapter.fetch_funding_history(inst, start, NOW)

    hist = run_with_pool(pinned.settings(tmp_path), pepe)
    assert hist.points[0].time == datetime.fromisoformat("2023-05-05T00:00:00+00:00")
    assert "only from 2023-05-05 00:00 UTC (its listing)" in hist.note
    assert f"asked from {start:%Y-%m-%d %H:%M} UTC" in hist.note


def test_adapter_pages_instruments_and_caches_them(pinned: SimThread, tmp_path: Path) -> None:
    pinned.server.faults.page_caps[("bybit", "/v5/market/instruments-info")] = 2  # 2 rows a page, whatever asked
    settings = pinned.settings(tmp_path)
    first, _ = run_with_pool(settings, current)
    calls = logged(tmp_path, "/v5/market/instruments-info")
    linear = [c for c in calls if "category=linear" in c]
    # 6 linear perps and 10 linear dated futures, 2 per page; 2 inverse perps and 4 inverse futures
    assert len(linear) == 8 and sum("cursor=" in c for c in linear) == 7
    assert len([c for c in calls if "category=inverse" in c]) == 3
    assert sorted(i.symbol for i in first) == sorted(p.symbol for p in pinned.model.perps("bybit"))
    second, result = run_with_pool(settings, current)
    assert second == first and len(result.items) == len(first)
    assert logged(tmp_path, "/v5/market/instruments-info") == calls  # second run: disk cache only
    assert len(logged(tmp_path, "/v5/market/tickers")) == 4  # linear + inverse, twice


def test_adapter_unknown_symbol_is_venue_error(sim: SimThread, tmp_path: Path) -> None:
    ghost = Instrument(venue="bybit", symbol="GHOSTUSDT", asset="GHOST", quote="USDT", settle="USDT", kind=Kind.PERP,
                       margin=Margin.LINEAR, market="linear")

    async def history(pool: VenuePool) -> Any:
        return await bybit(pool).fetch_funding_history(ghost, NOW - timedelta(days=1), NOW)

    with pytest.raises(VenueError) as err:
        run_with_pool(sim.settings(tmp_path), history)
    assert err.value.venue == "bybit" and err.value.code == "10001"


def test_adapter_single_settlement_takes_interval_from_instruments(pinned: SimThread, tmp_path: Path) -> None:
    """A symbol with one settlement since its listing: its interval comes from instruments-info."""
    pinned.server.faults.listed_at[("bybit", "BTCUSDT")] = NOW_MS - 6 * HOUR_MS  # listed at 14:26, settled at 16:00
    start = NOW - timedelta(days=1)

    async def btc(pool: VenuePool) -> Any:
        adapter = bybit(pool)
        inst = next(i for i in await adapter.perpetuals(["BTC"]) if i.symbol == "BTCUSDT")
        return await adapter.fetch_funding_history(inst, start, NOW)

    hist = run_with_pool(pinned.settings(tmp_path), btc)
    settled = datetime.fromisoformat("2026-05-28T16:00:00+00:00")
    assert [(pt.time, pt.interval_hours) for pt in hist.points] == [(settled, 8.0)]
    assert "only from 2026-05-28 16:00 UTC (its listing)" in hist.note
    assert len(logged(tmp_path, "/v5/market/funding/history")) == 2  # one row, then an empty page


def test_adapter_window_edge_takes_spacing_from_rows_before_it(pinned: SimThread, tmp_path: Path) -> None:
    """A window holding one settlement of a long-listed symbol: its interval is the real spacing."""
    start = NOW - timedelta(hours=3)  # holds only the 20:00 settlement of the 4-hourly SOLUSDT

    hist = sol_history(pinned, tmp_path, start)
    perp = pinned.model.perp("bybit", "SOLUSDT")
    assert perp is not None
    expected = pinned.model.settlements(perp, NOW_MS - 3 * HOUR_MS, NOW_MS)
    assert len(expected) == 1
    assert [(pt.time, pt.interval_hours) for pt in hist.points] == [(ms_to_utc(t), 4.0) for t, _ in expected]
    assert (hist.start, hist.end, hist.note) == (start, NOW, "")


# --- one odd row of another symbol does not fail the venue ---------------------------------------


def test_adapter_odd_rows_of_other_symbols_do_not_fail_the_venue(pinned: SimThread, tmp_path: Path) -> None:
    """SOLUSDT's instruments-info row and ETHPERP's ticker row are broken (and an unknown contract type
    is listed): BTC still answers in full; asking for SOL or ETH names the broken row."""
    instruments_info = bybit_sim.instruments_info

    def instruments_with_unknown_type(model: MarketModel, req: Any) -> dict[str, Any]:
        body = instruments_info(model, req)
        body["result"]["list"].append({"symbol": "XYZUSDT", "contractType": "QuantumPerpetual", "status": "Trading"})
        return body

    odd = pinned.server.faults.odd_rows
    odd[("bybit", "/v5/market/instruments-info", "SOLUSDT")] = {"baseCoin": "", "settleCoin": None}
    odd[("bybit", "/v5/market/tickers", "ETHPERP")] = {"markPrice": "", "indexPrice": "", "fundingRate": "",
                                                      "nextFundingTime": "", "contractType": "Mystery"}
    pinned.server.routes.add("bybit", "rest", "GET", "/v5/market/instruments-info",
                             partial(instruments_with_unknown_type, pinned.model))

    async def run(pool: VenuePool) -> tuple[FundingAnswer, list[BaseException | Any]]:
        adapter = bybit(pool)
        btc = await adapter.fetch_funding(["BTC"])
        others = await asyncio.gather(adapter.perpetuals(["SOL"]), adapter.fetch_funding(["ETH"]),
                                      return_exceptions=True)
        return btc, others

    btc, (sol, eth) = run_with_pool(pinned.settings(tmp_path), run)
    assert btc.errors == []
    assert sorted(r.instrument.symbol for r in btc.rates) == ["BTCPERP", "BTCUSD", "BTCUSDT"]
    assert isinstance(sol, ParseError) and sol.endpoint == "/v5/market/instruments-info"
    assert "SOLUSDT" in str(sol) and "baseCoin" in str(sol)
    assert isinstance(eth, ParseError) and eth.endpoint == "/v5/market/tickers"
