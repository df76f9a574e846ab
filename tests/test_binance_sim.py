"""The simulated Binance against real captures (shapes), and the real adapter against the sim.

(a) conformance: every endpoint with a real counterpart in tests/payloads has the
same keys and JSON types in the sim (openInterest, the COIN-M fundingRate and openInterestHist, the
long/short statistics and the ``ticker/price`` endpoints have none: their rows follow the docs).
(b) the adapter over real sockets against a sim pinned at a fixed time, so that every value
can be compared with the market model exactly (rel=1e-12: the sim sends full float precision).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import run_with_pool
from dtrack.errors import ParseError, VenueError
from dtrack.records import Instrument, Kind, Margin, Unit
from dtrack.sim.model import MarketModel
from dtrack.sim.venues.binance import CAP_ADJUSTED_8H, WeightMeter
from dtrack.venues.fields import ms_to_utc, utc_to_ms
from shapes import shape_differences

EXACT = 1e-12
NOW_MS = 1_790_000_000_000  # 2026-09-21 14:13:20 UTC: mid-interval for 1 h, 4 h and 8 h symbols
ASSETS = ["BTC", "ETH", "SOL", "PEPE"]


def fetch(base: str, path: str) -> tuple[int, Any, dict[str, str]]:
    """GET a sim URL: (status, JSON body, headers)."""
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def sim_body(sim, host: str, path: str) -> Any:
    status, body, _headers = fetch(sim.venue_urls()["binance"][host], path)
    assert status == 200, body
    return body


def real(payload, name: str, case: int = 0) -> Any:
    return payload(name)["cases"][case]["raw"]


# --- (a) conformance -----------------------------------------------------------------------------


def exchange_info_differences(sim_info: dict, real_info: dict) -> list[str]:
    """shape_differences, with each filter compared to the real filter of the same filterType
    (a filters list mixes object shapes, so the first element is no template for the rest)."""
    strip = {k: v for k, v in sim_info.items() if k != "symbols"}
    out = shape_differences(strip, {k: v for k, v in real_info.items() if k != "symbols"})
    real_sym = real_info["symbols"][0]
    real_filters = {f["filterType"]: f for f in real_sym["filters"]}
    for i, sym in enumerate(sim_info["symbols"]):
        out += shape_differences({k: v for k, v in sym.items() if k != "filters"},
                                 {k: v for k, v in real_sym.items() if k != "filters"}, f"$.symbols[{i}]")
        for f in sym["filters"]:
            assert f["filterType"] in real_filters, f
            out += shape_differences(f, real_filters[f["filterType"]], f"$.symbols[{i}].{f['filterType']}")
    return out


@pytest.mark.parametrize(("host", "path", "name"), [
    ("usdm", "/fapi/v1/exchangeInfo", "binance-usdm__rest_exchangeInfo__capture.json"),
    ("coinm", "/dapi/v1/exchangeInfo", "binance-coinm__rest_exchangeInfo__capture.json"),
])
def test_exchange_info_shape(sim, payload, host, path, name) -> None:
    assert exchange_info_differences(sim_body(sim, host, path), real(payload, name)) == []


@pytest.mark.parametrize(("host", "path", "name", "case"), [
    ("usdm", "/fapi/v1/premiumIndex", "binance-usdm__rest_premiumIndex__docs.json", 1),
    ("usdm", "/fapi/v1/premiumIndex?symbol=BTCUSDT", "binance-usdm__rest_premiumIndex__docs.json", 0),
    ("coinm", "/dapi/v1/premiumIndex", "binance-coinm__rest_premiumIndex__docs.json", 0),
    ("usdm", "/fapi/v1/fundingInfo", "binance-usdm__rest_fundingInfo__docs.json", 0),
    ("usdm", "/fapi/v1/fundingInfo", "binance-usdm__rest_fundingInfo_issue_capture__docs.json", 0),
    ("coinm", "/dapi/v1/fundingInfo", "binance-coinm__rest_fundingInfo__docs.json", 0),
    ("usdm", "/fapi/v1/fundingRate?symbol=BTCUSDT", "binance-usdm__rest_fundingRate_history__docs.json", 0),
    ("usdm", "/futures/data/openInterestHist?symbol=BTCUSDT&period=5m&limit=1",
     "binance-usdm__rest_openInterestHist_hexdocs__docs.json", 0),
    ("usdm", "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=3", "binance__ccxt_fetchOHLCV.json", 2),
    # no real /dapi/v1/klines capture: COIN-M indexPriceKlines rows have the same 12 positions and types
    ("coinm", "/dapi/v1/klines?symbol=BTCUSD_PERP&interval=1d&limit=3", "binance__ccxt_fetchOHLCV.json", 1),
])
def test_endpoint_shapes(sim, payload, host, path, name, case) -> None:
    body = sim_body(sim, host, path)
    assert body, "an empty sim answer proves nothing"
    assert shape_differences(body, real(payload, name, case)) == []


def test_unknown_symbol_is_binance_error(sim) -> None:
    base = sim.venue_urls()["binance"]
    for host, path in (("usdm", "/fapi/v1/openInterest?symbol=NOPEUSDT"),
                       ("coinm", "/dapi/v1/fundingRate?symbol=NOPEUSD_PERP"),
                       ("usdm", "/fapi/v1/premiumIndex?symbol=NOPEUSDT")):
        status, body, _headers = fetch(base[host], path)
        assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})


def test_used_weight_header_counts_weights(sim_factory) -> None:
    base = sim_factory().venue_urls()["binance"]["usdm"]
    _s, _b, first = fetch(base, "/fapi/v1/premiumIndex")
    _s, _b, second = fetch(base, "/fapi/v1/openInterest?symbol=BTCUSDT")
    used1, used2 = int(first["X-MBX-USED-WEIGHT-1M"]), int(second["X-MBX-USED-WEIGHT-1M"])
    assert used1 >= 10
    assert used2 in (used1 + 1, 1)  # 1 when the wall-clock minute turned between the two calls
    # The other host keeps its own budget.
    _s, _b, other = fetch(sim_factory().venue_urls()["binance"]["coinm"], "/dapi/v1/exchangeInfo")
    assert int(other["X-MBX-USED-WEIGHT-1M"]) == 1


def test_weight_meter_resets_each_minute() -> None:
    now = [120.0]
    meter = WeightMeter(lambda: now[0])
    assert (meter.add(10), meter.add(1)) == (10, 11)
    now[0] = 179.9
    assert meter.add(1) == 12
    now[0] = 180.0
    assert meter.add(5) == 5


def test_funding_rate_pages_like_binance(sim_factory) -> None:
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS))
    base = server.venue_urls()["binance"]["usdm"]
    start = NOW_MS - 60 * 86_400_000
    _s, page, _h = fetch(base, f"/fapi/v1/fundingRate?symbol=1000PEPEUSDT&startTime={start}&limit=5000")
    assert len(page) == 1000  # limit capped at 1000, the FIRST 1000 from startTime
    assert page[0]["fundingTime"] >= start
    assert [r["fundingTime"] for r in page] == sorted(r["fundingTime"] for r in page)
    _s, default, _h = fetch(base, f"/fapi/v1/fundingRate?symbol=1000PEPEUSDT&startTime={start}")
    assert default == page[:100]
    _s, recent, _h = fetch(base, "/fapi/v1/fundingRate?symbol=1000PEPEUSDT&limit=3")
    assert recent[-1]["fundingTime"] <= NOW_MS < recent[-1]["fundingTime"] + 3_600_000


# --- (b) the adapter against the sim -------------------------------------------------------------


@pytest.fixture
def pinned(sim_factory, tmp_path):
    """A sim pinned at NOW_MS with a request log, and settings pointing at it."""
    log = tmp_path / "requests.jsonl"
    server = sim_factory(model=MarketModel(7, now_ms=NOW_MS), log_requests=str(log))
    return server, server.settings(tmp_path), log


async def current(pool, assets=ASSETS):
    """Current funding of the assets' perpetuals through the generic pipeline."""
    return await pool.adapter("binance").fetch_funding(assets)


def logged_paths(log: Path) -> list[str]:
    return [json.loads(line)["path"] for line in log.read_text().splitlines()] if log.exists() else []


def test_funding_rates_match_the_model(pinned) -> None:
    server, settings, _log = pinned
    model = server.model
    result = run_with_pool(settings, current)
    assert result.errors == []
    rows = {r.instrument.symbol: r for r in result.items}
    perps = model.perps("binance")
    assert sorted(rows) == sorted(p.symbol for p in perps)
    for perp in perps:
        row, inst = rows[perp.symbol], rows[perp.symbol].instrument
        assert (inst.asset, inst.quote, inst.kind, inst.multiplier) == (perp.asset, perp.quote, Kind.PERP,
                                                                        perp.multiplier)
        assert inst.margin is Margin(perp.margin)
        rate, next_ms = model.current_funding(perp, NOW_MS)
        assert row.rate == pytest.approx(rate, rel=EXACT)
        assert row.interval_hours == perp.interval_h
        listed = perp.interval_h != 8 or perp.symbol in CAP_ADJUSTED_8H
        assert row.interval_source == ("fundingInfo.fundingIntervalHours" if listed
                                       else "default 8 h (not in fundingInfo)")
        assert row.next_funding_time == ms_to_utc(next_ms)
        assert row.time == ms_to_utc(NOW_MS)
        mark = model.mark_price(perp, NOW_MS)
        assert row.mark_price == pytest.approx(mark / perp.multiplier, rel=EXACT)
        assert row.index_price == pytest.approx(model.index_price(perp.asset, NOW_MS), rel=EXACT)
        oi_usd = model.open_interest_base(perp, NOW_MS) * mark
        if perp.margin == "inverse":
            assert (inst.contract_size, inst.contract_unit) == (perp.contract_size, Unit.USD)
            # COIN-M open interest is whole contracts: within half a contract's USD value.
            assert row.open_interest_usd == pytest.approx(oi_usd, abs=perp.contract_size / 2)
        else:
            assert row.open_interest_usd == pytest.approx(oi_usd, rel=EXACT)


def test_history_matches_settlements_and_pages(pinned) -> None:
    server, settings, log = pinned
    model = server.model
    end = ms_to_utc(NOW_MS)

    async def job(pool):
        adapter = pool.adapter("binance")
        perps = await adapter.perpetuals(ASSETS)
        week = {i.symbol: await adapter.fetch_funding_history(i, end - timedelta(days=7), end) for i in perps}
        pepe = next(i for i in perps if i.symbol == "1000PEPEUSDT")
        return week, await adapter.fetch_funding_history(pepe, end - timedelta(days=60), end)

    week, pepe60 = run_with_pool(settings, job)
    assert sorted(week) == sorted(p.symbol for p in model.perps("binance"))
    for perp in model.perps("binance"):
        hist = week[perp.symbol]
        want = model.settlements(perp, NOW_MS - 7 * 86_400_000, NOW_MS)
        assert [(utc_to_ms(p.time), p.rate) for p in hist.points] == want
        assert {p.interval_hours for p in hist.points} == {perp.interval_h}
        assert hist.note == ""
    # 60 days of an hourly symbol = 1440 settlements: two pages of at most 1000.
    pepe = model.perp("binance", "1000PEPEUSDT")
    assert pepe is not None
    want = model.settlements(pepe, NOW_MS - 60 * 86_400_000, NOW_MS)
    assert len(want) == 1440
    assert [(utc_to_ms(p.time), p.rate) for p in pepe60.points] == want
    pages = [p for p in logged_paths(log) if p.startswith("/fapi/v1/fundingRate?symbol=1000PEPEUSDT")]
    assert len(pages) == 3  # 7-day window: one page; 60-day window: 1000 + 440
    assert all("limit=1000" in p for p in pages)


def test_second_call_uses_the_disk_cache(pinned) -> None:
    _server, settings, log = pinned
    for _ in range(2):
        result = run_with_pool(settings, current)
        assert len(result.items) == 9
    paths = logged_paths(log)
    assert sorted(p for p in paths if "exchangeInfo" in p) == ["/dapi/v1/exchangeInfo", "/fapi/v1/exchangeInfo"]
    assert sorted(p for p in paths if "fundingInfo" in p) == ["/dapi/v1/fundingInfo", "/fapi/v1/fundingInfo"]
    assert sum("premiumIndex" in p for p in paths) == 4  # never cached: 2 hosts x 2 calls


def test_only_needed_hosts_are_called(pinned) -> None:
    _server, settings, log = pinned
    result = run_with_pool(settings, lambda pool: current(pool, ["PEPE"]))
    assert [r.instrument.symbol for r in result.items] == ["1000PEPEUSDT"]
    calls = [p for p in logged_paths(log) if "exchangeInfo" not in p]
    assert all(p.startswith("/fapi/") for p in calls)
    assert "/fapi/v1/openInterest?symbol=1000PEPEUSDT" in calls


def test_failed_open_interest_leaves_none_and_an_error(pinned) -> None:
    _server, settings, _log = pinned
    ghost = Instrument(venue="binance", symbol="GHOSTUSDT", asset="GHOST", quote="USDT", settle="USDT",
                       kind=Kind.PERP, margin=Margin.LINEAR, market="usdm")

    async def job(pool):
        adapter = pool.adapter("binance")
        btc = [i for i in await adapter.perpetuals(["BTC"]) if i.symbol == "BTCUSDT"]
        return await adapter.fetch_funding_rates([*btc, ghost])

    result = run_with_pool(settings, job)
    assert [r.instrument.symbol for r in result.items] == ["BTCUSDT"]
    assert result.items[0].open_interest_usd is not None
    messages = [str(e) for e in result.errors]
    assert len(messages) == 2 and all(isinstance(e, VenueError) for e in result.errors)
    assert any("openInterest?symbol=GHOSTUSDT" in m and "HTTP 400" in m for m in messages)
    assert any("no row for GHOSTUSDT" in m for m in messages)


def test_times_are_aware_utc(pinned) -> None:
    _server, settings, _log = pinned
    result = run_with_pool(settings, lambda pool: current(pool, ["BTC"]))
    for row in result.items:
        assert row.time.tzinfo is UTC and row.next_funding_time is not None
        assert row.next_funding_time > datetime(2026, 9, 21, tzinfo=UTC)


def test_history_pages_past_a_lower_page_cap(pinned) -> None:
    """A page shorter than the limit asked is not the end of the data: the venue may cap pages lower."""
    server, settings, log = pinned
    server.server.faults.page_caps[("binance", "/fapi/v1/fundingRate")] = 300
    end = ms_to_utc(NOW_MS)

    async def job(pool):
        adapter = pool.adapter("binance")
        pepe = next(i for i in await adapter.perpetuals(["PEPE"]) if i.symbol == "1000PEPEUSDT")
        return await adapter.fetch_funding_history(pepe, end - timedelta(days=60), end)

    hist = run_with_pool(settings, job)
    pepe = server.model.perp("binance", "1000PEPEUSDT")
    assert pepe is not None
    want = server.model.settlements(pepe, NOW_MS - 60 * 86_400_000, NOW_MS)
    assert len(want) == 1440
    assert [(utc_to_ms(p.time), p.rate) for p in hist.points] == want
    assert hist.note == ""
    pages = [p for p in logged_paths(log) if p.startswith("/fapi/v1/fundingRate")]
    # 4 x 300 + 240, each asking for 1000; the last one ends within an interval of the window's end.
    assert len(pages) == 5 and all("limit=1000" in p for p in pages)


# --- listings the adapter must ignore ---------------------------------------------------------------


def test_sim_lists_quarterlies_as_futures_and_pending_symbols_that_the_adapter_ignores(pinned) -> None:
    """Quarterlies are listed as dated futures (funding ignores them); pending symbols are skipped."""
    server, settings, _log = pinned
    base = server.venue_urls()["binance"]
    _s, usdm, _h = fetch(base["usdm"], "/fapi/v1/exchangeInfo")
    _s, coinm, _h = fetch(base["coinm"], "/dapi/v1/exchangeInfo")
    others = {s["symbol"]: s for s in usdm["symbols"] + coinm["symbols"]
              if s["contractType"] != "PERPETUAL" or s.get("status", s.get("contractStatus")) != "TRADING"}
    quarterlies = ["BTCUSDT_260925", "BTCUSDT_261225", "BTCUSD_260925", "BTCUSD_261225", "ETHUSDT_260925",
                   "ETHUSDT_261225", "ETHUSD_260925", "ETHUSD_261225"]
    assert sorted(others) == sorted([*quarterlies, "SOLUSDC", "SUIUSD_PERP"])
    # Quarterlies deliver on the last Friday of the quarter at 08:00 UTC (2026-09-25, 2026-12-25).
    september, december = (utc_to_ms(datetime(2026, m, 25, 8, tzinfo=UTC)) for m in (9, 12))
    assert [(others[s]["contractType"], others[s]["deliveryDate"]) for s in ("BTCUSDT_260925", "BTCUSD_260925",
                                                                              "BTCUSD_261225")] == [
        ("CURRENT_QUARTER", september), ("CURRENT_QUARTER", september), ("NEXT_QUARTER", december)]
    assert (others["SOLUSDC"]["contractType"], others["SOLUSDC"]["status"]) == ("PERPETUAL", "PENDING_TRADING")
    assert others["SUIUSD_PERP"]["contractStatus"] == "PENDING_TRADING"
    # COIN-M premiumIndex lists the trading quarterlies like the docs' delivery row.
    _s, premium, _h = fetch(base["coinm"], "/dapi/v1/premiumIndex")
    delivery = next(r for r in premium if r["symbol"] == "BTCUSD_260925")
    assert (delivery["pair"], delivery["lastFundingRate"], delivery["interestRate"],
            delivery["nextFundingTime"]) == ("BTCUSD", "", "", 0)
    _s, one, _h = fetch(base["coinm"], "/dapi/v1/premiumIndex?symbol=BTCUSD_260925")
    assert one == delivery

    async def job(pool):
        adapter = pool.adapter("binance")
        return await adapter.instruments(), await adapter.fetch_funding(ASSETS)

    instruments, result = run_with_pool(settings, job)
    perps = sorted(p.symbol for p in server.model.perps("binance"))
    assert sorted(i.symbol for i in instruments if i.kind is Kind.PERP) == perps
    assert sorted(i.symbol for i in instruments if i.kind is Kind.FUTURE) == sorted(quarterlies)
    assert result.errors == []
    assert sorted(r.instrument.symbol for r in result.items) == perps


def test_malformed_asked_exchange_info_row_fails_a_query_for_its_asset(pinned) -> None:
    """One bad row of an asked perpetual (here written into the disk cache's stored exchangeInfo)
    fails a query for its asset with a ParseError naming the row and its host's path, as on every
    venue (``Listing``); a query for another asset still gets its rows from the same stored body."""
    server, settings, log = pinned
    run_with_pool(settings, lambda pool: pool.adapter("binance").instruments())
    (entry,) = [f for f in settings.cache_dir.rglob("*.json")
                if json.loads(f.read_text())["url"].endswith("/fapi/v1/exchangeInfo")]
    stored = json.loads(entry.read_text())
    for row in stored["body"]["symbols"]:
        if row["symbol"] == "BTCUSDT":
            row["quoteAsset"] = ""
    entry.write_text(json.dumps(stored))

    async def job(pool):
        btc = (await asyncio.gather(current(pool, ["BTC"]), return_exceptions=True))[0]
        return btc, await current(pool, ["ETH"])

    btc, eth = run_with_pool(settings, job)
    assert isinstance(btc, ParseError)
    assert "/fapi/v1/exchangeInfo" in str(btc) and "BTCUSDT" in str(btc) and "quoteAsset" in str(btc)
    assert sorted(r.instrument.symbol for r in eth.rates) == sorted(
        p.symbol for p in server.model.perps("binance") if p.asset == "ETH")
    assert eth.errors == []
    assert logged_paths(log).count("/fapi/v1/exchangeInfo") == 1  # the stored body was used, not refetched


# --- funding intervals Binance switches at runtime ---------------------------------------------------


def test_stale_cached_interval_is_refetched_once_and_shared(pinned) -> None:
    """NOW_MS is 14:13 UTC: an hourly symbol's next settlement (15:00) is off the 8 h grid."""
    server, settings, log = pinned
    perp = server.model.perp("binance", "1000PEPEUSDT")
    assert perp is not None and perp.interval_h == 1
    # Run 1: Binance has 1000PEPEUSDT on 8 h; that fundingInfo answer lands in the disk cache.
    server.server.faults.interval_switches[("binance", "1000PEPEUSDT")] = 8
    first = run_with_pool(settings, lambda pool: current(pool, ["PEPE"]))
    assert [(r.interval_hours, r.interval_source) for r in first.items] == [(8.0, "default 8 h (not in fundingInfo)")]
    # Binance switches it back to 1 h; the cached fundingInfo (TTL 900 s) is now stale.
    del server.server.faults.interval_switches[("binance", "1000PEPEUSDT")]

    async def two_queries(pool):
        adapter = pool.adapter("binance")
        return await asyncio.gather(adapter.fetch_funding(ASSETS, timedelta(days=2)), adapter.fetch_funding(["PEPE"]))

    for result in run_with_pool(settings, two_queries):
        assert result.errors == []
        (pepe,) = [r for r in result.items if r.instrument.symbol == "1000PEPEUSDT"]
        assert (pepe.interval_hours, pepe.interval_source) == (1.0, "fundingInfo.fundingIntervalHours")
        assert pepe.note == "OI = openInterest (1000PEPE) x mark"
        rate, next_ms = server.model.current_funding(perp, NOW_MS)
        assert (pepe.rate, pepe.next_funding_time) == (pytest.approx(rate, rel=EXACT), ms_to_utc(next_ms))
    infos = [p for p in logged_paths(log) if "fundingInfo" in p]
    # fapi: run 1, then ONE refetch shared by both concurrent queries; dapi was consistent.
    assert sorted(infos) == ["/dapi/v1/fundingInfo", "/fapi/v1/fundingInfo", "/fapi/v1/fundingInfo"]
    # The refetched answer replaced the stale cache entry: the next run asks nothing.
    third = run_with_pool(settings, lambda pool: current(pool, ["PEPE"]))
    assert [r.interval_hours for r in third.rates] == [1.0]
    assert [p for p in logged_paths(log) if "fundingInfo" in p] == infos


def test_interval_still_off_schedule_keeps_the_venue_answer_with_a_note(pinned) -> None:
    """fundingInfo itself lags the schedule: after the one refetch the venue's word is kept, flagged."""
    server, settings, log = pinned
    server.server.faults.stale_intervals[("binance", "1000PEPEUSDT")] = 8
    result = run_with_pool(settings, lambda pool: current(pool, ["PEPE"]))
    assert result.errors == []
    (pepe,) = result.items
    assert (pepe.interval_hours, pepe.interval_source) == (8.0, "fundingInfo.fundingIntervalHours")
    assert pepe.note == ("OI = openInterest (1000PEPE) x mark; interval unconfirmed: nextFundingTime "
                         "2026-09-21 15:00 UTC is not on the 8 h grid (fundingInfo.fundingIntervalHours), "
                         "the interval may have changed")
    assert [p for p in logged_paths(log) if "fundingInfo" in p] == ["/fapi/v1/fundingInfo"] * 2
